"""What a newcomer walking the README met: Ctrl-C or SIGTERM during ``llmops store prune``
says that nothing is half-deleted and how to finish, the protected-alias refusal names the
command that takes ``--force``, a queue item without an input shows ``-``, and every server
process answers ``/api/v1/retention``."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from _live_server import LiveServer
from fastapi import FastAPI
from sqlalchemy import func, select

from llmops._exceptions import Interrupted
from llmops.cli import main
from llmops.config import RetentionConfig
from llmops.server import start_retention
from llmops.store import Store, open_store
from llmops.store.models import SpanRecord
from llmops.tracing import StoreSink

DAY_NS = 86_400 * 10**9


def _traces(store: Store, rng: random.Random, start_ns: int, count: int) -> set[str]:
    """``count`` traces of a root and a child span (no input or output), as the server writes."""
    ids: set[str] = set()
    rows: list[dict[str, Any]] = []
    for index in range(count):
        trace_id, root = f"{rng.getrandbits(128):032x}", f"{rng.getrandbits(64):016x}"
        ids.add(trace_id)
        for position, span_id in enumerate((root, f"{rng.getrandbits(64):016x}")):
            rows.append(
                {
                    "trace_id": trace_id,
                    "span_id": span_id,
                    "parent_span_id": root if position else None,
                    "name": "step",
                    "kind": "chain",
                    "start_ns": start_ns + index * 1000 + position,
                    "end_ns": start_ns + index * 1000 + position + 10**6,
                    "status_code": "OK",
                    "attributes": {},
                }
            )
    StoreSink(store).write(rows)
    return ids


def _project_store(folder: Path) -> Store:
    """The store of a project in ``folder`` (the working directory), as the CLI opens it."""
    (folder / "configs").mkdir()
    (folder / "configs" / "llmops.yaml").write_text("default_model: local\n")
    return open_store(f"sqlite:///{folder / '.llmops' / 'llmops.db'}")


def _spans_per_trace(store: Store, ids: set[str]) -> dict[str, int]:
    with store.read() as connection:
        found = connection.execute(
            select(SpanRecord.trace_id, func.count())  # type: ignore[call-overload]
            .where(SpanRecord.trace_id.in_(ids))  # type: ignore[attr-defined]
            .group_by(SpanRecord.trace_id)
        ).all()
    return {trace_id: count for trace_id, count in found}


class _SignalAfter(threading.Event):
    """A stop event that raises what a signal raises (KeyboardInterrupt for Ctrl-C,
    ``Interrupted`` under the CLI's interrupt policy) when asked the n-th time; the pruner
    asks between batches."""

    def __init__(self, n: int, raised: KeyboardInterrupt) -> None:
        super().__init__()
        self.left = n
        self.raised = raised

    def is_set(self) -> bool:
        self.left -= 1
        if self.left == 0:
            raise self.raised
        return super().is_set()


@pytest.mark.parametrize(
    ("raised", "code", "said"),
    [
        (KeyboardInterrupt(), 130, "interrupted:"),
        (Interrupted("terminated (SIGTERM)", exit_code=143), 143, "terminated (SIGTERM):"),
    ],
)
def test_a_signal_during_prune_leaves_whole_traces_and_says_how_to_finish(
    raised: KeyboardInterrupt,
    code: int,
    said: str,
    tmp_path: Path,
    rng: random.Random,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import llmops.store

    store = _project_store(tmp_path)
    now = time.time_ns()
    old = _traces(store, rng, now - 40 * DAY_NS, 30)
    new = _traces(store, rng, now - 3600 * 10**9, 5)
    real_prune = llmops.store.prune

    def interrupted_prune(*args: Any, **options: Any) -> Any:
        return real_prune(*args, **{**options, "batch": 4, "stop": _SignalAfter(3, raised)})

    monkeypatch.setattr(llmops.store, "prune", interrupted_prune)
    capsys.readouterr()
    assert main(["store", "prune", "--older-than", "30d"]) == code
    error = capsys.readouterr().err
    assert (
        error.startswith(said)
        and "none in part" in error
        and "run the same command again to finish" in error
    )
    left = _spans_per_trace(store, old)
    assert 0 < len(left) < len(old)  # stopped part-way, after whole batches
    assert set(left.values()) == {2}  # every old trace still there is whole
    monkeypatch.setattr(llmops.store, "prune", real_prune)
    assert main(["store", "prune", "--older-than", "30d"]) == 0
    assert _spans_per_trace(store, old) == {}
    assert _spans_per_trace(store, new) == dict.fromkeys(new, 2)


def test_a_protected_alias_refusal_names_the_command_that_takes_force(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["prompts", "sync"]) == 0
    capsys.readouterr()
    assert main(["prompts", "alias", "qa", "production", "1", "--reason", "x"]) == 2
    error = " ".join(capsys.readouterr().err.split())
    assert "`llmops promote prompt:qa@1 --to production`" in error
    assert "add `--force --reason ...` to that command" in error


def test_queue_items_without_an_input_show_a_dash(
    tmp_path: Path, rng: random.Random, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _project_store(tmp_path)
    _traces(store, rng, time.time_ns() - 60 * 10**9, 2)
    assert main(["score-configs", "create", "ok", "--type", "boolean"]) == 0
    assert main(["queues", "create", "q", "--score-config", "ok", "--since", "1h"]) == 0
    capsys.readouterr()
    assert main(["queues", "show", "q", "--items"]) == 0
    items = [line.split() for line in capsys.readouterr().out.splitlines() if "[" in line]
    assert len(items) == 2 and all(item[1:] == ["pending", "-", "-"] for item in items)


@pytest.mark.parametrize(
    ("retention", "prune_here", "note"),
    [
        (RetentionConfig(), True, "nothing to prune"),
        (RetentionConfig(traces="30d"), False, "another worker"),
    ],
)
def test_a_server_process_that_does_not_prune_still_answers_the_retention_route(
    retention: RetentionConfig, prune_here: bool, note: str, tmp_path: Path
) -> None:
    """With ``--workers`` only worker 0 prunes, and a request reaches any worker."""
    store = open_store(f"sqlite:///{tmp_path / 'llmops.db'}")
    app = FastAPI()
    assert start_retention(app, store, retention, prune_here=prune_here) is None
    with LiveServer(app) as server:
        answer = httpx.get(f"{server.url}/api/v1/retention")
    assert answer.status_code == 200
    state = answer.json()
    assert state["running"] is False and note in state["note"]
    assert state["traces"] == (retention.traces or "forever") and state["eval_runs"] == "forever"
