"""Start-up cost: `import llmops` and `llmops --help`, beside the bare interpreter (the floor)
and `import mlflow` in the peers venv (the peer, when it installs); and the list commands
that touch the store (`prompts list`, `runs list`, `traces list`) on a 200-row store made in
a temp dir, beside `llmops --help` (their floor).

Run: .venv/bin/python benchmarks/startup.py [--runs N] [--quick] [--json PATH]
Each round runs every command once (llmops, the peer and the floors alike), the order reversed
every other round, so load drift hits every side; a row says "not resolved" where the 95% CI
of the paired ratio (same round) includes 1.
Targets (issue #2): import < 0.3 s, --help < 1 s; (issue #19) a store list command <= 0.5 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _bench import (
    Measurement,
    PeerUnavailable,
    Report,
    ci_note,
    figure,
    interleave,
    paired_ci,
    parser,
    peer_python,
    resolved,
    target,
)

ROWS = 200

# 200 prompts, 200 traces and 200 runs (20 eval runs, the rest tracking runs), through the
# public API, in a fresh LLMOPS_HOME
_SEED = """
import sys
import llmops
from llmops.prompts import PromptSpec

store = llmops.open_store()
rows = int(sys.argv[1])
for i in range(rows):
    spec = PromptSpec(name=f"prompt-{i:03d}", template="Hi {{ who }} " + str(i))
    llmops.register_prompt(store, spec)
    with llmops.span(f"request {i}"):
        pass
for i in range(rows // 10):
    rows_ = [{"input": "a", "expected": "a"}]
    llmops.evaluate(rows_, lambda row: row["input"], ["exact_match"], name=f"suite-{i}")
for i in range(rows - rows // 10):
    with llmops.start_run(experiment=f"exp-{i % 7}", name=f"run-{i}") as run:
        run.log_param("i", i)
llmops.flush()
"""


def _seconds(argv: list[str], env: dict[str, str] | None = None) -> Callable[[], float]:
    def sample() -> float:
        started = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, env=env)
        return time.perf_counter() - started

    return sample


def seeded_env(home: Path, rows: int = ROWS) -> dict[str, str]:
    """The environment of a project-less llmops whose store (in ``home``) holds ``rows`` of
    each: prompts, traces, runs."""
    env = {**os.environ, "LLMOPS_HOME": str(home)}
    env.pop("LLMOPS_STORE_URL", None)
    env.pop("LLMOPS_CONFIG", None)
    subprocess.run(
        [sys.executable, "-c", _SEED, str(rows)], check=True, cwd=home, env=env, timeout=600
    )
    return env


def _interleaved(samplers: dict[str, Callable[[], float]], runs: int) -> dict[str, list[float]]:
    """``runs`` samples of each sampler, one each per round, after one warm-up call each."""
    samples: dict[str, list[float]] = {key: [] for key in samplers}
    for sampler in samplers.values():
        sampler()  # warm-up: the file cache, .pyc files

    def step(key: str) -> Callable[[], None]:
        return lambda: samples[key].append(samplers[key]())

    interleave([step(key) for key in samplers], runs)
    return samples


def _against(samples: dict[str, list[float]], ours: str, theirs: str) -> dict[str, Any]:
    """figure()'s peer value, resolved flag and CI note from the paired samples."""
    ci = paired_ci(samples[ours], samples[theirs])
    return {
        "peer_value": Measurement.from_samples(samples[theirs]),
        "resolved": resolved(ci),
        "ci": ci_note(ci),
    }


def main() -> None:
    arguments = parser(__doc__)
    arguments.add_argument("--runs", type=int, default=None, help="runs per figure (default 11)")
    args = arguments.parse_args()
    runs = args.runs or (5 if args.quick else 11)
    report = Report.start(__file__, args, f"start-up, median of {runs} interleaved rounds")
    python = sys.executable
    commands = {
        "startup: llmops --help": [python, "-m", "llmops", "--help"],
        "startup: llmops runs list --help": [python, "-m", "llmops", "runs", "list", "--help"],
    }
    samplers = {
        "floor": _seconds([python, "-c", "pass"]),
        "import": _seconds([python, "-c", "import llmops"]),
        **{name: _seconds(argv) for name, argv in commands.items()},
    }
    peer_note = ""
    try:
        samplers["peer"] = _seconds([str(peer_python("mlflow")), "-c", "import mlflow"])
    except PeerUnavailable as exc:
        peer_note = f"peer unavailable: {exc}"
    samples = _interleaved(samplers, runs)
    import_llmops = Measurement.from_samples(samples["import"])
    goal = target(import_llmops.median, 0.3, at_most=True, text="< 300 ms")
    if "peer" in samples:
        peer = _against(samples, "import", "peer")
        vs_peer = {"peer_value": peer["peer_value"], "resolved": peer["resolved"]}
        goal += f"; {peer['ci']}"
    else:
        vs_peer = {"peer_note": peer_note}
    floor = Measurement.from_samples(samples["floor"])
    report.add(
        figure("startup: python -c pass", "ms", floor, note="the floor for any command", scale=1e3),
        figure(
            "startup: import llmops",
            "ms",
            import_llmops,
            peer="import mlflow",
            note=goal,
            scale=1e3,
            **vs_peer,
        ),
    )
    for name in commands:
        value = Measurement.from_samples(samples[name])
        paired = _against(samples, name, "floor")
        report.add(
            figure(
                name,
                "ms",
                value,
                peer="floor: python -c pass",
                peer_value=paired["peer_value"],
                resolved=paired["resolved"],
                note=target(value.median, 1.0, at_most=True, text="< 1 s") + f"; {paired['ci']}",
                scale=1e3,
            )
        )
    with tempfile.TemporaryDirectory() as folder:
        env = seeded_env(Path(folder))
        os.chdir(folder)  # no project above the temp dir: the store is LLMOPS_HOME's
        lists = {"floor": _seconds([python, "-m", "llmops", "--help"], env)}
        for command in ("prompts list", "runs list", "traces list"):
            lists[command] = _seconds([python, "-m", "llmops", *command.split()], env)
        samples = _interleaved(lists, runs)
        help_floor = Measurement.from_samples(samples["floor"])
        for command in ("prompts list", "runs list", "traces list"):
            value = Measurement.from_samples(samples[command])
            paired = _against(samples, command, "floor")
            report.add(
                figure(
                    f"startup: llmops {command} ({ROWS}-row store)",
                    "ms",
                    value,
                    peer="floor: llmops --help",
                    peer_value=help_floor,
                    resolved=paired["resolved"],
                    note=target(value.median, 0.5, at_most=True, text="<= 0.5 s")
                    + f"; {paired['ci']}",
                    scale=1e3,
                )
            )
    report.finish()


if __name__ == "__main__":
    main()
