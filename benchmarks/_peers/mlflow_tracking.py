"""Peer for tracking.py, run by the peers venv: MLflow metric logging on a SQLite store.

Prints one JSON line: log_metric (one durable call per value, SINGLE values) and log_batch
(1000 a call, N values) values/s, median and min-max over runs.
Usage: python mlflow_tracking.py FOLDER N RUNS [SINGLE]
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from pathlib import Path

from _bench import measure


def main() -> None:
    folder, n, runs = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")

    os.chdir(folder)  # MLflow puts artifacts in ./mlruns of the working directory
    client = MlflowClient()
    experiment = client.create_experiment(f"bench-{uuid.uuid4().hex[:6]}")
    single_n = int(sys.argv[4]) if len(sys.argv) > 4 else min(n, 300)

    def log_metric() -> float:
        run_id = client.create_run(experiment).info.run_id
        started = time.perf_counter()
        for step in range(single_n):
            client.log_metric(run_id, "loss", float(step), step=step)
        return single_n / (time.perf_counter() - started)

    def log_batch() -> float:
        run_id = client.create_run(experiment).info.run_id
        now = int(time.time() * 1000)
        started = time.perf_counter()
        for first in range(0, n, 1000):
            metrics = [Metric("m", float(s), now, s) for s in range(first, min(n, first + 1000))]
            client.log_batch(run_id, metrics=metrics)
        return n / (time.perf_counter() - started)

    result = {
        "version": mlflow.__version__,
        "log_metric": measure(log_metric, runs).as_dict(),
        "log_batch": measure(log_batch, runs).as_dict(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
