"""Several llmops server processes on one PostgreSQL database: ``llmops server --workers 2`` and
a separately started ``llmops server`` take OTLP (HTTP protobuf, HTTP JSON, gRPC) from threads at
once; mid-way one worker and the other server are killed (SIGKILL) and the senders retry what
failed against another replica, as a collector does. Every span is then stored exactly once,
every trace whole, and the trace list pages through alternating replicas without a gap or a
repeat; the online evaluators that every process runs scored each trace once. The supervisor
restarted its worker and stops on SIGTERM with its workers."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from _live_server import free_port
from _postgres import PostgresCluster
from _server_procs import (
    TRACES,
    Server,
    SpanData,
    otlp_json,
    otlp_protobuf,
    seeded_traces,
    start_server,
    wait_healthy,
)

from llmops.server._grpc import TRACES_METHOD

pytestmark = [pytest.mark.postgres, pytest.mark.xdist_group("replicas")]

TRACES_PER_BATCH = 2
#: What an OTLP exporter retries (the specification's retryable HTTP codes).
RETRYABLE = {429, 502, 503, 504}


# ---- sending, as a collector would ---------------------------------------------------------------


@dataclass
class _Sender:
    replicas: list[Server]
    grpc_port: int
    sent: int = 0
    retried: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    half: threading.Event = field(default_factory=threading.Event)
    killed: threading.Event = field(default_factory=threading.Event)
    total: int = 0

    def send(self, index: int, spans: list[SpanData]) -> None:
        """Batch ``index`` in its format to its replica; what fails goes to the next one."""
        if self.half.is_set():  # the second half meets the killed replicas (and what was in flight)
            self.killed.wait(60)
        protobuf = otlp_protobuf(spans)
        kind = index % 3  # 0: HTTP protobuf, 1: HTTP JSON, 2: gRPC
        for attempt in range(30):
            target = self.replicas[(index + attempt) % len(self.replicas)]
            try:
                if kind == 2 and attempt == 0:
                    with grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}") as channel:
                        channel.unary_unary(TRACES_METHOD)(protobuf, timeout=30)
                    break
                if kind == 1:
                    answer = httpx.post(
                        f"{target.url}/v1/traces", json=otlp_json(spans), timeout=30
                    )
                else:
                    answer = httpx.post(
                        f"{target.url}/v1/traces",
                        content=protobuf,
                        headers={"Content-Type": "application/x-protobuf"},
                        timeout=30,
                    )
                if answer.status_code == 200:
                    break
                if answer.status_code not in RETRYABLE:
                    self._fail(f"batch {index}: {answer.status_code} {answer.text[:200]}")
                    return
            except grpc.RpcError as exc:
                if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
                    self._fail(f"batch {index}: gRPC {exc.code()}")
                    return
            except httpx.TransportError:
                pass  # the replica is gone or going: another one gets it
            with self.lock:
                self.retried += 1
            time.sleep(0.05 * attempt)  # an exporter's backoff, short
        else:
            self._fail(f"batch {index}: no replica took it in 30 tries")
            return
        with self.lock:
            self.sent += 1
            if self.sent * 2 >= self.total:
                self.half.set()

    def _fail(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)
        self.half.set()


def _api_pages(servers: list[Server], limit: int) -> Iterator[dict[str, Any]]:
    """The trace list page by page, each page from the next server in turn."""
    cursor = None
    for turn in range(10_000):
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        answer = httpx.get(
            f"{servers[turn % len(servers)].url}/api/v1/traces", params=params, timeout=30
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        yield from body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return


@pytest.fixture
def database(pg_cluster: PostgresCluster, _postgres_at_head: str) -> str:
    return pg_cluster.create_database(f"r_{uuid.uuid4().hex[:12]}", template=_postgres_at_head)


def test_replicas_store_every_span_once_through_kills_and_page_across(
    database: str, tmp_path: Path, test_seed: int
) -> None:
    rng = random.Random(test_seed)
    traces = seeded_traces(rng)
    batches = [
        [span for trace in traces[i : i + TRACES_PER_BATCH] for span in trace]
        for i in range(0, TRACES, TRACES_PER_BATCH)
    ]
    with ExitStack() as stack:
        grpc_port = free_port()
        evaluators = tmp_path / "evaluators.yaml"
        evaluators.write_text(
            "evaluators:\n  - {name: live, scorers: [{length: {max_chars: 10}}]}\n"
        )
        online = ("--evaluators-file", str(evaluators))  # every process runs them
        a = start_server(tmp_path, database, "a", "--workers", "2", *online, grpc_port=grpc_port)
        stack.callback(a.stop)
        b = start_server(tmp_path, database, "b", *online)
        stack.callback(b.stop)
        wait_healthy(a, b)
        sender = _Sender([a, b], grpc_port, total=len(batches))

        def send_share(first: int) -> None:
            for i in range(first, len(batches), 3):
                sender.send(i, batches[i])

        threads = [threading.Thread(target=send_share, args=(t,)) for t in range(3)]
        for thread in threads:
            thread.start()
        assert sender.half.wait(120)
        killed = a.workers()[1]
        os.kill(killed, signal.SIGKILL)  # a worker of one server ...
        b.process.kill()  # ... and the other server, in the middle of their requests
        sender.killed.set()
        for thread in threads:
            thread.join(120)
        assert not sender.errors, sender.errors
        assert sender.sent == len(batches)
        assert sender.retried > 0  # batches met the killed replicas and went to another

        # every span exactly once, every trace whole
        import psycopg

        dsn = database.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn) as connection:
            rows = connection.execute("SELECT trace_id, span_id FROM spans").fetchall()
        expected = {(f"{s.trace_id:032x}", f"{s.span_id:016x}") for t in traces for s in t}
        assert len(rows) == len(expected), f"seed {test_seed}, retried {sender.retried}"
        assert set(rows) == expected

        # the trace list through alternating replicas: each trace once, newest first
        b2 = start_server(tmp_path, database, "b2", *online)
        stack.callback(b2.stop)
        wait_healthy(a, b2)
        listed = [item["trace_id"] for item in _api_pages([a, b2], limit=7)]
        roots = sorted(traces, key=lambda t: (t[0].start_ns, t[0].trace_id), reverse=True)
        assert listed == [f"{t[0].trace_id:032x}" for t in roots]

        # the evaluators of every replica scored each trace once
        deadline = time.monotonic() + 90
        while True:
            with psycopg.connect(dsn) as connection:
                scored = connection.execute(
                    "SELECT trace_id, count(*) FROM scores WHERE evaluator LIKE 'live@%' "
                    "GROUP BY trace_id"
                ).fetchall()
            if len(scored) == len(traces) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert sorted(scored) == sorted((f"{t[0].trace_id:032x}", 1) for t in traces)

        # the supervisor restarted its worker, and stops with every worker on SIGTERM
        workers = a.workers()
        assert workers[1] != killed and f"(pid {killed}) was killed by SIGKILL" in (
            a.err.read_text()
        )
        a.process.send_signal(signal.SIGTERM)
        assert a.process.wait(60) == 128 + signal.SIGTERM, a.err.read_text()
        for pid in workers.values():
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
