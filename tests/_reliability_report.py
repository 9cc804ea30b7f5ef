"""The reliability report: each scenario says how often it ran, failed and lost data.

A test takes the ``reliability`` fixture and calls ``reliability.record(...)`` once per
scenario it checks (then asserts, so a regression fails). ``make reliability`` runs
tests/reliability alone; ``make test`` runs it with everything else; both print the table
(scenario, runs, failures, data lost), and with ``LLMOPS_RELIABILITY_MARKDOWN=FILE`` also
write it as the Markdown table the README shows. A test that fails without recording counts as
one run and one failure under its own name.

The hooks are imported by tests/conftest.py (loaded before any session starts). Outcomes go to
one file per pytest session, named in ``LLMOPS_RELIABILITY_REPORT`` by the controlling process
before xdist starts its workers, so concurrent sessions in one checkout never mix.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

__all__ = [
    "Outcome",
    "ReliabilityLog",
    "pytest_configure",
    "pytest_runtest_makereport",
    "pytest_terminal_summary",
    "reliability",
]

_ENV = "LLMOPS_RELIABILITY_REPORT"
#: Where to also write the table as Markdown (the README's copy), when set.
_MARKDOWN_ENV = "LLMOPS_RELIABILITY_MARKDOWN"


@dataclass
class Outcome:
    scenario: str
    runs: int = 0
    failures: int = 0
    data_lost: int = 0


@dataclass
class ReliabilityLog:
    """What one test recorded."""

    test: str
    outcomes: list[Outcome] = field(default_factory=list)

    def record(self, scenario: str, *, runs: int, failures: int = 0, data_lost: int = 0) -> None:
        """Record a scenario: how many times it ran, how many went wrong, how many rows lost."""
        self.outcomes.append(Outcome(scenario, runs, failures, data_lost))


def _is_worker() -> bool:
    return bool(os.environ.get("PYTEST_XDIST_WORKER"))


def pytest_configure(config: pytest.Config) -> None:
    if not _is_worker():
        folder = config.rootpath / ".pytest_cache"
        folder.mkdir(parents=True, exist_ok=True)
        os.environ[_ENV] = str(folder / f"reliability-{uuid.uuid4().hex[:12]}.jsonl")


def _report_path() -> Path | None:
    value = os.environ.get(_ENV)
    return Path(value) if value else None


@pytest.fixture
def reliability(request: pytest.FixtureRequest) -> Iterator[ReliabilityLog]:
    log = ReliabilityLog(request.node.nodeid)
    yield log
    failed = getattr(request.node, "_reliability_failed", False)
    if not log.outcomes:
        log.record(request.node.name, runs=1, failures=int(failed))
    elif failed:
        log.outcomes[-1].failures = max(log.outcomes[-1].failures, 1)
    path = _report_path()
    if path is not None:
        with open(path, "a", encoding="utf-8") as report:
            report.write("".join(json.dumps(asdict(o)) + "\n" for o in log.outcomes))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    if call.when == "call" and report.failed:  # type: ignore[attr-defined]
        item._reliability_failed = True  # type: ignore[attr-defined]
    return report


def _totals(path: Path) -> dict[str, Outcome]:
    totals: dict[str, Outcome] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        outcome = Outcome(**json.loads(line))
        total = totals.setdefault(outcome.scenario, Outcome(outcome.scenario))
        total.runs += outcome.runs
        total.failures += outcome.failures
        total.data_lost += outcome.data_lost
    return totals


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    path = _report_path()
    if _is_worker() or path is None or not path.is_file():
        return
    report = _totals(path)
    path.unlink()
    if not report:
        return
    width = max(len("scenario"), *(len(name) for name in report))
    terminalreporter.section("reliability")
    terminalreporter.write_line(
        f"{'scenario':<{width}}  {'runs':>6}  {'failures':>8}  {'data lost':>9}"
    )
    for name in sorted(report):
        o = report[name]
        terminalreporter.write_line(
            f"{name:<{width}}  {o.runs:>6}  {o.failures:>8}  {o.data_lost:>9}"
        )
    markdown = os.environ.get(_MARKDOWN_ENV)
    if markdown:  # the README's table is this file, pasted whole, never edited by hand
        rows = [
            f"| {n} | {o.runs} | {o.failures} | {o.data_lost} |" for n, o in sorted(report.items())
        ]
        header = "| scenario | runs | failures | data lost |\n| --- | --- | --- | --- |\n"
        Path(markdown).write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
