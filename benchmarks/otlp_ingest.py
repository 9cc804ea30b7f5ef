"""OTLP/HTTP ingest through a real `llmops server` process: spans stored per second.

Run: .venv/bin/python benchmarks/otlp_ingest.py [--requests N] [--spans-per-request N]
The server runs as its own process on a temporary SQLite store; this script posts protobuf
ExportTraceServiceRequests (made by the OpenTelemetry SDK's own encoder, GenAI attributes on
every span) and counts the rows stored. Floor: decoding alone, in this process.
Target (issue #4): >= 20k spans/s per server process.
"""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

_MESSAGES = '[{"role":"user","parts":[{"type":"text","content":"hi"}]}]'


def _request(spans: int, seed: int) -> bytes:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.trace import SpanContext, TraceFlags

    resource = Resource.create({"service.name": "bench"})
    made = []
    for i in range(spans):
        trace_id = (seed << 64) | (i // 8 + 1)
        context = SpanContext(trace_id, (seed << 32) | (i + 1), False, TraceFlags(1))
        parent = (
            SpanContext(trace_id, (seed << 32) | (i // 8 * 8 + 1), False, TraceFlags(1))
            if i % 8
            else None
        )
        now = time.time_ns()
        made.append(
            ReadableSpan(
                name="chat gpt-x",
                context=context,
                parent=parent,
                resource=resource,
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-x",
                    "gen_ai.usage.input_tokens": 120,
                    "gen_ai.usage.output_tokens": 40,
                    "gen_ai.input.messages": _MESSAGES,
                },
                start_time=now,
                end_time=now + 1_000_000,
            )
        )
    return encode_spans(made).SerializeToString()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--spans-per-request", type=int, default=512)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="llmops-bench-"))
    db = folder / "ingest.db"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "LLMOPS_STORE_URL": f"sqlite:///{db}", "LLMOPS_HOME": str(folder)}
    server = subprocess.Popen(
        [sys.executable, "-m", "llmops", "server", "--port", str(port)],
        env=env,
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        bodies = [_request(args.spans_per_request, seed + 1) for seed in range(args.requests)]
        from llmops.tracing._otlp import decode_otlp

        started = time.perf_counter()
        for body in bodies[:20]:
            decode_otlp(body, "application/x-protobuf")
        decode_rate = 20 * args.spans_per_request / (time.perf_counter() - started)

        headers = {"Content-Type": "application/x-protobuf"}
        with httpx.Client(timeout=60) as client:
            started = time.perf_counter()
            for body in bodies:
                response = client.post(f"{url}/v1/traces", content=body, headers=headers)
                response.raise_for_status()
            elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(10)
    with sqlite3.connect(db) as connection:
        stored = connection.execute("select count(*) from spans").fetchone()[0]
    total = args.requests * args.spans_per_request
    rate = stored / elapsed
    print(
        f"OTLP/HTTP protobuf ingest, {args.requests} requests x {args.spans_per_request} spans, "
        "one server process"
    )
    print(f"{'figure':<42}{'value':>14}  ratio / target")
    print(
        f"{'ingest: stored spans/s (HTTP + decode + store)':<42}{rate:>12.0f}/s  target >= 20000/s"
    )
    print(
        f"{'floor: decode only, spans/s':<42}{decode_rate:>12.0f}/s  "
        f"{rate / decode_rate:.2f}x of floor"
    )
    print(f"stored {stored} of {total} spans")


if __name__ == "__main__":
    main()
