"""``llmops server --evaluators``: the online evaluators, run in a background thread.

Every ``poll_s`` the thread asks each evaluator for traces started since the last one it saw
(minus ``overlap_s``, for traces whose root span arrives late; idempotency makes the overlap
free) and scores at most ``batch`` of them, oldest first. The bound is backpressure, not
dropping: what one pass leaves is the next pass's work, since the evaluator's position only
moves past traces it has looked at. Judges go through llmops.llm (its rate limits and
retries) with one response cache for the server's lifetime.

Several server processes on one PostgreSQL store (replicas, ``--workers``) may all run them:
one replica at a time holds an evaluator's pass (``evaluator_claim``; the others count it in
``claimed_elsewhere``), and a trace's scores are stored once whatever happens.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Request

from llmops.evals import Evaluator, Scorer, ScorerEnv, evaluate_traces, evaluator_claim
from llmops.server._background import BackgroundLoop
from llmops.store import Store

__all__ = ["EvaluatorRunner", "attach_evaluators"]


@dataclass
class _Counters:
    passes: int = 0
    scored: int = 0
    scores_written: int = 0
    unmeasured: int = 0
    errors: int = 0
    claimed_elsewhere: int = 0
    last_error: str | None = None
    backlog: dict[str, bool] = field(default_factory=dict)


class EvaluatorRunner(BackgroundLoop):
    """Runs ``evaluators`` over new traces of ``store`` until :meth:`stop`."""

    def __init__(
        self,
        store: Store,
        evaluators: Sequence[Evaluator],
        *,
        env: ScorerEnv | None = None,
        poll_s: float = 5.0,
        batch: int = 1000,
        lookback_s: float = 3600.0,
        overlap_s: float = 60.0,
    ) -> None:
        self.store = store
        self.evaluators = list(evaluators)
        self.env = env
        self.poll_s = poll_s
        self.batch = batch
        self.overlap_ns = int(overlap_s * 1e9)
        start = time.time_ns() - int(lookback_s * 1e9)
        self._since = {e.key: start for e in self.evaluators}
        self._scorers: dict[str, list[Scorer]] = {}  # set up once, kept across passes
        self.counters = _Counters()
        super().__init__("llmops-evaluators")

    def run_once(self) -> None:
        """One pass of every evaluator (the thread's loop body)."""
        for evaluator in self.evaluators:
            if self._stop.is_set():
                return
            since = self._since[evaluator.key]
            try:
                with evaluator_claim(self.store, evaluator) as mine:
                    if not mine:  # another replica runs this pass; it scores what we'd score
                        with self._lock:
                            self.counters.claimed_elsewhere += 1
                        continue
                    (summary,) = evaluate_traces(
                        self.store,
                        [evaluator],
                        since_ns=since - self.overlap_ns,
                        limit=self.batch,
                        env=self.env,
                        built=self._scorers,
                    )
            except Exception as exc:  # a store fault: counted, shown, retried next poll
                with self._lock:
                    self.counters.errors += 1
                    self.counters.last_error = f"{evaluator.name}: {type(exc).__name__}: {exc}"
                continue
            with self._lock:
                if summary.last_start_ns is not None:
                    self._since[evaluator.key] = max(since, summary.last_start_ns)
                self.counters.scored += summary.scored
                self.counters.scores_written += summary.scores_written
                self.counters.unmeasured += sum(summary.unmeasured.values())
                self.counters.backlog[evaluator.name] = summary.matched >= self.batch
        if self.env is not None and self.env.cache is not None:
            self.env.cache.flush()  # judges' new responses, for the next pass and restarts
        with self._lock:
            self.counters.passes += 1

    def wait_s(self) -> float:
        """No wait while an evaluator has a backlog, else the poll interval."""
        with self._lock:
            busy = any(self.counters.backlog.values())
        return 0 if busy else self.poll_s

    def snapshot(self) -> dict[str, Any]:
        """Counters and evaluators, as ``GET /api/v1/evaluators`` shows them."""
        with self._lock:
            return _snapshot(self.running, self.evaluators, self.counters)


def _snapshot(running: bool, evaluators: Sequence[Evaluator], c: _Counters) -> dict[str, Any]:
    return {
        "running": running,
        "evaluators": [{"name": e.name, "version": e.version, "key": e.key} for e in evaluators],
        "passes": c.passes,
        "scored": c.scored,
        "scores_written": c.scores_written,
        "unmeasured": c.unmeasured,
        "errors": c.errors,
        "claimed_elsewhere": c.claimed_elsewhere,
        "last_error": c.last_error,
        "backlog": dict(c.backlog),
    }


#: Served by every app (``llmops.server.create_app``).
router = APIRouter(prefix="/api/v1")


@router.get("/evaluators", summary="Online evaluators and their counters")
def evaluators(request: Request) -> dict[str, Any]:
    found: EvaluatorRunner | None = getattr(request.app.state, "evaluators", None)
    if found is None:  # a server without --evaluators says so, as /api/v1/retention does
        return _snapshot(False, [], _Counters())
    return found.snapshot()


def attach_evaluators(app: FastAPI, runner: EvaluatorRunner) -> None:
    """Serve ``runner``'s counters at ``GET /api/v1/evaluators`` (behind the app's token)."""
    app.state.evaluators = runner
