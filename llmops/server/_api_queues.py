"""Score configs and annotation queues: ``/api/v1/score-configs`` and ``/api/v1/queues``.

The viewer's annotation pages work through a queue one item at a time: ``next`` gives the
first pending item after one (204 when none is left) and a ``POST`` to an item stores its
labels (each also a human score on the item's trace). Bodies are bounded, every field is
checked and named when wrong (400), unknown names are 404 and an item another annotator
labelled is 409. The token rules are the API's (see ``_auth``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from llmops._exceptions import InputError
from llmops.evals import (
    complete_queue_item,
    create_queue,
    export_queue,
    get_queue,
    get_queue_item,
    list_queues,
    next_queue_item,
    queue_items,
)
from llmops.server._api_deps import StoreDep, json_body
from llmops.server._pagination import MAX_INT, json_response
from llmops.store import Store
from llmops.tracing import (
    Redactor,
    TraceFilter,
    create_score_config,
    list_score_configs,
    parse_score_filter,
    since_ns,
)

__all__ = ["MAX_QUEUE_BODY_BYTES", "router"]

router = APIRouter(prefix="/api/v1", tags=["annotation"])

#: A config, a queue or one item's labels is small: 64 KiB holds 50 labels with 1 KiB comments.
MAX_QUEUE_BODY_BYTES = 64 * 1024
_MAX_TEXT = 4096
_MAX_LABELS = 50
_DATA_TYPES = ("NUMERIC", "BOOLEAN", "CATEGORICAL")
_FILTER_TEXT = ("name", "session", "user", "model", "tag", "search")
_FILTER_FIELDS = frozenset({*_FILTER_TEXT, "since", "status", "min_ms", "scores"})

Name = Annotated[str, Path(min_length=1, max_length=200)]
ItemId = Annotated[int, Path(ge=1, le=MAX_INT)]


def _body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """A JSON request body in the OpenAPI document (the handler reads and checks it itself, to
    name the field that is wrong)."""
    schema = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_TEXT = {"type": "string", "minLength": 1, "maxLength": 200}
_CONFIG_BODY = _body(
    {
        "name": _TEXT,
        "data_type": {"enum": list(_DATA_TYPES)},
        "categories": {"type": "array", "items": _TEXT, "maxItems": _MAX_LABELS},
        "min_value": {"type": "number"},
        "max_value": {"type": "number"},
        "description": {"type": "string", "maxLength": 2000},
    },
    ["name", "data_type"],
)
_QUEUE_BODY = _body(
    {
        "name": _TEXT,
        "score_configs": {"type": "array", "items": _TEXT, "minItems": 1},
        "filter": {
            "type": "object",
            "description": "The trace filter of `llmops traces list` (exclusive with dataset).",
            "properties": {
                **{key: {"type": "string", "maxLength": 400} for key in _FILTER_TEXT},
                "since": {"type": "string", "description": "30m, 2h, 7d or an ISO time."},
                "status": {"enum": ["OK", "ERROR", "UNSET"]},
                "min_ms": {"type": "number", "minimum": 0},
                "scores": {"type": "array", "items": {"type": "string"}, "maxItems": 20},
            },
            "additionalProperties": False,
        },
        "dataset": {"type": "string", "description": "NAME@VERSION or NAME@ALIAS."},
        "sample": {"type": "integer", "minimum": 1, "maximum": 10_000},
        "seed": {"type": "integer", "minimum": 0},
        "limit": {"type": "integer", "minimum": 1, "maximum": 10_000},
        "description": {"type": "string", "maxLength": 2000},
    },
    ["name", "score_configs"],
)
_ITEM_BODY = _body(
    {
        "annotator": _TEXT,
        "labels": {
            "type": "object",
            "description": "Score config name -> a number, true/false or a category.",
            "additionalProperties": {
                "anyOf": [{"type": "number"}, {"type": "boolean"}, {"type": "string"}]
            },
        },
        "comments": {"type": "object", "additionalProperties": {"type": "string"}},
        "status": {"enum": ["done", "skipped"], "default": "done"},
    },
    ["annotator"],
)


# ---- checking bodies ---------------------------------------------------------------------------


def _object(value: Any, where: str, fields: frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected an object, got {type(value).__name__}")
    unknown = sorted(str(key) for key in value if key not in fields)
    if unknown:
        raise InputError(f"{where}: unknown field '{unknown[0][:60]}'")
    return value


def _text(
    body: Mapping[str, Any], key: str, *, required: bool = False, limit: int = 200, where: str = ""
) -> Any:
    value = body.get(key)
    key = where or key
    if value is None:
        if required:
            raise InputError(f"{key}: required")
        return None
    if not isinstance(value, str):
        raise InputError(f"{key}: expected a string, got {type(value).__name__}")
    if len(value) > limit:
        raise InputError(f"{key}: longer than {limit:,} characters")
    if "\x00" in value:
        raise InputError(f"{key}: NUL characters are not allowed")
    return value


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise InputError(f"{where}: expected a number, got {orjson.dumps(value).decode()[:60]}")
    if abs(value) > 1e300:
        raise InputError(f"{where}: out of range")
    return float(value)


def _integer(value: Any, where: str, low: int, high: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputError(f"{where}: expected a whole number from {low:,} to {high:,}")
    return value


def _strings(value: Any, where: str, most: int) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{where}: expected a list of strings")
    if len(value) > most:
        raise InputError(f"{where}: more than {most} items")
    return value


def _since(value: Any) -> int | None:
    """``30m``, ``2h``, ``7d`` ago or an ISO time (as ``traces list --since``), in ns."""
    if value is None:
        return None
    text = _text({"since": value}, "since", limit=64, where="filter.since")
    return since_ns(text, "filter.since")


def _trace_filter(value: Any) -> TraceFilter:
    """The ``filter`` of a queue: the fields of ``llmops traces list``'s options."""
    spec = _object(value, "filter", _FILTER_FIELDS)
    texts = {key: _text(spec, key, limit=400, where=f"filter.{key}") for key in _FILTER_TEXT}
    status = spec.get("status")
    if status is not None and status not in ("OK", "ERROR", "UNSET"):
        raise InputError("filter.status: expected OK, ERROR or UNSET")
    min_ms = _number(spec.get("min_ms"), "filter.min_ms")
    scores = _strings(spec.get("scores", []), "filter.scores", 20)
    return TraceFilter(
        since_ns=_since(spec.get("since")),
        name=texts["name"],
        status=status,
        session_id=texts["session"],
        user_id=texts["user"],
        model=texts["model"],
        tag=texts["tag"],
        min_duration_ms=min_ms,
        text=texts["search"],
        scores=tuple(parse_score_filter(text) for text in scores),
    )


# ---- score configs -----------------------------------------------------------------------------

_CONFIG_FIELDS = frozenset(
    {"name", "data_type", "categories", "min_value", "max_value", "description"}
)


@router.get("/score-configs", summary="Score configs: what a human score may be, by name")
def score_configs(store: StoreDep) -> Response:
    return json_response({"items": [c.to_dict() for c in list_score_configs(store)]})


@router.post(
    "/score-configs",
    status_code=201,
    summary="Create a score config",
    openapi_extra=_CONFIG_BODY,
)
async def post_score_config(request: Request, store: StoreDep) -> Response:
    """Body: ``name``, ``data_type`` (NUMERIC, BOOLEAN or CATEGORICAL), ``categories`` (the
    labels of a CATEGORICAL config), ``min_value``/``max_value`` (NUMERIC), ``description``."""
    body = _object(await json_body(request, MAX_QUEUE_BODY_BYTES), "body", _CONFIG_FIELDS)
    data_type = str(_text(body, "data_type", required=True, limit=20)).upper()
    if data_type not in _DATA_TYPES:
        raise InputError("data_type: expected NUMERIC, BOOLEAN or CATEGORICAL")
    config = await run_in_threadpool(
        create_score_config,
        store,
        _text(body, "name", required=True),
        data_type,
        categories=tuple(_strings(body.get("categories", []), "categories", _MAX_LABELS)),
        min_value=_number(body.get("min_value"), "min_value"),
        max_value=_number(body.get("max_value"), "max_value"),
        description=_text(body, "description", limit=_MAX_TEXT) or "",
    )
    return json_response(config.to_dict(), status_code=201)


# ---- queues ------------------------------------------------------------------------------------

_QUEUE_FIELDS = frozenset(
    {"name", "score_configs", "filter", "dataset", "sample", "seed", "limit", "description"}
)


@router.get("/queues", summary="Annotation queues with their progress")
def queues(store: StoreDep) -> Response:
    return json_response({"items": [q.to_dict() for q in list_queues(store)]})


@router.post(
    "/queues", status_code=201, summary="Create an annotation queue", openapi_extra=_QUEUE_BODY
)
async def post_queue(request: Request, store: StoreDep) -> Response:
    """Body: ``name``, ``score_configs`` (names, at least one), and either ``filter`` (the
    trace filter of ``llmops traces list``: since, name, status, session, user, model, tag,
    min_ms, search, scores) or ``dataset`` (``NAME@ALIAS`` or ``NAME@VERSION``); optional
    ``sample`` (a seeded random subset of that size), ``seed``, ``limit`` (at most 10,000
    items), ``description``."""
    body = _object(await json_body(request, MAX_QUEUE_BODY_BYTES), "body", _QUEUE_FIELDS)
    has_filter = body.get("filter") is not None
    if has_filter == (body.get("dataset") is not None):
        raise InputError("give either 'filter' (traces) or 'dataset', not both or neither")
    configs = _strings(body.get("score_configs"), "score_configs", _MAX_LABELS)
    if not configs:
        raise InputError("score_configs: at least one score config")
    options: dict[str, Any] = {
        "where": _trace_filter(body["filter"]) if has_filter else None,
        "dataset": None if has_filter else _text(body, "dataset", limit=300),
        "sample": _integer(body.get("sample"), "sample", 1, 10_000),
        "seed": _integer(body.get("seed"), "seed", 0, 2**31 - 1) or 0,
        "score_configs": configs,
        "description": _text(body, "description", limit=_MAX_TEXT) or "",
    }
    limit = _integer(body.get("limit"), "limit", 1, 10_000)
    if limit is not None:
        options["limit"] = limit
    name = _text(body, "name", required=True)
    queue = await run_in_threadpool(lambda: create_queue(store, name, **options))
    return json_response(queue.to_dict(), status_code=201)


@router.get("/queues/{name}", summary="A queue with its progress")
def queue(store: StoreDep, name: Name) -> Response:
    return json_response(get_queue(store, name).to_dict())


@router.get("/queues/{name}/items", summary="A queue's items in order, a page at a time")
def items(
    store: StoreDep,
    name: Name,
    status: Literal["pending", "done", "skipped"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> Response:
    found = queue_items(store, name, status=status, limit=limit, offset=offset)
    return json_response({"items": [item.to_dict() for item in found]})


@router.get(
    "/queues/{name}/next",
    summary="The first pending item after one (204 when none is left)",
    responses={204: {"description": "No item is pending after `after`."}},
)
def next_item(
    store: StoreDep, name: Name, after: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None
) -> Response:
    """``after``: an item id; without it, the first pending item of the queue."""
    found = next_queue_item(store, name, after=after)
    if found is None:
        return Response(status_code=204)
    return json_response(found.to_dict())


@router.get("/queues/{name}/items/{item_id}", summary="One item of a queue")
def item(store: StoreDep, name: Name, item_id: ItemId) -> Response:
    return json_response(get_queue_item(store, name, item_id).to_dict())


_ITEM_FIELDS = frozenset({"annotator", "labels", "comments", "status"})


def _labels(body: Mapping[str, Any]) -> tuple[dict[str, object], dict[str, str]]:
    """The labels and comments of an item's body, their shapes checked (the values are
    checked against the queue's score configs by ``complete_queue_item``)."""
    labels = body.get("labels", {})
    if not isinstance(labels, dict):
        raise InputError(f"labels: expected an object, got {type(labels).__name__}")
    if len(labels) > _MAX_LABELS:
        raise InputError(f"labels: more than {_MAX_LABELS}")
    comments = _object(body.get("comments", {}), "comments", frozenset(labels))
    notes = {
        key: _text(comments, key, limit=_MAX_TEXT, where=f"comments.{key[:60]}")
        for key, text in comments.items()
        if text is not None
    }
    return labels, notes


@router.post(
    "/queues/{name}/items/{item_id}",
    summary="Label (or skip) an item",
    openapi_extra=_ITEM_BODY,
    responses={409: {"description": "Another annotator labelled the item."}},
)
async def post_item(request: Request, store: StoreDep, name: Name, item_id: ItemId) -> Response:
    """Body: ``annotator``, ``labels`` (score config name -> value), ``comments`` (name ->
    text), ``status`` (``done``, the default, or ``skipped`` without labels). 409 when another
    annotator labelled the item; the same annotator may change their labels."""
    body = _object(await json_body(request, MAX_QUEUE_BODY_BYTES), "body", _ITEM_FIELDS)
    annotator = _text(body, "annotator", required=True)
    if not annotator.strip():
        raise InputError("annotator: required")
    status = body.get("status", "done")
    if status not in ("done", "skipped"):
        raise InputError("status: expected done or skipped")
    labels, comments = _labels(body)
    redactor: Redactor = request.app.state.redactor  # comments are masked like span text
    done = await run_in_threadpool(
        lambda: complete_queue_item(
            store,
            name,
            item_id,
            annotator=annotator.strip(),
            labels=labels,
            comments=comments,
            status=status,
            redactor=redactor,
        )
    )
    return json_response(done.to_dict())


def _lines(store: Store, name: str) -> Iterator[bytes]:
    for line in export_queue(store, name):
        yield orjson.dumps(line, default=str, option=orjson.OPT_NON_STR_KEYS) + b"\n"


@router.get(
    "/queues/{name}/export",
    summary="Every item with its labels, as JSON lines",
    response_class=StreamingResponse,
)
async def export(store: StoreDep, name: Name) -> Response:
    await run_in_threadpool(get_queue, store, name)  # a missing queue is a 404, not an empty body
    return StreamingResponse(
        iterate_in_threadpool(_lines(store, name)),
        media_type="application/x-ndjson",
        headers={"content-disposition": f'attachment; filename="{_filename(name)}.jsonl"'},
    )


def _filename(name: str) -> str:
    """The queue's name as a safe file name (the header must not carry quotes or controls)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100] or "queue"
