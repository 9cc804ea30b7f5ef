"""Trace listing with filters, on SQLite and PostgreSQL, and the traces CLI (list, tail)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from llmops.cli import main
from llmops.store import Store
from llmops.tracing import TraceFilter, configure_tracing, flush, list_traces, span, trace_context


@pytest.fixture
def traces(store: Store) -> Store:
    configure_tracing(store)
    with (
        trace_context(session_id="s1", user_id="ada", tags=["beta"]),
        span("support answer") as root,
    ):
        with span("chat", kind="llm") as call:
            call.set(
                {
                    "gen_ai.request.model": "gpt-x",
                    "gen_ai.usage.input_tokens": 10,
                    "gen_ai.usage.output_tokens": 4,
                    "gen_ai.output.messages": "Refunds take 5 days",
                }
            )
        root.set("x", 1)
    with trace_context(session_id="s2", user_id="bob"), span("slow job") as slow:
        time.sleep(0.02)
        with span("chat", kind="llm") as call:
            call.set({"gen_ai.request.model": "local", "gen_ai.usage.input_tokens": 3})
        slow.set_status("ERROR", "boom")
    with span("100%_odd name"):
        pass
    assert flush()
    return store


def _names(store: Store, **conditions: object) -> list[str]:
    return [t.name for t in list_traces(store, where=TraceFilter(**conditions))]  # type: ignore[arg-type]


def test_filters(traces: Store) -> None:
    store = traces
    assert _names(store) == ["100%_odd name", "slow job", "support answer"]
    assert _names(store, session_id="s1") == ["support answer"]
    assert _names(store, user_id="bob") == ["slow job"]
    assert _names(store, model="gpt-x") == ["support answer"]
    assert _names(store, tag="beta") == ["support answer"]
    assert _names(store, status="error") == ["slow job"]
    assert _names(store, min_duration_ms=15) == ["slow job"]
    assert _names(store, text="refunds TAKE") == ["support answer"]
    assert _names(store, name="%_odd") == ["100%_odd name"]  # LIKE wildcards are literal
    assert _names(store, since_ns=time.time_ns() + 10**9) == []
    first = list_traces(store, where=TraceFilter(session_id="s1"))[0]
    assert (first.span_count, first.input_tokens, first.output_tokens) == (2, 10, 4)
    assert (first.session_id, first.user_id) == ("s1", "ada")
    assert [t.name for t in list_traces(store, limit=1, offset=1)] == ["slow job"]


def test_traces_cli_filters_and_tail(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from llmops.store import open_store

    store = open_store()
    configure_tracing(store)
    with trace_context(user_id="ada"), span("first"):
        pass
    assert flush()
    capsys.readouterr()
    assert main(["traces", "list", "--user", "ada", "--since", "1h", "--json"]) == 0
    assert [t["name"] for t in json.loads(capsys.readouterr().out)] == ["first"]
    assert main(["traces", "list", "--since", "yesterday-ish"]) == 2
    assert "--since 'yesterday-ish'" in capsys.readouterr().err

    def later() -> None:
        time.sleep(0.3)
        with span("arrives later"):
            pass
        flush()

    writer = threading.Thread(target=later)
    writer.start()
    assert (
        main(["traces", "tail", "--interval", "0.05", "--count", "1", "--timeout", "10", "--json"])
        == 0
    )
    writer.join()
    lines = capsys.readouterr().out.strip().splitlines()
    assert [json.loads(line)["name"] for line in lines] == ["arrives later"]


@pytest.fixture
def failures(store: Store) -> Store:
    """Traces whose root span is OK or UNSET but a child failed, as OTel instrumentations
    leave them (a failed LLM call under a chain that carried on)."""
    configure_tracing(store)
    with span("agent run") as root:
        with span("chat", kind="llm") as call:
            call.set_status("ERROR", "rate limited by upstream")
        with span("chat retry", kind="llm") as retry:
            retry.record_exception(ValueError("context window exceeded"))
            retry.set_status("ERROR")
        root.set_status("OK")
    with span("pipeline"), span("tool call", kind="tool") as tool:
        tool.set_status("ERROR", "tool failed")
    with span("healthy") as ok:
        ok.set_status("OK")
    with span("quiet"):
        pass
    assert flush()
    return store


def test_trace_status_is_error_when_any_span_failed(failures: Store) -> None:
    store = failures
    listed = {t.name: t for t in list_traces(store)}
    statuses = {name: (t.status, t.error_count) for name, t in listed.items()}
    assert statuses == {
        "agent run": ("ERROR", 2),
        "pipeline": ("ERROR", 1),
        "healthy": ("OK", 0),
        "quiet": ("UNSET", 0),
    }
    assert listed["agent run"].to_dict()["error_count"] == 2
    assert _names(store, status="ERROR") == ["pipeline", "agent run"]
    assert _names(store, status="OK") == ["healthy"]  # the OK root with a failed child is not
    assert _names(store, status="UNSET") == ["quiet"]
    # search covers status messages and the exception messages of events, of any span
    assert _names(store, text="RATE LIMITED") == ["agent run"]
    assert _names(store, text="context window exceeded") == ["agent run"]
    assert _names(store, text="tool failed") == ["pipeline"]
    assert _names(store, text="tool call") == ["pipeline"]  # span names too


def test_sdk_spans_store_their_otel_kind_and_scope(failures: Store) -> None:
    from llmops import __version__
    from llmops.tracing import get_trace

    [trace] = [t for t in list_traces(failures) if t.name == "agent run"]
    spans = {s.name: s for s in get_trace(failures, trace.trace_id)}
    assert spans["chat"].otel_kind == "CLIENT" and spans["agent run"].otel_kind == "INTERNAL"
    assert spans["chat"].kind == "llm"  # the llmops kind is kept apart
    assert spans["chat"].scope == {"name": "llmops", "version": __version__}
    assert spans["chat"].links is None and spans["chat"].trace_state is None


def test_traces_cli_lists_error_counts(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from llmops.store import open_store

    store = open_store()
    configure_tracing(store)
    with span("outer") as outer:
        with span("inner") as inner:
            inner.set_status("ERROR", "inner broke")
        outer.set_status("OK")
    assert flush()
    capsys.readouterr()
    assert main(["traces", "list", "--status", "ERROR", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["name"], listed["status"], listed["error_count"]) == ("outer", "ERROR", 1)
    assert main(["traces", "list", "--search", "inner broke", "--json"]) == 0
    assert [t["name"] for t in json.loads(capsys.readouterr().out)] == ["outer"]
    assert main(["traces", "list", "--status", "OK", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
