"""`make run`'s wall time: the demo's main job (`llmops eval run evals/llmops_docs.yaml`, 16
cases on the local model with the embedded defaults of configs/llmops.yaml) as a newcomer
meets it, on an idle machine and with every core kept busy by another process.

Each run is a fresh `llmops` process in a scratch copy of configs/, prompts/ and evals/ with an
empty store and ``--no-cache``, so it pays for the import, the model load and all 16 calls, as
the first `make run` does (the venv already built). Idle and loaded runs alternate, so drift in
the machine's own load hits both alike; the load is one busy-looping process per core. Beside
the wall time: the run's generated tokens per second of wall time (what the user waits for),
and the load averages the runs saw.

Run: .venv/bin/python benchmarks/make_run.py [--rounds N] [--quick] [--json PATH]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _bench import Measurement, Report, figure, parser

ROOT = Path(__file__).resolve().parent.parent
SUITE = "evals/llmops_docs.yaml"
_LLMOPS = Path(sys.executable).parent / "llmops"


@contextmanager
def _busy_cores() -> Iterator[int]:
    """One busy-looping process per core for the duration (the loaded condition)."""
    count = os.cpu_count() or 1
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield count
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def _one_run(project: Path) -> tuple[float, int, float]:
    """Wall seconds, generated tokens and the 1-minute load average after one `make run`."""
    shutil.rmtree(project / ".llmops", ignore_errors=True)  # an empty store, as on first use
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMOPS_")}
    started = time.perf_counter()
    done = subprocess.run(
        [str(_LLMOPS), "eval", "run", SUITE, "--no-cache", "--json"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"llmops eval run exited {done.returncode}: {done.stderr[-300:]}")
    run_id = json.loads(done.stdout)["id"]
    shown = subprocess.run(
        [str(_LLMOPS), "runs", "show", run_id, "--json"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    tokens = sum(case["output_tokens"] or 0 for case in json.loads(shown.stdout)["cases"])
    return wall, tokens, os.getloadavg()[0]


def main() -> None:
    arguments = parser(__doc__)
    arguments.add_argument("--rounds", type=int, default=None, help="runs per condition (3)")
    args = arguments.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)
    report = Report.start(__file__, args, f"`make run` wall time, median of {rounds} runs")
    if not _LLMOPS.is_file():
        report.skip(f"no llmops command beside {sys.executable}")
        return
    idle_wall: list[float] = []
    idle_rate: list[float] = []
    busy_wall: list[float] = []
    busy_rate: list[float] = []
    idle_load: list[float] = []
    busy_load: list[float] = []
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="llmops-make-run-") as tmp:
        project = Path(tmp)
        for folder in ("configs", "prompts", "evals"):
            shutil.copytree(ROOT / folder, project / folder)
        try:
            for index in range(rounds):
                # alternate which condition goes first: drift hits both alike
                for loaded in (False, True) if index % 2 == 0 else (True, False):
                    if loaded:
                        with _busy_cores():
                            wall, tokens, load = _one_run(project)
                        busy_wall.append(wall), busy_rate.append(tokens / wall)
                        busy_load.append(load)
                    else:
                        wall, tokens, load = _one_run(project)
                        idle_wall.append(wall), idle_rate.append(tokens / wall)
                        idle_load.append(load)
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            # no local model here (xllamacpp or the GGUF missing): say so, measure nothing
            report.skip(f"the demo did not run: {exc}")
            return
    # "idle": no load added by this script; the machine may be shared, the load average says
    note = (
        f"load average {min(idle_load):.1f}-{max(idle_load):.1f} idle, "
        f"{min(busy_load):.1f}-{max(busy_load):.1f} under load, on {cores} cores"
    )
    busy = f"under load (+{cores} busy processes)"
    report.add(
        figure(
            "make run: wall time (16 cases, local model), idle",
            "s",
            Measurement.from_samples(idle_wall),
            peer=busy,
            peer_value=Measurement.from_samples(busy_wall),
            note=note,
        ),
        figure(
            "make run: generated tokens per wall second, idle",
            "tok/s",
            Measurement.from_samples(idle_rate),
            higher_is_better=True,
            peer=busy,
            peer_value=Measurement.from_samples(busy_rate),
            note=note,
        ),
    )
    report.finish()


if __name__ == "__main__":
    main()
