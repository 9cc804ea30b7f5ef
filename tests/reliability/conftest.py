"""The reliability suite's report: each scenario says how often it ran, failed and lost data.

A test takes the ``reliability`` fixture and calls ``reliability.record(...)`` once per
scenario it checks. ``make reliability`` runs only this folder and prints the table
(scenario, runs, failures, data lost); ``make test`` runs it with everything else.
A test that fails without recording counts as one run, one failure, under its own name.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest


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


def _report_path(config: pytest.Config) -> Path:
    """Outcomes go to one file, appended by every xdist worker, read by the controller."""
    return config.rootpath / ".pytest_cache" / "reliability.jsonl"


def pytest_sessionstart(session: pytest.Session) -> None:
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        path = _report_path(session.config)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")


@pytest.fixture
def reliability(request: pytest.FixtureRequest) -> Iterator[ReliabilityLog]:
    log = ReliabilityLog(request.node.nodeid)
    yield log
    failed = getattr(request.node, "_reliability_failed", False)
    if not log.outcomes:
        log.record(request.node.name, runs=1, failures=int(failed))
    elif failed:
        log.outcomes[-1].failures = max(log.outcomes[-1].failures, 1)
    lines = "".join(json.dumps(asdict(outcome)) + "\n" for outcome in log.outcomes)
    with open(_report_path(request.config), "a", encoding="utf-8") as report:
        report.write(lines)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    if call.when == "call" and report.failed:  # type: ignore[attr-defined]
        item._reliability_failed = True  # type: ignore[attr-defined]
    return report


def _totals(path: Path) -> dict[str, Outcome]:
    totals: dict[str, Outcome] = {}
    if not path.is_file():
        return totals
    for line in path.read_text(encoding="utf-8").splitlines():
        outcome = Outcome(**json.loads(line))
        total = totals.setdefault(outcome.scenario, Outcome(outcome.scenario))
        total.runs += outcome.runs
        total.failures += outcome.failures
        total.data_lost += outcome.data_lost
    return totals


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    report = _totals(_report_path(terminalreporter.config))
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
