"""Prompt registry speed on SQLite: cached and uncached get() by alias, render, history.

Run: .venv/bin/python benchmarks/prompts.py [--versions N] [--quick] [--json PATH]
Peer: the MLflow prompt registry on a SQLite store (``load_prompt`` by alias with its cache
and with ``cache_ttl_seconds=0``, ``format``, ``search_prompt_versions``), run in the peers
venv. Floors measured in the same run: a dict lookup (cached get) and a raw sqlite3 query of
the same row (uncached get). Targets (issue #3): cached <= 20 us, uncached <= 1 ms,
1000 versions list/history <= 50 ms.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from _bench import Measurement, Report, figure, measure, parser, peer_or_reason, per_call, target

from llmops.prompts import (
    PromptClient,
    PromptSpec,
    list_prompts,
    list_versions,
    register_prompt,
)
from llmops.store import Store, alias_history, set_alias


def main() -> None:
    arguments = parser(__doc__)
    arguments.add_argument("--versions", type=int, default=None, help="default 1000 (quick 200)")
    args = arguments.parse_args()
    versions = args.versions or (200 if args.quick else 1000)
    report = Report.start(__file__, args, "prompt registry, SQLite, one process, median of 5")
    folder = Path(tempfile.mkdtemp(prefix="llmops-bench-"))
    path = folder / "bench.db"
    store = Store(f"sqlite:///{path}")
    store.ensure_schema()
    for i in range(3):
        register_prompt(store, PromptSpec(name="qa", template=f"v{i} {{{{ question }}}}"))
    set_alias(store, "prompt", "qa", "staging", 2, reason="bench")

    cached = PromptClient(store, alias_ttl=3600)
    cached.get("qa@staging")
    table = {"qa@staging": object()}
    floor_cached = measure(per_call(lambda: table.get("qa@staging"), 200_000))
    cached_get = measure(per_call(lambda: cached.get("qa@staging"), 200_000))

    uncached = PromptClient(store, alias_ttl=0)
    raw = sqlite3.connect(path)
    sql = (
        "select v.* from prompt_versions v join prompts p on p.id = v.prompt_id "
        "join aliases a on a.kind = 'prompt' and a.name = p.name and a.version = v.version "
        "where p.name = ? and a.alias = ?"
    )
    floor_uncached = measure(
        per_call(lambda: raw.execute(sql, ("qa", "staging")).fetchone(), 5_000)
    )
    uncached_get = measure(per_call(lambda: uncached.get("qa@staging"), 2_000))

    version = cached.get("qa@staging")
    render = measure(per_call(lambda: version.render(question="What is llmops?"), 50_000))

    for i in range(versions):
        register_prompt(store, PromptSpec(name="long", template=f"version {i} {{{{ x }}}}"))
        if i % 10 == 0:
            set_alias(store, "prompt", "long", "staging", i + 1, reason=f"release {i}")
    history = measure(per_call(lambda: list_versions(store, "long"), 20))
    moves = measure(per_call(lambda: alias_history(store, "prompt", "long"), 20))
    listing = measure(per_call(lambda: list_prompts(store), 50))
    raw.close()
    store.close()

    peer = peer_or_reason("mlflow", "mlflow_prompts.py", str(folder), str(versions))
    note = peer if isinstance(peer, str) else ""

    def mlflow(key: str) -> Measurement | None:
        return None if isinstance(peer, str) else Measurement.from_dict(peer[key])

    name = "MLflow" if isinstance(peer, str) else f"MLflow {peer['version']}"
    report.add(
        figure(
            "prompts: get by alias, cached",
            "us",
            cached_get,
            peer=f"{name} load_prompt (cached)",
            peer_value=mlflow("cached"),
            peer_note=note,
            note=target(cached_get.median, 20e-6, at_most=True, text="<= 20 us"),
            scale=1e6,
        ),
        figure(
            "prompts: get by alias, cached",
            "us",
            cached_get,
            peer="floor: dict lookup",
            peer_value=floor_cached,
            scale=1e6,
        ),
        figure(
            "prompts: get by alias, uncached",
            "us",
            uncached_get,
            peer=f"{name} load_prompt (ttl 0)",
            peer_value=mlflow("uncached"),
            peer_note=note,
            note=target(uncached_get.median, 1e-3, at_most=True, text="<= 1 ms"),
            scale=1e6,
        ),
        figure(
            "prompts: get by alias, uncached",
            "us",
            uncached_get,
            peer="floor: raw sqlite3 query",
            peer_value=floor_uncached,
            scale=1e6,
        ),
        figure(
            "prompts: render a text template",
            "us",
            render,
            peer=f"{name} format()",
            peer_value=mlflow("render"),
            peer_note=note,
            note="llmops: sandboxed Jinja; MLflow: {{ }} substitution",
            scale=1e6,
        ),
        figure(
            f"prompts: list {versions} versions",
            "ms",
            history,
            peer=f"{name} search_prompt_versions",
            peer_value=mlflow("history"),
            peer_note=note,
            note=target(history.median, 50e-3, at_most=True, text="<= 50 ms"),
            scale=1e3,
        ),
        figure(
            f"prompts: alias history, {len(range(0, versions, 10))} moves",
            "ms",
            moves,
            note="no peer: MLflow keeps no alias history",
            scale=1e3,
        ),
        figure("prompts: list prompts", "ms", listing, scale=1e3),
    )
    report.finish()


if __name__ == "__main__":
    main()
