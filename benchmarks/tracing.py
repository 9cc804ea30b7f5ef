"""Tracing cost, side by side with the OpenTelemetry SDK and hand-rolled floors.

Run: .venv/bin/python benchmarks/tracing.py [--spans N] [--repeats R] [--quick] [--json PATH]
The OpenTelemetry SDK is already in the project's venv (llmops exports through it), so the
peer runs in this process.
Targets (issue #4): record <= 3 us/span; record + persist >= 60k spans/s on SQLite.
The headline is record + drain: the clock stops when the pipeline (or OTel's batch processor)
has handed every span to its exporter. llmops and OTel runs alternate within each round; a
row reads "not resolved" where the 95% CI of the paired ratio includes 1.
"""

from __future__ import annotations

import functools
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import orjson
from _bench import (
    Measurement,
    Report,
    ci_note,
    figure,
    interleave,
    paired_ci,
    parser,
    resolved,
    target,
)


class _NullSink:
    name = "null"

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        return None


def record_llmops(n: int) -> float:
    """Seconds per span: open, set two attributes, close, and the pipeline's drain. Spans are
    queued and, as in an app, drained by the pipeline's thread (here to a sink that discards
    them); the clock stops when ``flush()`` has drained the last one, so that thread's
    redaction and row building are part of the figure however fast the app thread is."""
    from llmops.tracing import SpanPipeline, set_pipeline, span

    pipeline = SpanPipeline([_NullSink()], max_queue=n + 1)
    set_pipeline(pipeline)
    started = time.perf_counter()
    for i in range(n):
        with span("step", kind="chain") as s:
            s.set("i", i)
            s.set("gen_ai.request.model", "m")
    pipeline.flush(300)
    elapsed = time.perf_counter() - started
    set_pipeline(None)
    pipeline.shutdown()
    return elapsed / n


def record_llmops_hot(n: int) -> float:
    """Seconds per span in the application's thread alone: spans are recorded in bursts of
    512 and the pipeline drains between bursts, untimed (as between an app's requests)."""
    from llmops.tracing import SpanPipeline, set_pipeline, span

    pipeline = SpanPipeline([_NullSink()], max_queue=n + 1, interval_s=3600, batch_size=1 << 30)
    set_pipeline(pipeline)
    elapsed = 0.0
    for _ in range(n // 512):
        started = time.perf_counter()
        for i in range(512):
            with span("step", kind="chain") as s:
                s.set("i", i)
                s.set("gen_ai.request.model", "m")
        elapsed += time.perf_counter() - started
        pipeline.flush()
    set_pipeline(None)
    pipeline.shutdown()
    return elapsed / (n // 512 * 512)


def record_otel(n: int, batch: bool) -> float:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Null(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    if batch:
        provider.add_span_processor(BatchSpanProcessor(Null(), max_queue_size=n + 1))
    tracer = provider.get_tracer("bench")
    started = time.perf_counter()
    for i in range(n):
        with tracer.start_as_current_span("step") as s:
            s.set_attribute("i", i)
            s.set_attribute("gen_ai.request.model", "m")
    if batch:  # record + drain, as llmops' figure: the exporter has seen every span
        provider.force_flush(300_000)
    elapsed = time.perf_counter() - started
    provider.shutdown()
    return elapsed / n


_current: ContextVar[object | None] = ContextVar("floor", default=None)


class _FloorSpan:
    __slots__ = ("attributes", "end", "name", "start")

    def __init__(self, name: str) -> None:
        self.name, self.start, self.end = name, time.time_ns(), 0
        self.attributes: dict[str, object] = {}


def record_floor(n: int) -> float:
    """A hand-rolled span: slots object, clock reads, a context variable, a list append."""
    done: list[_FloorSpan] = []
    started = time.perf_counter()
    for i in range(n):
        s = _FloorSpan("step")
        token = _current.set(s)
        s.attributes["i"] = i
        s.attributes["gen_ai.request.model"] = "m"
        _current.reset(token)
        s.end = time.time_ns()
        done.append(s)
    return (time.perf_counter() - started) / n


def persist_llmops(n: int, folder: Path) -> float:
    """Spans per second from first span to all rows committed in SQLite."""
    from llmops.store import Store
    from llmops.tracing import SpanPipeline, set_pipeline, span
    from llmops.tracing._sinks import StoreSink

    store = Store(f"sqlite:///{folder / f'llmops-{time.monotonic_ns()}.db'}")
    store.ensure_schema()
    pipeline = SpanPipeline([StoreSink(store)], max_queue=n + 1, batch_size=2048)
    set_pipeline(pipeline)
    started = time.perf_counter()
    for i in range(n):
        with span("step", kind="chain") as s:
            s.set("i", i)
            s.set("gen_ai.request.model", "m")
    pipeline.flush(300)
    elapsed = time.perf_counter() - started
    set_pipeline(None)
    pipeline.shutdown()
    store.close()
    return n / elapsed


def persist_otel(n: int, folder: Path) -> float:
    """The OpenTelemetry SDK + BatchSpanProcessor + the same store writer as an exporter."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from llmops.store import Store
    from llmops.tracing._exporter import StoreSpanExporter

    store = Store(f"sqlite:///{folder / f'otel-{time.monotonic_ns()}.db'}")
    store.ensure_schema()
    provider = TracerProvider()
    provider.add_span_processor(
        BatchSpanProcessor(
            StoreSpanExporter(store), max_queue_size=n + 1, max_export_batch_size=2048
        )
    )
    tracer = provider.get_tracer("bench")
    started = time.perf_counter()
    for i in range(n):
        with tracer.start_as_current_span("step") as s:
            s.set_attribute("i", i)
            s.set_attribute("gen_ai.request.model", "m")
    provider.force_flush(300_000)
    elapsed = time.perf_counter() - started
    provider.shutdown()
    store.close()
    return n / elapsed


def persist_floor(n: int, folder: Path) -> float:
    """Raw sqlite3 executemany of equivalent rows (JSON text via orjson), in batches of 2048."""
    path = folder / f"floor-{time.monotonic_ns()}.db"
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(
        "create table spans (trace_id text, span_id text, parent text, name text, kind text,"
        " start_ns int, end_ns int, status text, attributes text, primary key (trace_id, span_id))"
    )
    started = time.perf_counter()
    rows = []
    for i in range(n):
        now = time.time_ns()
        rows.append(
            (
                f"{i:032x}",
                f"{i:016x}",
                None,
                "step",
                "chain",
                now,
                now,
                "UNSET",
                orjson.dumps({"i": i, "gen_ai.request.model": "m"}).decode(),
            )
        )
        if len(rows) == 2048:
            connection.executemany("insert into spans values (?,?,?,?,?,?,?,?,?)", rows)
            connection.commit()
            rows = []
    connection.executemany("insert into spans values (?,?,?,?,?,?,?,?,?)", rows)
    connection.commit()
    connection.close()
    return n / (time.perf_counter() - started)


def main() -> None:
    arguments = parser(__doc__)
    arguments.add_argument("--spans", type=int, default=None, help="default 100000 (quick 20000)")
    arguments.add_argument("--repeats", type=int, default=None, help="default 5 (quick 3)")
    args = arguments.parse_args()
    n = args.spans or (20_000 if args.quick else 100_000)
    r = args.repeats or (3 if args.quick else 5)
    report = Report.start(
        __file__, args, f"tracing, {n} spans per run, median of {r} runs (persist: 3)"
    )
    folder = Path(tempfile.mkdtemp(prefix="llmops-bench-"))

    samplers: dict[str, Callable[[], float]] = {
        "background": lambda: record_llmops(n),
        "otel_batch": lambda: record_otel(n, batch=True),
        "hot": lambda: record_llmops_hot(n),
        "otel": lambda: record_otel(n, batch=False),
        "floor": lambda: record_floor(n),
    }
    persisters: dict[str, Callable[[], float]] = {
        "persisted": lambda: persist_llmops(n, folder),
        "otel_persisted": lambda: persist_otel(n, folder),
        "floor_persisted": lambda: persist_floor(n, folder),
    }
    # llmops and the OTel SDK alternate within each round (order reversed every other
    # round), so load drift on a shared machine hits both alike.
    samples: dict[str, list[float]] = {key: [] for key in [*samplers, *persisters]}

    def step(key: str, sampler: Callable[[], float]) -> Callable[[], None]:
        return lambda: samples[key].append(sampler())

    for sampler in samplers.values():
        sampler()  # warm-up: imports, first allocations
    interleave([step(key, sampler) for key, sampler in samplers.items()], r)
    interleave([step(key, sampler) for key, sampler in persisters.items()], 3)
    got = {key: Measurement.from_samples(values) for key, values in samples.items()}
    hot, background, otel = got["hot"], got["background"], got["otel"]
    otel_batch, floor, persisted = got["otel_batch"], got["floor"], got["persisted"]
    otel_persisted, floor_persisted = got["otel_persisted"], got["floor_persisted"]
    drain_ci = paired_ci(samples["background"], samples["otel_batch"])
    persist_ci = paired_ci(samples["persisted"], samples["otel_persisted"])

    otel_name = f"OTel SDK {_otel_version()}"
    us = functools.partial(figure, unit="us", scale=1e6)
    rate = functools.partial(figure, unit="spans/s", higher_is_better=True)
    report.add(
        us(
            "tracing: record a span + drain (headline)",
            measured=background,
            peer=f"{otel_name} + BatchSpanProcessor + force_flush",
            peer_value=otel_batch,
            note=f"clock stops after the pipeline's flush; {ci_note(drain_ci)}",
            resolved=resolved(drain_ci),
        ),
        us(
            "tracing: record a span, app thread only",
            measured=hot,
            peer=f"{otel_name}, no processor",
            peer_value=otel,
            note="drain untimed (between bursts); "
            + target(hot.median, 3e-6, at_most=True, text="<= 3 us"),
        ),
        us(
            "tracing: record a span, app thread only",
            measured=hot,
            peer="floor: hand-rolled span",
            peer_value=floor,
        ),
        rate(
            "tracing: record + persist to SQLite",
            measured=persisted,
            peer=f"{otel_name} + batch + same store writer",
            peer_value=otel_persisted,
            note=target(persisted.median, 60_000, at_most=False, text=">= 60k/s")
            + f"; {ci_note(persist_ci)}",
            resolved=resolved(persist_ci),
        ),
        rate(
            "tracing: record + persist to SQLite",
            measured=persisted,
            peer="floor: raw sqlite3 executemany",
            peer_value=floor_persisted,
        ),
    )
    report.finish()


def _otel_version() -> str:
    from importlib.metadata import version

    return version("opentelemetry-sdk")


if __name__ == "__main__":
    main()
