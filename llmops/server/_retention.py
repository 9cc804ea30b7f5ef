"""The server's retention: ``retention`` of the config applied in a background thread.

A pass runs when the server starts and then every ``interval_s``; it prunes in batches of
``batch`` traces with ``pause_s`` between them (``llmops.store.prune``), so ingest keeps the
store's write lock most of the time, and it stops between two batches on shutdown. Several
server processes on one PostgreSQL store may all run it: their batches take turns and their
deletes are idempotent.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, FastAPI, Request

from llmops.config import RetentionConfig
from llmops.server._background import BackgroundLoop
from llmops.store import Store, prune

__all__ = ["RetentionRunner", "start_retention"]


class RetentionRunner(BackgroundLoop):
    """Prunes ``store`` by ``retention`` every ``interval_s`` until :meth:`stop`."""

    def __init__(
        self,
        store: Store,
        retention: RetentionConfig,
        *,
        interval_s: float = 3600.0,
        batch: int = 500,
        pause_s: float = 0.2,
    ) -> None:
        self.store = store
        self.retention = retention
        self.interval_s = interval_s
        self.batch = batch
        self.pause_s = pause_s
        super().__init__("llmops-retention")
        self._counters: dict[str, Any] = {
            "passes": 0,
            "traces": 0,
            "eval_runs": 0,
            "deleted": {},
            "partitions_dropped": 0,
            "errors": 0,
            "last_error": None,
            "last_pass_at": None,
        }

    def run_once(self) -> None:
        """One pass (the thread's loop body); a store fault is counted and retried later."""
        try:
            report = prune(
                self.store,
                traces_older_than_s=self.retention.traces_s,
                eval_runs_older_than_s=self.retention.eval_runs_s,
                batch=self.batch,
                pause_s=self.pause_s,
                stop=self._stop,
            )
        except Exception as exc:
            with self._lock:
                self._counters["errors"] += 1
                self._counters["last_error"] = f"{type(exc).__name__}: {exc}"
            return
        with self._lock:
            c = self._counters
            c["passes"] += 1
            c["traces"] += report.traces
            c["eval_runs"] += report.eval_runs
            for table, rows in report.deleted.items():
                c["deleted"][table] = c["deleted"].get(table, 0) + rows
            c["partitions_dropped"] += len(report.partitions_dropped)
            c["last_pass_at"] = time.time()

    def wait_s(self) -> float:
        return self.interval_s

    def snapshot(self) -> dict[str, Any]:
        """The retention and the counters, as ``GET /api/v1/retention`` shows them."""
        with self._lock:
            counters = {**self._counters, "deleted": dict(self._counters["deleted"])}
        return {
            "running": self.running,
            "traces": self.retention.traces or "forever",
            "eval_runs": self.retention.eval_runs or "forever",
            "interval_s": self.interval_s,
            **{
                f"pruned_{key}" if key in ("traces", "eval_runs") else key: value
                for key, value in counters.items()
            },
        }


def start_retention(
    app: FastAPI, store: Store, retention: RetentionConfig, *, prune_here: bool = True
) -> RetentionRunner | None:
    """Start pruning ``store`` by ``retention`` in the background (None when it keeps
    everything, or not ``prune_here``: another worker prunes), stopped on the app's shutdown;
    counters at ``GET /api/v1/retention``, which every process answers."""
    keeps_all = retention.traces_s is None and retention.eval_runs_s is None
    runner = None if keeps_all or not prune_here else RetentionRunner(store, retention)
    router = APIRouter(prefix="/api/v1")

    @router.get("/retention", summary="Retention and the background pruner's counters")
    def retention_state(request: Request) -> dict[str, Any]:
        found: RetentionRunner | None = request.app.state.retention
        if found is not None:
            return found.snapshot()
        # a request reaches any worker: the ones that do not prune say so, not 404
        return {
            "running": False,
            "traces": retention.traces or "forever",
            "eval_runs": retention.eval_runs or "forever",
            "note": "nothing to prune: everything is kept"
            if keeps_all
            else "another worker of this server prunes (counters are its own)",
        }

    app.state.retention = runner
    app.include_router(router)
    if runner is None:
        return None
    # on uvicorn's graceful shutdown (it re-raises SIGTERM/SIGINT afterwards)
    app.router.on_shutdown.append(runner.stop)
    return runner.start()
