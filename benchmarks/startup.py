"""Start-up cost: `import llmops` and `llmops --help`, beside the bare interpreter (the floor)
and `import mlflow` in the peers venv (the peer, when it installs); and the list commands
that touch the store (`prompts list`, `runs list`, `traces list`) on a 200-row store made in
a temp dir, beside `llmops --help` (their floor).

Run: .venv/bin/python benchmarks/startup.py [--runs N] [--quick] [--json PATH]
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

from _bench import (
    Measurement,
    PeerUnavailable,
    Report,
    figure,
    measure,
    parser,
    peer_python,
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


def main() -> None:
    arguments = parser(__doc__)
    arguments.add_argument("--runs", type=int, default=None, help="runs per figure (default 11)")
    args = arguments.parse_args()
    runs = args.runs or (5 if args.quick else 11)
    report = Report.start(__file__, args, f"start-up, median of {runs} runs")
    python = sys.executable
    floor = measure(_seconds([python, "-c", "pass"]), runs, warmup=1)
    peer: Measurement | None = None
    peer_note = ""
    try:
        peer = measure(_seconds([str(peer_python("mlflow")), "-c", "import mlflow"]), runs, 1)
    except PeerUnavailable as exc:
        peer_note = f"peer unavailable: {exc}"
    import_llmops = measure(_seconds([python, "-c", "import llmops"]), runs, warmup=1)
    report.add(
        figure("startup: python -c pass", "ms", floor, note="the floor for any command", scale=1e3),
        figure(
            "startup: import llmops",
            "ms",
            import_llmops,
            peer="import mlflow",
            peer_value=peer,
            peer_note=peer_note,
            note=target(import_llmops.median, 0.3, at_most=True, text="< 300 ms"),
            scale=1e3,
        ),
    )
    for name, argv in (
        ("startup: llmops --help", [python, "-m", "llmops", "--help"]),
        ("startup: llmops runs list --help", [python, "-m", "llmops", "runs", "list", "--help"]),
    ):
        value = measure(_seconds(argv), runs, warmup=1)
        report.add(
            figure(
                name,
                "ms",
                value,
                peer="floor: python -c pass",
                peer_value=floor,
                note=target(value.median, 1.0, at_most=True, text="< 1 s"),
                scale=1e3,
            )
        )
    with tempfile.TemporaryDirectory() as folder:
        env = seeded_env(Path(folder))
        os.chdir(folder)  # no project above the temp dir: the store is LLMOPS_HOME's
        help_floor = measure(_seconds([python, "-m", "llmops", "--help"], env), runs, warmup=1)
        for command in ("prompts list", "runs list", "traces list"):
            argv = [python, "-m", "llmops", *command.split()]
            value = measure(_seconds(argv, env), runs, warmup=1)
            report.add(
                figure(
                    f"startup: llmops {command} ({ROWS}-row store)",
                    "ms",
                    value,
                    peer="floor: llmops --help",
                    peer_value=help_floor,
                    note=target(value.median, 0.5, at_most=True, text="<= 0.5 s"),
                    scale=1e3,
                )
            )
    report.finish()


if __name__ == "__main__":
    main()
