"""Worker processes for the reliability tests: ``python _workers.py NAME ARGS...``.

Each worker does real work through llmops' public paths and prints a line per unit of work
made durable, so a test can SIGKILL it at a chosen point and then check the store. The store
is ``LLMOPS_STORE_URL`` (set by the test); the working directory is the test's project.
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any


def _say(line: str) -> None:
    print(line, flush=True)


def spans(prefix: str, flush_every: int) -> None:
    """Spans ``{prefix}0, {prefix}1, ...`` forever; ``flushed N`` once the first N are stored."""
    from llmops.tracing import flush, span

    i = 0
    while True:
        for _ in range(flush_every):
            with span(f"{prefix}{i}", kind="chain") as current:
                current.set("i", i)
            i += 1
        flush()
        _say(f"flushed {i}")


def prompts(start: int) -> None:
    """Versions of prompt ``crash`` from ``start`` on, each then aliased ``staging``."""
    from llmops.prompts import PromptSpec, register_prompt
    from llmops.store import open_store, set_alias

    store = open_store(os.environ["LLMOPS_STORE_URL"])
    i = start
    while True:
        spec = PromptSpec(
            name="crash",
            template=f"push {i}: {{{{ x }}}} " + "padding " * 200,
            model_params={"temperature": i % 3 / 10},
        )
        version = register_prompt(store, spec, message=f"push {i}")
        set_alias(
            store, "prompt", "crash", "staging", version.version, reason=f"push {i}", actor="crash"
        )
        _say(f"pushed {version.version}")
        i += 1


def rag(pipeline: str, check: int) -> None:
    """Query every ready version of ``pipeline`` (when ``check``), then build a new one."""
    from llmops.config import load_config
    from llmops.rag._index import build_index, chroma_client, list_indexes
    from llmops.rag._retrieve import Retriever
    from llmops.rag._spec import load_pipeline
    from llmops.store import open_store

    config = load_config()
    store = open_store(config.resolved_store_url)
    if check:
        client = chroma_client(config.data_dir)
        for info in list_indexes(store, pipeline):
            if info.status != "ready":
                continue
            stored = client.get_collection(info.collection, embedding_function=None).count()
            retriever = Retriever(info, config.data_dir)
            hits = {
                mode: len(retriever.retrieve("how are refunds paid", mode=mode, k=3))
                for mode in ("dense", "bm25", "hybrid")
            }
            _say(f"checked {json.dumps({'version': info.version, 'vectors': stored, **hits})}")
    _say("building")

    def progress(stage: str, done: int, total: int) -> None:
        _say(f"progress {stage} {done} {total}")

    info, _ = build_index(
        store, load_pipeline(pipeline, Path("configs")), config.data_dir, on_progress=progress
    )
    _say(f"built {info.version}")


def _await(go: Path) -> None:
    while not go.exists():
        time.sleep(0.005)


def mixed(worker: int, go: str, traces: int, cases: int, pushes: int) -> None:
    """One of N concurrent writers: spans, an eval run and prompt versions, all at once.

    Spans: ``w{worker}.ready``, ``w{worker}.session`` (open throughout) and ``traces``
    traces ``w{worker}.t{t}`` of a root and 4 children. Eval: one run ``conc-w{worker}`` of
    ``cases`` cases in a thread (it swaps the tracing pipeline while the session span is
    open). Prompts: the ``shared`` prompt's versions (the same contents in every worker, the
    first at once, the others in another order) and ``pushes`` versions of ``own-{worker}``.
    """
    from llmops.evals import evaluate
    from llmops.prompts import PromptSpec, register_prompt
    from llmops.store import open_store
    from llmops.tracing import flush, span, stats

    store = open_store(os.environ["LLMOPS_STORE_URL"])
    shared = [f"shared {i}: {{{{ x }}}}" for i in range(1, pushes)]
    # another order in each worker, the same on a replay (the test session's seed)
    seed = os.environ.get("LLMOPS_TEST_SEED") or os.environ.get("_LLMOPS_CHOSEN_TEST_SEED", "")
    random.Random(f"{seed}:{worker}").shuffle(shared)
    shared.insert(0, "shared 0: {{ x }}")  # every worker pushes this one first, at once
    outcome: dict[str, Any] = {}

    def answer(row: dict[str, Any]) -> str:
        time.sleep(0.002)
        return str(row["expected"])

    def run_eval() -> None:
        rows = [{"input": f"w{worker} case {i}", "expected": f"a{i}"} for i in range(cases)]
        run = evaluate(
            rows,
            answer,
            ["exact_match", "contains"],
            name=f"conc-w{worker}",
            concurrency=4,
            store=store,
        )
        outcome["eval"] = {"id": run.id, "status": run.status, "cases": len(run.results)}

    def push(n: int) -> None:
        for name, template in (("shared", shared[n]), (f"own-{worker}", f"v{n} {{{{ x }}}}")):
            version = register_prompt(store, PromptSpec(name=name, template=template))
            versions[f"{name}:{template}"] = version.version

    with span(f"w{worker}.ready"):  # the tracing pipeline exists before the eval replaces it
        pass
    _say("ready")
    _await(Path(go))
    evaluator = threading.Thread(target=run_eval)
    evaluator.start()
    versions: dict[str, int] = {}
    every, pushed = max(1, traces // pushes), 0
    with span(f"w{worker}.session", kind="chain"):
        for t in range(traces):
            with span(f"w{worker}.t{t}", kind="agent", parent="") as root:
                for c in range(4):
                    with span(f"w{worker}.t{t}.c{c}", kind="tool", parent=root) as child:
                        child.set("worker", worker)
            if t % every == 0 and pushed < pushes:
                push(pushed)
                pushed += 1
        for n in range(pushed, pushes):
            push(n)
        evaluator.join()
    flush()
    counters = stats()
    outcome["versions"] = versions
    outcome["tracing"] = {
        "failed_writes": counters.failed_writes,
        "spilled": counters.spilled,
        "dropped": counters.dropped,
        "last_error": counters.last_error,
    }
    _say(json.dumps(outcome))


_WORKERS = {"spans": spans, "prompts": prompts, "rag": rag, "mixed": mixed}

if __name__ == "__main__":
    name, *args = sys.argv[1:]
    _WORKERS[name](*(int(a) if a.lstrip("-").isdigit() else a for a in args))  # type: ignore[operator]
