"""Online evaluation: scoring throughput of ``evaluate_traces`` (what ``llmops
evaluate-traces`` runs) with deterministic scorers on SQLite, beside a raw sqlite3 floor.

Run: .venv/bin/python benchmarks/evaluate_traces.py [--traces N] [--repeats R] [--quick]
[--json PATH]
Each repeat scores N freshly seeded traces (a copy of one seeded store file, none scored yet)
with one evaluator of exact_match and contains against a reference attribute: pages of root
spans read, sampled, checked for earlier scores (idempotency), scored in-process and written
in batches of 1,000. The clock covers the whole pass, not the seeding.

Floor: raw sqlite3 over a copy of the same file: read the same root spans' attributes, parse
them, compare output and reference, insert the same number of score rows in one transaction;
what reading and storage alone cost, with no filter, idempotency check or scorer objects.
"""

from __future__ import annotations

import functools
import json
import shutil
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

from _bench import Report, figure, measure, parser, target
from sqlalchemy import insert

from llmops.evals import Evaluator, EvaluatorSpec, evaluate_traces
from llmops.store import open_store
from llmops.store.models import SpanRecord, table_of

SPEC = {
    "name": "bench",
    "scorers": ["exact_match", "contains"],
    "expected_attribute": "reference",
}


def seed(n: int, folder: Path) -> Path:
    """A store file with ``n`` one-span traces, started within the last hour."""
    path = folder / "seed.db"
    store = open_store(f"sqlite:///{path}")
    now = time.time_ns()
    rows = []
    for i in range(n):
        start = now - (n - i) * 1_000_000
        rows.append(
            {
                "trace_id": f"{i + 1:032x}",
                "span_id": f"{i + 1:016x}",
                "parent_span_id": None,
                "name": "answer",
                "kind": "chain",
                "start_ns": start,
                "end_ns": start + 2_000_000,
                "status_code": "OK",
                "attributes": {
                    "llmops.input": f"question {i}?",
                    "llmops.output": f"The answer is {i % 7}.",
                    "reference": str(i % 5),
                },
            }
        )
    for chunk in range(0, n, 5000):
        with store.write() as session:
            session.connection().execute(insert(table_of(SpanRecord)), rows[chunk : chunk + 5000])
    store.close()
    return path


def _copy(seeded: Path, folder: Path) -> Path:
    path = folder / f"{uuid.uuid4().hex}.db"
    shutil.copy(seeded, path)
    return path


def evaluate(seeded: Path, folder: Path, n: int) -> float:
    """Traces/s of one ``evaluate_traces`` pass over ``n`` unscored traces."""
    store = open_store(f"sqlite:///{_copy(seeded, folder)}")
    evaluator = Evaluator(EvaluatorSpec.model_validate(SPEC))
    started = time.perf_counter()
    (summary,) = evaluate_traces(store, [evaluator])
    elapsed = time.perf_counter() - started
    assert summary.scored == n and summary.scores_written == 2 * n, summary
    store.close()
    return n / elapsed


def floor(seeded: Path, folder: Path, n: int) -> float:
    """Traces/s: raw sqlite3 read, parse, compare and insert of the same rows."""
    connection = sqlite3.connect(_copy(seeded, folder), isolation_level=None)
    started = time.perf_counter()
    rows = []
    for trace_id, attributes in connection.execute(
        "SELECT trace_id, attributes FROM spans WHERE parent_span_id IS NULL ORDER BY start_ns"
    ):
        values = json.loads(attributes)
        output, reference = values["llmops.output"], values["reference"]
        for name, value in (
            ("exact_match", output == reference),
            ("contains", reference in output),
        ):
            rows.append((uuid.uuid4().hex, trace_id, name, float(value)))
    connection.execute("BEGIN IMMEDIATE")
    connection.executemany(
        "INSERT INTO scores (id, trace_id, name, source, data_type, value, created_at, evaluator) "
        "VALUES (?, ?, ?, 'scorer', 'NUMERIC', ?, '2026-12-06', 'bench@0')",
        rows,
    )
    connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    assert len(rows) == 2 * n
    connection.close()
    return n / elapsed


def main() -> None:
    arguments = parser(__doc__)
    arguments.add_argument("--traces", type=int, default=None, help="default 20000 (quick 5000)")
    arguments.add_argument("--repeats", type=int, default=None, help="default 5 (quick 3)")
    args = arguments.parse_args()
    n = args.traces or (5_000 if args.quick else 20_000)
    r = args.repeats or (3 if args.quick else 5)
    report = Report.start(
        __file__, args, f"evaluate-traces on SQLite, {n} traces x 2 scorers, median of {r}"
    )
    folder = Path(tempfile.mkdtemp(prefix="llmops-bench-"))
    try:
        seeded = seed(n, folder)
        measured = measure(lambda: evaluate(seeded, folder, n), r)
        raw = measure(lambda: floor(seeded, folder, n), r)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    rate = functools.partial(figure, unit="traces/s", higher_is_better=True)
    report.add(
        rate(
            "evaluate-traces: exact_match + contains",
            measured=measured,
            peer="floor: raw sqlite3 read + insert",
            peer_value=raw,
            note=target(measured.median, 2_000, at_most=False, text=">= 2k/s"),
        )
    )
    report.finish()


if __name__ == "__main__":
    main()
