"""Peer for prompts.py, run by the peers venv: the MLflow prompt registry on a SQLite store.

Prints one JSON line: seconds per load_prompt by alias (cached and uncached), per format(),
and to list the versions of a prompt with ``versions`` versions; each the median of RUNS
samples (default 5; prompts.py asks for 1 a round, interleaved with its own).
Usage: python mlflow_prompts.py FOLDER VERSIONS [RUNS]
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from _bench import measure, per_call


def main() -> None:
    folder, versions = Path(sys.argv[1]), int(sys.argv[2])
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")

    os.chdir(folder)  # MLflow puts artifacts in ./mlruns of the working directory
    for i in range(3):
        mlflow.genai.register_prompt("qa", f"v{i} {{{{ question }}}}")
    mlflow.genai.set_prompt_alias("qa", "staging", 2)
    uri = "prompts:/qa@staging"
    mlflow.genai.load_prompt(uri)

    def cached() -> object:
        return mlflow.genai.load_prompt(uri, link_to_model=False)

    def uncached() -> object:
        return mlflow.genai.load_prompt(uri, link_to_model=False, cache_ttl_seconds=0)

    version = mlflow.genai.load_prompt(uri)
    for i in range(versions):
        mlflow.genai.register_prompt("long", f"version {i} {{{{ x }}}}")
    client = MlflowClient()

    def history() -> list[Any]:
        found: list[Any] = []
        token = None
        while True:
            page = client.search_prompt_versions("long", max_results=1000, page_token=token)
            found.extend(page)
            token = page.token
            if not token:
                return found

    assert len(history()) == versions
    result = {
        "version": mlflow.__version__,
        "cached": measure(per_call(cached, 2000), runs).as_dict(),
        "uncached": measure(per_call(uncached, 200), runs).as_dict(),
        "render": measure(
            per_call(lambda: version.format(question="What?"), 20000), runs
        ).as_dict(),
        "history": measure(per_call(history, 5), runs).as_dict(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
