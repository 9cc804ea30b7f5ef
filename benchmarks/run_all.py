"""Run every benchmark script and print one table: figure, llmops, peer or floor, ratio, spread.

Run: .venv/bin/python benchmarks/run_all.py [--quick] [--only tracing,prompts] [--no-peers]
(`make bench` runs it.) Each script runs as its own process with ``--json``; its output goes to
``benchmarks/results/logs/NAME.log``. The table is printed and written, with the machine it ran
on, to ``benchmarks/results/latest.md`` (figures also in ``latest.json``). A script that fails
shows as an ERROR row and the others still run; the exit code is 1 when any script failed
(a skip, such as vllm_serving without vLLM, is not a failure).

``--only`` replaces just those scripts' results in ``latest.json`` and keeps the others, each
with the command, time and machine load it was measured with. ``--readme`` runs nothing: it
writes the table of ``latest.json`` into README.md between its ``benchmarks:begin/end``
markers, so the README shows generated figures, never edited ones.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _bench import HEADER, LEGEND, PEERS_VENV, Figure, cells, parser, text_table

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
# Quick and cheap first, then the local model and the GPU; the judges last: the longest, and
# their figures are agreement with labels, not timings.
ORDER = [
    "startup",
    "prompts",
    "tracing",
    "tracking",
    "scores",
    "evaluate_traces",
    "store_transfer",
    "otlp_ingest",
    "server",
    "server_workers",
    "evals",
    "rag_beir",
    "rag_clapnq",
    "local_model",
    "make_run",
    "vllm_serving",
    "judges",
]


def scripts() -> list[str]:
    found = {p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_")} - {"run_all"}
    return [name for name in ORDER if name in found] + sorted(found - set(ORDER))


def run_one(name: str, quick: bool, timeout: float) -> dict[str, Any]:
    """Run ``name``.py; its JSON result, or an error record."""
    logs = RESULTS / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="llmops-bench-") as tmp:
        out = Path(tmp) / f"{name}.json"
        argv = [sys.executable, str(HERE / f"{name}.py"), "--json", str(out)]
        if quick:
            argv.append("--quick")
        started = time.perf_counter()
        with open(logs / f"{name}.log", "w") as log:
            try:
                done = subprocess.run(
                    argv, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, check=False
                )
                code: int | str = done.returncode
            except subprocess.TimeoutExpired:
                code = f"timed out after {timeout:.0f} s"
        seconds = time.perf_counter() - started
        if code == 0 and out.is_file():
            result: dict[str, Any] = json.loads(out.read_text())
            return result
    tail = [line for line in (logs / f"{name}.log").read_text().splitlines() if line.strip()]
    why = code if isinstance(code, str) else f"exit code {code}"
    last = tail[-1].strip() if tail else "no output"
    return {
        "script": name,
        "status": "error",
        "reason": f"{why}: {last}"[:300],
        "seconds": seconds,
        "figures": [],
        "notes": [],
    }


def rows(results: list[dict[str, Any]]) -> list[list[str]]:
    table: list[list[str]] = []
    for result in results:
        if result["status"] == "ok":
            table.extend(cells(Figure.from_dict(f)) for f in result["figures"])
        else:
            status = "skipped" if result["status"] == "skipped" else "ERROR"
            table.append([result["script"], status, "-", "-", "-", "-", result["reason"]])
    return table


def save(results: list[dict[str, Any]], heading: str, command: str, about: str) -> None:
    """Write ``latest.md`` and ``latest.json``."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.md").write_text(
        "\n".join(
            [
                "# llmops benchmarks",
                "",
                heading,
                f"Machine: {about}. Peers venv: `{PEERS_VENV}`.",
                "",
                report_body(results),
            ]
        )
    )
    (RESULTS / "latest.json").write_text(
        json.dumps({"command": command, "machine": about, "results": results}, indent=1)
    )


def merged(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The earlier results of ``latest.json`` with these scripts' results replacing theirs."""
    path = RESULTS / "latest.json"
    earlier = json.loads(path.read_text())["results"] if path.is_file() else []
    fresh = {r["script"]: r for r in results}
    kept = {r["script"]: r for r in earlier if r["script"] not in fresh}
    combined = kept | fresh
    order = {name: index for index, name in enumerate(scripts())}
    return sorted(combined.values(), key=lambda r: order.get(r["script"], len(order)))


def report_body(results: list[dict[str, Any]]) -> str:
    """The Markdown table, its legend and each script's notes, as README and latest.md show them."""
    notes = [
        f"- {r['script']}: {line}"
        for r in results
        for line in ([r["measured"]] if r.get("measured") else [])
        + ([r["title"]] if r.get("title") else [])
        + r["notes"]
    ]
    return "\n".join([markdown(rows(results)), "", LEGEND, "", "Per script:", *notes, ""])


BEGIN, END = "<!-- benchmarks:begin -->", "<!-- benchmarks:end -->"


def write_readme(data: dict[str, Any]) -> int:
    """Replace README.md's generated block with the table of ``data``."""
    readme = HERE.parent / "README.md"
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        print(f"README.md has no {BEGIN} ... {END} block", file=sys.stderr)
        return 2
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    block = f"{BEGIN}\n<!-- generated by benchmarks/run_all.py --readme -->\n"
    block += f"Machine: {data['machine']}.\n\n{report_body(data['results'])}{END}"
    readme.write_text(head + block + tail)
    print(f"written: {readme}")
    return 0


def markdown(table: list[list[str]]) -> str:
    def line(row: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"

    return "\n".join([line(HEADER), line(["---"] * len(HEADER)), *(line(r) for r in table)])


def machine() -> str:
    model = "unknown CPU"
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                model = text.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; load average at start {load}"
    )


def main() -> int:
    arguments = parser(__doc__)
    arguments.add_argument("--only", default="", help="comma-separated script names")
    arguments.add_argument(
        "--no-peers", action="store_true", help="install no peers (their figures say why)"
    )
    arguments.add_argument(
        "--timeout", type=float, default=3600, help="seconds per script before it is an error"
    )
    arguments.add_argument(
        "--readme",
        action="store_true",
        help="write latest.json's table into README.md, run nothing",
    )
    args = arguments.parse_args()
    if args.readme:
        return write_readme(json.loads((RESULTS / "latest.json").read_text()))
    names = scripts()
    if args.only:
        wanted = [name.strip().removesuffix(".py") for name in args.only.split(",") if name]
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            arguments.error(f"no such benchmark: {', '.join(unknown)} (have {', '.join(names)})")
        names = [name for name in names if name in wanted]
    if args.no_peers:
        os.environ["LLMOPS_BENCH_NO_PEERS"] = "1"
    command = " ".join(["benchmarks/run_all.py", *sys.argv[1:]])
    about = machine()
    started = datetime.datetime.now(datetime.UTC)
    results: list[dict[str, Any]] = []
    for index, name in enumerate(names, start=1):
        print(f"[{index}/{len(names)}] {name} ...", end=" ", flush=True)
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        result = run_one(name, args.quick, args.timeout)
        result["measured"] = (
            f"`{command}` on {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, "
            f"load average {load} at its start"
        )
        results.append(result)
        reason = f": {result['reason']}" if result["reason"] else ""
        print(f"{result['status']} ({result['seconds']:.0f} s){reason}", flush=True)
        # written after every script, so a run stopped halfway keeps what it measured
        heading = (
            f"`{command}` on {started:%Y-%m-%d %H:%M} UTC, "
            f"{sum(r['seconds'] for r in results) / 60:.1f} min"
            + ("." if index == len(names) else f", stopped or running after {index} scripts.")
        )
        if args.only:
            heading += " Other scripts' figures are kept from earlier runs (see Per script)."
        save(merged(results) if args.only else results, heading, command, about)

    print()
    print(text_table(rows(results)))
    print(LEGEND)
    print(f"written: {RESULTS / 'latest.md'}")
    failed = [r["script"] for r in results if r["status"] == "error"]
    if failed:
        print(f"failed: {', '.join(failed)} (logs in {RESULTS / 'logs'})", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
