"""Prompt registry speed on SQLite: cached and uncached get() by alias, render, history.

Run: .venv/bin/python benchmarks/prompts.py [--versions N] [--rounds R] [--quick] [--json PATH]
Peer: the MLflow prompt registry on a SQLite store (``load_prompt`` by alias with its cache
and with ``cache_ttl_seconds=0``, ``format``, ``search_prompt_versions``), run in the peers
venv. Floors: a dict lookup (cached get) and a raw sqlite3 query of the same row (uncached get).
Each round takes one sample of every llmops figure and floor, and runs the peer once (a fresh
MLflow store, one sample of each of its figures), the order alternating between rounds so load
drift hits both sides; a row says "not resolved" where the 95% CI of the paired ratio includes
1. Targets (issue #3): cached <= 20 us, uncached <= 1 ms, 1000 versions list/history <= 50 ms.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _bench import (
    Measurement,
    Report,
    ci_note,
    figure,
    interleave,
    paired_ci,
    parser,
    peer_or_reason,
    per_call,
    resolved,
    target,
)

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
    arguments.add_argument("--rounds", type=int, default=None, help="default 5 (quick 3)")
    args = arguments.parse_args()
    versions = args.versions or (200 if args.quick else 1000)
    rounds = args.rounds or (3 if args.quick else 5)
    report = Report.start(
        __file__, args, f"prompt registry, SQLite, one process, median of {rounds} rounds"
    )
    folder = Path(tempfile.mkdtemp(prefix="llmops-bench-"))
    path = folder / "bench.db"
    store = Store(f"sqlite:///{path}")
    store.ensure_schema()
    for i in range(3):
        register_prompt(store, PromptSpec(name="qa", template=f"v{i} {{{{ question }}}}"))
    set_alias(store, "prompt", "qa", "staging", 2, reason="bench")
    for i in range(versions):
        register_prompt(store, PromptSpec(name="long", template=f"version {i} {{{{ x }}}}"))
        if i % 10 == 0:
            set_alias(store, "prompt", "long", "staging", i + 1, reason=f"release {i}")

    cached = PromptClient(store, alias_ttl=3600)
    cached.get("qa@staging")
    table = {"qa@staging": object()}
    uncached = PromptClient(store, alias_ttl=0)
    raw = sqlite3.connect(path)
    sql = (
        "select v.* from prompt_versions v join prompts p on p.id = v.prompt_id "
        "join aliases a on a.kind = 'prompt' and a.name = p.name and a.version = v.version "
        "where p.name = ? and a.alias = ?"
    )
    version = cached.get("qa@staging")
    samplers: dict[str, Callable[[], float]] = {
        "floor_cached": per_call(lambda: table.get("qa@staging"), 200_000),
        "cached": per_call(lambda: cached.get("qa@staging"), 200_000),
        "floor_uncached": per_call(lambda: raw.execute(sql, ("qa", "staging")).fetchone(), 5_000),
        "uncached": per_call(lambda: uncached.get("qa@staging"), 2_000),
        "render": per_call(lambda: version.render(question="What is llmops?"), 50_000),
        "history": per_call(lambda: list_versions(store, "long"), 20),
        "moves": per_call(lambda: alias_history(store, "prompt", "long"), 20),
        "listing": per_call(lambda: list_prompts(store), 50),
    }
    samples: dict[str, list[float]] = {key: [] for key in samplers}
    peer_keys = ("cached", "uncached", "render", "history")
    peer_samples: dict[str, list[float]] = {key: [] for key in peer_keys}
    why: list[str] = []
    peer_versions: list[str] = []

    def ours() -> None:
        for key, sampler in samplers.items():
            samples[key].append(sampler())

    def theirs() -> None:
        if why:
            return
        # a fresh MLflow store each round: its setup registers the same versions as ours
        round_folder = tempfile.mkdtemp(prefix="mlflow-", dir=folder)
        peer = peer_or_reason("mlflow", "mlflow_prompts.py", round_folder, str(versions), "1")
        if isinstance(peer, str):
            why.append(peer)
            return
        peer_versions.append(str(peer["version"]))
        for key in peer_keys:
            peer_samples[key].append(peer[key]["median"])

    for sampler in samplers.values():
        sampler()  # warm-up: imports, caches, the first queries
    interleave([ours, theirs], rounds)
    raw.close()
    store.close()
    shutil.rmtree(folder, ignore_errors=True)  # our store and each round's MLflow store
    got = {key: Measurement.from_samples(values) for key, values in samples.items()}
    cached_get, uncached_get, render = got["cached"], got["uncached"], got["render"]
    history, moves, listing = got["history"], got["moves"], got["listing"]
    note = why[0] if why else ""
    name = f"MLflow {peer_versions[0]}" if peer_versions else "MLflow"

    def against(ours_key: str, theirs_samples: list[float], *notes: str) -> dict[str, Any]:
        """figure()'s peer arguments from paired samples: the value and whether it resolves."""
        if not theirs_samples:
            return {"peer_note": note, "note": "; ".join(notes)}
        ci = paired_ci(samples[ours_key], theirs_samples)
        return {
            "peer_value": Measurement.from_samples(theirs_samples),
            "resolved": resolved(ci),
            "note": "; ".join([*notes, ci_note(ci)]),
        }

    def mlflow(key: str, *notes: str) -> dict[str, Any]:
        return against(key, peer_samples[key], *notes)

    def floor(key: str, floor_key: str) -> dict[str, Any]:
        return against(key, samples[floor_key])

    report.add(
        figure(
            "prompts: get by alias, cached",
            "us",
            cached_get,
            peer=f"{name} load_prompt (cached)",
            **mlflow("cached", target(cached_get.median, 20e-6, at_most=True, text="<= 20 us")),
            scale=1e6,
        ),
        figure(
            "prompts: get by alias, cached",
            "us",
            cached_get,
            peer="floor: dict lookup",
            **floor("cached", "floor_cached"),
            scale=1e6,
        ),
        figure(
            "prompts: get by alias, uncached",
            "us",
            uncached_get,
            peer=f"{name} load_prompt (ttl 0)",
            **mlflow("uncached", target(uncached_get.median, 1e-3, at_most=True, text="<= 1 ms")),
            scale=1e6,
        ),
        figure(
            "prompts: get by alias, uncached",
            "us",
            uncached_get,
            peer="floor: raw sqlite3 query",
            **floor("uncached", "floor_uncached"),
            scale=1e6,
        ),
        figure(
            "prompts: render a text template",
            "us",
            render,
            peer=f"{name} format()",
            **mlflow("render", "llmops: sandboxed Jinja; MLflow: {{ }} substitution"),
            scale=1e6,
        ),
        figure(
            f"prompts: list {versions} versions",
            "ms",
            history,
            peer=f"{name} search_prompt_versions",
            **mlflow("history", target(history.median, 50e-3, at_most=True, text="<= 50 ms")),
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
