"""GET /api/v1/evals/matrix on a real server, over real matrix runs made by the runner against
the fake model: the grid's shape, per-column summaries, N-run comparison, pages, bad input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _eval_grid import N_CASES, OWN_XSS, XSS_MODEL, make_runs, responder
from _fake_openai import FakeOpenAI
from _live_server import LiveServer

from llmops.evals import MAX_GRID_RUNS
from llmops.server import create_app
from llmops.store import Store

TOKEN = "t0ken-for-matrix"


@pytest.fixture
def api(store: Store) -> Iterator[httpx.Client]:
    with LiveServer(create_app(store, token=TOKEN)) as live:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=f"{live.url}/api/v1", headers=headers, timeout=30) as client:
            yield client


def _grid(api: httpx.Client, **params: Any) -> dict[str, Any]:
    response = api.get("/evals/matrix", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _all_rows(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    for _ in range(N_CASES + 1):
        body = _grid(api, **params, **({"cursor": cursor} if cursor else {}))
        assert len(body["items"]) <= params["limit"]
        rows += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return rows
    raise AssertionError("next_cursor never ended")


def test_a_matrix_group_and_n_runs_read_as_one_grid(
    store: Store, api: httpx.Client, tmp_path: Path
) -> None:
    with FakeOpenAI(responder) as fake:
        runs = make_runs(tmp_path / "project", fake, store)
    assert len(runs) == 4 and runs[0].group_id is not None

    grid = _grid(api, group=runs[0].group_id)
    # columns: the four (prompt version, model) cells in the order they ran
    columns = [(c["prompt"], c["model"]) for c in grid["runs"]]
    assert sorted(columns) == sorted((r.prompt, r.model) for r in runs)
    assert {c["id"] for c in grid["runs"]} == {r.id for r in runs}
    assert grid["total_cases"] == N_CASES and grid["next_cursor"] is None
    assert [row["case_index"] for row in grid["items"]] == list(range(N_CASES))
    for row in grid["items"]:
        assert set(row["cells"]) == {r.id for r in runs}
        assert row["inputs"]["context"].startswith(OWN_XSS[row["case_index"] % len(OWN_XSS)])

    # summaries: the second model missed case 1 and failed case 2; the first scored every case
    by_id = {c["id"]: c for c in grid["runs"]}
    for run in runs:
        column = by_id[run.id]
        failing = run.model == XSS_MODEL
        assert column["summary"]["cases"] == N_CASES
        assert column["summary"]["errors"] == (1 if failing else 0)
        assert column["summary"]["latency_ms_mean"] > 0
        contains = column["scores"]["contains"]
        assert contains["n"] == (N_CASES - 1 if failing else N_CASES)
        assert contains["unmeasured"] == (1 if failing else 0)
        assert contains["mean"] == pytest.approx(run.summary["contains"].mean)
        assert column["scores"]["exact_match"]["mean"] == 0.0
        cells = [row["cells"][run.id] for row in grid["items"]]
        assert all(cell["trace_id"] for cell in cells)
        if failing:
            assert cells[1]["output"] == "no idea" and cells[1]["scores"]["contains"]["value"] == 0
            assert cells[2]["output"] is None and "refuses case 2" in cells[2]["error"]
            assert cells[2]["scores"]["contains"] == {
                "value": None, "error": "target failed", "reason": None
            }  # fmt: skip
        else:
            assert all(cell["scores"]["contains"]["value"] == 1.0 for cell in cells)
            assert cells[0]["output_chars"] == len(cells[0]["output"])

    # N runs by id prefix, in the order given; differences marked per case
    same_prompt = [r for r in runs if r.prompt.startswith("qa@")]
    other = next(r for r in runs if r.prompt.startswith("qa_terse@"))
    chosen = [*same_prompt, other]
    grid = _grid(api, runs=",".join(r.id[:10] for r in chosen))
    assert grid["group_id"] is None
    assert [c["id"] for c in grid["runs"]] == [r.id for r in chosen]
    assert all(row["differs"] for row in grid["items"])  # the terse prompt answers otherwise
    pair = _grid(api, runs=",".join(r.id for r in same_prompt))["items"]
    assert [row["case_index"] for row in pair if row["differs"]] == [1, 2]

    # pages of 2 cases: each case exactly once, summaries on every page
    rows = _all_rows(api, group=runs[0].group_id, limit=2)
    assert [row["case_index"] for row in rows] == list(range(N_CASES))


BAD = [
    ({}, 400),  # neither runs nor group
    ({"runs": "abc", "group": "def"}, 400),
    ({"runs": "a,,b"}, 400),
    ({"runs": ",".join(f"r{i}" for i in range(MAX_GRID_RUNS + 1))}, 400),
    ({"runs": "x" * 33}, 400),
    ({"runs": "zzz"}, 404),
    ({"runs": "a\x00b"}, 400),
    ({"group": "nosuchgroup"}, 404),
    ({"group": "g", "cursor": "not-a-cursor"}, 400),
    ({"group": "g", "cursor": "WyJhIl0"}, 400),  # valid base64 JSON, a string not an index
    ({"group": "g", "limit": 0}, 400),
    ({"group": "g", "limit": 201}, 400),
]


def test_bad_grid_requests_are_client_errors(api: httpx.Client) -> None:
    for params, status in BAD:
        response = api.get("/evals/matrix", params=params)
        assert response.status_code == status, (params, response.text)
        assert response.json()["message"]


def test_long_outputs_are_cut_and_a_run_named_twice_is_refused(
    store: Store, api: httpx.Client
) -> None:
    from llmops.evals import evaluate

    long = "x" * 5000 + OWN_XSS[0]
    rows = [{"question": f"q{i}", "answer": "a"} for i in range(3)]
    run = evaluate(
        rows, lambda row: long if row["question"] == "q1" else "a", ["exact_match"], store=store
    )
    grid = _grid(api, runs=run.id)
    cells = [row["cells"][run.id] for row in grid["items"]]
    assert [cell["output"] for cell in cells] == ["a", "x" * 1000, "a"]
    assert [cell["output_chars"] for cell in cells] == [1, len(long), 1]
    assert grid["runs"][0]["scores"]["exact_match"]["mean"] == pytest.approx(2 / 3)
    response = api.get("/evals/matrix", params={"runs": f"{run.id},{run.id[:8]}"})
    assert response.status_code == 400 and "named twice" in response.json()["message"]
