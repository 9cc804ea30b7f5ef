"""The span pipeline: finished spans are queued, batched on a background thread, redacted and
written to every sink (the store, an OTLP endpoint...).

Nothing is dropped silently. A batch is flushed at ``batch_size`` spans or every
``interval_s``, on :func:`flush`, at interpreter exit and on SIGTERM. When the queue is full
the producer waits briefly (backpressure); if the sinks still cannot keep up, or a write keeps
failing, spans are spilled to JSON-lines files under ``spill_dir`` and replayed later. Store
writes ignore rows already present, so a replay after a crash never duplicates.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from llmops._version import __version__
from llmops.tracing._cost import COST, Pricing
from llmops.tracing._redact import Redactor
from llmops.tracing._semconv import otel_kind_for
from llmops.tracing._span import Span

__all__ = [
    "SCOPE",
    "PipelineStats",
    "SpanPipeline",
    "SpanSink",
    "get_pipeline",
    "set_pipeline",
    "span_row",
]

#: The instrumentation scope of the spans of the llmops SDK.
SCOPE = {"name": "llmops", "version": __version__}


class SpanSink(Protocol):
    """Where batches of span rows go. ``write`` raises on failure; the pipeline retries."""

    name: str

    def write(self, rows: Sequence[dict[str, Any]]) -> None: ...


@dataclass
class PipelineStats:
    """Counters of the pipeline, for reports and tests."""

    submitted: int = 0  # taken off the queue by the writer (queued spans are not counted yet)
    written: int = 0
    spilled: int = 0
    replayed: int = 0
    failed_writes: int = 0
    dropped: int = 0
    last_error: str | None = None


def span_row(span: Span, redactor: Redactor, pricing: Pricing | None = None) -> dict[str, Any]:
    """The stored form of a finished span, priced and redacted as OTLP-received spans are.
    No resource: storing the app's with every span costs the store writer ~15%; the OTLP
    export adds it (``OTelExporterSink``)."""
    attributes = span.attributes
    if pricing is not None and COST not in attributes:
        cost = pricing.cost(attributes)
        if cost is not None:
            attributes = {**attributes, COST: cost}
    row: dict[str, Any] = {
        "trace_id": format(span.trace_id, "032x"),
        "span_id": format(span.span_id, "016x"),
        "parent_span_id": format(span.parent_id, "016x") if span.parent_id else None,
        "name": span.name,
        "kind": span.kind,
        "start_ns": span.start_ns,
        "end_ns": span.end_ns or span.start_ns,
        "status_code": span.status,
        "status_message": span.status_message,
        "attributes": attributes,
        "events": span.events,
        "resource": None,
        "otel_kind": otel_kind_for(span.kind),
    }
    if span.links is not None:  # only then: a "links" key costs a span a redaction branch
        row["links"] = span.links
    row = redactor.span(row)
    row["scope"] = SCOPE  # the same for every span: set after redaction, which it needs not
    return row


class SpanPipeline:
    """Queue + background writer. ``submit`` is the only call on the application's hot path."""

    def __init__(
        self,
        sinks: Sequence[SpanSink],
        *,
        redactor: Redactor | None = None,
        pricing: Pricing | None = None,
        batch_size: int = 512,
        interval_s: float = 0.2,
        max_queue: int = 50_000,
        spill_dir: Path | None = None,
        retries: int = 3,
        backpressure_s: float = 2.0,
    ) -> None:
        self.sinks = list(sinks)
        self.redactor = redactor or Redactor()
        self.pricing = pricing or Pricing()
        self.batch_size = batch_size
        self.interval_s = interval_s
        self.max_queue = max_queue
        self.spill_dir = spill_dir
        self.retries = retries
        self.backpressure_s = backpressure_s
        self.stats = PipelineStats()
        self._queue: deque[Span] = deque()
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._flush_requested = 0
        self._flushed = 0
        self._spill_lock = threading.Lock()
        self._stopped = False
        self._last_replay = 0.0
        self._thread = threading.Thread(target=self._run, name="llmops-spans", daemon=True)
        self._thread.start()

    # -- producer side ---------------------------------------------------------------------
    def submit(self, span: Span) -> None:
        """Queue a finished span (called by ``Span.end``)."""
        queue = self._queue
        queue.append(span)
        if self._stopped:  # the span was open when this pipeline was replaced or shut down
            self._drain(replay=False)  # written here, in the caller's thread
            return
        size = len(queue)
        if size >= self.batch_size and not self._wake.is_set():
            self._wake.set()
        if size >= self.max_queue:
            self._backpressure()

    def _backpressure(self) -> None:
        deadline = time.monotonic() + self.backpressure_s
        self._wake.set()
        while len(self._queue) >= self.max_queue and time.monotonic() < deadline:
            time.sleep(0.001)
        overflow: list[Span] = []
        while len(self._queue) >= self.max_queue:
            try:
                overflow.append(self._queue.pop())
            except IndexError:
                break
        if overflow:
            self.stats.submitted += len(overflow)
            self._spill(
                [span_row(span, self.redactor, self.pricing) for span in reversed(overflow)]
            )

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Write every span submitted so far; False if that did not finish within the timeout."""
        if threading.current_thread() is self._thread:
            return False
        with self._done:
            self._flush_requested += 1
            target = self._flush_requested
        self._wake.set()
        with self._done:
            return self._done.wait_for(lambda: self._flushed >= target or self._stopped, timeout_s)

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """Flush and stop the writer thread."""
        if self._stopped:
            return
        self.flush(timeout_s)
        self._stopped = True
        self._wake.set()
        self._thread.join(timeout_s)
        self._drain(replay=False)  # a span queued while the writer was stopping

    # -- writer side -----------------------------------------------------------------------
    def _run(self) -> None:
        self._replay()
        while not self._stopped:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            with self._done:
                target = self._flush_requested
            self._drain()
            with self._done:
                self._flushed = max(self._flushed, target)
                self._done.notify_all()
        self._drain()

    def _drain(self, replay: bool = True) -> None:
        queue = self._queue
        while queue:
            batch: list[Span] = []
            with contextlib.suppress(IndexError):  # another thread may drain it too
                while queue and len(batch) < self.batch_size:
                    batch.append(queue.popleft())
            if not batch:
                break
            self.stats.submitted += len(batch)
            self._write([span_row(span, self.redactor, self.pricing) for span in batch])
        if replay and self.spill_dir is not None and time.monotonic() - self._last_replay > 5.0:
            self._replay()

    def _write(self, rows: list[dict[str, Any]]) -> bool:
        for sink in self.sinks:
            for attempt in range(self.retries):
                try:
                    sink.write(rows)
                    break
                except Exception as exc:  # a sink failure must never reach the application
                    self.stats.failed_writes += 1
                    self.stats.last_error = f"{sink.name}: {type(exc).__name__}: {exc}"[:500]
                    if attempt + 1 < self.retries:
                        time.sleep(0.05 * 2**attempt)
            else:
                self._spill(rows)
                return False
        self.stats.written += len(rows)
        return True

    def _spill(self, rows: list[dict[str, Any]]) -> None:
        if self.spill_dir is None:
            self.stats.dropped += len(rows)
            return
        with self._spill_lock:
            try:
                self.spill_dir.mkdir(parents=True, exist_ok=True)
                path = self.spill_dir / f"spans-{os.getpid()}.jsonl"
                with path.open("ab") as handle:
                    handle.write(b"".join(orjson.dumps(row, default=str) + b"\n" for row in rows))
                self.stats.spilled += len(rows)
            except OSError as exc:
                self.stats.dropped += len(rows)
                self.stats.last_error = f"spill: {exc}"

    def _replay(self) -> None:
        self._last_replay = time.monotonic()
        if self.spill_dir is None or not self.spill_dir.is_dir():
            return
        for path in sorted(self.spill_dir.glob("spans-*.jsonl")):
            claimed = path.with_suffix(f".replay-{os.getpid()}")
            try:
                path.rename(claimed)  # one process replays a file
            except OSError:
                continue
            rows = [
                orjson.loads(line) for line in claimed.read_bytes().splitlines() if line.strip()
            ]
            written = True
            for start in range(0, len(rows), self.batch_size):
                chunk = rows[start : start + self.batch_size]
                try:
                    for sink in self.sinks:
                        sink.write(chunk)
                except Exception as exc:
                    self.stats.last_error = f"replay: {exc}"
                    written = False
                    break
                self.stats.replayed += len(chunk)
            if written:
                claimed.unlink(missing_ok=True)
            else:
                claimed.rename(path)
                return


# -- the process-wide pipeline --------------------------------------------------------------
_lock = threading.Lock()
_pipeline: SpanPipeline | None = None


def set_pipeline(pipeline: SpanPipeline | None) -> SpanPipeline | None:
    """Install ``pipeline`` as the destination of every span; returns the previous one."""
    global _pipeline
    from llmops.tracing import _sdk

    with _lock:
        previous, _pipeline = _pipeline, pipeline
        _sdk._sink[0] = pipeline.submit if pipeline is not None else None
    return previous


def get_pipeline() -> SpanPipeline:
    """The process's pipeline, built from the project config on first use."""
    pipeline = _pipeline
    if pipeline is not None:
        return pipeline
    from llmops.tracing._setup import build_pipeline, fallback_pipeline

    with _lock:
        if _pipeline is None:
            try:
                built = build_pipeline()
            except Exception as exc:  # telemetry never raises into the traced program
                built = fallback_pipeline(exc)
            set_pipeline_unlocked(built)
        assert _pipeline is not None
        return _pipeline


def set_pipeline_unlocked(pipeline: SpanPipeline) -> None:
    global _pipeline
    from llmops.tracing import _sdk

    _pipeline = pipeline
    _sdk._sink[0] = pipeline.submit


def _flush_at_exit() -> None:
    pipeline = _pipeline
    if pipeline is not None:
        pipeline.shutdown(timeout_s=30.0)


def _after_fork_in_child() -> None:
    global _pipeline
    from llmops.tracing import _sdk

    _pipeline = None  # the writer thread did not survive the fork; a new one starts on demand
    _sdk._sink[0] = None


def _on_sigterm(signum: int, frame: Any) -> None:
    _flush_at_exit()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def install_exit_handlers() -> None:
    """Flush at exit and on SIGTERM (only when the app has no SIGTERM handler of its own)."""
    if threading.current_thread() is threading.main_thread():
        try:
            if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                signal.signal(signal.SIGTERM, _on_sigterm)
        except ValueError:  # not the main interpreter
            pass


atexit.register(_flush_at_exit)
os.register_at_fork(after_in_child=_after_fork_in_child)
