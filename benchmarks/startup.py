"""Start-up cost: `import llmops` and `llmops --help`, beside the bare interpreter as the floor.

Run: .venv/bin/python benchmarks/startup.py [--runs N]
Targets (issue #2): import < 0.3 s, --help < 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def _median_seconds(argv: list[str], runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), max(samples) - min(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    python = sys.executable
    floor, floor_spread = _median_seconds([python, "-c", "pass"], args.runs)
    rows = [
        ("import llmops", [python, "-c", "import llmops"], 0.3),
        ("llmops --help", [python, "-m", "llmops", "--help"], 1.0),
        ("llmops runs list --help", [python, "-m", "llmops", "runs", "list", "--help"], 1.0),
    ]
    print(f"{'figure':<26}{'llmops':>10}{'spread':>9}{'floor':>10}{'ratio':>8}{'target':>9}")
    print(f"{'python -c pass (floor)':<26}{floor * 1000:>8.0f}ms{floor_spread * 1000:>7.0f}ms")
    for name, argv, target in rows:
        value, spread = _median_seconds(argv, args.runs)
        verdict = "ok" if value < target else "MISSED"
        print(
            f"{name:<26}{value * 1000:>8.0f}ms{spread * 1000:>7.0f}ms{floor * 1000:>8.0f}ms"
            f"{value / floor:>7.1f}x{target * 1000:>6.0f}ms {verdict}"
        )


if __name__ == "__main__":
    main()
