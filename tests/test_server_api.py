"""The REST API under /api/v1 on a real server: every endpoint's shape, filters, keyset pages
(each item exactly once), a 2,000-span trace read lazily, the token, security headers, and
generated requests (schemathesis) that must never meet a server error."""

from __future__ import annotations

import socket
import warnings
from collections.abc import Iterator
from typing import Any, cast

import httpx
import orjson
import pytest
from _live_server import LiveServer

from llmops.config import load_config
from llmops.evals import evaluate
from llmops.gates import record_decision
from llmops.gates._subjects import Subject
from llmops.prompts import PromptSpec, register_prompt, set_alias
from llmops.server import create_app
from llmops.store import Store
from llmops.tracing import configure_tracing, flush, span, trace_context

TOKEN = "t0ken-for-tests"
TRACE_ITEM = {
    "trace_id", "name", "start_ns", "duration_ms", "status", "root_status", "error_count",
    "span_count", "model",
    "session_id", "user_id", "input_tokens", "output_tokens", "cost_usd", "tags",
    "input_preview", "output_preview",
}  # fmt: skip
SPAN_SUMMARY = {
    "span_id", "parent_span_id", "name", "kind", "start_ns", "end_ns", "duration_ms", "status",
    "child_count", "model", "input_tokens", "output_tokens", "cost_usd",
}  # fmt: skip
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


@pytest.fixture
def server(store: Store) -> Iterator[LiveServer]:
    with LiveServer(create_app(store, token=TOKEN)) as live:
        yield live


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=f"{server.url}/api/v1", headers=headers, timeout=30) as client:
        yield client


def _get(api: httpx.Client, path: str, **params: Any) -> Any:
    response = api.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _pages(api: httpx.Client, path: str, key: str = "items", **params: Any) -> list[Any]:
    """Every item of a paged list, following next_cursor."""
    items: list[Any] = []
    cursor = params.pop("cursor", None)
    for _ in range(1000):
        body = _get(api, path, **params, **({"cursor": cursor} if cursor else {}))
        assert len(body[key]) <= params.get("limit", 50)
        items += body[key]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("next_cursor never ended")


def _messages(*pairs: tuple[str, str]) -> str:
    return orjson.dumps(
        [{"role": r, "parts": [{"type": "text", "content": c}]} for r, c in pairs]
    ).decode()


def _seed_traces(store: Store) -> None:
    """Three traces: a RAG answer and its follow-up in session s1, then a slow failed one."""
    configure_tracing(store)
    with trace_context(session_id="s1", user_id="u1", tags=["beta"]):
        with span("answer", kind="chain", attributes={"input.value": "What is llmops?"}) as root:
            llm = {
                "gen_ai.request.model": "gpt-x",
                "gen_ai.usage.input_tokens": 120,
                "gen_ai.usage.output_tokens": 30,
                "llmops.cost_usd": 0.002,
                "gen_ai.input.messages": _messages(("system", "Be brief."), ("user", "What?")),
                "gen_ai.output.messages": _messages(("assistant", "A toolkit.")),
                "llmops.prompt.name": "qa",
                "llmops.prompt.version": 2,
            }
            with span("chat gpt-x", kind="llm", attributes=llm):
                pass
            documents = [{"id": "doc-1", "score": 0.9, "content": "llmops is..."}]
            retrieval = {"gen_ai.retrieval.documents": orjson.dumps(documents).decode()}
            with span("retrieve", kind="retriever", attributes=retrieval):
                pass
            with pytest.raises(ValueError), span("lookup", kind="tool"):
                raise ValueError("boom")
            root.set("output.value", "A toolkit.")
        with span("follow-up", attributes={"input.value": "And offline?"}) as second:
            second.set("output.value", "Yes.")
    slow = span("nightly", kind="chain", attributes={"gen_ai.request.model": "gpt-y"})
    slow.set_status("ERROR", "failed")
    slow.end(slow.start_ns + 250_000_000)
    assert flush()


def test_trace_list_filters_and_sessions(store: Store, api: httpx.Client) -> None:
    _seed_traces(store)
    body = _get(api, "/traces")
    assert body["next_cursor"] is None
    nightly, follow_up, answer = body["items"]
    assert [t["name"] for t in body["items"]] == ["nightly", "follow-up", "answer"]
    assert set(answer) >= TRACE_ITEM
    assert answer["span_count"] == 4
    # the trace failed where any span did: here the "lookup" tool under an UNSET root
    assert (answer["status"], answer["root_status"], answer["error_count"]) == ("ERROR", "UNSET", 1)
    assert (answer["model"], answer["input_tokens"], answer["output_tokens"]) == ("gpt-x", 120, 30)
    assert answer["cost_usd"] == pytest.approx(0.002) and answer["tags"] == ["beta"]
    assert (answer["session_id"], answer["user_id"]) == ("s1", "u1")
    assert (answer["input_preview"], answer["output_preview"]) == ("What is llmops?", "A toolkit.")
    assert nightly["status"] == "ERROR" and nightly["duration_ms"] == pytest.approx(250)
    assert (nightly["error_count"], follow_up["status"], follow_up["error_count"]) == (
        1,
        "UNSET",
        0,
    )

    def names(**params: Any) -> list[str]:
        return [t["name"] for t in _get(api, "/traces", **params)["items"]]

    assert names(status="ERROR") == ["nightly", "answer"]
    assert names(status="UNSET") == ["follow-up"] and names(status="OK") == []
    assert names(q="boom") == ["answer"]  # a status message, an exception event's message
    assert names(model="gpt-x") == ["answer"] and names(model="gpt-y") == ["nightly"]
    assert names(session="s1") == names(user="u1") == names(tag="beta") == ["follow-up", "answer"]
    assert names(q="OFFLINE") == ["follow-up"] and names(q="lookup") == ["answer"]
    assert names(min_latency_ms=200) == ["nightly"] and "nightly" not in names(max_latency_ms=200)
    assert names(min_cost=0.001) == ["answer"] and names(min_cost=1) == []
    assert names(start_ns=follow_up["start_ns"], end_ns=nightly["start_ns"]) == ["follow-up"]
    assert names(since_ns=follow_up["start_ns"]) == ["nightly"]
    assert names(status="OK", model="gpt-x") == []

    sessions = _get(api, "/sessions")["items"]
    assert sessions == [
        {
            "session_id": "s1",
            "trace_count": 2,
            "first_ns": answer["start_ns"],
            "last_ns": sessions[0]["last_ns"],
            "user_id": "u1",
            "input_tokens": answer["input_tokens"] + follow_up["input_tokens"],
            "output_tokens": answer["output_tokens"] + follow_up["output_tokens"],
            "cost_usd": pytest.approx(answer["cost_usd"] + (follow_up["cost_usd"] or 0)),
        }
    ]
    assert sessions[0]["last_ns"] >= follow_up["start_ns"]
    conversation = _get(api, "/sessions/s1")
    assert conversation["session_id"] == "s1"
    assert [(t["trace_id"], t["input"], t["output"]) for t in conversation["traces"]] == [
        (answer["trace_id"], "What is llmops?", "A toolkit."),
        (follow_up["trace_id"], "And offline?", "Yes."),
    ]
    # a turn's status is its trace's: the failed "lookup" tool makes the first turn ERROR
    assert [(t["status"], t["error_count"]) for t in conversation["traces"]] == [
        ("ERROR", 1),
        ("UNSET", 0),
    ]
    assert {"start_ns", "name"} <= set(conversation["traces"][0])
    assert api.get("/sessions/nobody").status_code == 404


def test_a_trace_its_spans_and_its_timeline(store: Store, api: httpx.Client) -> None:
    _seed_traces(store)
    answer = _get(api, "/traces", session="s1")["items"][-1]
    trace_id = answer["trace_id"]
    trace = _get(api, f"/traces/{trace_id[-8:]}")  # a unique suffix works, as in the CLI
    assert trace["trace_id"] == trace_id and trace["span_count"] == 4
    assert set(trace["root"]) >= SPAN_SUMMARY and trace["root"]["name"] == "answer"
    assert trace["root"]["child_count"] == 3 and trace["root"]["parent_span_id"] is None
    assert trace["duration_ms"] == pytest.approx((trace["end_ns"] - trace["start_ns"]) / 1e6)

    roots = _get(api, f"/traces/{trace_id}/spans", parent="ROOT")["items"]
    assert [s["span_id"] for s in roots] == [trace["root"]["span_id"]]
    children = _get(api, f"/traces/{trace_id}/spans", parent=roots[0]["span_id"])["items"]
    assert [s["name"] for s in children] == ["chat gpt-x", "retrieve", "lookup"]
    chat, retrieve, lookup = children
    assert (chat["model"], chat["input_tokens"], chat["cost_usd"]) == ("gpt-x", 120, 0.002)
    assert lookup["status"] == "ERROR" and chat["child_count"] == 0

    full = _get(api, f"/traces/{trace_id}/spans/{chat['span_id']}")
    assert set(full) >= SPAN_SUMMARY and full["attributes"]["gen_ai.request.model"] == "gpt-x"
    assert full["input"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What?"},
    ]
    assert full["output"] == [{"role": "assistant", "content": "A toolkit."}]
    assert full["prompt"] == {"name": "qa", "version": 2} and full["documents"] == []
    docs = _get(api, f"/traces/{trace_id}/spans/{retrieve['span_id']}")["documents"]
    assert docs == [{"id": "doc-1", "score": 0.9, "content": "llmops is...", "metadata": None}]
    failed = _get(api, f"/traces/{trace_id}/spans/{lookup['span_id']}")
    assert failed["status_message"] == "ValueError: boom" and failed["prompt"] is None
    assert [e["name"] for e in failed["events"]] == ["exception"]
    root = _get(api, f"/traces/{trace_id}/spans/{roots[0]['span_id']}")
    assert (root["input"], root["output"]) == ("What is llmops?", "A toolkit.")

    timeline = _get(api, f"/traces/{trace_id}/timeline")
    assert timeline["total"] == 4
    assert [(s["name"], s["depth"]) for s in timeline["items"]] == [
        ("answer", 0), ("chat gpt-x", 1), ("retrieve", 1), ("lookup", 1),
    ]  # fmt: skip
    window = _get(api, f"/traces/{trace_id}/timeline", offset=1, limit=2)
    assert [s["name"] for s in window["items"]] == ["chat gpt-x", "retrieve"]
    for path in (f"/traces/{'f' * 32}", f"/traces/{trace_id}/spans/{'0' * 16}"):
        assert api.get(path).status_code == 404
    assert api.get(f"/traces/{trace_id}/spans", params={"parent": "f" * 16}).status_code == 404


def _linked_span_request(linked_trace: str, missing_trace: str) -> bytes:
    """An OTLP/JSON request: a CLIENT span of scope ``my.lib`` 2.1 with a trace state and
    two links, one to ``linked_trace`` and one to ``missing_trace``."""
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "name": "batch consumer",
        "kind": "SPAN_KIND_CLIENT",
        "traceState": "congo=t61rcWkgMzE",
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001000000000",
        "links": [
            {
                "traceId": linked_trace,
                "spanId": "00f067aa0ba902b7",
                "traceState": "rojo=1",
                "attributes": [{"key": "why", "value": {"stringValue": "follows from"}}],
            },
            {"traceId": missing_trace, "spanId": "00f067aa0ba902b8"},
        ],
    }
    scope = {"name": "my.lib", "version": "2.1"}
    request = {"resourceSpans": [{"scopeSpans": [{"scope": scope, "spans": [span]}]}]}
    return orjson.dumps(request)


def test_span_details_keep_otel_kind_scope_trace_state_and_links(
    store: Store, server: LiveServer, api: httpx.Client
) -> None:
    _seed_traces(store)
    answer = _get(api, "/traces", session="s1")["items"][-1]["trace_id"]
    missing = "f" * 32
    posted = httpx.post(
        f"{server.url}/v1/traces",
        content=_linked_span_request(answer, missing),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    assert posted.status_code == 200, posted.text
    span = _get(api, "/traces/5b8efff798038103d269b633813fc60c/spans/eee19b7ec3c1b174")
    assert (span["kind"], span["otel_kind"]) == ("client", "CLIENT")
    assert span["scope"] == {"name": "my.lib", "version": "2.1"}
    assert span["trace_state"] == "congo=t61rcWkgMzE"
    assert span["links"] == [
        {
            "trace_id": answer,
            "span_id": "00f067aa0ba902b7",
            "trace_state": "rojo=1",
            "attributes": {"why": "follows from"},
            "stored": True,
        },
        {
            "trace_id": missing,
            "span_id": "00f067aa0ba902b8",
            "trace_state": None,
            "attributes": {},
            "stored": False,
        },
    ]
    assert "otel.scope.name" not in span["attributes"]
    root_id = _get(api, f"/traces/{answer}")["root"]["span_id"]
    sdk_span = _get(api, f"/traces/{answer}/spans/{root_id}")
    assert (sdk_span["otel_kind"], sdk_span["links"], sdk_span["trace_state"]) == (
        "INTERNAL",
        [],
        None,
    )
    assert sdk_span["scope"]["name"] == "llmops"


def test_trace_pages_hold_each_trace_once_while_new_ones_arrive(
    store: Store, api: httpx.Client
) -> None:
    configure_tracing(store)
    for i in range(23):
        with trace_context(session_id=f"s{i % 7}"), span(f"t{i}"):
            pass
    assert flush()
    first = _get(api, "/traces", limit=5)
    for i in range(23, 26):  # newer traces land between two page loads
        with span(f"t{i}"):
            pass
    assert flush()
    rest = _pages(api, "/traces", limit=5, cursor=first["next_cursor"])
    listed = first["items"] + rest
    assert [t["name"] for t in listed] == [f"t{i}" for i in reversed(range(23))]
    starts = [t["start_ns"] for t in listed]
    assert starts == sorted(starts, reverse=True)
    fresh = _get(api, "/traces", since_ns=first["items"][0]["start_ns"])["items"]
    assert [t["name"] for t in fresh] == ["t25", "t24", "t23"]
    assert len(_pages(api, "/traces", limit=1, session="s3")) == 3
    sessions = _pages(api, "/sessions", limit=3)
    assert sorted(s["session_id"] for s in sessions) == [f"s{i}" for i in range(7)]
    assert sum(s["trace_count"] for s in sessions) == 23
    turns = _pages(api, "/sessions/s0", key="traces", limit=2)
    assert [t["name"] for t in turns] == ["t0", "t7", "t14", "t21"]


def test_a_2000_span_trace_is_read_lazily(store: Store, api: httpx.Client) -> None:
    configure_tracing(store)
    with span("agent", kind="agent") as root:
        steps = [span(f"step {i}", kind="chain", parent=root) for i in range(50)]
        for i in range(1948):
            span(f"call {i}", kind="llm", parent=steps[i % 50]).end()
        for step in steps:
            step.end()
    orphan = span("late", parent=f"00-{root.trace_id_hex}-{'ab' * 8}-01")  # parent never stored
    orphan.end()
    assert flush()
    trace_id = root.trace_id_hex
    assert _get(api, f"/traces/{trace_id}")["span_count"] == 2000

    seen: dict[str, dict[str, Any]] = {}
    expand = ["ROOT"]
    while expand:
        parent = expand.pop()
        children = _pages(api, f"/traces/{trace_id}/spans", limit=100, parent=parent)
        starts = [(s["start_ns"], s["span_id"]) for s in children]
        assert starts == sorted(starts)
        for child in children:
            assert child["span_id"] not in seen
            seen[child["span_id"]] = child
            if child["child_count"]:
                expand.append(child["span_id"])
        if parent != "ROOT":
            assert len(children) == seen[parent]["child_count"]
    assert len(seen) == 2000
    assert {s["name"] for s in seen.values() if s["parent_span_id"] in (None, "ab" * 8)} == {
        "agent",
        "late",
    }

    timeline = []
    for offset in range(0, 2000, 500):
        window = _get(api, f"/traces/{trace_id}/timeline", offset=offset, limit=500)
        assert window["total"] == 2000
        timeline += window["items"]
    assert [s["span_id"] for s in timeline] != [] and len({s["span_id"] for s in timeline}) == 2000
    assert [s["start_ns"] for s in timeline] == sorted(s["start_ns"] for s in timeline)
    depths = {s["name"].split()[0]: s["depth"] for s in timeline}
    assert depths == {"agent": 0, "step": 1, "call": 2, "late": 0}


def test_prompts_versions_diff_and_alias_history(store: Store, api: httpx.Client) -> None:
    for name in ("alpha", "beta", "gamma", "qa"):
        register_prompt(store, PromptSpec(name=name, template="Hi {{ who }}", tags=["t"]))
    register_prompt(store, PromptSpec(name="qa", template="Hello {{ who }}!"), message="warmer")
    for version in (1, 2, 1, 2, 1):
        set_alias("qa", "staging", version, reason=f"try {version}", store=store, actor="ann")

    prompts = _pages(api, "/prompts", limit=3)
    assert [p["name"] for p in prompts] == ["alpha", "beta", "gamma", "qa"]
    qa = prompts[-1]
    assert (qa["latest"], qa["aliases"], qa["tags"]) == (2, {"staging": 1}, [])
    detail = _get(api, "/prompts/qa")
    assert detail["name"] == "qa" and detail["aliases"] == {"staging": 1}
    assert [v["version"] for v in detail["versions"]] == [2, 1]
    newest = detail["versions"][0]
    assert {
        "version", "content_hash", "kind", "template", "variables", "model_params", "message",
        "author", "created_at",
    } <= set(newest)  # fmt: skip
    assert (newest["template"], newest["variables"], newest["message"]) == (
        "Hello {{ who }}!",
        ["who"],
        "warmer",
    )
    diff = _get(api, "/prompts/qa/diff", a=1, b="staging")
    assert (diff["a"], diff["b"], diff["diff"]) == (1, 1, "")
    diff = _get(api, "/prompts/qa/diff", a="1", b="2")
    assert (
        "-template: Hi {{ who }}" in diff["diff"] and "+template: Hello {{ who }}!" in diff["diff"]
    )
    history = _pages(api, "/prompts/qa/history", limit=2)
    assert [(e["from_version"], e["to_version"]) for e in history] == [
        (2, 1), (1, 2), (2, 1), (1, 2), (None, 1),
    ]  # fmt: skip
    assert history[0]["actor"] == "ann" and history[0]["reason"] == "try 1"
    assert api.get("/prompts/nope").status_code == 404
    assert api.get("/prompts/qa/diff", params={"a": 1, "b": 9}).status_code == 404
    assert api.get("/prompts/qa/diff", params={"a": "NOT AN ALIAS", "b": 1}).status_code == 400
    assert api.get("/prompts/bad name!/history").status_code == 400


def test_eval_runs_cases_and_comparison(store: Store, api: httpx.Client) -> None:
    rows = [{"question": f"q{i}", "answer": f"a{i}"} for i in range(6)]
    config = load_config()

    def run(target: Any, name: str = "qa") -> str:
        made = evaluate(
            rows, target, ["exact_match"], name=name, expected="answer", store=store, config=config
        )
        return made.id

    baseline = run(lambda row: row["answer"])
    candidate = run(lambda row: row["answer"] if row["question"] != "q3" else "wrong")
    other = run(lambda row: "x", name="other")

    runs = _pages(api, "/evals/runs", limit=2)
    assert [r["id"] for r in runs] == [other, candidate, baseline]
    listed = {r["id"]: r for r in _get(api, "/evals/runs", suite="qa")["items"]}
    assert set(listed) == {baseline, candidate}
    first = listed[baseline]
    assert {
        "id", "suite", "model", "prompt", "status", "started_at", "n_cases", "n_errors",
        "summary", "group_id",
    } <= set(first)  # fmt: skip
    assert (first["suite"], first["n_cases"], first["n_errors"]) == ("qa", 6, 0)
    assert first["summary"]["exact_match"]["mean"] == 1.0

    detail = _get(api, f"/evals/runs/{candidate[:12]}", offset=2, limit=3)
    assert detail["run"]["id"] == candidate and detail["total"] == 6
    assert [c["case_index"] for c in detail["cases"]] == [2, 3, 4]
    case = detail["cases"][1]
    assert (case["inputs"], case["expected"], case["output"]) == (rows[3], "a3", "wrong")
    assert set(case["scores"]["exact_match"]) == {"value", "error", "reason"}
    assert case["scores"]["exact_match"]["value"] == 0.0 and case["repeat"] == 0
    assert {"error", "latency_ms", "trace_id"} <= set(case)

    comparison = _get(api, "/evals/compare", a=baseline, b=candidate)
    assert comparison["run_a"]["id"] == baseline and comparison["run_b"]["id"] == candidate
    assert [c["case_index"] for c in comparison["regressed"]] == [3]
    assert comparison["scorers"]["exact_match"]["mean_a"] == 1.0
    assert api.get("/evals/runs/ffffffff").status_code == 404
    assert api.get("/evals/compare", params={"a": baseline, "b": "nope"}).status_code == 404


def test_gate_decisions_newest_first(store: Store, api: httpx.Client) -> None:
    for version, decision in enumerate(("fail", "pass", "override", "rollback"), start=1):
        record_decision(
            store,
            Subject("prompt", "qa", version),
            alias="production",
            decision=decision,
            policy=None,
            evidence={"runs": [f"r{version}"]},
            reason=f"because {version}",
            actor="ci",
        )
    record_decision(
        store, Subject("model", "qa-model", 1), alias="staging", decision="pass", policy=None,
        evidence=None,
    )  # fmt: skip
    every = _pages(api, "/gates/decisions", limit=2)
    assert [d["decision"] for d in every] == ["pass", "rollback", "override", "pass", "fail"]
    assert {
        "id", "subject_kind", "subject", "alias", "decision", "policy", "policy_hash",
        "versions", "evidence", "actor", "reason", "created_at",
    } <= set(every[1])  # fmt: skip
    assert (every[1]["subject"], every[1]["evidence"], every[1]["actor"]) == (
        "qa@4",
        {"runs": ["r4"]},
        "ci",
    )
    prompts = _get(api, "/gates/decisions", kind="prompt", name="qa")["items"]
    assert [d["subject"] for d in prompts] == ["qa@4", "qa@3", "qa@2", "qa@1"]
    assert [d["subject"] for d in _get(api, "/gates/decisions", kind="model")["items"]] == [
        "qa-model@1"
    ]


def test_token_and_security_headers(store: Store, server: LiveServer) -> None:
    url = server.url
    for path in ("/api/v1/traces", "/api/v1/prompts", "/api/openapi.json"):
        refused = httpx.get(url + path)
        assert refused.status_code == 401, path
        assert refused.json() == {"code": 401, "message": "missing or wrong bearer token"}
        wrong = httpx.get(url + path, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
    otlp = httpx.post(
        url + "/v1/traces", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert otlp.status_code == 401
    public = [httpx.get(url + "/health"), httpx.get(url + "/ui/"), httpx.get(url + "/ui")]
    assert [r.status_code for r in public] == [200, 200, 307]
    auth = {"Authorization": f"Bearer {TOKEN}"}
    ok = httpx.get(url + "/api/v1/traces", headers=auth)
    missing = httpx.get(url + "/api/v1/nothing", headers=auth)
    assert ok.status_code == 200 and missing.status_code == 404
    assert missing.json() == {"code": 404, "message": "Not Found"}
    for response in (refused, otlp, ok, missing, *public):
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["x-content-type-options"] == "nosniff"
    with socket.create_connection(("127.0.0.1", server.port)) as raw:  # no client-side cleanup
        raw.sendall(
            b"GET /ui/../api/v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        answer = b"".join(iter(lambda: raw.recv(65536), b""))
    assert answer.startswith(b"HTTP/1.1 404") and b"trace_id" not in answer


BAD_INPUT: list[tuple[str, dict[str, Any], int]] = [
    ("/traces", {"limit": 0}, 400),
    ("/traces", {"limit": 501}, 400),
    ("/traces", {"status": "BROKEN"}, 400),
    ("/traces", {"cursor": "not-a-cursor"}, 400),
    ("/traces", {"cursor": "WzEsMiwzXQ"}, 400),  # valid base64 JSON, wrong shape
    ("/traces", {"start_ns": 2**70}, 400),
    ("/traces", {"min_latency_ms": "nan"}, 400),
    ("/traces", {"q": "a\x00b"}, 400),
    ("/traces/abc/timeline", {"offset": -1}, 400),
    ("/traces/abc", {}, 404),
    ("/evals/runs/zzz", {"offset": 0}, 404),
    ("/gates/decisions", {"kind": "planet"}, 400),
    ("/prompts/qa/diff", {"a": 1}, 400),
]


def test_bad_input_is_a_client_error(api: httpx.Client) -> None:
    for path, params, status in BAD_INPUT:
        response = api.get(path, params=params)
        assert response.status_code == status, (path, params, response.text)
        body = response.json()
        assert body["code"] == status and isinstance(body["message"], str) and body["message"]


def test_generated_requests_never_meet_a_server_error(store: Store, server: LiveServer) -> None:
    """Requests generated from the OpenAPI document, valid and invalid, on seeded data."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable

    with warnings.catch_warnings():  # schemathesis imports modules that warn on import
        warnings.simplefilter("ignore", DeprecationWarning)
        import requests
        import schemathesis

    _seed_traces(store)
    register_prompt(store, PromptSpec(name="qa", template="Hi {{ who }}"))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    openapi = httpx.get(f"{server.url}/api/openapi.json", headers=auth).json()
    schema = schemathesis.openapi.from_dict(openapi).include(path_regex="^/api/v1/")
    operations = [cast(Any, result).ok() for result in schema.get_all_operations()]
    # with the 4 score routes (POST and GET, /scores, DELETE), the 3 dataset routes and the
    # 10 of score configs and annotation queues, and the eval matrix, and the dashboard stats,
    # and the 7 of experiment tracking, and the 10 of models, RAG indexes and bundles, and the
    # online evaluators' counters
    assert len(operations) == 53
    failures: list[str] = []
    statuses: set[int] = set()
    session = requests.Session()  # keep-alive: the server's answers, not new connections, are timed
    for operation in operations:
        for mode in schemathesis.GenerationMode:

            @settings(
                max_examples=10,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case: Any) -> None:
                response = case.call(base_url=server.url, session=session, headers=auth, timeout=30)
                statuses.add(response.status_code)
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path} {case.query}")
                # 201, 204: a generated score stored or deleted
                assert response.status_code in (200, 201, 204, 400, 404), response.text

            try:
                call()
            except Unsatisfiable:  # a route without parameters or body has no invalid request
                assert mode == schemathesis.GenerationMode.NEGATIVE
                assert not operation.path_parameters and not operation.query
                assert not operation.body
    session.close()
    assert failures == []
    # valid requests answered, invalid ones refused
    assert statuses - {201, 204} == {200, 400, 404}
