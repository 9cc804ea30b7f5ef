"""Online evaluators on SQLite and PostgreSQL: evaluators.yaml validation, filters and
deterministic sampling, idempotency per evaluator version, unmeasured with its reason, a RAG
scorer over the trace's retrieved documents, the CLI, and the server's background mode scoring
a trace sent over OTLP to a real server."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from _live_server import LiveServer
from sqlalchemy import insert

from llmops._exceptions import ConfigError
from llmops.cli import main
from llmops.evals import Evaluator, EvaluatorSpec, Sample, evaluate_traces, load_evaluators
from llmops.server import EvaluatorRunner, attach_evaluators, create_app
from llmops.store import Store
from llmops.store.models import SpanRecord, table_of
from llmops.tracing import list_scores

REPO = Path(__file__).resolve().parents[1]
_rng = random.Random(17)


def _id(digits: int) -> str:
    return f"{_rng.getrandbits(digits * 4) | 1:0{digits}x}"


def _span(
    trace_id: str,
    *,
    name: str = "answer",
    parent: str | None = None,
    kind: str = "chain",
    start_ns: int | None = None,
    **attributes: Any,
) -> dict[str, Any]:
    start = start_ns if start_ns is not None else time.time_ns()
    return {
        "trace_id": trace_id,
        "span_id": _id(16),
        "parent_span_id": parent,
        "name": name,
        "kind": kind,
        "start_ns": start,
        "end_ns": start + 5_000_000,
        "status_code": "OK",
        "attributes": attributes,
    }


def _seed(store: Store, rows: list[dict[str, Any]]) -> None:
    with store.write() as session:
        session.connection().execute(insert(table_of(SpanRecord)), rows)


def _trace(store: Store, output: str | None = "Paris", **root: Any) -> str:
    """A trace of one root span (with ``llmops.output`` unless None) and one llm child."""
    trace_id = _id(32)
    attributes = dict(root)
    if output is not None:
        attributes["llmops.output"] = output
    attributes.setdefault("llmops.input", "capital of France?")
    parent = _span(trace_id, **attributes)
    child = _span(
        trace_id,
        name="chat",
        parent=parent["span_id"],
        kind="llm",
        **{"gen_ai.request.model": "m1", "llmops.output": output or ""},
    )
    _seed(store, [parent, child])
    return trace_id


def _evaluator(**spec: Any) -> Evaluator:
    spec.setdefault("name", "qa")
    spec.setdefault("scorers", ["contains"])
    return Evaluator(EvaluatorSpec.model_validate(spec))


def _scores(store: Store, trace_id: str | None = None) -> list[Any]:
    return [s for s in list_scores(store, trace_id, limit=100_000) if s.evaluator]


# ---- configuration -------------------------------------------------------------------------------


def test_the_shipped_example_is_valid() -> None:
    evaluators = load_evaluators(REPO / "configs" / "evaluators.yaml")
    assert [e.name for e in evaluators] == ["answer-format", "rag-answers"]
    assert all(len(e.version) == 12 and e.key == f"{e.name}@{e.version}" for e in evaluators)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "evaluators:\n  - name: qa\n    scorers: [contains]\n    sample_rat: 0.5\n",
            "evaluators.yaml:4: unknown key 'evaluators.0.sample_rat' "
            "(did you mean 'sample_rate'?)",
        ),
        (
            "evaluators:\n  - name: qa\n    filter: {spankind: llm}\n    scorers: [contains]\n",
            "unknown key 'evaluators.0.filter.spankind' (did you mean 'span_kind'?)",
        ),
        (
            "evaluators:\n  - name: qa\n    scorers: [exact_mach]\n",
            "unknown scorer 'exact_mach'",
        ),
        (
            "evaluators:\n  - name: qa\n    sample_rate: 1.5\n    scorers: [contains]\n",
            "evaluators.yaml:3: key 'evaluators.0.sample_rate'",
        ),
        (
            "evaluators:\n  - {name: qa, scorers: [contains]}\n"
            "  - {name: qa, scorers: [contains]}\n",
            "two evaluators are named 'qa'",
        ),
        ("evaluators:\n  - name: 'a b'\n    scorers: [contains]\n", "key 'evaluators.0.name'"),
        ("evaluators:\n  - name: qa\n    scorers: []\n", "key 'evaluators.0.scorers'"),
    ],
)
def test_invalid_files_name_the_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "evaluators.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_evaluators(path)
    assert message in str(caught.value)


def test_cli_bad_file_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "ev.yaml"
    path.write_text("evaluators:\n  - name: qa\n    scorer: [contains]\n")
    for argv in (
        ["evaluate-traces", "--file", str(path)],
        ["server", "--evaluators-file", str(path)],
    ):
        assert main(argv) == 2  # the server reads it before it binds a port
        assert "ev.yaml:3: unknown key 'evaluators.0.scorer' (did you mean 'scorers'?)" in (
            capsys.readouterr().err.replace("\n", "")
        )


def test_the_version_follows_the_definition() -> None:
    base = _evaluator(filter={"tag": "prod"}, sample_rate=0.5)
    same = _evaluator(sample_rate=0.5, filter={"tag": "prod"})
    assert base.version == same.version
    changed = [
        _evaluator(filter={"tag": "dev"}, sample_rate=0.5),
        _evaluator(filter={"tag": "prod"}, sample_rate=0.4),
        _evaluator(filter={"tag": "prod"}, sample_rate=0.5, scorers=["exact_match"]),
        _evaluator(filter={"tag": "prod"}, sample_rate=0.5, name="qa2"),
        _evaluator(filter={"tag": "prod"}, sample_rate=0.5, scorers=[{"length": {"max_chars": 9}}]),
    ]
    assert len({base.version, *(e.version for e in changed)}) == 1 + len(changed)


# ---- filters, sampling, idempotency --------------------------------------------------------------


def test_filters_select_the_matching_traces(store: Store) -> None:
    prod = _trace(store, **{"llmops.tags": ["prod"], "llmops.route.name": "chat-route"})
    dev = _trace(store, **{"llmops.tags": ["dev"]})
    prompted = _trace(store, **{"llmops.prompt.name": "qa", "llmops.prompt.version": 3})
    other_prompt = _trace(store, **{"llmops.prompt.name": "qa", "llmops.prompt.version": 2})
    cases = [
        ({"tag": "prod"}, {prod}),
        ({"route": "chat-route"}, {prod}),
        ({"prompt": "qa@3"}, {prompted}),
        ({"prompt": "qa"}, {prompted, other_prompt}),
        ({"model": "m1"}, {prod, dev, prompted, other_prompt}),
        ({"model": "m2"}, set()),
        ({"name": "answ"}, {prod, dev, prompted, other_prompt}),
    ]
    for i, (where, expected) in enumerate(cases):
        (summary,) = evaluate_traces(store, [_evaluator(name=f"f{i}", filter=where)])
        scored = {s.trace_id for s in _scores(store) if s.evaluator == f"f{i}@{summary.version}"}
        assert scored == expected, where
        assert summary.matched == summary.scored == len(expected)


def test_sampling_is_deterministic_per_trace(store: Store) -> None:
    ids = [_trace(store) for _ in range(200)]
    evaluator = _evaluator(sample_rate=0.3)
    (first,) = evaluate_traces(store, [evaluator])
    picked = {s.trace_id for s in _scores(store)}
    assert picked == {t for t in ids if evaluator.sampled(t)}
    assert 30 <= len(picked) <= 90  # 0.3 of 200, give or take
    assert first.sampled_out == 200 - len(picked)
    # a rerun picks the same traces, all already scored: nothing new
    (second,) = evaluate_traces(store, [evaluator])
    assert (second.scored, second.already_scored) == (0, len(picked))
    assert {s.trace_id for s in _scores(store)} == picked


def test_idempotent_per_version_and_an_edit_scores_again(store: Store) -> None:
    ids = [_trace(store, output=o, **{"ref": "Paris"}) for o in ("Paris", "Lyon", "It is Paris")]
    v1 = _evaluator(scorers=["contains"], expected_attribute="ref")
    (first,) = evaluate_traces(store, [v1])
    assert (first.scored, first.scores_written) == (3, 3)
    values = {s.trace_id: s.value for s in _scores(store)}
    assert values == {ids[0]: 1.0, ids[1]: 0.0, ids[2]: 1.0}
    assert all(s.source == "scorer" and s.evaluator == v1.key for s in _scores(store))
    (again,) = evaluate_traces(store, [v1])
    assert (again.scored, again.scores_written, again.already_scored) == (0, 0, 3)
    assert len(_scores(store)) == 3
    v2 = _evaluator(scorers=["contains", "exact_match"], expected_attribute="ref")
    assert v2.version != v1.version
    (edited,) = evaluate_traces(store, [v2])
    assert (edited.scored, edited.scores_written) == (3, 6)
    by_key = {(s.trace_id, s.name, s.evaluator): s.value for s in _scores(store)}
    assert by_key[(ids[2], "exact_match", v2.key)] == 0.0
    assert by_key[(ids[2], "contains", v1.key)] == 1.0


def test_since_and_limit_bound_the_pass(store: Store) -> None:
    now = time.time_ns()
    old = _trace_at(store, now - 3 * 3600 * 10**9)
    new = [_trace_at(store, now - i * 10**9) for i in (3, 2, 1)]
    evaluator = _evaluator(scorers=[{"length": {"min_chars": 1}}])
    (summary,) = evaluate_traces(store, [evaluator], since_ns=now - 3600 * 10**9, limit=2)
    assert {s.trace_id for s in _scores(store)} == set(new[:2])  # oldest first
    assert summary.last_start_ns == now - 2 * 10**9
    evaluate_traces(store, [evaluator], since_ns=now - 3600 * 10**9)
    assert {s.trace_id for s in _scores(store)} == set(new)
    assert old not in {s.trace_id for s in _scores(store)}


def _trace_at(store: Store, start_ns: int) -> str:
    trace_id = _id(32)
    _seed(store, [_span(trace_id, start_ns=start_ns, **{"llmops.output": "x"})])
    return trace_id


def test_span_kind_scores_those_spans(store: Store) -> None:
    trace_id = _trace(store, output="root answer")
    evaluator = _evaluator(filter={"span_kind": "llm"}, scorers=[{"length": {"max_chars": 5}}])
    evaluate_traces(store, [evaluator])
    (score,) = _scores(store, trace_id)
    assert score.span_id is not None and score.value == 0.0  # the llm span's output, 11 chars
    with store.session() as session:
        span = session.get(SpanRecord, (trace_id, score.span_id))
    assert span is not None and span.kind == "llm"


# ---- unmeasured ----------------------------------------------------------------------------------


def test_unmeasured_is_stored_with_its_reason_never_zero(store: Store) -> None:
    silent = _trace(store, output=None)  # a root span without output
    no_reference = _trace(store, output="Paris")  # no expected attribute on it
    evaluator = _evaluator(
        scorers=["exact_match", {"length": {"min_chars": 1}}], expected_attribute="ref"
    )
    (summary,) = evaluate_traces(store, [evaluator])
    assert summary.unmeasured == {
        "the span has no output": 2,
        "the case has no expected answer": 1,
    }
    by = {(s.trace_id, s.name): s for s in _scores(store)}
    for key in [(silent, "exact_match"), (silent, "length"), (no_reference, "exact_match")]:
        assert by[key].value is None and (by[key].comment or "").startswith("unmeasured: ")
    assert by[(no_reference, "length")].value == 1.0
    # an unmeasured trace is not rescored, and reads as no value in the trace list's filters
    (again,) = evaluate_traces(store, [evaluator])
    assert again.scored == 0


async def broken_judge(sample: Sample) -> float:
    """A judge whose model call fails."""
    raise RuntimeError("the judge model is down")


def test_a_failing_async_scorer_is_unmeasured(store: Store) -> None:
    from llmops.config import Config

    trace_id = _trace(store)
    spec = EvaluatorSpec.model_validate({"name": "j", "scorers": [f"{__name__}:broken_judge"]})
    evaluate_traces(store, [Evaluator(spec)], config=Config())
    (score,) = _scores(store, trace_id)
    assert score.value is None
    assert score.comment == "unmeasured: RuntimeError: the judge model is down"


# ---- RAG over the trace's retrieved documents ----------------------------------------------------


def grounded(sample: Sample) -> float:
    """Share of the answer's words found in the retrieved documents (a RAG check without a
    model; the judge metrics read the same ``sample.contexts``)."""
    words = sample.output.lower().split()
    corpus = " ".join(c.text.lower() for c in sample.contexts)
    return sum(w in corpus for w in words) / len(words)


def _rag_trace(store: Store, answer: str, documents: list[str] | None) -> str:
    trace_id = _id(32)
    root = _span(trace_id, name="rag", **{"llmops.input": "where?", "llmops.output": answer})
    rows = [root]
    if documents is not None:
        docs = [{"id": f"d{i}", "content": text, "score": 0.9} for i, text in enumerate(documents)]
        rows.append(
            _span(
                trace_id,
                name="retrieve",
                parent=root["span_id"],
                kind="retriever",
                **{"gen_ai.retrieval.documents": json.dumps(docs)},
            )
        )
    _seed(store, rows)
    return trace_id


def test_rag_scorer_reads_the_retrieved_documents(store: Store) -> None:
    good = _rag_trace(store, "paris lyon", ["Paris is big", "Lyon is old"])
    half = _rag_trace(store, "paris rome", ["Paris is big"])
    bare = _rag_trace(store, "paris", None)
    evaluator = Evaluator(
        EvaluatorSpec.model_validate(
            {"name": "rag", "filter": {"name": "rag"}, "scorers": [f"{__name__}:grounded"]}
        ),
        root=Path(__file__).parent,
    )
    evaluate_traces(store, [evaluator])
    values = {s.trace_id: s.value for s in _scores(store)}
    assert values == {good: 1.0, half: 0.5, bare: 0.0}


def test_rag_metric_without_documents_is_unmeasured(store: Store) -> None:
    from llmops.config import Config
    from llmops.evals import ScorerEnv

    bare = _rag_trace(store, "paris", None)
    evaluator = _evaluator(filter={"name": "rag"}, scorers=["faithfulness"])
    env = ScorerEnv(config=Config(), store=store)
    (summary,) = evaluate_traces(store, [evaluator], env=env)
    (score,) = _scores(store, bare)
    assert score.value is None
    assert summary.unmeasured == {"the trace has no retrieved documents": 1}


# ---- CLI -----------------------------------------------------------------------------------------


def test_cli_evaluate_traces_since(
    store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LLMOPS_STORE_URL", store.url)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "evaluators.yaml").write_text(
        "evaluators:\n"
        "  - {name: short, scorers: [{length: {max_chars: 5}}]}\n"
        "  - {name: tagged, filter: {tag: prod}, scorers: [{regex: {pattern: P}}]}\n"
    )
    now = time.time_ns()
    recent = _trace_at(store, now - 60 * 10**9)
    _trace_at(store, now - 3 * 3600 * 10**9)
    capsys.readouterr()
    assert main(["evaluate-traces", "--since", "1h", "--evaluator", "short", "--json"]) == 0
    (summary,) = json.loads(capsys.readouterr().out)
    assert (summary["evaluator"], summary["matched"], summary["scored"]) == ("short", 1, 1)
    assert summary["key"] == f"short@{summary['version']}" and len(summary["version"]) == 12
    assert [s.trace_id for s in _scores(store)] == [recent]
    assert main(["evaluate-traces", "--since", "1h"]) == 0
    shown = capsys.readouterr().out
    assert "short" in shown and "tagged" in shown
    assert main(["evaluate-traces", "--since", "1h", "-e", "shrt"]) == 2
    assert "did you mean 'short'?" in capsys.readouterr().err


# ---- the server's background mode ----------------------------------------------------------------


def _otlp(trace_id: str, output: str) -> dict[str, Any]:
    now = time.time_ns()

    def attr(key: str, value: str) -> dict[str, Any]:
        return {"key": key, "value": {"stringValue": value}}

    span = {
        "traceId": trace_id,
        "spanId": _id(16),
        "name": "chat",
        "kind": 3,
        "startTimeUnixNano": str(now),
        "endTimeUnixNano": str(now + 1_000_000),
        "attributes": [attr("gen_ai.request.model", "m1"), attr("llmops.output", output)],
    }
    return {"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {}, "spans": [span]}]}]}


def test_server_background_mode_scores_new_traces_and_stops(store: Store) -> None:
    evaluator = _evaluator(name="live", scorers=[{"length": {"max_chars": 10}}])
    app = create_app(store)
    runner = EvaluatorRunner(store, [evaluator], poll_s=0.05)
    attach_evaluators(app, runner)
    trace_id = _id(32)
    with LiveServer(app) as live:
        runner.start()
        posted = httpx.post(f"{live.url}/v1/traces", json=_otlp(trace_id, "short"))
        assert posted.status_code == 200
        deadline = time.monotonic() + 30
        while not _scores(store, trace_id) and time.monotonic() < deadline:
            time.sleep(0.05)
        counters = httpx.get(f"{live.url}/api/v1/evaluators").json()
        assert runner.stop()
    (score,) = _scores(store, trace_id)
    assert (score.value, score.evaluator, score.source) == (1.0, evaluator.key, "scorer")
    assert counters["running"] is True and counters["evaluators"][0]["key"] == evaluator.key
    assert counters["scored"] >= 1 and counters["errors"] == 0
    assert runner.snapshot()["running"] is False


def test_cli_server_with_evaluators_scores_and_stops_on_sigterm(tmp_path: Path) -> None:
    import os
    import signal
    import sqlite3
    import subprocess
    import sys

    from _live_server import free_port

    db = tmp_path / "store.db"
    evaluators = tmp_path / "evaluators.yaml"
    evaluators.write_text("evaluators:\n  - {name: live, scorers: [{length: {max_chars: 10}}]}\n")
    port = free_port()
    argv = ["server", "--port", str(port), "--otlp-grpc-port", "0", "--otlp-http-port", "0"]
    log = (tmp_path / "stderr.txt").open("w")
    child = subprocess.Popen(
        [sys.executable, "-m", "llmops", *argv, "--evaluators-file", str(evaluators)],
        stdout=subprocess.DEVNULL,
        stderr=log,
        cwd=tmp_path,
        env={**os.environ, "LLMOPS_STORE_URL": f"sqlite:///{db}"},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        counters: dict[str, Any] = {}
        trace_id = _id(32)
        posted = False
        while time.monotonic() < deadline and child.poll() is None:
            try:
                if not posted:
                    answer = httpx.post(f"{url}/v1/traces", json=_otlp(trace_id, "hi"))
                    posted = answer.status_code == 200
                counters = httpx.get(f"{url}/api/v1/evaluators").json()
            except httpx.TransportError:  # not listening yet
                pass
            if counters.get("scored"):
                break
            time.sleep(0.1)
        assert counters.get("scored") == 1, (tmp_path / "stderr.txt").read_text()
        child.send_signal(signal.SIGTERM)
        child.wait(30)  # TimeoutExpired fails the test: the background thread must not hang it
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(30)
        log.close()
    # uvicorn shuts down gracefully (the evaluators stop first), then re-raises the signal
    assert child.returncode in (0, 143, -signal.SIGTERM)
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT trace_id, name, value, source FROM scores WHERE evaluator LIKE 'live@%'"
        ).fetchall()
    assert rows == [(trace_id, "length", 1.0, "scorer")]


# ---- several runners on one store (server replicas) ---------------------------------------------


def test_two_runners_over_the_same_traces_score_each_trace_once(store: Store) -> None:
    """Two runners with their own connections (as two server processes have) read the same
    unscored traces, both score them (a barrier makes sure both have read before either
    writes), and both write: each trace ends up with one score of the evaluator."""
    import threading

    from llmops.evals import FunctionScorer

    ids = {_trace(store, output="Paris") for _ in range(12)}
    evaluator = _evaluator(name="race")
    both_read = threading.Barrier(2, timeout=60)
    summaries: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        first = [True]

        def length(sample: Sample) -> float:
            if first[0]:  # both runners hold the same unscored traces before either writes
                first[0] = False
                both_read.wait()
            return float(len(sample.output))

        replica = Store(store.url)  # its own engine and connections, like another process
        try:
            built = {evaluator.key: [FunctionScorer(length, name="length")]}
            summaries.extend(evaluate_traces(replica, [evaluator], built=built))
        except BaseException as exc:
            errors.append(exc)
        finally:
            replica.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    scored = [s.trace_id for s in _scores(store) if s.evaluator == evaluator.key]
    assert sorted(scored) == sorted(ids)  # once each: none twice, none lost
    assert sum(s.scored for s in summaries) == len(ids)
    assert sum(s.scores_written for s in summaries) == len(ids)
    assert sum(s.already_scored for s in summaries) == len(ids)  # the loser saw them taken


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_one_replica_at_a_time_holds_an_evaluator_pass(store: Store) -> None:
    from llmops.evals import evaluator_claim

    evaluator, other = _evaluator(name="held"), _evaluator(name="free")
    replica = Store(store.url)
    try:
        with evaluator_claim(store, evaluator) as mine:
            assert mine
            with evaluator_claim(replica, evaluator) as theirs:
                assert not theirs  # held by the first replica's connection
            with evaluator_claim(replica, other) as theirs:
                assert theirs  # another evaluator is another lock
            runner = EvaluatorRunner(replica, [evaluator])
            runner.run_once()
            assert runner.snapshot()["claimed_elsewhere"] == 1
        with evaluator_claim(replica, evaluator) as theirs:
            assert theirs  # released at the end of the first pass
    finally:
        replica.close()


def test_a_server_without_evaluators_says_so_with_the_same_counters(store: Store) -> None:
    """``GET /api/v1/evaluators`` answers on every server, as ``/api/v1/retention`` does: one
    without ``--evaluators`` shows none running and zero counters, in the same shape."""
    with LiveServer(create_app(store)) as live:
        idle = httpx.get(f"{live.url}/api/v1/evaluators")
    assert idle.status_code == 200
    runner = EvaluatorRunner(store, [])
    assert idle.json() == {**runner.snapshot(), "running": False}
    assert idle.json()["evaluators"] == [] and idle.json()["passes"] == 0
