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
