"""Mean trace scores of the dashboard grouped by a span attribute (model, prompt, route), on
SQLite and PostgreSQL: only scored traces are read for them, and unscored traces, label-only
scores and traces outside the range change nothing (seeded as in test_stats)."""

from __future__ import annotations

from typing import Any

import pytest
from test_stats import HOUR, T0, XSS, seed

from llmops.store import Store
from llmops.tracing import dashboard_stats

# helpful: traces 1 (1.0), 2 (0.0), 3 (0.5) in bucket 0 and 5 (0.25) in bucket 1, on model-a,
# prompt versions 2 (odd traces) and 3, route bot@1; trace 4 (XSS) and 6 have no score;
# trace 7's 9.0 is before the range; trace 1's label "tone" has no value
EXPECTED: dict[str, dict[Any, list[tuple[float, int]]]] = {
    "model": {"model-a": [(0.5, 3), (0.25, 1)]},
    "prompt": {"support@2": [(0.75, 2), (0.25, 1)], "support@3": [(0.0, 1)]},
    "route": {"bot@1": [(0.5, 3), (0.25, 1)]},
}


@pytest.mark.parametrize("by", sorted(EXPECTED))
def test_trace_score_means_per_span_attribute_group(store: Store, by: str) -> None:
    seed(store)
    stats = dashboard_stats(store, since_ns=T0, until_ns=T0 + 2 * HOUR, bucket="1h", by=by)
    means = {
        s["group"]: [(p["mean"], p["n"]) for p in s["points"]]
        for s in stats.trace_scores
        if s["name"] == "helpful"
    }
    assert means == EXPECTED[by]
    assert {s["name"] for s in stats.trace_scores} == {"helpful"}
    # the unscored XSS trace still counts among the traces, only not among the scores
    if by == "model":
        assert XSS in {s["group"] for s in stats.traces}
