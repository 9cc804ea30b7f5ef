"""The conformance report: per client and operation, what llmops showed for the fields the
suite does not assert yet (cost, messages where the client puts them elsewhere, attribute
names left unmapped), printed after the session.

A test calls ``conformance_report.record(client, operation, **fields)``; lines go to one file
per pytest session, named in ``LLMOPS_CONFORMANCE_REPORT`` by the controlling process before
xdist starts its workers (as the reliability report does), and the controller prints them.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

__all__ = ["pytest_configure", "pytest_terminal_summary", "record"]

_ENV = "LLMOPS_CONFORMANCE_REPORT"


def pytest_configure(config: pytest.Config) -> None:
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        folder = config.rootpath / ".pytest_cache"
        folder.mkdir(parents=True, exist_ok=True)
        os.environ[_ENV] = str(folder / f"conformance-{uuid.uuid4().hex[:12]}.jsonl")


def record(client: str, operation: str, **fields: Any) -> None:
    """Note what llmops showed for ``client``'s ``operation`` (JSON-able values)."""
    path = os.environ.get(_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as report:
            line = {"client": client, "operation": operation, **fields}
            report.write(json.dumps(line, default=str) + "\n")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    value = os.environ.get(_ENV)
    path = Path(value) if value else None
    if os.environ.get("PYTEST_XDIST_WORKER") or path is None or not path.is_file():
        return
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    path.unlink()
    if not lines:
        return
    terminalreporter.section("conformance: what llmops shows today, not asserted yet")
    for line in sorted(lines, key=lambda item: (item["client"], item["operation"])):
        client, operation = line.pop("client"), line.pop("operation")
        shown = ", ".join(f"{k}={v}" for k, v in line.items())
        terminalreporter.write_line(f"{client:<24} {operation:<10} {shown}")
