"""The llmops server under load: OTLP ingest, the trace list API, opening a very large trace.

Run: .venv/bin/python benchmarks/server.py [--spans N] [--big-trace N] [--requests N]
    [--repeats N] [--quick] [--json PATH]
A store is filled with ``--spans`` spans (traces of 8 GenAI spans, written in bulk) plus one
trace of ``--big-trace`` spans; a real `llmops server` process then serves it on SQLite.
Targets (issue #8): ingest >= 20k spans/s per process; the trace list answers fast with 1M
spans stored (``--spans 1000000``; the default 200k finishes in a few minutes); a 50k-span
trace opens (trace + root children + first timeline window) in under 2 s. Floor for every
API figure: a GET /health round trip to the same server. --quick: 20k spans, a 5k-span trace.

Dashboards (issue #18): ``--dashboard-spans`` (default 1M; --quick 100k) spans spread over 30
days, then GET /api/v1/stats (every chart of the home page) for 1h, 24h and 7d, ungrouped and
by model; target <= 100 ms each; floor: a plain COUNT(*) of the range's spans.
``--only-dashboard`` runs this section alone.
"""

from __future__ import annotations

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
from _bench import Figure, Measurement, Report, figure, parser, target

_MESSAGES = '[{"role":"user","parts":[{"type":"text","content":"What is llmops?"}]}]'
_ANSWER = '[{"role":"assistant","parts":[{"type":"text","content":"An LLMOps toolkit."}]}]'
_NO_OTLP_PORTS = ("--otlp-grpc-port", "0", "--otlp-http-port", "0")


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
        # one trace in 50 has a failed call under an OK root: its status comes from that span
        "status_code": "ERROR" if parent is not None and trace % 50 == 0 else "OK",
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
    arguments = parser(__doc__)
    add = arguments.add_argument
    add("--spans", type=int, default=None, help="spans stored before timing; default 200k")
    add("--big-trace", type=int, default=None, help="spans of the big trace; default 50k")
    add("--requests", type=int, default=None, help="OTLP requests of 512 spans; default 100")
    add("--repeats", type=int, default=None, help="timed API calls per figure; default 30")
    add("--dashboard-spans", type=int, default=None, help="dashboard section; default 1M")
    add("--only-dashboard", action="store_true", help="run the dashboard section alone")
    args = arguments.parse_args()
    if args.only_dashboard:
        dashboard_spans = args.dashboard_spans or (100_000 if args.quick else 1_000_000)
        report = Report.start(
            __file__, args, f"dashboard queries on SQLite, {dashboard_spans} spans stored"
        )
        report.add(*_dashboard_figures(dashboard_spans, args.repeats or 10, report))
        report.finish()
        return
    spans = args.spans or (20_000 if args.quick else 200_000)
    big = args.big_trace or (5_000 if args.quick else 50_000)
    requests = args.requests or (20 if args.quick else 100)
    repeats = args.repeats or (10 if args.quick else 30)
    folder = Path(tempfile.mkdtemp(prefix="llmops-bench-server-"))
    store_url = f"sqlite:///{folder / 'server.db'}"
    fill_s, big_id = fill(store_url, spans, big)
    stored = spans + big
    report = Report.start(
        __file__, args, f"llmops server on SQLite, {stored} spans stored, one process"
    )
    report.note(f"filled {stored} spans in {fill_s:.1f}s ({stored / fill_s:.0f}/s, bulk writes)")

    port = _free_port()
    env = {**os.environ, "LLMOPS_STORE_URL": store_url, "LLMOPS_HOME": str(folder)}
    server = subprocess.Popen(
        # no OTLP ports of their own (4317, 4318): runs side by side would collide
        [sys.executable, "-m", "llmops", "server", "--port", str(port), *_NO_OTLP_PORTS],
        env=env,
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(400):
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        with httpx.Client(base_url=url, timeout=120) as client:
            for _ in range(5):
                _timed(client, "/health")  # warm the connection
            floor = _calls([_timed(client, "/health") for _ in range(repeats)])
            report.add(*_list_figures(client, repeats, floor))
            report.add(*_open_figures(client, big_id, repeats))
            report.add(*_ingest_figures(client, requests))
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
    dashboard_spans = args.dashboard_spans or (100_000 if args.quick else 1_000_000)
    report.add(*_dashboard_figures(dashboard_spans, max(3, repeats // 3), report))
    report.finish()


def _calls(samples: list[float]) -> Measurement:
    """p50 of the calls, with their min and max."""
    return Measurement.from_samples(samples)


def _p50(
    name: str, samples: list[float], floor: Measurement | None = None, note: str = ""
) -> Figure:
    made = figure(
        name,
        "ms",
        _calls(samples),
        peer="floor: GET /health" if floor else "",
        peer_value=floor,
        note=note,
        scale=1e3,
    )
    made.spread_kind = f"min-max of {len(samples)} calls"
    return made


def _list_figures(client: httpx.Client, repeats: int, floor: Measurement) -> list[Figure]:
    path = "/api/v1/traces"
    _timed(client, path)  # warm the page cache
    first = [_timed(client, path) for _ in range(repeats)]
    cursor = client.get(path).json()["next_cursor"]
    deep = [_timed(client, path, cursor=cursor) for _ in range(repeats)]
    model = [_timed(client, path, model="gpt-y") for _ in range(max(3, repeats // 10))]
    session = [_timed(client, path, session="session-42") for _ in range(repeats)]
    failed = [_timed(client, path, status="ERROR") for _ in range(repeats)]
    search = [_timed(client, path, q="no such text") for _ in range(max(3, repeats // 10))]
    poll = [_timed(client, path, since_ns=time.time_ns()) for _ in range(repeats)]
    sessions = [_timed(client, "/api/v1/sessions") for _ in range(max(3, repeats // 10))]
    conversation = [_timed(client, "/api/v1/sessions/session-42") for _ in range(repeats)]
    return [
        _p50("server: trace list, first page of 50", first, floor),
        _p50("server: trace list, next page (cursor)", deep, floor),
        _p50("server: trace list, session filter", session, floor, "indexed"),
        _p50("server: trace list, model filter", model, floor, "scans attributes"),
        _p50("server: trace list, status=ERROR", failed, floor, "any span failed: 1 in 50"),
        _p50("server: trace list, text search", search, floor, "scans every span, no match"),
        _p50("server: trace list, live poll", poll, floor, "since_ns = now"),
        _p50("server: sessions list", sessions, floor, "aggregates every session span"),
        _p50("server: one session's conversation", conversation, floor),
    ]


def _open_figures(client: httpx.Client, big_id: str, repeats: int) -> list[Figure]:
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
    total = statistics.median(samples)
    return [
        _p50(
            f"server: open a {span_count}-span trace (3 calls)",
            samples,
            note=target(total, 2.0, at_most=True, text="< 2 s"),
        ),
        _p50("server: big trace, GET trace", parts["trace"]),
        _p50("server: big trace, GET spans?parent=ROOT", parts["roots"]),
        _p50("server: big trace, GET timeline (first 500)", parts["timeline"]),
        _p50("server: big trace, expand the root (50 children)", parts["expand"]),
    ]


def _ingest_figures(client: httpx.Client, requests: int) -> list[Figure]:
    sys.path.insert(0, str(Path(__file__).parent))
    from otlp_ingest import _request

    bodies = [_request(512, 1_000 + seed) for seed in range(requests)]
    headers = {"Content-Type": "application/x-protobuf"}
    samples = []
    for first in range(0, requests, max(1, requests // 5)):  # five runs of requests/5
        chunk = bodies[first : first + max(1, requests // 5)]
        started = time.perf_counter()
        for body in chunk:
            client.post("/v1/traces", content=body, headers=headers).raise_for_status()
        samples.append(len(chunk) * 512 / (time.perf_counter() - started))
    rate = Measurement.from_samples(samples)
    return [
        figure(
            f"server: OTLP ingest into the filled store ({requests} x 512 spans)",
            "spans/s",
            rate,
            higher_is_better=True,
            note=target(rate.median, 20_000, at_most=False, text=">= 20k/s"),
        )
    ]


# -- dashboards (issue #18): GET /api/v1/stats over spans spread across 30 days -------------

_DAY_NS = 86_400 * 10**9


def fill_spread(store_url: str, spans: int, days: int = 30) -> float:
    """``spans`` spans in 8-span traces spread evenly over the last ``days`` days, with
    models, users, tags, tokens, costs and one score per 4 traces: rows written with
    executemany in bulk (sqlite3 directly, the fastest path), then their per-trace totals
    (``trace_totals``, which the span sink keeps in production) computed from them; returns
    seconds."""
    import sqlite3
    from contextlib import closing

    import orjson

    from llmops.store import open_store

    open_store(store_url).close()  # the schema at head
    started = time.perf_counter()
    traces = max(1, spans // 8)
    now = time.time_ns()
    step = days * _DAY_NS // traces
    columns = "trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, status_code, "
    columns += "attributes, user_id"
    sql = f"INSERT INTO spans ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    score_sql = (
        "INSERT INTO scores (id, trace_id, name, source, data_type, value, created_at) "
        "VALUES (?, ?, 'helpful', 'human', 'numeric', ?, '2026-12-01 00:00:00')"
    )
    with closing(sqlite3.connect(store_url.removeprefix("sqlite:///"))) as db:
        rows: list[tuple[Any, ...]] = []
        scores: list[tuple[Any, ...]] = []
        for t in range(traces):
            trace_id = f"{t + 1:032x}"
            start = now - days * _DAY_NS + t * step
            user = f"user-{t % 700}"
            root = {"llmops.tags": ["bench", f"team-{t % 7}"], "input.value": "What is llmops?"}
            duration = 2_000_000 + (t * 7919) % 900_000_000  # 2 ms to 0.9 s
            rows.append(
                (trace_id, f"{1:016x}", None, "answer question", "chain", start,
                 start + duration, "OK", orjson.dumps(root).decode(), user)
            )  # fmt: skip
            for index in range(1, 8):
                attributes = _genai(t * 8 + index)
                status = "ERROR" if t % 50 == 0 and index == 1 else "OK"
                rows.append(
                    (trace_id, f"{index + 1:016x}", f"{1:016x}", "chat gpt-x", "llm",
                     start + index * 1000, start + index * 1000 + 1_500_000, status,
                     orjson.dumps(attributes).decode(), user)
                )  # fmt: skip
            if t % 4 == 0:
                scores.append((f"s{t}", trace_id, (t % 5) / 4))
            if len(rows) >= 20_000:
                db.executemany(sql, rows)
                rows = []
        db.executemany(sql, rows)
        db.executemany(score_sql, scores)
        db.commit()
    from llmops.tracing._rollup import rebuild_all_totals

    store = open_store(store_url)
    with store.bulk() as connection:
        rebuild_all_totals(connection)
    store.close()
    return time.perf_counter() - started


def _dashboard_figures(spans: int, repeats: int, report: Report) -> list[Figure]:
    """p50 of each dashboard request (GET /api/v1/stats: every chart of the page at once)
    for 1h, 24h and 7d, grouped by model, over ``spans`` spans; beside it the floor, a plain
    COUNT(*) of the spans of the range (through the root index, then each trace's spans)."""
    from fastapi.testclient import TestClient
    from sqlalchemy import text

    from llmops.server import create_app
    from llmops.store import open_store

    folder = Path(tempfile.mkdtemp(prefix="llmops-bench-dashboard-"))
    store_url = f"sqlite:///{folder / 'dashboard.db'}"
    try:
        fill_s = fill_spread(store_url, spans)
        report.note(
            f"dashboard: {spans} spans over 30 days written in {fill_s:.1f}s (executemany, "
            "then their trace_totals rows computed from them)"
        )
        store = open_store(store_url)
        figures = []
        count_sql = text(
            "SELECT count(*) FROM spans AS root JOIN spans AS s ON s.trace_id = root.trace_id "
            "WHERE root.parent_span_id IS NULL AND root.start_ns >= :since"
        )
        with (
            TestClient(create_app(store), base_url="http://127.0.0.1") as client,
            store.engine.connect() as db,
        ):
            for range_name, seconds in (("1h", 3600), ("24h", 86_400), ("7d", 7 * 86_400)):
                for by in (None, "model"):
                    params = {"since": range_name, **({"by": by} if by else {})}
                    client.get("/api/v1/stats", params=params).raise_for_status()  # warm
                    samples = []
                    for _ in range(repeats):
                        started = time.perf_counter()
                        client.get("/api/v1/stats", params=params).raise_for_status()
                        samples.append(time.perf_counter() - started)
                    since = time.time_ns() - seconds * 10**9
                    floor_samples = []
                    for _ in range(repeats):
                        started = time.perf_counter()
                        in_range = db.execute(count_sql, {"since": since}).scalar_one()
                        floor_samples.append(time.perf_counter() - started)
                    median = statistics.median(samples)
                    made = figure(
                        f"dashboard: GET /stats?since={range_name}"
                        + (f"&by={by}" if by else "")
                        + f" ({in_range} spans in range)",
                        "ms",
                        Measurement.from_samples(samples),
                        peer="floor: COUNT(*) of the range's spans",
                        peer_value=Measurement.from_samples(floor_samples),
                        note=target(median, 0.1, at_most=True, text="<= 100 ms"),
                        scale=1e3,
                    )
                    made.spread_kind = f"min-max of {repeats} calls"
                    figures.append(made)
        store.close()
        return figures
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
