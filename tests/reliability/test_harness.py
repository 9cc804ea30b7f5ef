"""The reliability report itself: outcomes recorded by a test reach the table."""

from __future__ import annotations

import json

import pytest

from reliability.conftest import ReliabilityLog, _report_path


def test_recorded_outcomes_reach_the_report(
    reliability: ReliabilityLog, request: pytest.FixtureRequest
) -> None:
    reliability.record("harness: record reaches report", runs=3, failures=0, data_lost=0)
    assert reliability.outcomes[0].runs == 3
    assert _report_path(request.config).parent.is_dir()
    json.dumps([o.__dict__ for o in reliability.outcomes])
