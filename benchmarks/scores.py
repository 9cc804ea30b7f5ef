"""Feedback ingest: scores through the REST API (``POST /api/v1/traces/{id}/scores``) and the
SDK (``llmops.feedback``) on SQLite, beside a raw sqlite3 floor.

Run: .venv/bin/python benchmarks/scores.py [--scores N] [--repeats R] [--quick] [--json PATH]
Every figure counts scores as committed: the clock stops after the last request is answered
(201) or the last ``feedback`` call returned. The API runs in uvicorn on 127.0.0.1 in this
process; each request is checked and masked (comments) as in production.

Floor: raw sqlite3 ``executemany`` of the same rows into a table of the same shape, one
transaction: what storage alone costs.
"""

from __future__ import annotations

import functools
import socket
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from _bench import Report, figure, measure, parser, target

from llmops.server import create_app
from llmops.store import Store, open_store
from llmops.tracing import feedback

TRACE = "ab" * 16


@contextmanager
def _serving(store: Store) -> Iterator[str]:
    """The server app over ``store`` in uvicorn on a free port of 127.0.0.1; its base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(store), host="127.0.0.1", port=port, log_level="error", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _body(n: int) -> list[dict[str, object]]:
    return [
        {"name": "helpful", "value": i % 2 == 0, "comment": "solved it", "source": "app"}
        for i in range(n)
    ]


def api_batched(n: int, folder: Path, batch: int = 1000) -> float:
    """Scores/s: lists of ``batch`` scores per request."""
    store = open_store(f"sqlite:///{folder / f'{uuid.uuid4().hex}.db'}")
    body = _body(batch)
    with _serving(store) as url, httpx.Client(base_url=url) as client:
        started = time.perf_counter()
        for _ in range(n // batch):
            answer = client.post(f"/api/v1/traces/{TRACE}/scores", json=body)
            assert answer.status_code == 201, answer.text
        elapsed = time.perf_counter() - started
    store.close()
    return n // batch * batch / elapsed


def api_single(n: int, folder: Path) -> float:
    """Scores/s: one score per request (an app's thumbs-up button)."""
    store = open_store(f"sqlite:///{folder / f'{uuid.uuid4().hex}.db'}")
    [body] = _body(1)
    with _serving(store) as url, httpx.Client(base_url=url) as client:
        started = time.perf_counter()
        for _ in range(n):
            answer = client.post(f"/api/v1/traces/{TRACE}/scores", json=body)
            assert answer.status_code == 201, answer.text
        elapsed = time.perf_counter() - started
    store.close()
    return n / elapsed


def sdk_feedback(n: int, folder: Path) -> float:
    """Scores/s: ``llmops.feedback`` calls, each its own transaction."""
    store = open_store(f"sqlite:///{folder / f'{uuid.uuid4().hex}.db'}")
    started = time.perf_counter()
    for i in range(n):
        feedback(TRACE, "helpful", i % 2 == 0, comment="solved it", store=store)
    elapsed = time.perf_counter() - started
    store.close()
    return n / elapsed


def floor(n: int, folder: Path) -> float:
    """Scores/s: raw sqlite3 executemany of the same rows, one transaction."""
    connection = sqlite3.connect(folder / f"{uuid.uuid4().hex}.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(
        "CREATE TABLE scores (id TEXT PRIMARY KEY, trace_id TEXT, span_id TEXT, name TEXT, "
        "source TEXT, data_type TEXT, value REAL, label TEXT, comment TEXT, author TEXT, "
        "created_at TEXT, evaluator TEXT, run_id TEXT)"
    )
    connection.execute("CREATE INDEX ix_t ON scores (trace_id)")
    connection.execute("CREATE INDEX ix_nv ON scores (name, value)")
    rows = [
        (uuid.uuid4().hex, TRACE, None, "helpful", "app", "BOOLEAN", float(i % 2), None, "ok")
        for i in range(n)
    ]
    started = time.perf_counter()
    connection.execute("BEGIN IMMEDIATE")
    connection.executemany(
        "INSERT INTO scores (id, trace_id, span_id, name, source, data_type, value, label, "
        "comment, author, created_at, evaluator, run_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, '2026-12-06', NULL, NULL)",
        rows,
    )
    connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return n / elapsed


def main() -> None:
    arguments = parser(__doc__)
    arguments.add_argument("--scores", type=int, default=None, help="default 20000 (quick 5000)")
    arguments.add_argument("--repeats", type=int, default=None, help="default 5 (quick 3)")
    args = arguments.parse_args()
    n = args.scores or (5_000 if args.quick else 20_000)
    r = args.repeats or (3 if args.quick else 5)
    report = Report.start(__file__, args, f"feedback ingest on SQLite, {n} scores, median of {r}")
    folder = Path(tempfile.mkdtemp(prefix="llmops-bench-"))
    single_n = min(n, 1000)

    batched = measure(lambda: api_batched(n, folder), r)
    single = measure(lambda: api_single(single_n, folder), r)
    sdk = measure(lambda: sdk_feedback(single_n, folder), r)
    raw = measure(lambda: floor(n, folder), r)
    rate = functools.partial(figure, unit="scores/s", higher_is_better=True)
    report.add(
        rate(
            "scores: API, 1000 a request",
            measured=batched,
            peer="floor: raw sqlite3 executemany",
            peer_value=raw,
            note=target(batched.median, 2_000, at_most=False, text=">= 2k/s"),
        ),
        rate(
            "scores: API, one a request",
            measured=single,
            peer="floor: raw sqlite3 executemany",
            peer_value=raw,
        ),
        rate(
            "scores: llmops.feedback, one transaction each",
            measured=sdk,
            peer="floor: raw sqlite3 executemany",
            peer_value=raw,
        ),
    )
    report.finish()


if __name__ == "__main__":
    main()
