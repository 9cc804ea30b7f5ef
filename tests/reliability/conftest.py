"""The reliability suite: crash safety, concurrency, fuzzing, adversarial input, security.

Every test records its scenarios with the ``reliability`` fixture; see tests/_reliability_report.py.
"""

from __future__ import annotations

from _reliability_report import ReliabilityLog

__all__ = ["ReliabilityLog"]
