"""Experiment tracking over ``/api/v1``: experiments, an experiment's runs (sorted, filtered),
one run, a metric's history, artifacts listed and downloaded, N runs compared.

Tracking runs live under ``/api/v1/tracking/runs``: ``/api/v1/evals/runs`` are eval runs.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import StreamingResponse

from llmops._exceptions import InputError
from llmops.server._api_deps import StoreDep
from llmops.server._pagination import (
    Cursor,
    Limit,
    decode_cursor,
    encode_cursor,
    json_response,
    page,
)
from llmops.tracking import (
    MAX_HISTORY_POINTS,
    MetricPoint,
    artifacts_page,
    compare_tracking_runs,
    experiment_runs,
    get_tracking_run,
    list_experiments,
    metric_history_bounded,
    open_artifact,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["tracking"])

RunId = Annotated[str, Path(min_length=1, max_length=32, description="Run id or prefix.")]
Filters = Annotated[
    list[Annotated[str, Query(max_length=500)]] | None,
    Query(max_length=20, description="`key=value`; repeat to require several."),
]


def _point(point: MetricPoint) -> dict[str, Any]:
    return {"step": point.step, "timestamp_ms": point.timestamp_ms, "value": point.value}


@router.get("/experiments", summary="Experiments by name, with run counts")
def experiments(store: StoreDep, limit: Limit = 100, cursor: Cursor = None) -> Response:
    after = decode_cursor(cursor, (str,))
    found = [e for e in list_experiments(store) if after is None or e.name > after[0]]
    return page(
        found[: limit + 1],
        limit,
        key=lambda e: (e.name,),
        render=lambda e: e.to_dict(),
    )


@router.get(
    "/experiments/{name:path}/runs",
    summary="An experiment's runs with latest metrics: sorted, filtered by status, tag, param",
)
def runs(
    store: StoreDep,
    name: Annotated[str, Path(min_length=1, max_length=200)],
    status: Annotated[Literal["running", "finished", "failed", "killed"] | None, Query()] = None,
    tag: Filters = None,
    param: Filters = None,
    sort: Annotated[
        str,
        Query(
            min_length=1,
            max_length=260,
            description="started_at, name, status, duration, metric:KEY or param:KEY",
        ),
    ] = "started_at",
    order: Literal["asc", "desc"] = "desc",
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    """Sorting by a metric or param reads the newest 10,000 runs (``truncated`` says when
    more exist); pages are offsets into that order."""
    after = decode_cursor(cursor, (int,))
    offset = after[0] if after is not None else 0
    if offset < 0:
        raise InputError("invalid cursor: pass the next_cursor of the previous page")
    found = experiment_runs(
        store,
        name,
        status=status,
        tags=tag or [],
        params=param or [],
        sort=sort,
        descending=order == "desc",
        offset=offset,
        limit=limit,
    )
    more = offset + len(found.runs) < found.total
    items = [
        {
            **run.to_dict(),
            "metrics": {k: _point(p) for k, p in found.metrics.get(run.id, {}).items()},
        }
        for run in found.runs
    ]
    return json_response(
        {
            "experiment": name,
            "total": found.total,
            "truncated": found.truncated,
            "items": items,
            "next_cursor": encode_cursor([offset + len(found.runs)]) if more else None,
        }
    )


@router.get("/tracking/runs/{run_id}", summary="A tracking run: params, tags, latest metrics")
def run(store: StoreDep, run_id: RunId) -> Response:
    detail = get_tracking_run(store, run_id)
    return json_response(
        {
            **detail.run.to_dict(),
            "metrics": {k: _point(p) for k, p in detail.metrics.items()},
            "artifacts": [
                {"path": a.path, "size": a.size, "digest": a.digest, "created_at": a.created_at}
                for a in detail.artifacts[:1000]
            ],
            "artifacts_total": len(detail.artifacts),
        }
    )


@router.get(
    "/tracking/runs/{run_id}/metrics",
    summary=f"A metric's history by step; downsampled past {MAX_HISTORY_POINTS:,} points",
)
def metrics(
    store: StoreDep,
    run_id: RunId,
    key: Annotated[str, Query(min_length=1, max_length=250)],
) -> Response:
    """Every value when there are at most 10,000; past that, buckets of consecutive values
    keep their first, lowest and highest (``downsampled: true``, ``total`` logged)."""
    history = metric_history_bounded(store, run_id, key)
    return json_response(
        {
            "key": history.key,
            "total": history.total,
            "downsampled": history.downsampled,
            "max_points": MAX_HISTORY_POINTS,
            "points": [_point(p) for p in history.points],
        }
    )


@router.get("/tracking/runs/{run_id}/artifacts", summary="A run's artifacts by path, with sizes")
def artifacts(
    store: StoreDep, run_id: RunId, limit: Limit = 100, cursor: Cursor = None
) -> Response:
    after = decode_cursor(cursor, (str,))
    full_id, rows = artifacts_page(store, run_id, after=after[0] if after else None, limit=limit)
    return page(
        rows,
        limit,
        key=lambda a: (a.path,),
        render=lambda a: {
            "path": a.path,
            "size": a.size,
            "digest": a.digest,
            "created_at": a.created_at,
        },
        run_id=full_id,
    )


@router.get(
    "/tracking/runs/{run_id}/artifacts/{path:path}",
    summary="Download one artifact (checked against its sha256)",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def artifact(
    store: StoreDep, run_id: RunId, path: Annotated[str, Path(min_length=1, max_length=1000)]
) -> Response:
    # `path` is the decoded URL path: `..`, absolute, backslash and NUL are refused by
    # clean_artifact_path, and a blob linking out of the artifact root by the blob store
    stream = open_artifact(store, run_id, path)
    filename = stream.path.rsplit("/", 1)[-1]
    return StreamingResponse(
        stream.chunks(),
        media_type="application/octet-stream",
        headers={
            "Content-Length": str(stream.size),
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename, safe='')}",
            "X-Content-Type-Options": "nosniff",
            "ETag": f'"{stream.digest}"',
        },
    )


@router.get("/tracking/compare", summary="N tracking runs side by side, differing keys listed")
def compare(
    store: StoreDep,
    ids: Annotated[
        list[Annotated[str, Query(min_length=1, max_length=32)]],
        Query(min_length=2, max_length=20, description="Two to twenty run ids (or prefixes)."),
    ],
) -> Response:
    result = compare_tracking_runs(store, ids)
    return json_response(
        {
            "runs": [r.to_dict() for r in result.runs],
            "params": result.params,
            "metrics": result.metrics,
            "differing_params": result.differing_params,
            "differing_metrics": result.differing_metrics,
        }
    )
