"""OTLP/HTTP ingest through ``llmops server --workers 3`` against ``--workers 1``, on SQLite.

Run: .venv/bin/python benchmarks/server_workers.py [--quick] [--rounds N] [--json PATH]

Both servers run at once on their own temporary SQLite stores; each round sends the same
protobuf requests (512 spans each) from 6 client threads, one connection each, to one server
and then the other (order alternating per round), and times them until the last request is
answered (a 200 means the spans are committed). The figure is spans/s with 3 workers, the floor
the same with 1: it tells whether several processes on one SQLite file (WAL, writers waiting on
its one write lock) help, cost or break; every span is counted at the end.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from _bench import Measurement, Report, ci_note, figure, paired_ci, parser, resolved
from otlp_ingest import _free_port, _request, _wait_healthy

SPANS = 512
CLIENTS = 6


def _send(url: str, bodies: list[bytes]) -> float:
    """Spans/s of ``bodies`` sent from :data:`CLIENTS` threads."""
    headers = {"Content-Type": "application/x-protobuf"}
    failures: list[str] = []

    def client(part: int) -> None:
        with httpx.Client(timeout=120) as http:
            for body in bodies[part::CLIENTS]:
                answer = http.post(f"{url}/v1/traces", content=body, headers=headers)
                if answer.status_code != 200:
                    failures.append(f"{answer.status_code} {answer.text[:200]}")

    threads = [threading.Thread(target=client, args=(part,)) for part in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return len(bodies) * SPANS / (time.perf_counter() - started)


def main() -> None:
    arguments = parser(__doc__)
    arguments.add_argument("--rounds", type=int, default=None, help="rounds (default 6)")
    args = arguments.parse_args()
    rounds = args.rounds or (2 if args.quick else 6)
    requests = 24 if args.quick else 60
    report = Report.start(__file__, args, "several server processes on one SQLite store")
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="llmops-workers-")))
        servers: dict[int, tuple[str, Path]] = {}
        for workers in (1, 3):
            port = _free_port()
            db = folder / f"w{workers}.db"
            env = {**os.environ, "LLMOPS_STORE_URL": f"sqlite:///{db}"}
            argv = [sys.executable, "-m", "llmops", "server", "--port", str(port)]
            argv += ["--otlp-grpc-port", "0", "--otlp-http-port", "0", "--workers", str(workers)]
            process = subprocess.Popen(
                argv, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            stack.callback(process.wait, 60)
            stack.callback(process.terminate)
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(f"{url}/health", process, 120)
            servers[workers] = (url, db)
        samples: dict[int, list[float]] = {1: [], 3: []}
        for index in range(rounds):
            order = (1, 3) if index % 2 == 0 else (3, 1)
            for workers in order:
                bodies = [
                    _request(SPANS, 10_000 * workers + 100 * index + i) for i in range(requests)
                ]
                samples[workers].append(_send(servers[workers][0], bodies))
        for workers, (_, db) in servers.items():
            with contextlib.closing(sqlite3.connect(db, timeout=30)) as connection:
                stored = connection.execute("SELECT count(*) FROM spans").fetchone()[0]
            if stored != rounds * requests * SPANS:
                raise RuntimeError(f"--workers {workers}: {stored} spans stored")
    ci = paired_ci(samples[3], samples[1])
    report.add(
        figure(
            f"server: OTLP/HTTP ingest, --workers 3, SQLite ({CLIENTS} clients)",
            "spans/s",
            Measurement.from_samples(samples[3]),
            higher_is_better=True,
            peer="--workers 1",
            peer_value=Measurement.from_samples(samples[1]),
            note=ci_note(ci),
            resolved=resolved(ci),
        )
    )
    report.note(
        f"server_workers: {rounds} interleaved rounds of {requests} requests x {SPANS} spans"
    )
    report.finish()


if __name__ == "__main__":
    main()
