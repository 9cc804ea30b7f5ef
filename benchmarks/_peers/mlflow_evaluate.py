"""Peer for evals.py, run by the peers venv: MLflow ``genai.evaluate`` overhead per row.

The same shape as llmops' overhead figure: an instant predict function and a deterministic
exact-match scorer, results and traces in a SQLite tracking store. Prints one JSON line:
seconds per row (median and min-max over runs, after one untimed warm-up run).
Usage: python mlflow_evaluate.py FOLDER ROWS RUNS
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path

from _bench import measure


def main() -> None:
    folder, rows, runs = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    os.environ.setdefault("MLFLOW_GENAI_EVAL_MAX_WORKERS", "16")
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    import mlflow
    from mlflow.genai.scorers import scorer

    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")

    os.chdir(folder)  # MLflow puts artifacts in ./mlruns of the working directory
    mlflow.set_experiment("bench")

    @scorer  # type: ignore[untyped-decorator]
    def exact_match(outputs: str, expectations: dict[str, str]) -> bool:
        return outputs == expectations["expected"]

    def predict(question: str) -> str:
        return "answer " + question.rsplit(" ", 1)[-1]

    def data(n: int) -> list[dict[str, dict[str, str]]]:
        return [
            {"inputs": {"question": f"question {i}"}, "expectations": {"expected": f"answer {i}"}}
            for i in range(n)
        ]

    def once(n: int) -> float:
        started = time.perf_counter()
        result = mlflow.genai.evaluate(data=data(n), predict_fn=predict, scorers=[exact_match])
        elapsed = time.perf_counter() - started
        assert result.metrics.get("exact_match/mean") == 1.0, result.metrics
        return elapsed / n

    once(min(rows, 20))
    print(
        json.dumps(
            {"version": mlflow.__version__, "per_row": measure(lambda: once(rows), runs).as_dict()}
        )
    )


if __name__ == "__main__":
    main()
