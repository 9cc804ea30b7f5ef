"""``GET /api/v1/evals/matrix``: a prompts x models matrix, or N runs, as one grid of cases."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from llmops._exceptions import InputError
from llmops.evals import MAX_GRID_RUNS, eval_grid
from llmops.server._api_deps import StoreDep
from llmops.server._pagination import Cursor, decode_cursor, encode_cursor, json_response

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/evals", tags=["evals"])

# ids are at most 32 characters: MAX_GRID_RUNS of them and their commas
_RUNS_CHARS = MAX_GRID_RUNS * 33


@router.get("/matrix", summary="Eval runs side by side: rows are cases, columns are runs")
def matrix(
    store: StoreDep,
    runs: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=_RUNS_CHARS,
            description=f"Run ids or prefixes, comma-separated (at most {MAX_GRID_RUNS}).",
        ),
    ] = None,
    group: Annotated[
        str | None,
        Query(min_length=1, max_length=32, description="The group id of a matrix run."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Cases per page (at most 200).")] = 50,
    cursor: Cursor = None,
) -> Response:
    """One page of cases, with each run's summary (mean per scorer, errors, cost, latency).

    Rows pair by case index; ``differs`` marks a case whose runs disagree on the output, an
    error or a score. Outputs are cut to 1000 characters (``output_chars`` is the length).
    """
    after = decode_cursor(cursor, (int,))
    names = [] if runs is None else [part.strip() for part in runs.split(",")]
    if any(not name or len(name) > 32 for name in names):
        raise InputError("runs: give run ids (1-32 characters each) separated by commas")
    grid = eval_grid(
        store, runs=names, group_id=group, after=None if after is None else after[0], limit=limit
    )
    body = grid.to_dict()
    body["next_cursor"] = None if grid.after is None else encode_cursor([grid.after])
    return json_response(body)
