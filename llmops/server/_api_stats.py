"""``GET /api/v1/stats``: the dashboard's figures over a time range, per bucket and group."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from llmops.server._api_deps import StoreDep
from llmops.server._pagination import json_response
from llmops.tracing import dashboard_stats, parse_range

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["stats"])

_Moment = Annotated[
    str | None,
    Query(
        max_length=40,
        description="since: a duration before until (1h, 24h, 7d, 30d) or a time; until: "
        "nanoseconds since the epoch or an ISO time (default: now).",
    ),
]


@router.get("/stats", summary="Traces, latency, errors, tokens, cost and scores over time")
def stats(
    store: StoreDep,
    since: _Moment = "7d",
    until: _Moment = None,
    bucket: Annotated[str, Query(max_length=20, description="15m, 1h, 1d or auto.")] = "auto",
    by: Literal["model", "prompt", "route", "user", "tag"] | None = None,
    groups: Annotated[int, Query(ge=1, le=50, description="The busiest groups shown.")] = 10,
) -> Response:
    """Per bucket of root-span start time in ``[since, until)``: trace count, errors and error
    rate (traces with a failed span), root-span latency p50/p95/p99 (ms), tokens in/out and
    cost over the traces' spans; mean numeric trace scores per name and mean eval-run scores
    per scorer (runs started in the bucket). ``by`` groups each figure (eval scores by model
    and prompt only); ``group`` null is the traces without that attribute."""
    since_ns, until_ns = parse_range(since, until)
    figures = dashboard_stats(
        store, since_ns=since_ns, until_ns=until_ns, bucket=bucket, by=by, max_groups=groups
    )
    return json_response(figures.to_dict())
