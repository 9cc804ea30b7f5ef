"""The reliability report itself: outcomes recorded by a test reach this session's file."""

from __future__ import annotations

import json
import os
from pathlib import Path

from reliability.conftest import ReliabilityLog


def test_recorded_outcomes_reach_the_report(reliability: ReliabilityLog) -> None:
    reliability.record("harness: record reaches report", runs=3, failures=0, data_lost=0)
    assert reliability.outcomes[0].runs == 3
    path = Path(os.environ["LLMOPS_RELIABILITY_REPORT"])
    assert path.parent.is_dir() and path.name.startswith("reliability-")
    assert json.loads(json.dumps([o.__dict__ for o in reliability.outcomes]))[0]["runs"] == 3
