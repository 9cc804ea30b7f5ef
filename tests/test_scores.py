"""Scores on traces on SQLite and PostgreSQL: SDK feedback inside and outside traced code, the
REST endpoints through a real server (auth, hostile input refused with nothing stored), the
trace list's score filters and sorting over a seeded set, the CLI, and eval-run mapping."""

from __future__ import annotations

import json
import random
import statistics
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _live_server import LiveServer

import llmops
from llmops.cli import main
from llmops.server import create_app
from llmops.store import Store
from llmops.store.models import EvalCaseRecord, EvalRunRecord, EvalScoreRecord
from llmops.tracing import (
    Redactor,
    TraceFilter,
    add_scores,
    configure_tracing,
    eval_run_scores,
    flush,
    list_scores,
    list_traces,
    make_score,
    parse_score_filter,
    parse_score_sort,
    span,
)

TOKEN = "t0ken-for-scores"
SECRET = "sk-abcdefghijklmnopqrstuvwxyz123456"


def _trace(name: str) -> str:
    with span(name):
        trace_id = llmops.current_trace_id()
    assert trace_id is not None
    return trace_id


def _count(store: Store) -> int:
    return len(list_scores(store, limit=100_000))


# ---- SDK -----------------------------------------------------------------------------------


def test_feedback_inside_and_outside_the_traced_code(store: Store) -> None:
    configure_tracing(store)
    assert llmops.current_trace_id() is None
    with span("answer") as root:
        inside = llmops.current_trace_id()
        assert inside == f"{root.get_span_context().trace_id:032x}"
        with span("inner"):
            assert llmops.current_trace_id() == inside  # the trace's, at any depth
        # before the batch writer flushes: the trace is not stored yet, the score is kept
        first = llmops.feedback(name="helpful", value=True, comment=f"key {SECRET} leaked")
    later = llmops.feedback(inside, "helpful", 0, comment="second thoughts", source="human")
    label = llmops.feedback(inside, "tone", "polite", author="ann", span_id="00000000000000ab")
    assert flush()
    assert first.trace_id == inside and first.data_type == "BOOLEAN" and first.value == 1.0
    assert SECRET not in (first.comment or "") and "[REDACTED]" in (first.comment or "")
    assert (later.data_type, later.value, later.source) == ("NUMERIC", 0.0, "human")
    assert (label.data_type, label.label, label.value, label.span_id) == (
        "CATEGORICAL",
        "polite",
        None,
        "00000000000000ab",
    )
    stored = list_scores(store, inside)
    assert [(s.name, s.shown) for s in stored] == [
        ("helpful", True),
        ("helpful", 0.0),
        ("tone", "polite"),
    ]
    assert all(SECRET not in (s.comment or "") for s in stored)
    [summary] = list_traces(store)
    assert summary.scores == {
        "helpful": {"value": 0.0, "mean": 0.5, "n": 2},
        "tone": {"value": "polite", "mean": None, "n": 1},
    }
    with pytest.raises(llmops.InputError, match="no trace is active"):
        llmops.feedback(name="helpful", value=1)


def test_feedback_for_a_trace_never_stored_is_kept(store: Store) -> None:
    configure_tracing(store)
    unknown = "0" * 31 + "7"
    llmops.feedback(unknown, "helpful", 1)
    assert [s.trace_id for s in list_scores(store, unknown)] == [unknown]
    assert list_traces(store) == []  # no trace appears for it


BAD_SCORES: list[tuple[dict[str, Any], str]] = [
    ({"name": ""}, "name: must not be empty"),
    ({"name": "   "}, "name: must not be empty"),
    ({"name": "x" * 129}, "name: over 128"),
    ({"name": "a\x00b"}, "name: control characters"),
    ({"name": "a\u2028b"}, "name: control characters"),
    ({"name": 7}, "name: expected a string"),
    ({"value": [1]}, "value: expected a number"),
    ({"value": {"a": 1}}, "value: expected a number"),
    ({"value": float("nan")}, "value: must be a finite number"),
    ({"value": float("inf")}, "value: must be a finite number"),
    ({"value": 10**400}, "value: must be a finite number"),
    ({"value": ""}, "value: must not be empty"),
    ({"value": "x" * 201}, "value: over 200"),
    ({"value": 2, "data_type": "BOOLEAN"}, "BOOLEAN score is true/false or 0/1"),
    ({"value": "yes", "data_type": "NUMERIC"}, "value is a number"),
    ({"value": 1, "data_type": "CATEGORICAL"}, "value is a label"),
    ({"data_type": "TEXT"}, "data_type: expected one of"),
    ({"comment": "x" * 4097}, "comment: over 4096"),
    ({"comment": "bell\x07"}, "comment: control characters"),
    ({"comment": 5}, "comment: expected a string"),
    ({"author": "a\nb"}, "author: control characters"),
    ({"source": "bot"}, "source: expected one of human, app, judge, scorer"),
    ({"source": None}, "source: expected one of"),
    ({"trace_id": "abc"}, "trace_id: expected 32 hex digits"),
    ({"trace_id": "g" * 32}, "trace_id: expected 32 hex digits"),
    ({"trace_id": "0" * 32}, "trace_id: expected 32 hex digits"),
    ({"trace_id": 12}, "trace_id: expected 32 hex digits"),
    ({"span_id": "abc"}, "span_id: expected 16 hex digits"),
    ({"span_id": "0" * 16}, "span_id: expected 16 hex digits"),
]


@pytest.mark.parametrize(("change", "message"), BAD_SCORES)
def test_every_class_of_bad_score_is_refused_with_its_field(
    change: dict[str, Any], message: str
) -> None:
    fields: dict[str, Any] = {"trace_id": "ab" * 16, "name": "helpful", "value": 1, **change}
    with pytest.raises(llmops.InputError, match=message.replace("(", r"\(")):
        make_score(
            fields.pop("trace_id"), fields.pop("name"), fields.pop("value"), where="s", **fields
        )


def test_value_types_and_comments_keep_their_lines() -> None:
    trace_id = "AB" * 16
    assert make_score(trace_id, "ok", False).shown is False
    assert make_score(trace_id, "ok", 1, data_type="BOOLEAN").shown is True
    numeric = make_score(trace_id, "latency", 3)
    assert (numeric.data_type, numeric.value, numeric.trace_id) == ("NUMERIC", 3.0, "ab" * 16)
    assert make_score(trace_id, "n", "good", comment="line 1\nline 2\ttab").comment == (
        "line 1\nline 2\ttab"
    )


# ---- REST ----------------------------------------------------------------------------------


@pytest.fixture
def server(store: Store) -> Iterator[LiveServer]:
    with LiveServer(create_app(store, token=TOKEN, redactor=Redactor())) as live:
        yield live


def _client(server: LiveServer, token: str | None = TOKEN) -> httpx.Client:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.url + "/api/v1", headers=headers, timeout=60)


def test_rest_post_get_delete_with_the_token(store: Store, server: LiveServer) -> None:
    configure_tracing(store)
    trace_id = _trace("answer")
    assert flush()
    with _client(server, None) as anonymous:
        assert (
            anonymous.post(f"/traces/{trace_id}/scores", json={"name": "a", "value": 1}).status_code
            == 401
        )
        assert anonymous.get(f"/traces/{trace_id}/scores").status_code == 401
    with _client(server, "wrong") as wrong:
        assert (
            wrong.post(f"/traces/{trace_id}/scores", json={"name": "a", "value": 1}).status_code
            == 401
        )
    assert _count(store) == 0
    with _client(server) as api:
        one = api.post(
            f"/traces/{trace_id}/scores",
            json={"name": "helpful", "value": True, "comment": f"<b>hi</b> {SECRET}"},
        )
        assert one.status_code == 201
        [item] = one.json()["items"]
        assert (item["name"], item["data_type"], item["value"], item["source"]) == (
            "helpful",
            "BOOLEAN",
            1.0,
            "app",
        )
        assert item["comment"] == "<b>hi</b> [REDACTED]"
        batch = [
            {"name": "accuracy", "value": 0.25, "source": "judge", "author": "judge-v1"},
            {"name": "tone", "value": "polite", "source": "human", "span_id": "1" * 16},
        ]
        assert api.post(f"/traces/{trace_id.upper()}/scores", json=batch).status_code == 201
        other = "1" * 32  # a trace not stored (yet): accepted
        many = api.post("/scores", json=[{"trace_id": other, "name": "helpful", "value": 0}])
        assert many.status_code == 201 and many.json()["items"][0]["trace_id"] == other
        listed = api.get(f"/traces/{trace_id}/scores").json()["items"]
        assert [(s["name"], s["value"], s["label"]) for s in listed] == [
            ("helpful", 1.0, None),
            ("accuracy", 0.25, None),
            ("tone", None, "polite"),
        ]
        page = api.get(f"/traces/{trace_id}/scores", params={"limit": 1, "after": listed[0]["id"]})
        assert [s["name"] for s in page.json()["items"]] == ["accuracy"]
        assert api.delete(f"/scores/{listed[1]['id']}").status_code == 204
        assert api.delete(f"/scores/{listed[1]['id']}").status_code == 404
        names = [s["name"] for s in api.get(f"/traces/{trace_id}/scores").json()["items"]]
        assert names == ["helpful", "tone"]
        [row] = api.get("/traces").json()["items"]
        assert row["scores"] == {
            "helpful": {"value": True, "mean": 1.0, "n": 1},
            "tone": {"value": "polite", "mean": None, "n": 1},
        }


HOSTILE_BODIES: list[tuple[Any, str]] = [
    ({"name": "a", "value": [1]}, "score.value"),
    ({"name": "a", "value": "1", "data_type": "NUMERIC"}, "score.value"),
    ({"name": "a"}, "score.value: required"),
    ({"value": 1}, "score.name: required"),
    ({"name": "a\x1b[31m", "value": 1}, "score.name: control characters"),
    ({"name": "a", "value": 1, "comment": "x" * 5000}, "score.comment: over 4096"),
    ({"name": "a", "value": 1, "source": "admin"}, "score.source"),
    ({"name": "a", "value": 1, "span_id": "zz"}, "score.span_id"),
    ({"name": "a", "value": 1, "trace_id": "1" * 32}, "unknown field 'trace_id'"),
    ({"name": "a", "value": 1, "extra": True}, "unknown field 'extra'"),
    ("helpful", "expected an object"),
    (17, "expected an object"),
    ([], "no scores given"),
    ([{"name": "a", "value": 1}, {"name": "b", "value": None}], "scores[1].value: required"),
    ([{"name": "a", "value": 1}] * 999 + [{"name": "b", "value": {}}], "scores[999].value"),
    ([{"name": "a", "value": 1}] * 10_000, "10,000 scores in one request: at most 1,000"),
]


@pytest.mark.parametrize(("body", "message"), HOSTILE_BODIES, ids=range(len(HOSTILE_BODIES)))
def test_rest_refuses_hostile_input_and_stores_nothing(
    store: Store, server: LiveServer, body: Any, message: str
) -> None:
    trace_id = "ab" * 16
    with _client(server) as api:
        answer = api.post(f"/traces/{trace_id}/scores", json=body)
        assert answer.status_code == 400, answer.text
        assert message in answer.json()["message"]
    assert _count(store) == 0


@pytest.mark.parametrize(
    ("path", "content", "status"),
    [
        ("/traces/zz/scores", b'{"name": "a", "value": 1}', 400),
        ("/traces/" + "0" * 32 + "/scores", b'{"name": "a", "value": 1}', 400),
        ("/traces/" + "ab" * 16 + "/scores", b'{"name": "a", "value": NaN}', 400),
        ("/traces/" + "ab" * 16 + "/scores", b'{"name": "a", "value": 1e999}', 400),
        ("/traces/" + "ab" * 16 + "/scores", b"{not json", 400),
        ("/traces/" + "ab" * 16 + "/scores", b"x" * (9 * 1024 * 1024), 413),
        ("/scores", b'[{"name": "a", "value": 1}]', 400),  # no trace_id
    ],
)
def test_rest_refuses_bad_ids_bodies_and_sizes(
    store: Store, server: LiveServer, path: str, content: bytes, status: int
) -> None:
    with _client(server) as api:
        answer = api.post(path, content=content, headers={"content-type": "application/json"})
        assert answer.status_code == status, answer.text
        assert answer.json()["code"] == status
    with _client(server) as api:
        assert api.get("/traces/not-an-id/scores").status_code == 400
    assert _count(store) == 0


def test_a_thousand_scores_in_one_request(store: Store, server: LiveServer) -> None:
    trace_id = "cd" * 16
    body = [{"name": f"n{i % 7}", "value": i / 1000, "comment": "c" * 100} for i in range(1000)]
    with _client(server) as api:
        assert api.post(f"/traces/{trace_id}/scores", json=body).status_code == 201
        items = api.get(f"/traces/{trace_id}/scores").json()["items"]
    assert len(items) == 1000 == _count(store)
    assert [s["value"] for s in items] == [i / 1000 for i in range(1000)]


# ---- filters and sorting -------------------------------------------------------------------


@pytest.fixture
def seeded(store: Store, rng: random.Random) -> tuple[Store, dict[str, dict[str, Any]]]:
    """24 traces: 4 fixed ones so that every filter below matches some and not others, then
    random ones with 0-3 ``helpful`` scores (0/1 or numbers) and 0-2 ``tone`` labels."""
    configure_tracing(store)
    expected: dict[str, dict[str, Any]] = {}
    scores = []
    fixed: list[tuple[list[float], list[str]]] = [
        ([1], ["polite"]),
        ([0], ["rude"]),
        ([0.25, 0.75], ["polite", "rude"]),
        ([], []),
    ]
    for i in range(24):
        trace_id = _trace(f"t{i}")
        values, tones = fixed[i] if i < len(fixed) else ([], [])
        if i >= len(fixed):
            values = [rng.choice([0, 1, 0.25, 0.75]) for _ in range(rng.randint(0, 3))]
            tones = [rng.choice(["polite", "rude", "neutral"]) for _ in range(rng.randint(0, 2))]
        expected[trace_id] = {"helpful": values, "tone": tones}
        scores += [make_score(trace_id, "helpful", v) for v in values]
        scores += [make_score(trace_id, "tone", t, source="human") for t in tones]
    add_scores(store, scores)
    assert flush()
    return store, expected


def _matches(values: dict[str, list[Any]], name: str, op: str, value: Any) -> bool:
    found = values[name]
    if not found:
        return False  # unmeasured is not a value
    if isinstance(value, str):
        return value in found if op == "=" else value not in found
    mean = statistics.fmean(found)
    result: bool = {
        "<": mean < value,
        "<=": mean <= value,
        ">": mean > value,
        ">=": mean >= value,
        "=": mean == value,
        "!=": mean != value,
    }[op]
    return result


FILTERS = [
    ("helpful<0.5", "helpful", "<", 0.5),
    ("score.helpful <= 0.25", "helpful", "<=", 0.25),
    ("helpful>0.5", "helpful", ">", 0.5),
    ("helpful>=1", "helpful", ">=", 1.0),
    ("helpful=true", "helpful", "=", 1.0),
    ("helpful==0", "helpful", "=", 0.0),
    ("helpful!=1", "helpful", "!=", 1.0),
    ("tone=polite", "tone", "=", "polite"),
    ("tone='rude'", "tone", "=", "rude"),
    ("tone!=polite", "tone", "!=", "polite"),
]


@pytest.mark.parametrize(("text", "name", "op", "value"), FILTERS)
def test_score_filters_over_a_seeded_set(
    seeded: tuple[Store, dict[str, dict[str, Any]]], text: str, name: str, op: str, value: Any
) -> None:
    store, expected = seeded
    wanted = {t for t, values in expected.items() if _matches(values, name, op, value)}
    where = TraceFilter(scores=(parse_score_filter(text),))
    found = {t.trace_id for t in list_traces(store, limit=100, where=where)}
    assert found == wanted
    assert 0 < len(wanted) < len(expected)  # the fixed traces make every case non-trivial
    with LiveServer(create_app(store)) as live:
        answer = httpx.get(f"{live.url}/api/v1/traces", params={"score": text, "limit": 500})
    assert answer.status_code == 200
    assert {row["trace_id"] for row in answer.json()["items"]} == wanted


def test_conditions_combine_and_sorting_puts_unscored_last(
    seeded: tuple[Store, dict[str, dict[str, Any]]],
) -> None:
    store, expected = seeded
    both = TraceFilter(scores=(parse_score_filter("helpful>0"), parse_score_filter("tone=rude")))
    assert {t.trace_id for t in list_traces(store, limit=100, where=both)} == {
        t
        for t, v in expected.items()
        if _matches(v, "helpful", ">", 0) and _matches(v, "tone", "=", "rude")
    }
    means = {t: statistics.fmean(v["helpful"]) for t, v in expected.items() if v["helpful"]}
    for descending in (False, True):
        sort = parse_score_sort(("-" if descending else "") + "score.helpful")
        listed = list_traces(store, limit=100, sort=sort)
        assert len(listed) == len(expected)
        scored = [t.trace_id for t in listed[: len(means)]]
        assert [means[t] for t in scored] == sorted(means.values(), reverse=descending)
        assert {t.trace_id for t in listed[len(means) :]} == set(expected) - set(means)
    with LiveServer(create_app(store)) as live:
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"sort": "-score.helpful", "limit": 5}
            if cursor:
                params["cursor"] = cursor
            page = httpx.get(f"{live.url}/api/v1/traces", params=params).json()
            seen += [row["trace_id"] for row in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert len(seen) == len(set(seen)) == len(expected)
    assert [means[t] for t in seen[: len(means)]] == sorted(means.values(), reverse=True)


@pytest.mark.parametrize(
    "text", ["helpful", "helpful<", "<0.5", "helpful<<0.5", "tone<polite", "a b<1", "x=\x01"]
)
def test_a_bad_filter_is_refused_with_its_text(store: Store, text: str) -> None:
    with pytest.raises(llmops.InputError, match="invalid score filter"):
        parse_score_filter(text)
    with LiveServer(create_app(store)) as live:
        answer = httpx.get(f"{live.url}/api/v1/traces", params={"score": text})
        assert answer.status_code == 400
        assert "invalid score filter" in answer.json()["message"]
        sort = httpx.get(f"{live.url}/api/v1/traces", params={"sort": "helpful"})
        assert sort.status_code == 400 and "invalid sort" in sort.json()["message"]


# ---- CLI -----------------------------------------------------------------------------------


def test_cli_score_show_and_list(
    store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LLMOPS_STORE_URL", store.url)
    monkeypatch.setenv("LLMOPS_USER", "reviewer")
    configure_tracing(store)
    good, bad = _trace("good answer"), _trace("bad answer")
    assert flush()
    capsys.readouterr()
    assert main(["traces", "score", good, "helpful", "1", "--comment", "[red]nice[/red]"]) == 0
    assert main(["traces", "score", bad[-10:], "helpful", "false"]) == 0  # a unique end
    assert main(["traces", "score", bad, "tone", "rude", "--source", "judge"]) == 0
    capsys.readouterr()
    assert main(["traces", "show", good]) == 0
    shown = capsys.readouterr().out
    assert "helpful = 1" in shown and "[red]nice[/red]" in shown and "reviewer" in shown
    assert main(["traces", "show", bad, "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)["scores"]
    assert [(s["name"], s["value"], s["label"], s["source"]) for s in scores] == [
        ("helpful", 0.0, None, "human"),
        ("tone", None, "rude", "judge"),
    ]
    assert main(["traces", "list", "--score", "helpful<0.5", "--json"]) == 0
    assert [t["trace_id"] for t in json.loads(capsys.readouterr().out)] == [bad]
    assert main(["traces", "list", "--sort", "-score.helpful", "--json"]) == 0
    assert [t["trace_id"] for t in json.loads(capsys.readouterr().out)] == [good, bad]
    assert main(["traces", "list", "--wide"]) == 0
    assert "helpful=false" in capsys.readouterr().out
    for argv, message in [
        (["traces", "list", "--score", "helpful<<1"], "invalid score filter 'helpful<<1'"),
        (["traces", "list", "--sort", "helpful"], "invalid sort 'helpful'"),
        (["traces", "score", good, "helpful", "1", "--source", "bot"], "source: expected"),
        (["traces", "score", good, "", "1"], "name: must not be empty"),
        (["traces", "score", "f" * 8, "helpful", "1"], "trace 'ffffffff' not found"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
    assert len(list_scores(store)) == 3


# ---- eval runs -----------------------------------------------------------------------------


def test_eval_run_scores_map_onto_trace_scores(store: Store) -> None:
    run_id = "e" * 32
    traced, untraced = "ab" * 16, None
    with store.write() as session:
        session.add(EvalRunRecord(id=run_id, suite="qa", model_name="m", model="m"))
        session.flush()
        for index, trace_id in enumerate((traced, untraced)):
            session.add(
                EvalCaseRecord(run_id=run_id, case_index=index, inputs={}, trace_id=trace_id)
            )
            session.add(EvalScoreRecord(run_id=run_id, case_index=index, scorer="exact", value=1.0))
        session.add(EvalScoreRecord(run_id=run_id, case_index=0, scorer="judge", error="timeout"))
    mapped = eval_run_scores(store, run_id)
    assert [(s.trace_id, s.name, s.value, s.source, s.run_id) for s in mapped] == [
        (traced, "exact", 1.0, "scorer", run_id)  # untraced and unmeasured ones left out
    ]
    add_scores(store, mapped)
    [summary] = list_scores(store, traced)
    assert (summary.run_id, summary.source, summary.name) == (run_id, "scorer", "exact")
