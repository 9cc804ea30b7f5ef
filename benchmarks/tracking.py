"""Metric logging throughput on SQLite, side by side with MLflow and a raw sqlite3 floor.

Run: .venv/bin/python benchmarks/tracking.py [--metrics N] [--repeats R] [--quick] [--json PATH]
Target (issue #7): >= 20,000 metrics/s batched on SQLite. Every figure counts the values as
written: the clock stops after the last batch is committed (``run.flush()``).

Like with like, in separate rows: batched (llmops' buffered ``log_metric``/``log_metrics`` +
``flush()``) against MLflow ``log_batch`` of 1000 a call, the same N values; per-value durable
(llmops ``flush()`` after every value, one commit each) against MLflow's synchronous
``log_metric``, the same count. MLflow (SQLite tracking store) runs in the peers venv, one run
per round, interleaved with llmops' runs (order alternating) so load drift hits both; a row
says "not resolved" where the 95% CI of the paired ratio includes 1. Floor: raw sqlite3.
"""

from __future__ import annotations

import functools
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from _bench import (
    Measurement,
    Report,
    ci_note,
    figure,
    interleave,
    measure,
    paired_ci,
    parser,
    peer_or_reason,
    resolved,
    target,
)

from llmops.store import open_store
from llmops.tracking import metric_history, start_run


def _url(folder: Path) -> str:
    return f"sqlite:///{folder / f'{uuid.uuid4().hex}.db'}"


def log_metric(n: int, folder: Path) -> float:
    """Values/s: one ``log_metric`` call per value, batched by the run."""
    run = start_run(experiment="bench", store=_url(folder))
    started = time.perf_counter()
    for step in range(n):
        run.log_metric("loss", 1.0 / (step + 1), step=step)
    run.flush()
    elapsed = time.perf_counter() - started
    run.end()
    return n / elapsed


def log_metrics(n: int, folder: Path, width: int = 100) -> float:
    """Values/s: ``log_metrics`` of ``width`` keys per step (the ``log_batch`` use)."""
    run = start_run(experiment="bench", store=_url(folder))
    values = {f"m{i}": float(i) for i in range(width)}
    started = time.perf_counter()
    for step in range(n // width):
        run.log_metrics(values, step=step)
    run.flush()
    elapsed = time.perf_counter() - started
    run.end()
    return n // width * width / elapsed


def unbatched(n: int, folder: Path) -> float:
    """Values/s with one transaction per value (``flush()`` after each log): what batching saves."""
    run = start_run(experiment="bench", store=_url(folder))
    started = time.perf_counter()
    for step in range(n):
        run.log_metric("loss", float(step), step=step)
        run.flush()
    elapsed = time.perf_counter() - started
    run.end()
    return n / elapsed


def floor(n: int, folder: Path, batch: int = 1000) -> float:
    """Values/s: raw sqlite3 executemany of the same rows, 1000 per commit (WAL, NORMAL)."""
    connection = sqlite3.connect(folder / f"{uuid.uuid4().hex}.floor.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(
        "CREATE TABLE metrics (id INTEGER PRIMARY KEY, run_id TEXT, key TEXT, value REAL, "
        "step INTEGER, timestamp_ms INTEGER)"
    )
    connection.execute("CREATE INDEX ix ON metrics (run_id, key, step)")
    started = time.perf_counter()
    rows = []
    for step in range(n):
        rows.append(("r" * 32, "loss", 1.0 / (step + 1), step, time.time_ns() // 1_000_000))
        if len(rows) == batch or step == n - 1:
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(
                "INSERT INTO metrics (run_id, key, value, step, timestamp_ms) VALUES (?,?,?,?,?)",
                rows,
            )
            connection.execute("COMMIT")
            rows = []
    elapsed = time.perf_counter() - started
    connection.close()
    return n / elapsed


def history_ms(n: int, folder: Path) -> float:
    """Milliseconds to read back a history of ``n`` values."""
    url = _url(folder)
    with start_run(experiment="bench", store=url) as run:
        for step in range(n):
            run.log_metric("loss", float(step), step=step)
    started = time.perf_counter()
    points = metric_history(open_store(url), run.id, "loss")
    assert len(points) == n
    return (time.perf_counter() - started) * 1000


def main() -> None:
    arguments = parser(__doc__)
    arguments.add_argument("--metrics", type=int, default=None, help="default 100000 (quick 20000)")
    arguments.add_argument("--repeats", type=int, default=None, help="default 5 (quick 3)")
    args = arguments.parse_args()
    n = args.metrics or (20_000 if args.quick else 100_000)
    r = args.repeats or (3 if args.quick else 5)
    report = Report.start(
        __file__, args, f"tracking metrics on SQLite, {n} values per run, median of {r} runs"
    )
    folder = Path(tempfile.mkdtemp(prefix="llmops-bench-"))

    durable_n = min(n, 300 if args.quick else 1000)
    log_metric(min(n, 2000), folder)  # warm-up: imports, the store's schema
    samples: dict[str, list[float]] = {
        key: [] for key in ("single", "batch", "durable", "log_batch", "log_metric")
    }
    why: list[str] = []
    versions: list[str] = []

    def ours() -> None:
        samples["single"].append(log_metric(n, folder))
        samples["batch"].append(log_metrics(n, folder))
        samples["durable"].append(unbatched(durable_n, folder))

    def theirs() -> None:
        if why:
            return
        args_ = (str(folder), str(n), "1", str(durable_n))
        peer = peer_or_reason("mlflow", "mlflow_tracking.py", *args_)
        if isinstance(peer, str):
            why.append(peer)
            return
        versions.append(str(peer["version"]))
        samples["log_batch"].append(peer["log_batch"]["median"])
        samples["log_metric"].append(peer["log_metric"]["median"])

    interleave([ours, theirs], r)
    raw = measure(lambda: floor(n, folder), r)
    read = measure(lambda: history_ms(n, folder), 3)
    note = why[0] if why else ""
    name = f"MLflow {versions[0]}" if versions else "MLflow"

    def mlflow(key: str) -> Measurement | None:
        return Measurement.from_samples(samples[key]) if samples[key] else None

    def compared(ours_key: str, peer_key: str, *notes: str) -> dict[str, Any]:
        """figure()'s peer arguments: the peer's figure and whether the difference is resolved."""
        if not samples[peer_key]:
            return {"peer_note": note, "note": "; ".join(notes)}
        ci = paired_ci(samples[ours_key], samples[peer_key])
        return {
            "peer_value": mlflow(peer_key),
            "resolved": resolved(ci),
            "note": "; ".join([*notes, ci_note(ci)]),
        }

    single = Measurement.from_samples(samples["single"])
    batch = Measurement.from_samples(samples["batch"])
    one_by_one = Measurement.from_samples(samples["durable"])
    rate = functools.partial(figure, unit="values/s", higher_is_better=True)
    goal = target(single.median, 20_000, at_most=False, text=">= 20k/s")
    report.add(
        rate(
            f"tracking: batched, log_metric + flush ({n} values)",
            measured=single,
            peer=f"{name} log_batch (1000 a call)",
            **compared("single", "log_batch", goal),
        ),
        rate(
            f"tracking: batched, log_metric + flush ({n} values)",
            measured=single,
            peer="floor: raw sqlite3 executemany",
            peer_value=raw,
        ),
        rate(
            f"tracking: batched, log_metrics 100 keys a step ({n} values)",
            measured=batch,
            peer=f"{name} log_batch (1000 a call)",
            **compared("batch", "log_batch"),
        ),
        rate(
            f"tracking: per-value durable, one commit each ({durable_n} values)",
            measured=one_by_one,
            peer=f"{name} log_metric (synchronous)",
            **compared("durable", "log_metric"),
        ),
        figure(f"tracking: metric_history of {n} values", "ms", read),
    )
    report.finish()


if __name__ == "__main__":
    main()
