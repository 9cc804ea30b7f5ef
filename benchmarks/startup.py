"""Start-up cost: `import llmops` and `llmops --help`, beside the bare interpreter (the floor)
and `import mlflow` in the peers venv (the peer, when it installs).

Run: .venv/bin/python benchmarks/startup.py [--runs N] [--quick] [--json PATH]
Targets (issue #2): import < 0.3 s, --help < 1 s.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

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


def _seconds(argv: list[str]) -> Callable[[], float]:
    def sample() -> float:
        started = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        return time.perf_counter() - started

    return sample


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
    report.finish()


if __name__ == "__main__":
    main()
