"""``llmops server`` subprocesses and seeded OTLP traces for the multi-process tests
(tests/test_replicas.py, tests/test_server_workers.py)."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from _live_server import free_port
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

TRACES = 60
SPANS_PER_TRACE = 4
_STARTED = re.compile(r"worker (\d+) started \(pid (\d+)\)")


@dataclass
class Server:
    """An ``llmops server`` subprocess with its output in files."""

    process: subprocess.Popen[bytes]
    port: int
    err: Path
    grpc_port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> dict[int, int]:
        """slot -> pid of the latest worker started in it."""
        return {int(slot): int(pid) for slot, pid in _STARTED.findall(self.err.read_text())}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)


def start_server(tmp: Path, url: str, name: str, *args: str, grpc_port: int = 0) -> Server:
    port = free_port()
    err = tmp / f"{name}.err"
    argv = ["server", "--port", str(port), "--otlp-http-port", "0"]
    argv += ["--otlp-grpc-port", str(grpc_port), *args]
    with err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "llmops", *argv],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            cwd=tmp,
            env={**os.environ, "LLMOPS_STORE_URL": url},
        )
    return Server(process, port, err, grpc_port)


def wait_healthy(*servers: Server) -> None:
    deadline = time.monotonic() + 90
    for server in servers:
        while True:
            assert server.process.poll() is None, server.err.read_text()
            try:
                if httpx.get(f"{server.url}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass  # not listening yet
            assert time.monotonic() < deadline, server.err.read_text()
            time.sleep(0.05)


@dataclass(frozen=True)
class SpanData:
    trace_id: int
    span_id: int
    parent: int | None
    start_ns: int
    name: str


def seeded_traces(rng: random.Random) -> list[list[SpanData]]:
    """Traces of a root and children; two traces share each root start (the cursor's tie)."""
    base = time.time_ns() - 60 * 10**9
    traces = []
    for i in range(TRACES):
        trace_id = rng.getrandbits(128) | 1
        root = SpanData(trace_id, rng.getrandbits(64) | 1, None, base + (i // 2) * 1000, "root")
        children = [
            SpanData(trace_id, rng.getrandbits(64) | 1, root.span_id, root.start_ns + k, f"c{k}")
            for k in range(1, SPANS_PER_TRACE)
        ]
        traces.append([root, *children])
    return traces


def otlp_protobuf(spans: list[SpanData]) -> bytes:
    items = [
        Span(
            trace_id=s.trace_id.to_bytes(16, "big"),
            span_id=s.span_id.to_bytes(8, "big"),
            parent_span_id=s.parent.to_bytes(8, "big") if s.parent else b"",
            name=s.name,
            start_time_unix_nano=s.start_ns,
            end_time_unix_nano=s.start_ns + 1_000_000,
            attributes=[KeyValue(key="llmops.output", value=AnyValue(string_value=s.name))],
        )
        for s in spans
    ]
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=items)])]
    )
    return bytes(request.SerializeToString())


def otlp_json(spans: list[SpanData]) -> dict[str, Any]:
    items = [
        {
            "traceId": f"{s.trace_id:032x}",
            "spanId": f"{s.span_id:016x}",
            **({"parentSpanId": f"{s.parent:016x}"} if s.parent else {}),
            "name": s.name,
            "startTimeUnixNano": str(s.start_ns),
            "endTimeUnixNano": str(s.start_ns + 1_000_000),
            "attributes": [{"key": "llmops.output", "value": {"stringValue": s.name}}],
        }
        for s in spans
    ]
    return {"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {}, "spans": items}]}]}
