"""The llmops server under load: OTLP ingest, the trace list API, opening a very large trace.

Run: .venv/bin/python benchmarks/server.py [--spans N] [--big-trace N] [--requests N]
A store is filled with ``--spans`` spans (traces of 8 GenAI spans, written in bulk) plus one
trace of ``--big-trace`` spans; a real `llmops server` process then serves it on SQLite.
Targets (issue #8): ingest >= 20k spans/s per process; the trace list answers fast with 1M
spans stored (``--spans 1000000``; the default 200k finishes in a few minutes); a 50k-span
trace opens (trace + root children + first timeline window) in under 2 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

_MESSAGES = '[{"role":"user","parts":[{"type":"text","content":"What is llmops?"}]}]'
_ANSWER = '[{"role":"assistant","parts":[{"type":"text","content":"An LLMOps toolkit."}]}]'
_NO_TARGET = "no target set"


def _span(
    trace: int, index: int, parent: int | None, start: int, attributes: dict[str, Any]
) -> dict[str, Any]:
    return {
        "trace_id": f"{trace:032x}",
        "span_id": f"{index + 1:016x}",
        "parent_span_id": None if parent is None else f"{parent + 1:016x}",
        "name": "chat gpt-x" if parent is not None else "answer question",
        "kind": "llm" if parent is not None else "chain",
        "start_ns": start,
        "end_ns": start + 1_500_000,
        "status_code": "OK",
        "attributes": attributes,
        "session_id": f"session-{trace % 5000}",
        "user_id": f"user-{trace % 700}",
    }


def _genai(i: int) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-x" if i % 3 else "gpt-y",
        "gen_ai.usage.input_tokens": 120 + i % 50,
        "gen_ai.usage.output_tokens": 40,
        "llmops.cost_usd": 0.0004,
        "gen_ai.input.messages": _MESSAGES,
        "gen_ai.output.messages": _ANSWER,
    }


def fill(store_url: str, spans: int, big: int) -> tuple[float, str]:
    """Write ``spans`` spans in 8-span traces and one ``big``-span trace; returns (s, big id)."""
    from llmops.store import open_store
    from llmops.tracing._sinks import StoreSink

    sink = StoreSink(open_store(store_url))
    started = time.perf_counter()
    now = time.time_ns() - 3600 * 10**9
    batch: list[dict[str, Any]] = []
    for i in range(spans):
        trace, index = i // 8 + 1, i % 8
        parent = None if index == 0 else 0
        attributes = (
            {"input.value": "What is llmops?", "llmops.tags": ["bench"]}
            if index == 0
            else _genai(i)
        )
        batch.append(_span(trace, index, parent, now + trace * 100_000 + index * 1000, attributes))
        if len(batch) == 5000:
            sink.write(batch)
            batch = []
    big_trace = spans // 8 + 10
    start = now - 10**9  # the oldest trace: the list's first page shows typical traces
    steps = max(1, big // 1000)
    for index in range(big):  # root -> steps -> leaves: a wide agent run
        parent = None if index == 0 else (0 if index <= steps else 1 + (index - steps - 1) % steps)
        batch.append(_span(big_trace, index, parent, start + index * 1000, _genai(index)))
        if len(batch) == 5000:
            sink.write(batch)
            batch = []
    if batch:
        sink.write(batch)
    return time.perf_counter() - started, f"{big_trace:032x}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _timed(client: httpx.Client, url: str, **params: Any) -> float:
    started = time.perf_counter()
    response = client.get(url, params=params)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spans", type=int, default=200_000, help="spans stored before timing")
    parser.add_argument("--big-trace", type=int, default=50_000, help="spans of the big trace")
    parser.add_argument("--requests", type=int, default=100, help="OTLP requests of 512 spans")
    parser.add_argument("--repeats", type=int, default=30, help="timed API calls per figure")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="llmops-bench-server-"))
    store_url = f"sqlite:///{folder / 'server.db'}"
    fill_s, big_id = fill(store_url, args.spans, args.big_trace)
    stored = args.spans + args.big_trace
    print(f"filled {stored} spans in {fill_s:.1f}s ({stored / fill_s:.0f}/s, bulk writes)")

    port = _free_port()
    env = {**os.environ, "LLMOPS_STORE_URL": store_url, "LLMOPS_HOME": str(folder)}
    server = subprocess.Popen(
        [sys.executable, "-m", "llmops", "server", "--port", str(port)],
        env=env,
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    figures: list[tuple[str, str, str]] = []
    try:
        for _ in range(400):
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        with httpx.Client(base_url=url, timeout=120) as client:
            figures += _list_figures(client, args.repeats)
            figures += _open_figures(client, big_id, args.repeats)
            figures += _ingest_figures(client, args.requests)
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
    print(f"\nllmops server on SQLite, {stored} spans stored, one process")
    print(f"{'figure':<58}{'value':>12}  ratio / target")
    for name, value, ratio in figures:
        print(f"{name:<58}{value:>12}  {ratio}")


def _p50(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _list_figures(client: httpx.Client, repeats: int) -> list[tuple[str, str, str]]:
    path = "/api/v1/traces"
    _timed(client, path)  # warm the page cache
    first = [_timed(client, path) for _ in range(repeats)]
    cursor = client.get(path).json()["next_cursor"]
    deep = [_timed(client, path, cursor=cursor) for _ in range(repeats)]
    model = [_timed(client, path, model="gpt-y") for _ in range(max(3, repeats // 10))]
    session = [_timed(client, path, session="session-42") for _ in range(repeats)]
    poll = [_timed(client, path, since_ns=time.time_ns()) for _ in range(repeats)]
    sessions = [_timed(client, "/api/v1/sessions") for _ in range(max(3, repeats // 10))]
    conversation = [_timed(client, "/api/v1/sessions/session-42") for _ in range(repeats)]
    return [
        ("trace list, first page of 50: p50", f"{_p50(first):.1f} ms", _NO_TARGET),
        ("trace list, next page (cursor): p50", f"{_p50(deep):.1f} ms", _NO_TARGET),
        ("trace list, session filter (indexed): p50", f"{_p50(session):.1f} ms", _NO_TARGET),
        ("trace list, model filter (scans attributes): p50", f"{_p50(model):.1f} ms", _NO_TARGET),
        ("trace list, live poll (since_ns = now): p50", f"{_p50(poll):.1f} ms", _NO_TARGET),
        (
            "sessions list (aggregates every session span): p50",
            f"{_p50(sessions):.1f} ms",
            _NO_TARGET,
        ),
        ("one session's conversation: p50", f"{_p50(conversation):.1f} ms", _NO_TARGET),
    ]


def _open_figures(client: httpx.Client, big_id: str, repeats: int) -> list[tuple[str, str, str]]:
    base = f"/api/v1/traces/{big_id}"
    samples: list[float] = []
    parts: dict[str, list[float]] = {"trace": [], "roots": [], "timeline": [], "expand": []}
    for _ in range(max(3, repeats // 3)):
        trace = _timed(client, base)
        roots = _timed(client, f"{base}/spans", parent="ROOT")
        timeline = _timed(client, f"{base}/timeline", offset=0, limit=500)
        samples.append(trace + roots + timeline)
        parts["trace"].append(trace)
        parts["roots"].append(roots)
        parts["timeline"].append(timeline)
        root = client.get(base).json()["root"]["span_id"]
        parts["expand"].append(_timed(client, f"{base}/spans", parent=root, limit=50))
    span_count = client.get(base).json()["span_count"]
    total = _p50(samples)
    return [
        (
            f"open a {span_count}-span trace (3 calls): p50",
            f"{total:.0f} ms",
            f"{total / 2000:.3f}x of 2 s target",
        ),
        ("  GET trace", f"{_p50(parts['trace']):.1f} ms", ""),
        ("  GET spans?parent=ROOT", f"{_p50(parts['roots']):.1f} ms", ""),
        ("  GET timeline (first 500 of the waterfall)", f"{_p50(parts['timeline']):.1f} ms", ""),
        ("  expand the root (first 50 children)", f"{_p50(parts['expand']):.1f} ms", ""),
    ]


def _ingest_figures(client: httpx.Client, requests: int) -> list[tuple[str, str, str]]:
    sys.path.insert(0, str(Path(__file__).parent))
    from otlp_ingest import _request

    bodies = [_request(512, 1_000 + seed) for seed in range(requests)]
    headers = {"Content-Type": "application/x-protobuf"}
    started = time.perf_counter()
    for body in bodies:
        client.post("/v1/traces", content=body, headers=headers).raise_for_status()
    rate = requests * 512 / (time.perf_counter() - started)
    return [
        (
            f"OTLP ingest, {requests} x 512 spans (into the filled store)",
            f"{rate:.0f}/s",
            f"{rate / 20_000:.2f}x of 20k/s target",
        )
    ]


if __name__ == "__main__":
    main()
