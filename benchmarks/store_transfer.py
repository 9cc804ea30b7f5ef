"""Store export and import speed and memory on SQLite, beside a raw sqlite3 floor.

Run: .venv/bin/python benchmarks/store_transfer.py [--spans N] [--rounds R] [--quick] [--json PATH]
A SQLite store of N spans (default 200,000, quick 20,000; about 0.6 KB of JSON each) is
exported with ``llmops store export`` and imported into a new SQLite store, each in a process
of its own (its peak RSS is the memory figure). Floors, in the same rounds: raw sqlite3 reading
the spans into JSON lines, and raw sqlite3 ``executemany`` of those lines in one transaction,
both without checks, manifest or hashes. Each round runs llmops and the floor, the order
alternating between rounds; a row says "not resolved" where the 95% CI of the paired ratio
includes 1. Memory: the peak RSS at N spans beside the same at N/4 (a ratio near 1: flat).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
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
    resolved,
)

# one operation in a fresh process: {"seconds", "rss_mb", "rows"}
_CHILD = """
import json, resource, sys, time
op, url, folder = sys.argv[1:4]
if op in ("export", "import"):
    from llmops.store import Store, export_store, import_store
    store = Store(url)
    store.ensure_schema()
    started = time.perf_counter()
    if op == "export":
        report = export_store(store, folder)
    else:
        report = import_store(store, folder)
    seconds = time.perf_counter() - started
    rows = sum(report.tables.values())
    store.close()
else:
    import sqlite3
    from pathlib import Path
    import orjson
    path = url.removeprefix("sqlite:///")
    connection = sqlite3.connect(path, isolation_level=None)
    started = time.perf_counter()
    rows = 0
    if op == "floor-export":
        cursor = connection.execute("SELECT * FROM spans ORDER BY trace_id, span_id")
        names = [d[0] for d in cursor.description]
        with open(Path(folder) / "spans.jsonl", "wb") as out:
            for row in cursor:
                out.write(orjson.dumps(dict(zip(names, row))) + b"\\n")
                rows += 1
    else:
        names = None
        connection.execute("BEGIN")
        batch = []
        with open(Path(folder) / "spans.jsonl", "rb") as lines:
            for line in lines:
                row = orjson.loads(line)
                names = names or list(row)
                batch.append(tuple(row.values()))
                rows += 1
                if len(batch) == 1000:
                    marks = ", ".join("?" for _ in names)
                    sql = f"INSERT INTO spans ({', '.join(names)}) VALUES ({marks})"
                    connection.executemany(sql, batch)
                    batch = []
        if batch:
            marks = ", ".join("?" for _ in names)
            sql = f"INSERT INTO spans ({', '.join(names)}) VALUES ({marks})"
            connection.executemany(sql, batch)
        connection.execute("COMMIT")
    seconds = time.perf_counter() - started
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "rss_mb": rss_mb, "rows": rows}))
"""


def _child(op: str, url: str, folder: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, op, url, str(folder)],
        check=True,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _seed(url: str, spans: int) -> None:
    """``spans`` spans of 5-span traces, with the attributes of a model call."""
    from llmops.store import Store
    from llmops.store.models import SpanRecord, table_of

    store = Store(url)
    store.ensure_schema()
    table = table_of(SpanRecord)
    start = 1_764_000_000 * 10**9
    with store.bulk() as connection:
        for first in range(0, spans, 5000):
            rows = []
            for i in range(first, min(spans, first + 5000)):
                rows.append(
                    {
                        "trace_id": f"{i // 5:032x}",
                        "span_id": f"{i:016x}",
                        "parent_span_id": None if i % 5 == 0 else f"{i - i % 5:016x}",
                        "name": "chat gpt-4o-mini" if i % 5 else "answer",
                        "kind": "llm" if i % 5 else "chain",
                        "start_ns": start + i * 1_000_000,
                        "end_ns": start + i * 1_000_000 + 500_000,
                        "status_code": "OK",
                        "attributes": {
                            "gen_ai.request.model": "gpt-4o-mini",
                            "gen_ai.usage.input_tokens": 120 + i % 50,
                            "gen_ai.usage.output_tokens": 30 + i % 20,
                            "input.value": f"What is the capital of country {i}? ü" * 4,
                            "output.value": f"The capital of country {i} is a city." * 3,
                        },
                        "events": None,
                        "resource": {"service.name": "bench"},
                        "session_id": f"s{i % 97}",
                    }
                )
            connection.execute(table.insert(), rows)
    store.close()


def main() -> None:
    arguments = parser(__doc__)
    arguments.add_argument("--spans", type=int, default=None, help="default 200000 (quick 20000)")
    arguments.add_argument("--rounds", type=int, default=None, help="default 3")
    args = arguments.parse_args()
    n = args.spans or (20_000 if args.quick else 200_000)
    rounds = args.rounds or 3
    report = Report.start(
        __file__, args, f"store export/import, SQLite, {n:,} spans, median of {rounds} rounds"
    )
    root = Path(tempfile.mkdtemp(prefix="llmops-bench-"))
    source = f"sqlite:///{root / 'source.db'}"
    small = f"sqlite:///{root / 'small.db'}"
    _seed(source, n)
    _seed(small, n // 4)
    samples: dict[str, list[dict[str, Any]]] = {}
    counter = [0]

    def fresh(name: str) -> Path:
        counter[0] += 1
        folder = root / f"{name}-{counter[0]}"
        folder.mkdir()
        return folder

    exported = fresh("export")
    _child("export", source, exported)  # warm-up, and the folder every import reads
    floor_lines = fresh("floor")
    _child("floor-export", source, floor_lines)

    def step(key: str, run: Callable[[], dict[str, Any]]) -> Callable[[], None]:
        return lambda: samples.setdefault(key, []).append(run())

    def import_into(folder: Path, op: str) -> dict[str, Any]:
        target = f"sqlite:///{fresh('target') / 'store.db'}"
        if op == "floor-import":  # the floor gets the schema untimed; llmops makes its own
            from llmops.store import Store

            store = Store(target)
            store.ensure_schema()
            store.close()
        return _child(op, target, folder)

    interleave(
        [
            step("export", lambda: _child("export", source, fresh("export"))),
            step("floor-export", lambda: _child("floor-export", source, fresh("floor"))),
        ],
        rounds,
    )
    interleave(
        [
            step("import", lambda: import_into(exported, "import")),
            step("floor-import", lambda: import_into(floor_lines, "floor-import")),
        ],
        rounds,
    )
    small_export = fresh("small-export")
    samples["small-export"] = [_child("export", small, small_export)]
    samples["small-import"] = [import_into(small_export, "import")]
    for key in ("export", "import"):
        assert all(sample["rows"] == n for sample in samples[key]), samples[key]

    def rate(key: str) -> list[float]:
        return [sample["rows"] / sample["seconds"] for sample in samples[key]]

    for what in ("export", "import"):
        ours, floor = rate(what), rate(f"floor-{what}")
        ci = paired_ci(ours, floor)
        report.add(
            figure(
                f"store {what}: spans/s ({n:,} spans)",
                "spans/s",
                Measurement.from_samples(ours),
                higher_is_better=True,
                peer=f"floor: raw sqlite3 {'JSON lines' if what == 'export' else 'executemany'}",
                peer_value=Measurement.from_samples(floor),
                resolved=resolved(ci),
                note="checks, manifest, sha256, every table; " + ci_note(ci),
            )
        )
    for what in ("export", "import"):
        big = Measurement.from_samples([sample["rss_mb"] for sample in samples[what]])
        report.add(
            figure(
                f"store {what}: peak RSS ({n:,} spans)",
                "MB",
                big,
                peer=f"the same at {n // 4:,} spans",
                peer_value=samples[f"small-{what}"][0]["rss_mb"],
                note="a process of its own, llmops imported; near 1x: memory flat in size",
            )
        )
    shutil.rmtree(root, ignore_errors=True)
    report.finish()


if __name__ == "__main__":
    main()
