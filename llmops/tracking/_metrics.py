"""Metric batching: values wait in memory and are written in one transaction per batch.

A run's batch is written when it holds ``BATCH_SIZE`` values (by the logging thread), once its
oldest value has waited ``INTERVAL_S`` (by a background thread), on ``ActiveRun.flush()``, when
the run ends and at interpreter exit. A failed write keeps its values for the next attempt:
the background thread records the error, an explicit flush raises it as ``StoreError``.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING

from sqlalchemy import insert
from sqlalchemy.exc import SQLAlchemyError

from llmops._exceptions import StoreError
from llmops.store.models import MetricRecord, table_of

if TYPE_CHECKING:
    from llmops.store import Store

__all__ = ["BATCH_SIZE", "INTERVAL_S", "MetricBuffer", "flusher"]

#: Values per batch: a write is triggered by the log call that fills a batch.
BATCH_SIZE = 1000
#: Seconds a value may wait before the background thread writes it.
INTERVAL_S = 1.0

Row = tuple[str, float, int, int]  # key, value, step, timestamp_ms


class MetricBuffer:
    """The pending metric values of one run."""

    def __init__(self, store: Store, run_id: str, *, batch_size: int = BATCH_SIZE) -> None:
        self.store = store
        self.run_id = run_id
        self.batch_size = batch_size
        self.batches = 0  # transactions written
        self.written = 0  # values written
        self.last_error: str | None = None
        self._rows: list[Row] = []
        self._oldest = 0.0
        self._lock = threading.Lock()  # guards _rows
        self._write_lock = threading.Lock()  # one batch at a time, in logging order

    def add(self, row: Row) -> bool:
        """Queue one value; True when the batch is full and should be written."""
        with self._lock:
            rows = self._rows
            if not rows:
                self._oldest = time.monotonic()
            rows.append(row)
            return len(rows) >= self.batch_size

    def extend(self, new: list[Row]) -> bool:
        """Queue several values; True when the batch is full."""
        with self._lock:
            if not self._rows:
                self._oldest = time.monotonic()
            self._rows.extend(new)
            return len(self._rows) >= self.batch_size

    @property
    def pending(self) -> int:
        """Values not written yet."""
        return len(self._rows)

    def due(self, now: float, interval_s: float) -> bool:
        """Whether the oldest pending value has waited ``interval_s``."""
        return bool(self._rows) and now - self._oldest >= interval_s

    def flush(self) -> int:
        """Write every pending value in one transaction; returns how many were written."""
        with self._write_lock:
            with self._lock:
                rows, self._rows = self._rows, []
            if not rows:
                return 0
            run_id = self.run_id
            values = [
                {"run_id": run_id, "key": k, "value": v, "step": s, "timestamp_ms": t}
                for k, v, s, t in rows
            ]
            try:
                with self.store.write() as session:
                    session.connection().execute(insert(table_of(MetricRecord)), values)
            except SQLAlchemyError as exc:
                self._requeue(rows)
                reason = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0]
                self.last_error = (
                    f"cannot write {len(rows)} metric values of run {run_id}: {reason}"
                )
                raise StoreError(self.last_error) from None
            except BaseException:
                self._requeue(rows)
                raise
            self.batches += 1
            self.written += len(rows)
            self.last_error = None
            return len(rows)

    def _requeue(self, rows: list[Row]) -> None:
        with self._lock:
            self._rows[:0] = rows
            self._oldest = time.monotonic()  # back off: the next timed attempt waits a period

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._rows = []  # the parent writes its pending values; the child must not repeat them


class _Flusher:
    """One daemon thread that writes batches that have waited ``INTERVAL_S``."""

    def __init__(self, interval_s: float = INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._buffers: set[MetricBuffer] = set()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def register(self, buffer: MetricBuffer) -> None:
        with self._cond:
            self._buffers.add(buffer)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="llmops-metrics", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def unregister(self, buffer: MetricBuffer) -> None:
        with self._cond:
            self._buffers.discard(buffer)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._buffers:
                    self._cond.wait()
                self._cond.wait(self.interval_s / 2)
                buffers = list(self._buffers)
            now = time.monotonic()
            for buffer in buffers:
                if buffer.due(now, self.interval_s):
                    try:
                        buffer.flush()
                    except Exception as exc:  # kept for the next flush, which raises it
                        buffer.last_error = buffer.last_error or str(exc)

    def _after_fork(self) -> None:
        self._cond = threading.Condition()
        self._thread = None  # did not survive the fork; started again by the next register
        for buffer in self._buffers:
            buffer._after_fork()
        self._buffers = set()


flusher = _Flusher()
os.register_at_fork(after_in_child=flusher._after_fork)
