"""Scores on traces: ``POST``/``GET /api/v1/traces/{id}/scores``, ``POST /api/v1/scores`` (for
many traces) and ``DELETE /api/v1/scores/{id}``.

A request stores all its scores or none: every item is checked first, and one bad item (its
index and field named) refuses the request with 400; so does a score that does not fit the
score config of its name (see ``llmops.tracing.ScoreConfig``). Comments and labels are masked
with the server's redactor, as span text is. The token rules are the API's (see ``_auth``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from llmops._exceptions import InputError, NotFoundError
from llmops.server._api_deps import StoreDep, json_body
from llmops.server._pagination import json_response
from llmops.tracing import (
    MAX_SCORES_PER_REQUEST,
    SCORE_SOURCES,
    Redactor,
    TraceScore,
    add_scores,
    check_against_configs,
    delete_score,
    list_scores,
    make_score,
)

__all__ = ["MAX_SCORES_BODY_BYTES", "router"]

router = APIRouter(prefix="/api/v1", tags=["scores"])

#: A request body holds at most this much: 1,000 scores with 4 KiB comments fit in it.
MAX_SCORES_BODY_BYTES = 8 * 1024 * 1024
_FIELDS = frozenset({"name", "value", "comment", "source", "author", "span_id", "data_type"})
_Id32 = Annotated[str, Path(min_length=1, max_length=64)]


def _body_schema(with_trace_id: bool) -> dict[str, Any]:
    """The request body in the OpenAPI document (the handler reads and checks it itself, to
    name the index and field of a bad item)."""
    properties: dict[str, Any] = {
        "name": {"type": "string", "minLength": 1, "maxLength": 128},
        "value": {
            "anyOf": [{"type": "number"}, {"type": "boolean"}, {"type": "string"}],
            "description": "A number, true/false (BOOLEAN) or a label (CATEGORICAL).",
        },
        "comment": {"type": "string", "maxLength": 4096},
        "source": {"enum": list(SCORE_SOURCES), "default": "app"},
        "author": {"type": "string", "maxLength": 200},
        "span_id": {"type": "string", "pattern": "^[0-9a-fA-F]{16}$"},
        "data_type": {"enum": ["NUMERIC", "BOOLEAN", "CATEGORICAL"]},
    }
    required = ["name", "value"]
    if with_trace_id:
        properties["trace_id"] = {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"}
        required.append("trace_id")
    item = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    many = {"type": "array", "items": item, "minItems": 1, "maxItems": MAX_SCORES_PER_REQUEST}
    schema = many if with_trace_id else {"anyOf": [item, many]}
    content = {"application/json": {"schema": schema}}
    return {"requestBody": {"required": True, "content": content}}


async def _body(request: Request) -> Any:
    """The JSON body, bounded before and while reading (chunked bodies have no length)."""
    return await json_body(request, MAX_SCORES_BODY_BYTES)


def _scores(payload: Any, trace_id: str | None) -> list[TraceScore]:
    """Checked scores of a body: one object or a list of them (``trace_id`` from the path, or
    in each item when None)."""
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise InputError("no scores given: send an object or a non-empty list")
    if len(items) > MAX_SCORES_PER_REQUEST:
        raise InputError(
            f"{len(items):,} scores in one request: at most {MAX_SCORES_PER_REQUEST:,}"
        )
    fields = _FIELDS if trace_id is not None else _FIELDS | {"trace_id"}
    scores = []
    for index, item in enumerate(items):
        where = f"scores[{index}]" if isinstance(payload, list) else "score"
        if not isinstance(item, dict):
            raise InputError(f"{where}: expected an object, got {type(item).__name__}")
        unknown = sorted(str(key) for key in item if key not in fields)
        if unknown:
            raise InputError(f"{where}: unknown field '{unknown[0][:60]}'")
        for required in ("name", "value"):
            if item.get(required) is None:
                raise InputError(f"{where}.{required}: required")
        scores.append(
            make_score(
                trace_id if trace_id is not None else item.get("trace_id"),
                item["name"],
                item["value"],
                comment=item.get("comment"),
                source=item.get("source", "app"),
                author=item.get("author"),
                span_id=item.get("span_id"),
                data_type=item.get("data_type"),
                where=where,
            )
        )
    return scores


async def _store_scores(request: Request, store: StoreDep, trace_id: str | None) -> Response:
    scores = _scores(await _body(request), trace_id)
    # a score whose name has a config must fit it; other names stay free-form
    await run_in_threadpool(check_against_configs, store, scores)
    redactor: Redactor = request.app.state.redactor
    stored = await run_in_threadpool(add_scores, store, scores, redactor)
    return json_response({"items": [score.to_dict() for score in stored]}, status_code=201)


def _trace_id(trace_id: str) -> str:
    """The path's trace id, checked like a score's (32 hex digits)."""
    return make_score(trace_id, "id", 0, where="trace").trace_id


@router.post(
    "/traces/{trace_id}/scores",
    status_code=201,
    summary="Score a trace",
    openapi_extra=_body_schema(with_trace_id=False),
)
async def post_trace_scores(request: Request, store: StoreDep, trace_id: _Id32) -> Response:
    """One score (an object) or up to 1,000 (a list): ``name``, ``value`` (number, true/false
    or a label), optional ``comment``, ``source`` (app, human, judge, scorer), ``author``,
    ``span_id``, ``data_type``. The trace need not be stored yet (feedback may come first)."""
    return await _store_scores(request, store, _trace_id(trace_id))


@router.post(
    "/scores",
    status_code=201,
    summary="Score several traces at once",
    openapi_extra=_body_schema(with_trace_id=True),
)
async def post_scores(request: Request, store: StoreDep) -> Response:
    """As ``POST /traces/{id}/scores``, with a ``trace_id`` in every item."""
    return await _store_scores(request, store, None)


@router.get("/traces/{trace_id}/scores", summary="A trace's scores, oldest first")
def get_trace_scores(
    store: StoreDep,
    trace_id: _Id32,
    name: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_SCORES_PER_REQUEST)] = MAX_SCORES_PER_REQUEST,
    after: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
) -> Response:
    """``after``: the ``id`` of the last score of the previous page."""
    scores = list_scores(store, _trace_id(trace_id), name=name, after=after, limit=limit)
    return json_response({"items": [score.to_dict() for score in scores]})


@router.delete("/scores/{score_id}", status_code=204, summary="Delete one score")
def remove_score(
    store: StoreDep, score_id: Annotated[str, Path(min_length=1, max_length=32)]
) -> Response:
    if not delete_score(store, score_id):
        raise NotFoundError(f"score '{score_id}' not found")
    return Response(status_code=204)
