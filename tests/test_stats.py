"""Dashboard figures (llmops.tracing.dashboard_stats, GET /api/v1/stats, ``llmops stats``) on
SQLite and PostgreSQL, over seeded spans with known durations, tokens, costs and scores."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from llmops._exceptions import InputError
from llmops.cli import main
from llmops.store import Store
from llmops.store.models import (
    EvalRunRecord,
    EvalScoreRecord,
    ScoreRecord,
    SpanRecord,
    table_of,
)
from llmops.tracing import dashboard_stats

HOUR = 3600 * 10**9
MS = 10**6
#: the start of the seeded range: 2026-11-14 22:13:20 UTC, on an hour
T0 = 1_763_158_400 * 10**9 // HOUR * HOUR
#: names that would run script if they reached the page as markup
XSS = "<img src=x onerror=window.__xss=1>"


def _span(trace: int, span: int, start: int, ms: float, **fields: Any) -> dict[str, Any]:
    return {
        "trace_id": f"{trace:032x}",
        "span_id": f"{span:016x}",
        "parent_span_id": fields.pop("parent", None),
        "name": fields.pop("name", "answer"),
        "kind": "internal",
        "start_ns": start,
        "end_ns": start + int(ms * MS),
        "status_code": fields.pop("status", "OK"),
        "attributes": fields.pop("attributes", {}),
        "user_id": fields.pop("user", None),
    }


def seed(store: Store, t0: int = T0) -> None:
    """Bucket 0 (the first hour): 4 traces of 10, 20, 30, 40 ms, three on model-a and one on
    XSS, one failed in a child span; bucket 1: 2 traces of 100 and 200 ms on model-a. One
    trace before and one after the range."""
    rows = []
    layout = [  # (trace, hour offset ms, duration ms, model, user, tags, failed)
        (1, 0, 10, "model-a", "ada", ["beta", XSS], False),
        (2, 60_000, 20, "model-a", "ada", ["beta"], True),
        (3, 120_000, 30, "model-a", XSS, [], False),
        (4, 180_000, 40, XSS, "bob", ["beta"], False),
        (5, 3_600_000, 100, "model-a", "bob", [], False),
        (6, 3_700_000, 200, "model-a", "bob", [], False),
        (7, -1, 5, "model-a", "bob", [], False),  # a millisecond before the range
        (8, 7_200_000, 5, "model-a", "bob", [], False),  # at its end (excluded)
    ]
    for trace, offset_ms, ms, model, user, tags, failed in layout:
        start = t0 + offset_ms * MS
        rows.append(
            _span(trace, 1, start, ms, user=user, attributes={"llmops.tags": tags} if tags else {})
        )
        llm = {
            "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": 100 * trace,
            "gen_ai.usage.output_tokens": 10 * trace,
            "llmops.cost_usd": 0.25 * trace,
            "llmops.prompt.name": "support",
            "llmops.prompt.version": 2 if trace % 2 else 3,
            "llmops.route.version": "bot@1",
        }
        rows.append(
            _span(
                trace,
                2,
                start + MS // 10,
                1,
                parent=f"{1:016x}",
                attributes=llm,
                user=user,
                status="ERROR" if failed else "OK",
                name="chat",
            )
        )
    scores = [
        (1, "helpful", 1.0),
        (2, "helpful", 0.0),
        (3, "helpful", 0.5),
        (5, "helpful", 0.25),
        (7, "helpful", 9.0),  # outside the range
    ]
    now = datetime.now(UTC)
    score_rows = [
        {
            "id": f"s{i}",
            "trace_id": f"{t:032x}",
            "name": name,
            "source": "human",
            "data_type": "numeric",
            "value": v,
            "created_at": now,
        }
        for i, (t, name, v) in enumerate(scores)
    ]
    score_rows.append(
        {
            "id": "label",
            "trace_id": f"{1:032x}",
            "name": "tone",
            "source": "human",
            "data_type": "categorical",
            "value": None,
            "label": "polite",
            "created_at": now,
        }
    )
    started = datetime.fromtimestamp((t0 + 10 * MS) / 1e9, UTC)
    run = {"suite": "qa", "model": "openai/x", "status": "done", "started_at": started}
    runs = [
        {**run, "id": "run1", "model_name": "model-a"},
        {**run, "id": "run2", "model_name": XSS},
    ]
    evals = [
        {"run_id": "run1", "case_index": i, "repeat": 0, "scorer": "exact", "value": v}
        for i, v in enumerate([1.0, 0.0, 1.0])
    ] + [{"run_id": "run2", "case_index": 0, "repeat": 0, "scorer": "exact", "value": 0.0}]
    with store.engine.begin() as db:
        db.execute(insert(table_of(SpanRecord)), rows)
        db.execute(insert(table_of(ScoreRecord)), score_rows)
        db.execute(insert(table_of(EvalRunRecord)), runs)
        db.execute(insert(table_of(EvalScoreRecord)), evals)


@pytest.fixture
def seeded(store: Store) -> Store:
    seed(store)
    return store


def _points(stats: Any, group: Any = None) -> list[dict[str, Any]]:
    return next(s["points"] for s in stats.traces if s["group"] == group)


def test_figures_per_bucket(seeded: Store) -> None:
    stats = dashboard_stats(seeded, since_ns=T0, until_ns=T0 + 2 * HOUR, bucket="1h")
    assert stats.buckets == [T0, T0 + HOUR]
    first, second = _points(stats)
    assert first["start_ns"] == T0 and second["start_ns"] == T0 + HOUR
    assert (first["traces"], first["errors"], first["error_rate"]) == (4, 1, 0.25)
    # percentile_cont over 10, 20, 30, 40 ms (and 100, 200): linear interpolation
    assert first["p50_ms"] == pytest.approx(25.0, rel=1e-12)
    assert first["p95_ms"] == pytest.approx(38.5, rel=1e-12)
    assert first["p99_ms"] == pytest.approx(39.7, rel=1e-12)
    assert second["p50_ms"] == pytest.approx(150.0, rel=1e-12)
    assert second["p99_ms"] == pytest.approx(199.0, rel=1e-12)
    assert (first["input_tokens"], first["output_tokens"]) == (1000, 100)
    assert first["cost_usd"] == pytest.approx(2.5)
    assert (second["input_tokens"], second["cost_usd"]) == (1100, pytest.approx(2.75))
    helpful = next(s for s in stats.trace_scores if s["name"] == "helpful")
    assert [(p["mean"], p["n"]) for p in helpful["points"]] == [(0.5, 3), (0.25, 1)]
    assert [s["name"] for s in stats.trace_scores] == ["helpful"]  # labels have no mean
    (exact,) = stats.eval_scores
    assert exact["scorer"] == "exact"
    assert [(p["start_ns"], p["mean"], p["n"]) for p in exact["points"]] == [(T0, 0.5, 4)]


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        ("model", {"model-a": [3, 2], XSS: [1]}),
        ("user", {"ada": [2], "bob": [1, 2], XSS: [1]}),
        ("tag", {"beta": [3], XSS: [1], None: [1, 2]}),
        ("prompt", {"support@2": [2, 1], "support@3": [2, 1]}),
        ("route", {"bot@1": [4, 2]}),
    ],
)
def test_grouped(seeded: Store, by: str, expected: dict[Any, list[int]]) -> None:
    stats = dashboard_stats(seeded, since_ns=T0, until_ns=T0 + 2 * HOUR, bucket="1h", by=by)
    counts = {s["group"]: [p["traces"] for p in s["points"]] for s in stats.traces}
    assert counts == expected
    # the busiest group first
    assert sum(counts[stats.traces[0]["group"]]) == max(sum(n) for n in expected.values())


def test_tags_of_any_shape(store: Store) -> None:
    """Tags are an array's strings or one string; an object, a number or nothing is no tag."""
    shapes: list[Any] = [["a", "b"], "a", {"a": "x"}, 7, [], None, ["a", 3]]
    rows = [
        _span(i + 1, 1, T0 + i * MS, 10, attributes={} if t is None else {"llmops.tags": t})
        for i, t in enumerate(shapes)
    ]
    with store.engine.begin() as db:
        db.execute(insert(table_of(SpanRecord)), rows)
    stats = dashboard_stats(store, since_ns=T0, until_ns=T0 + HOUR, bucket="1h", by="tag")
    counts = {s["group"]: s["points"][0]["traces"] for s in stats.traces}
    assert counts == {"a": 3, None: 4, "b": 1, "3": 1}


def test_grouped_percentiles_and_eval_scores(seeded: Store) -> None:
    stats = dashboard_stats(seeded, since_ns=T0, until_ns=T0 + 2 * HOUR, bucket="1h", by="model")
    first = _points(stats, "model-a")[0]
    assert (first["p50_ms"], first["traces"], first["errors"]) == (pytest.approx(20.0), 3, 1)
    assert _points(stats, XSS)[0]["p99_ms"] == pytest.approx(40.0)
    means = {s["group"]: s["points"][0]["mean"] for s in stats.eval_scores}
    assert means == {"model-a": pytest.approx(2 / 3), XSS: 0.0}
    few = dashboard_stats(
        seeded, since_ns=T0, until_ns=T0 + 2 * HOUR, bucket="1h", by="model", max_groups=1
    )
    assert [s["group"] for s in few.traces] == ["model-a"] and few.groups_omitted == 1


def test_auto_buckets_and_bad_input(seeded: Store) -> None:
    day = dashboard_stats(seeded, since_ns=T0, until_ns=T0 + 24 * HOUR)
    assert day.bucket_s == 900 and len(day.buckets) == 96
    assert sum(p["traces"] for p in _points(day)) == 7
    empty = dashboard_stats(seeded, since_ns=T0 - 5 * HOUR, until_ns=T0 - 4 * HOUR)
    assert empty.traces == [] and empty.trace_scores == [] and empty.eval_scores == []
    for kwargs in (
        {"by": "colour"},
        {"bucket": "1s"},  # 86,400 buckets
        {"bucket": "soon"},
        {"bucket": "0m"},
        {"since_ns": T0 + HOUR, "until_ns": T0},
    ):
        with pytest.raises(InputError):
            dashboard_stats(seeded, **{"since_ns": T0, "until_ns": T0 + 24 * HOUR, **kwargs})


def test_stats_cli(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import time

    from llmops.store import open_store

    now = time.time_ns()
    seed(open_store(), t0=now - HOUR - HOUR // 2)
    capsys.readouterr()
    assert main(["stats", "--since", "7d", "--by", "model", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    counts = {s["group"]: sum(p["traces"] for p in s["points"]) for s in data["traces"]}
    assert counts == {"model-a": 6, XSS: 1}  # trace 8 is in the future of the range's end
    assert main(["stats", "--since", "7d", "--by", "tag"]) == 0
    out = capsys.readouterr().out
    assert "beta" in out and "p95" in out
    for bad, named in (
        (["--since", "lately"], "since='lately'"),
        (["--until", "99999999999999999999"], "until="),
        (["--by", "colour"], "by='colour'"),
        (["--bucket", "1s"], "bucket='1s'"),
    ):
        assert main(["stats", *bad]) == 2
        assert named in capsys.readouterr().err


def test_stats_api(seeded: Store) -> None:
    import httpx
    from _live_server import LiveServer

    from llmops.server import create_app

    with LiveServer(create_app(seeded, token="t")) as live:
        api = httpx.Client(
            base_url=f"{live.url}/api/v1", headers={"Authorization": "Bearer t"}, timeout=30
        )
        span = {"since": str(T0), "until": str(T0 + 2 * HOUR), "bucket": "1h"}
        body = api.get("/stats", params={**span, "by": "model"}).json()
        assert body["by"] == "model" and body["buckets"] == [T0, T0 + HOUR]
        library = dashboard_stats(
            seeded, since_ns=T0, until_ns=T0 + 2 * HOUR, bucket="1h", by="model"
        )
        assert body["traces"] == library.traces  # the same figures as the library's
        assert body["eval_scores"] == library.eval_scores
        iso = {
            "since": "2h",
            "until": datetime.fromtimestamp((T0 + 2 * HOUR) / 1e9, UTC).isoformat(),
        }
        assert api.get("/stats", params={**iso, "bucket": "1h"}).json()["buckets"] == [
            T0,
            T0 + HOUR,
        ]
        assert httpx.get(f"{live.url}/api/v1/stats").status_code == 401
        hostile: list[dict[str, Any]] = [
            {"by": "colour"},
            {"bucket": "1s"},
            {"bucket": "x" * 21},
            {"bucket": "999999999w"},
            {"since": "lately"},
            {"since": "9" * 30},
            {"until": "9999-12-31T23:59:59"},
            {"since": "1h", "until": "0"},
            {"groups": "0"},
            {"since": str(T0 + HOUR), "until": str(T0)},
        ]
        for params in hostile:
            response = api.get("/stats", params={**span, **params})
            assert response.status_code == 400, (params, response.text)
            assert next(iter(params)) in response.text  # the message names the parameter
            assert (
                "since" in response.text
                or "until" in response.text
                or next(iter(params)) in response.text
            )
        api.close()
