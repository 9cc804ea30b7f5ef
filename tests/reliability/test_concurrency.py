"""Eight processes writing to one store at once: spans, eval runs and prompt versions.

On SQLite and on PostgreSQL, every worker must finish without an error (no "database is
locked", nothing spilled), and the store must hold exactly the rows written: none lost, none
twice. The same prompt content pushed by every worker makes one version, not eight.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import text

from llmops.prompts import content_hash, list_versions
from llmops.store import Store, open_store
from llmops.tracing import configure_tracing, flush, span
from reliability.conftest import ReliabilityLog

WORKERS = Path(__file__).with_name("_workers.py")
PROCESSES, TRACES, CASES, PUSHES = 8, 200, 40, 6


def _rows(store: Store, sql: str, **params: Any) -> list[Any]:
    with store.engine.connect() as connection:
        return list(connection.execute(text(sql), params).all())


def _run_workers(store_url: str, tmp_path: Path) -> list[dict[str, Any]]:
    env = {**os.environ, "LLMOPS_STORE_URL": store_url, "LLMOPS_HOME": str(tmp_path / "home")}
    go = tmp_path / "go"
    sizes = (TRACES, CASES, PUSHES)
    children = [
        subprocess.Popen(
            [sys.executable, str(WORKERS), "mixed", str(k), str(go), *map(str, sizes)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for k in range(PROCESSES)
    ]
    for child in children:  # every worker has imported and connected: they start together
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready", child.communicate(timeout=60)
    go.write_text("go")
    outputs = [child.communicate(timeout=120) for child in children]
    errors = [
        f"worker {k} exited {child.returncode}: {err[-2000:]}"
        for k, (child, (_, err)) in enumerate(zip(children, outputs, strict=True))
        if child.returncode != 0 or "locked" in err or "Traceback" in err
    ]
    assert not errors, "\n".join(errors)
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]


def test_eight_writers_lose_and_duplicate_nothing(
    store_url: str, tmp_path: Path, reliability: ReliabilityLog
) -> None:
    backend = store_url.split(":", 1)[0].split("+", 1)[0]
    store = open_store(store_url)  # the schema exists, as in a project already in use
    try:
        outcomes = _run_workers(store_url, tmp_path)
    except AssertionError:
        for kind in ("spans", "eval results", "prompt versions"):
            reliability.record(f"8 writers: {kind} ({backend})", runs=PROCESSES, failures=1)
        raise

    # spans: each worker's ready and session spans, each trace's root and 4 children, once
    spans_per_worker = 2 + TRACES * 5
    counts = {
        k: n
        for k, n in _rows(
            store,
            "SELECT substr(name, 1, strpos(name || '.', '.') - 1), count(*) FROM spans "
            "WHERE name LIKE 'w%.%' GROUP BY 1"
            if store.dialect == "postgresql"
            else "SELECT substr(name, 1, instr(name || '.', '.') - 1), count(*) FROM spans "
            "WHERE name LIKE 'w%.%' GROUP BY 1",
        )
    }
    distinct = _rows(store, "SELECT count(DISTINCT name) FROM spans WHERE name LIKE 'w%.%'")[0][0]
    expected_spans = PROCESSES * spans_per_worker
    found_spans = sum(counts.values())
    spilled = sum(o["tracing"]["spilled"] + o["tracing"]["dropped"] for o in outcomes)
    span_failures = (
        sum(counts.get(f"w{k}", 0) != spans_per_worker for k in range(PROCESSES))
        + int(distinct != found_spans)
        + int(spilled > 0)
    )
    reliability.record(
        f"8 writers: spans ({backend})",
        runs=PROCESSES,
        failures=span_failures,
        data_lost=max(0, expected_spans - distinct),
    )

    # eval runs: one completed run per worker, each case once, each case's two scores once
    runs = _rows(
        store,
        "SELECT r.id, r.status, r.n_cases, "
        "(SELECT count(*) FROM eval_cases c WHERE c.run_id = r.id), "
        "(SELECT count(DISTINCT c.case_index) FROM eval_cases c WHERE c.run_id = r.id), "
        "(SELECT count(*) FROM eval_scores s WHERE s.run_id = r.id) "
        "FROM eval_runs r WHERE r.suite LIKE 'conc-w%'",
    )
    reported = {o["eval"]["id"] for o in outcomes}
    good = [
        r
        for r in runs
        if r[0] in reported and tuple(r[1:]) == ("completed", CASES, CASES, CASES, 2 * CASES)
    ]
    stored_cases = sum(min(r[4], CASES) for r in runs if r[0] in reported)
    reliability.record(
        f"8 writers: eval results ({backend})",
        runs=PROCESSES,
        failures=PROCESSES - len(good) + max(0, len(runs) - PROCESSES),
        data_lost=PROCESSES * CASES - stored_cases,
    )

    # prompts: the shared contents make PUSHES versions in all; each worker's own, 1..PUSHES
    by_prompt = {
        name: [(v.version, v.content_hash, v.template) for v in list_versions(store, name)]
        for (name,) in _rows(store, "SELECT name FROM prompts")
    }
    shared = by_prompt.get("shared", [])
    prompt_failures = int(sorted(n for n, _, _ in shared) != list(range(1, PUSHES + 1)))
    prompt_failures += int(len({d for _, d, _ in shared}) != len(shared))
    for k, outcome in enumerate(outcomes):
        own = by_prompt.get(f"own-{k}", [])
        prompt_failures += int(sorted(n for n, _, _ in own) != list(range(1, PUSHES + 1)))
        for key, number in outcome["versions"].items():  # what each worker was told is stored
            name, template = key.split(":", 1)
            stored = {n: (d, t) for n, d, t in by_prompt.get(name, [])}
            expected = (content_hash("text", template, {}), template)
            prompt_failures += int(stored.get(number) != expected)
    found_versions = len(shared) + sum(len(by_prompt.get(f"own-{k}", [])) for k in range(PROCESSES))
    reliability.record(
        f"8 writers: prompt versions ({backend})",
        runs=PROCESSES,
        failures=prompt_failures,
        data_lost=max(0, PUSHES * (PROCESSES + 1) - found_versions),
    )

    assert span_failures == 0, (counts, distinct, outcomes)
    assert (len(good), len(runs)) == (PROCESSES, PROCESSES), runs
    assert prompt_failures == 0, by_prompt
    assert not list((tmp_path / "home").glob("**/spans-*")), "spans were spilled"


def test_spans_open_while_another_thread_reconfigures_tracing_are_kept(
    tmp_path: Path, reliability: ReliabilityLog
) -> None:
    """An eval run replaces the process's span pipeline (``configure_tracing``); spans that
    were open in other threads at that moment end on the old pipeline and must still land."""
    store = open_store(f"sqlite:///{tmp_path / 'swap.db'}")
    configure_tracing(store)
    opened, swapped = threading.Barrier(5), threading.Event()

    def request(k: int) -> None:
        with span(f"request {k}"):
            opened.wait(10)
            swapped.wait(10)

    threads = [threading.Thread(target=request, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    opened.wait(10)
    configure_tracing(store)  # what run_suite and evaluate do
    swapped.set()
    for thread in threads:
        thread.join(10)
    flush()
    stored = _rows(store, "SELECT count(*) FROM spans WHERE name LIKE 'request %'")[0][0]
    reliability.record(
        "span open across a tracing reconfiguration (sqlite)", runs=4, data_lost=4 - stored
    )
    assert stored == 4
