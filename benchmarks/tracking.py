"""Metric logging throughput on SQLite, side by side with MLflow and a raw sqlite3 floor.

Run: .venv/bin/python benchmarks/tracking.py [--metrics N] [--repeats R]
Target (issue #7): >= 20,000 metrics/s batched on SQLite. Every figure counts the values as
written: the clock stops after the last batch is committed (``run.flush()``).

Peer: MLflow 3.17 on this machine (SQLite tracking store), as measured for the issue:
42 metrics/s with ``log_metric`` and 4.2k/s with ``log_batch``. They are re-measured here
only when ``mlflow`` is importable.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from llmops.store import open_store
from llmops.tracking import metric_history, start_run

MLFLOW_LOG_METRIC = 42.0  # metrics/s, issue #7
MLFLOW_LOG_BATCH = 4_200.0


def _median(function: Callable[[], float], repeats: int) -> tuple[float, float]:
    samples = [function() for _ in range(repeats)]
    return statistics.median(samples), max(samples) - min(samples)


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


def mlflow_rates(n: int, folder: Path) -> tuple[float, float] | None:
    """(log_metric/s, log_batch/s) of MLflow on SQLite, when it is installed."""
    try:
        import mlflow
        from mlflow.entities import Metric
        from mlflow.tracking import MlflowClient
    except ImportError:
        return None
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    client = MlflowClient()
    experiment = client.create_experiment(f"bench-{uuid.uuid4().hex[:6]}")
    run_id = client.create_run(experiment).info.run_id
    single = min(n, 500)
    started = time.perf_counter()
    for step in range(single):
        client.log_metric(run_id, "loss", float(step), step=step)
    single_rate = single / (time.perf_counter() - started)
    now = int(time.time() * 1000)
    started = time.perf_counter()
    for first in range(0, n, 1000):
        metrics = [Metric("m", float(s), now, s) for s in range(first, min(n, first + 1000))]
        client.log_batch(run_id, metrics=metrics)
    return single_rate, n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n, r = args.metrics, args.repeats
    folder = Path(tempfile.mkdtemp(prefix="llmops-bench-"))

    single, single_spread = _median(lambda: log_metric(n, folder), r)
    batch, batch_spread = _median(lambda: log_metrics(n, folder), r)
    one_by_one, one_spread = _median(lambda: unbatched(min(n, 2000), folder), 3)
    raw, raw_spread = _median(lambda: floor(n, folder), r)
    read_ms, read_spread = _median(lambda: history_ms(n, folder), 3)
    measured = mlflow_rates(min(n, 10_000), folder)
    peer_single, peer_batch = measured or (MLFLOW_LOG_METRIC, MLFLOW_LOG_BATCH)
    peer = "MLflow, measured now" if measured else "MLflow 3.17, issue #7"

    print(f"tracking metrics on SQLite, {n} values per run, median of {r} runs, ± spread")
    rows = [
        ("log_metric, batched (llmops)", f"{single:,.0f} ± {single_spread:,.0f} /s", ""),
        ("  peer: log_metric", f"{peer_single:,.0f} /s", peer),
        ("  ratio", f"{single / peer_single:,.0f}x", "llmops / peer; target >= 20,000/s"),
        ("log_metrics, 100 keys a step (llmops)", f"{batch:,.0f} ± {batch_spread:,.0f} /s", ""),
        ("  peer: log_batch", f"{peer_batch:,.0f} /s", peer),
        ("  ratio", f"{batch / peer_batch:,.1f}x", "llmops / peer"),
        ("one transaction per value (llmops)", f"{one_by_one:,.0f} ± {one_spread:,.0f} /s", ""),
        ("  ratio", f"{one_by_one / peer_single:,.1f}x", "llmops / peer log_metric"),
        ("raw sqlite3 executemany floor", f"{raw:,.0f} ± {raw_spread:,.0f} /s", ""),
        ("  ratio", f"{single / raw:.2f}x", "llmops log_metric / floor"),
        (f"metric_history of {n} values", f"{read_ms:,.0f} ± {read_spread:,.0f} ms", ""),
    ]
    print(f"{'figure':<40}{'value':>24}  note")
    for name, value, note in rows:
        print(f"{name:<40}{value:>24}  {note}")


if __name__ == "__main__":
    main()
