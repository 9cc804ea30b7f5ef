"""Metric logging throughput on SQLite, side by side with MLflow and a raw sqlite3 floor.

Run: .venv/bin/python benchmarks/tracking.py [--metrics N] [--repeats R] [--quick] [--json PATH]
Target (issue #7): >= 20,000 metrics/s batched on SQLite. Every figure counts the values as
written: the clock stops after the last batch is committed (``run.flush()``).

Peer: MLflow (SQLite tracking store) in the peers venv, ``log_metric`` per value (300 values)
and ``log_batch`` of 1000 (up to 10,000 values), median of 3 runs. Floor: raw sqlite3.
"""

from __future__ import annotations

import functools
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

from _bench import Measurement, Report, figure, measure, parser, peer_or_reason, target

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

    single = measure(lambda: log_metric(n, folder), r)
    batch = measure(lambda: log_metrics(n, folder), r)
    one_by_one = measure(lambda: unbatched(min(n, 2000), folder), 3)
    raw = measure(lambda: floor(n, folder), r)
    read = measure(lambda: history_ms(n, folder), 3)
    peer = peer_or_reason("mlflow", "mlflow_tracking.py", str(folder), str(min(n, 10_000)), "3")
    note = peer if isinstance(peer, str) else ""

    def mlflow(key: str) -> Measurement | None:
        return None if isinstance(peer, str) else Measurement.from_dict(peer[key])

    name = "MLflow" if isinstance(peer, str) else f"MLflow {peer['version']}"
    rate = functools.partial(figure, unit="values/s", higher_is_better=True)
    report.add(
        rate(
            "tracking: log_metric, batched",
            measured=single,
            peer=f"{name} log_metric",
            peer_value=mlflow("log_metric"),
            peer_note=note,
            note=target(single.median, 20_000, at_most=False, text=">= 20k/s"),
        ),
        rate(
            "tracking: log_metric, batched",
            measured=single,
            peer="floor: raw sqlite3 executemany",
            peer_value=raw,
        ),
        rate(
            "tracking: log_metrics, 100 keys a step",
            measured=batch,
            peer=f"{name} log_batch",
            peer_value=mlflow("log_batch"),
            peer_note=note,
        ),
        rate(
            "tracking: one transaction per value",
            measured=one_by_one,
            peer=f"{name} log_metric",
            peer_value=mlflow("log_metric"),
            peer_note=note,
            note="llmops with flush() after every value",
        ),
        figure(f"tracking: metric_history of {n} values", "ms", read),
    )
    report.finish()


if __name__ == "__main__":
    main()
