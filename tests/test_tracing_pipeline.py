"""The span pipeline: batching, flush, redaction, failures spilled and replayed, idempotence."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from llmops.store import Store
from llmops.tracing import Redactor, SpanPipeline, get_trace, list_traces, set_pipeline, span
from llmops.tracing._redact import REDACTED
from llmops.tracing._sinks import StoreSink


class _Flaky:
    """A sink that fails while ``down`` and records what it received."""

    name = "flaky"

    def __init__(self) -> None:
        self.down = False
        self.rows: list[dict[str, Any]] = []

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        if self.down:
            raise ConnectionError("store unreachable")
        self.rows.extend(rows)


def _use(pipeline: SpanPipeline) -> None:
    previous = set_pipeline(pipeline)
    if previous is not None:
        previous.shutdown()


def test_batches_are_written_in_order_and_flushed(store: Store) -> None:
    pipeline = SpanPipeline([StoreSink(store)], batch_size=100, interval_s=10)
    _use(pipeline)
    for i in range(1050):
        with span(f"s{i}"):
            pass
    assert pipeline.flush(10)
    assert (pipeline.stats.submitted, pipeline.stats.written, pipeline.stats.dropped) == (
        1050,
        1050,
        0,
    )
    assert len(list_traces(store, limit=2000)) == 1050


def test_redaction_and_truncation_before_storage(store: Store) -> None:
    pipeline = SpanPipeline(
        [StoreSink(store)], redactor=Redactor([r"\bACME-\d+\b"], redact_emails=True, max_chars=300)
    )
    _use(pipeline)
    with span("call") as call:
        call.set(
            {
                "gen_ai.input.messages": (
                    "key sk-abcdefghijklmnopqrstuvwx and ada@example.com about ACME-42"
                ),
                "http.authorization": "Bearer abc",
                "api_key": "anything",
                "big": "x" * 1000,
                "gen_ai.usage.input_tokens": 7,
            }
        )
    assert pipeline.flush()
    [row] = get_trace(store, list_traces(store)[0].trace_id)
    attributes = row.attributes
    assert attributes["gen_ai.input.messages"] == f"key {REDACTED} and {REDACTED} about {REDACTED}"
    assert attributes["http.authorization"] == REDACTED and attributes["api_key"] == REDACTED
    assert attributes["big"] == "x" * 300 + "…[truncated 700 chars]"
    assert attributes["gen_ai.usage.input_tokens"] == 7


def test_failing_sink_spills_then_replays_without_loss(tmp_path: Path) -> None:
    sink = _Flaky()
    sink.down = True
    pipeline = SpanPipeline([sink], spill_dir=tmp_path / "spill", retries=2, interval_s=0.01)
    _use(pipeline)
    for i in range(20):
        with span(f"s{i}"):
            pass
    assert pipeline.flush()
    assert pipeline.stats.spilled == 20 and pipeline.stats.dropped == 0 and sink.rows == []
    assert list((tmp_path / "spill").glob("spans-*.jsonl"))
    sink.down = False
    pipeline._replay()
    assert sorted(row["name"] for row in sink.rows) == sorted(f"s{i}" for i in range(20))
    assert pipeline.stats.replayed == 20
    assert not list((tmp_path / "spill").iterdir())


def test_full_queue_applies_backpressure_then_spills(tmp_path: Path) -> None:
    sink = _Flaky()
    sink.down = True
    pipeline = SpanPipeline(
        [sink],
        spill_dir=tmp_path / "spill",
        max_queue=50,
        backpressure_s=0.05,
        retries=1,
        batch_size=10,
    )
    _use(pipeline)
    for i in range(500):
        with span(f"s{i}"):
            pass
    assert pipeline.flush()
    stats = pipeline.stats
    assert stats.dropped == 0 and stats.written == 0
    assert stats.spilled == 500
    assert len(pipeline._queue) == 0


def test_store_writes_are_idempotent(store: Store) -> None:
    sink = StoreSink(store)
    pipeline = SpanPipeline([sink])
    _use(pipeline)
    with span("once"):
        pass
    assert pipeline.flush()
    [trace] = list_traces(store)
    [row] = get_trace(store, trace.trace_id)
    again = {
        key: getattr(row, key)
        for key in (
            "trace_id",
            "span_id",
            "parent_span_id",
            "name",
            "kind",
            "start_ns",
            "end_ns",
            "status_code",
            "attributes",
        )
    }
    sink.write([again, again])  # a replay after a crash: no error, no duplicate
    assert len(get_trace(store, trace.trace_id)) == 1


class _Slow:
    """A sink ten times slower than the producer."""

    name = "slow"

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        import time

        time.sleep(0.0005 * len(rows))
        self.rows.extend(rows)


def test_burst_faster_than_the_store_keeps_memory_bounded_and_loses_nothing(tmp_path: Path) -> None:
    sink = _Slow()
    pipeline = SpanPipeline(
        [sink], spill_dir=tmp_path / "spill", max_queue=200, batch_size=50, backpressure_s=0.01
    )
    _use(pipeline)
    peak = 0
    for i in range(3000):
        with span(f"s{i}"):
            pass
        peak = max(peak, len(pipeline._queue))
    assert peak <= 200
    assert pipeline.flush(60)
    stats = pipeline.stats
    assert stats.dropped == 0
    assert stats.written + stats.spilled == 3000
    pipeline._replay()
    assert sorted(row["name"] for row in sink.rows) == sorted(f"s{i}" for i in range(3000))


def test_unreachable_store_never_raises_into_the_app_and_spans_are_kept(
    tmp_path: Path, monkeypatch: Any
) -> None:
    from llmops.store import open_store
    from llmops.tracing import configure_tracing, flush, get_pipeline, shutdown_tracing

    shutdown_tracing()
    monkeypatch.setenv("LLMOPS_STORE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    with span("while the store is down") as traced:
        traced.set("k", "v")
    assert get_pipeline().flush()
    assert get_pipeline().stats.spilled == 1
    shutdown_tracing()
    monkeypatch.setenv("LLMOPS_STORE_URL", f"sqlite:///{tmp_path / 'back.db'}")
    store = open_store()
    configure_tracing(store)  # a working pipeline replays the spill on start
    assert flush()
    import time

    deadline = time.monotonic() + 10
    while not list_traces(store) and time.monotonic() < deadline:
        time.sleep(0.05)
    [trace] = list_traces(store)
    assert trace.name == "while the store is down"


def test_a_span_name_with_a_lone_surrogate_neither_fails_its_batch_nor_the_writer(
    store: Store,
) -> None:
    pipeline = SpanPipeline([StoreSink(store)], batch_size=10, interval_s=10)
    _use(pipeline)
    undecodable = b"caf\xe9".decode("utf-8", "surrogateescape")  # a lone surrogate
    with span(undecodable, kind=undecodable):
        pass
    with span("after"):
        pass
    assert pipeline.flush(10)
    names = {trace.name for trace in list_traces(store, limit=10)}
    assert names == {"caf\ufffd", "after"}
    assert pipeline.stats.dropped == 0


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("login with password=hunter2x now", f"login with {REDACTED} now"),
        ("config: api_key: 'abc123def456'", f"config: {REDACTED}'"),
        ("dsn postgresql://bob:pa55word@db:5432/app", f"dsn {REDACTED}db:5432/app"),
        ("access_token=eyJhbGciOi.x.y", REDACTED),
        ("what is the password? reset it in settings", None),  # prose is kept
        ("token usage: 512", None),
    ],
)
def test_secrets_written_into_free_text_are_masked(text: str, stored: str | None) -> None:
    assert Redactor().text(text) == (text if stored is None else stored)
