"""Prompt registry speed on SQLite: cached and uncached get() by alias, render, history of 1000.

Run: .venv/bin/python benchmarks/prompts.py
Floors measured in the same run: a dict lookup (cached get) and a raw sqlite3 query of the
same row (uncached get). Targets (issue #3): cached <= 20 us, uncached <= 1 ms,
1000 versions list/history <= 50 ms.
"""

from __future__ import annotations

import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from llmops.prompts import (
    PromptClient,
    PromptSpec,
    alias_history,
    list_prompts,
    list_versions,
    register_prompt,
)
from llmops.prompts import _registry as registry
from llmops.store import Store


def _per_op(function: Callable[[], object], n: int, repeats: int = 5) -> tuple[float, float]:
    """Median and spread of seconds per call over ``repeats`` timed loops of ``n`` calls."""
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(n):
            function()
        samples.append((time.perf_counter() - started) / n)
    return statistics.median(samples), max(samples) - min(samples)


def _row(
    name: str, value: float, spread: float, floor: float | None, target: float, unit: str
) -> None:
    scale = {"us": 1e6, "ms": 1e3}[unit]
    ratio = f"{value / floor:>7.1f}x" if floor else f"{'-':>8}"
    floor_text = f"{floor * scale:>10.2f}" if floor else f"{'-':>10}"
    verdict = "ok" if value <= target else "MISSED"
    print(
        f"{name:<34}{value * scale:>10.2f}{spread * scale:>9.2f}{floor_text}{ratio}"
        f"{target * scale:>9.0f} {unit} {verdict}"
    )


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="llmops-bench-"))
    path = folder / "bench.db"
    store = Store(f"sqlite:///{path}")
    store.ensure_schema()
    for i in range(3):
        register_prompt(store, PromptSpec(name="qa", template=f"v{i} {{{{ question }}}}"))
    registry.set_alias(store, "qa", "production", 2, reason="bench")

    cached = PromptClient(store, alias_ttl=3600)
    cached.get("qa@production")
    table = {"qa@production": object()}
    floor_cached, _ = _per_op(lambda: table.get("qa@production"), 200_000)
    cached_get, cached_spread = _per_op(lambda: cached.get("qa@production"), 200_000)

    uncached = PromptClient(store, alias_ttl=0)
    raw = sqlite3.connect(path)
    sql = (
        "select v.* from prompt_versions v join prompts p on p.id = v.prompt_id "
        "join prompt_aliases a on a.prompt_id = v.prompt_id and a.version = v.version "
        "where p.name = ? and a.alias = ?"
    )
    floor_uncached, _ = _per_op(lambda: raw.execute(sql, ("qa", "production")).fetchone(), 5_000)
    uncached_get, uncached_spread = _per_op(lambda: uncached.get("qa@production"), 2_000)

    version = cached.get("qa@production")
    render, render_spread = _per_op(lambda: version.render(question="What is llmops?"), 50_000)

    for i in range(1000):
        register_prompt(store, PromptSpec(name="long", template=f"version {i} {{{{ x }}}}"))
        if i % 10 == 0:
            registry.set_alias(store, "long", "production", i + 1, reason=f"release {i}")
    history, history_spread = _per_op(lambda: list_versions(store, "long"), 20)
    moves, moves_spread = _per_op(lambda: alias_history(store, "long"), 20)
    listing, listing_spread = _per_op(lambda: list_prompts(store), 50)

    header = f"{'figure (SQLite, one process)':<34}{'llmops':>10}{'spread':>9}"
    print(f"{header}{'floor':>10}{'ratio':>8}{'target':>9}")
    _row("get('qa@production') cached", cached_get, cached_spread, floor_cached, 20e-6, "us")
    _row("get('qa@production') uncached", uncached_get, uncached_spread, floor_uncached, 1e-3, "us")
    _row("render() text template", render, render_spread, None, 20e-6, "us")
    _row("history: 1000 versions", history, history_spread, None, 50e-3, "ms")
    _row("alias history: 100 moves", moves, moves_spread, None, 50e-3, "ms")
    _row("list prompts", listing, listing_spread, None, 50e-3, "ms")
    print("floors: cached = dict lookup; uncached = raw sqlite3 query of the same row")
    raw.close()
    store.close()


if __name__ == "__main__":
    main()
