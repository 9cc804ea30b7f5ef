"""OTLP ingest over HTTP and gRPC through a real `llmops server` process: spans stored per second.

Run: .venv/bin/python benchmarks/otlp_ingest.py [--requests N] [--spans-per-request N] [--runs R]
    [--quick] [--json PATH]
The server runs as its own process on a temporary SQLite store; this script sends protobuf
ExportTraceServiceRequests (made by the OpenTelemetry SDK's own encoder, GenAI attributes on
every span) with POST /v1/traces, then the same requests to a fresh server over OTLP/gRPC
(TraceService/Export, one channel, as the gRPC exporter sends them), and counts the rows
stored. Peer: Arize Phoenix's server (peers venv, its own SQLite working folder) sent the same
requests over each. Floor: decoding alone, in this process.
Targets: >= 20k spans/s per server process (issue #4); gRPC >= HTTP (issue #16).
PostgreSQL (issue #20): the same HTTP requests to one server process on a throwaway local
PostgreSQL (``_pg.py``; skipped without its binaries, or with ``--no-postgres``), then to
``--processes`` servers on one database, each sent its share at once; and, like with like
for that row, one server sent by as many concurrent senders (as a Collector's sending queue
sends). Target >= 20k spans/s with one process.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from _bench import (
    Figure,
    Measurement,
    PeerUnavailable,
    Report,
    figure,
    measure,
    parser,
    peer_python,
    target,
)

_TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
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
    return bytes(encode_spans(made).SerializeToString())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_healthy(url: str, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited: {process.stderr and process.stderr.read()[-300:]!r}"
            )
        try:
            if httpx.get(url).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"no answer from {url} in {seconds:.0f} s")


def _count(db: Path | str, table: str = "spans") -> int:
    """Rows of ``table`` in a SQLite file, or a PostgreSQL database (its URL)."""
    if isinstance(db, str):
        import psycopg
        from _pg import conninfo

        with psycopg.connect(conninfo(db)) as pg:
            row = pg.execute(f"select count(*) from {table}").fetchone()
            return int(row[0]) if row else 0
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as connection:
        try:
            count: int = connection.execute(f"select count(*) from {table}").fetchone()[0]
        except sqlite3.OperationalError:  # not created yet
            return 0
        return count


def _send_http(url: str, bodies: list[bytes]) -> None:
    headers = {"Content-Type": "application/x-protobuf"}
    with httpx.Client(timeout=120) as client:
        for body in bodies:
            client.post(f"{url}/v1/traces", content=body, headers=headers).raise_for_status()


def _send_grpc(address: str, bodies: list[bytes]) -> None:
    import grpc

    with grpc.insecure_channel(address) as channel:
        export = channel.unary_unary(_TRACE_EXPORT)
        for body in bodies:
            export(body, timeout=120)


def _ingest(
    send: Callable[[list[bytes]], None],
    db: Path | str,
    bodies: list[bytes],
    spans: int,
    stored_before: int,
) -> float:
    """Spans/s from the first request to the last span stored (polling the database)."""
    started = time.perf_counter()
    send(bodies)
    expected = stored_before + len(bodies) * spans
    deadline = time.monotonic() + 300
    while (stored := _count(db)) < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {stored - stored_before} of {expected} spans stored")
        time.sleep(0.05)
    return (stored - stored_before) / (time.perf_counter() - started)


def _serve(argv: list[str], env: dict[str, str], folder: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _stop(servers: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to every server at once, then each waited for (killed after 15 s)."""
    for server in servers:
        server.terminate()
    for server in servers:
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)


def _measure_server(
    argv: list[str],
    env: dict[str, str],
    folder: Path,
    db: Path | str,
    health: str,
    runs: list[list[bytes]],
    spans: int,
    grpc_port: int | None = None,
) -> Measurement:
    """Over HTTP to ``env["PORT"]``, or over gRPC to ``grpc_port`` when given."""
    port = int(env["PORT"])
    server = _serve(argv, env, folder)
    url = f"http://127.0.0.1:{port}"
    send = (
        functools.partial(_send_grpc, f"127.0.0.1:{grpc_port}")
        if grpc_port
        else functools.partial(_send_http, url)
    )
    try:
        _wait_healthy(f"{url}{health}", server, 180)
        samples = []
        for bodies in runs:
            samples.append(_ingest(send, db, bodies, spans, _count(db)))
    finally:
        _stop([server])
    return Measurement.from_samples(samples)


def main() -> None:
    arguments = parser(__doc__)
    arguments.add_argument(
        "--requests", type=int, default=None, help="per run; default 200 (quick 40)"
    )
    arguments.add_argument("--spans-per-request", type=int, default=512)
    arguments.add_argument("--runs", type=int, default=3)
    arguments.add_argument(
        "--peer-requests",
        type=int,
        default=None,
        help="requests per run sent to Phoenix, which stores ~100 spans/s; default 10 (quick 2)",
    )
    arguments.add_argument(
        "--processes", type=int, default=3, help="servers on one PostgreSQL (0: skip); default 3"
    )
    arguments.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL figures")
    args = arguments.parse_args()
    requests, spans = args.requests or (40 if args.quick else 200), args.spans_per_request
    report = Report.start(
        __file__,
        args,
        f"OTLP protobuf ingest over HTTP and gRPC, {requests} requests x {spans} spans per run, "
        f"median of {args.runs} runs, one server process",
    )
    folder = Path(tempfile.mkdtemp(prefix="llmops-bench-"))
    runs = [
        [_request(spans, run * requests + seed + 1) for seed in range(requests)]
        for run in range(args.runs)
    ]
    from llmops.tracing._otlp import decode_otlp

    def decode() -> float:
        started = time.perf_counter()
        for body in runs[0][:20]:
            decode_otlp(body, "application/x-protobuf")
        return float(min(20, requests) * spans / (time.perf_counter() - started))

    decoded = measure(decode, args.runs)
    llmops = _llmops(folder / "http", runs, spans, over_grpc=False)
    llmops_grpc = _llmops(folder / "grpc", runs, spans, over_grpc=True)
    phoenix: dict[bool, Measurement | None] = {False: None, True: None}
    reason = ""
    try:
        peer_requests = args.peer_requests or (2 if args.quick else 10)
        for over_grpc in (False, True):
            peer_runs = [bodies[:peer_requests] for bodies in runs]
            phoenix[over_grpc] = _phoenix(folder, peer_runs, spans, over_grpc)
        report.note(f"Phoenix was sent {peer_requests} of the {requests} requests of each run.")
    except (PeerUnavailable, RuntimeError) as exc:
        reason = f"peer unavailable: {exc}"
        print(reason, file=sys.stderr)
    rate = functools.partial(figure, unit="spans/s", higher_is_better=True)
    peer = f"Arize Phoenix {_phoenix_version()} (SQLite)".strip()
    report.add(
        rate(
            "OTLP ingest: HTTP + decode + store",
            measured=llmops,
            peer=peer,
            peer_value=phoenix[False],
            peer_note=reason,
            note=target(llmops.median, 20_000, at_most=False, text=">= 20k/s"),
        ),
        rate(
            "OTLP ingest: gRPC + decode + store",
            measured=llmops_grpc,
            peer=peer,
            peer_value=phoenix[True],
            peer_note=reason,
            note=target(llmops_grpc.median, llmops.median, at_most=False, text=">= HTTP"),
        ),
        rate(
            "OTLP ingest: HTTP + decode + store",
            measured=llmops,
            peer="floor: decode only, in process",
            peer_value=decoded,
        ),
    )
    if not args.no_postgres:
        report.add(*_postgres_figures(report, folder, runs, spans, llmops, args.processes))
    report.note("Phoenix stores spans in the background: its clock stops at the last span stored.")
    report.finish()


def _postgres_figures(
    report: Report,
    folder: Path,
    runs: list[list[bytes]],
    spans: int,
    sqlite: Measurement,
    processes: int,
) -> list[Figure]:
    """OTLP/HTTP ingest into PostgreSQL (a throwaway server, see _pg.py): one `llmops server`
    process, then ``processes`` of them on one database; beside each, one process on SQLite."""
    from _pg import create_database, throwaway_postgres

    rate = functools.partial(figure, unit="spans/s", higher_is_better=True)
    peer = "llmops, one process on SQLite"
    try:
        with throwaway_postgres() as url:
            one = _llmops(folder / "pg", runs, spans, over_grpc=False, store_url=url)
            figures = [
                rate(
                    "OTLP ingest on PostgreSQL: HTTP + decode + store, one process",
                    measured=one,
                    peer=peer,
                    peer_value=sqlite,
                    note=target(one.median, 20_000, at_most=False, text=">= 20k/s"),
                )
            ]
            if processes > 1:
                # like with like for the row below: one process fed as the processes are
                # (a Collector's sending queue also sends concurrently: 10 consumers)
                fed_url = create_database(url, "bench_senders")
                fed = _llmops_processes(folder / "pg-fed", runs, spans, fed_url, 1, processes)
                figures.append(
                    rate(
                        f"OTLP ingest on PostgreSQL: HTTP + decode + store, one process, "
                        f"{processes} concurrent senders",
                        measured=fed,
                        peer=peer,
                        peer_value=sqlite,
                        note=target(fed.median, 20_000, at_most=False, text=">= 20k/s"),
                    )
                )
                many_url = create_database(url, "bench_processes")
                many = _llmops_processes(folder / "pg-many", runs, spans, many_url, processes)
                figures.append(
                    rate(
                        f"OTLP ingest on PostgreSQL: HTTP + decode + store, {processes} processes, "
                        f"{processes} concurrent senders",
                        measured=many,
                        peer=peer,
                        peer_value=sqlite,
                    )
                )
    except RuntimeError as exc:
        report.note(f"PostgreSQL figures skipped: {exc}")
        return []
    report.note(
        "PostgreSQL: a throwaway local server (synchronous_commit=off, as SQLite's "
        "synchronous=NORMAL); spans are COPYed into a temporary table, then inserted."
    )
    return figures


def _llmops(
    folder: Path,
    runs: list[list[bytes]],
    spans: int,
    over_grpc: bool,
    store_url: str | None = None,
) -> Measurement:
    """A fresh `llmops server` (its own SQLite store, or the empty PostgreSQL database
    ``store_url``) sent ``runs`` over HTTP or gRPC."""
    folder.mkdir()
    db: Path | str = store_url or folder / "ingest.db"
    port, grpc_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "LLMOPS_STORE_URL": store_url or f"sqlite:///{db}",
        "LLMOPS_HOME": str(folder),
        "PORT": str(port),
    }
    argv = [sys.executable, "-m", "llmops", "server", "--port", str(port)]
    argv += ["--otlp-grpc-port", str(grpc_port), "--otlp-http-port", "0"]
    used = grpc_port if over_grpc else None
    return _measure_server(argv, env, folder, db, "/health", runs, spans, used)


def _llmops_processes(
    folder: Path,
    runs: list[list[bytes]],
    spans: int,
    store_url: str,
    processes: int,
    senders: int | None = None,
) -> Measurement:
    """``processes`` `llmops server` processes on one PostgreSQL database, sent every run over
    HTTP by ``senders`` threads at the same time (default: one per process), sender i to
    process i mod ``processes``; spans/s until all are stored."""
    from concurrent.futures import ThreadPoolExecutor

    folder.mkdir()
    servers, urls = [], []
    try:
        for index in range(processes):
            port = _free_port()
            env = {
                **os.environ,
                "LLMOPS_STORE_URL": store_url,
                "LLMOPS_HOME": str(folder),
                "PORT": str(port),
            }
            argv = [sys.executable, "-m", "llmops", "server", "--port", str(port)]
            argv += ["--otlp-grpc-port", "0", "--otlp-http-port", "0"]
            work = folder / f"server-{index}"
            work.mkdir()
            servers.append(_serve(argv, env, work))
            urls.append(f"http://127.0.0.1:{port}")
        for url, server in zip(urls, servers, strict=True):
            _wait_healthy(f"{url}/health", server, 180)

        threads = senders or processes

        def send(bodies: list[bytes]) -> None:
            shares = [bodies[index::threads] for index in range(threads)]
            with ThreadPoolExecutor(threads) as pool:
                for done in [
                    pool.submit(_send_http, urls[index % processes], share)
                    for index, share in enumerate(shares)
                ]:
                    done.result()

        samples = [_ingest(send, store_url, bodies, spans, _count(store_url)) for bodies in runs]
    finally:
        _stop(servers)
    return Measurement.from_samples(samples)


def _phoenix(
    folder: Path, runs: list[list[bytes]], spans: int, over_grpc: bool = False
) -> Measurement:
    python = peer_python("arize-phoenix")
    work = folder / ("phoenix-grpc" if over_grpc else "phoenix")
    work.mkdir()
    port, grpc_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "PHOENIX_WORKING_DIR": str(work),
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(grpc_port),
        "PHOENIX_TELEMETRY_ENABLED": "false",
        "PORT": str(port),
    }
    argv = [str(python), "-m", "phoenix.server.main", "serve"]
    used = grpc_port if over_grpc else None
    return _measure_server(argv, env, work, work / "phoenix.db", "/healthz", runs, spans, used)


def _phoenix_version() -> str:
    try:
        python = peer_python("arize-phoenix")
    except PeerUnavailable:
        return ""
    done = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('arize-phoenix'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip()


if __name__ == "__main__":
    main()
