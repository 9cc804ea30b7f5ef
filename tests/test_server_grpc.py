"""The OTLP/gRPC receiver on real servers over 127.0.0.1: the OTel SDK's gRPC exporter, the
captured payloads stored as over HTTP, and the OTLP status codes for bad, oversized and
inflating requests, tokens and store faults; ``llmops server``'s ports."""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from _live_server import LiveServer, free_port
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from llmops.server import create_app
from llmops.server._grpc import LOGS_METHOD, TRACES_METHOD, start_grpc
from llmops.store import Store, open_store
from llmops.tracing._ingest import OtlpIngest
from llmops.tracing._otlp import MAX_BODY_BYTES, MAX_VALUES

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "otlp-traces"
CAPTURED = sorted((DATA / "captured").glob("*.otlp.pb")) if DATA.is_dir() else []
_PROTOBUF = {"Content-Type": "application/x-protobuf"}


class _Servers:
    """An app served over HTTP (a :class:`LiveServer`) and OTLP/gRPC on free ports."""

    def __init__(self, http: LiveServer, grpc_port: int) -> None:
        self.http = http
        self.grpc_port = grpc_port
        self.channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")

    def export(
        self, body: bytes, token: str | None = None, compression: grpc.Compression | None = None
    ) -> bytes:
        """One raw ``TraceService/Export`` call, as the OTel exporter makes it."""
        call = self.channel.unary_unary(TRACES_METHOD)
        metadata = (("authorization", f"Bearer {token}"),) if token else None
        answer: bytes = call(body, metadata=metadata, compression=compression, timeout=60)
        return answer


@contextmanager
def _serve(store: Store, token: str | None = None) -> Iterator[_Servers]:
    app = create_app(store, token=token)
    port = free_port()
    server = start_grpc(app, "127.0.0.1", port)
    try:
        with LiveServer(app) as http:
            servers = _Servers(http, port)
            yield servers
            servers.channel.close()
    finally:
        server.stop(grace=None).wait()


def _request(*spans: Span) -> bytes:
    scope = ScopeSpans(spans=list(spans))
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[scope])])
    return request.SerializeToString()


def _span(n: int, **attributes: Any) -> Span:
    pairs = [KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in attributes.items()]
    return Span(
        trace_id=n.to_bytes(16, "big"),
        span_id=n.to_bytes(8, "big"),
        name=f"span {n}",
        start_time_unix_nano=1_700_000_000_000_000_000,
        end_time_unix_nano=1_700_000_001_000_000_000,
        attributes=pairs,
    )


def _count(store: Store, table: str = "spans") -> int:
    with store.engine.connect() as connection:
        return int(connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())


def _api_traces(url: str, token: str | None = None) -> list[dict[str, Any]]:
    """Every trace through the REST API: its list entry, its timeline and each span in full."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        traces = client.get("/api/v1/traces", params={"limit": 100}).json()["items"]
        out = []
        for trace in sorted(traces, key=lambda t: t["trace_id"]):
            base = f"/api/v1/traces/{trace['trace_id']}"
            timeline = client.get(f"{base}/timeline").json()
            spans = timeline["items"]
            full = [client.get(f"{base}/spans/{s['span_id']}").json() for s in spans]
            out.append({"trace": trace, "timeline": timeline, "spans": full})
    return out


def _code(call: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    code: grpc.StatusCode = raised.value.code()  # type: ignore[attr-defined]
    return code


@pytest.mark.skipif(not CAPTURED, reason=f"no captured OTLP payloads at {DATA}")
@pytest.mark.parametrize("path", CAPTURED, ids=lambda p: p.name)
def test_captured_payloads_over_grpc_read_back_as_over_http(
    store: Store, tmp_path: Path, path: Path
) -> None:
    body = path.read_bytes()
    with _serve(store) as servers:
        assert servers.export(body) == b""  # an empty ExportTraceServiceResponse
        over_grpc = _api_traces(servers.http.url)
    with LiveServer(create_app(open_store(f"sqlite:///{tmp_path / 'http.db'}"))) as http:
        response = httpx.post(f"{http.url}/v1/traces", content=body, headers=_PROTOBUF)
        assert response.status_code == 200, response.text
        over_http = _api_traces(http.url)
    assert over_grpc and sum(len(t["spans"]) for t in over_grpc) == _count(store)
    assert over_grpc == over_http


def test_the_otel_sdk_grpc_exporter_exports_into_llmops(store: Store) -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    with _serve(store, token="s3cret") as servers:
        provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
        for compression in (grpc.Compression.NoCompression, grpc.Compression.Gzip):
            exporter = OTLPSpanExporter(
                endpoint=f"http://127.0.0.1:{servers.grpc_port}",
                insecure=True,
                headers={"authorization": "Bearer s3cret"},
                compression=compression,
            )
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("shop")
        with (
            tracer.start_as_current_span("handle request"),
            tracer.start_as_current_span("chat gpt-x") as chat,
        ):
            chat.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-x",
                    "gen_ai.usage.input_tokens": 12,
                    "api_key": "sk-live-abcdefghijklmnopqrstu",
                }
            )
        provider.shutdown()
        traces = _api_traces(servers.http.url, "s3cret")
    assert len(traces) == 1
    spans = {s["name"]: s for s in traces[0]["spans"]}
    chat_span = spans["chat gpt-x"]
    assert chat_span["kind"] == "llm"
    assert chat_span["parent_span_id"] == spans["handle request"]["span_id"]
    assert chat_span["attributes"]["gen_ai.usage.input_tokens"] == 12
    assert chat_span["attributes"]["api_key"] == "[REDACTED]"  # the same redaction as HTTP
    assert _count(store) == 2  # each span once per exporter (upserted by id)


def test_bad_oversized_and_inflating_requests_get_their_otlp_codes(store: Store) -> None:
    # 1.1 million empty values: a 2.2 MB message over the value cap of the decoder
    values = ArrayValue(values=[AnyValue() for _ in range(MAX_VALUES + 100_000)])
    value_bomb = _request(
        Span(
            trace_id=b"\x01" * 16,
            span_id=b"\x01" * 8,
            name="bomb",
            attributes=[KeyValue(key="k", value=AnyValue(array_value=values))],
        )
    )
    assert len(value_bomb) < MAX_BODY_BYTES
    with _serve(store) as servers:
        assert _code(lambda: servers.export(b"\xff\xff\xff")) == grpc.StatusCode.INVALID_ARGUMENT
        oversized = _request(_span(1, big="x" * (MAX_BODY_BYTES + 10)))
        assert _code(lambda: servers.export(oversized)) == grpc.StatusCode.RESOURCE_EXHAUSTED
        # a gzip bomb: 20 MiB of zeros are about 20 KB on the wire, inflated past the cap
        bomb = bytes(20 * 1024 * 1024)
        assert len(gzip.compress(bomb)) < 100_000
        inflating = lambda: servers.export(bomb, compression=grpc.Compression.Gzip)  # noqa: E731
        assert _code(inflating) == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert _code(lambda: servers.export(value_bomb)) == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert _count(store) == 0
        # and the server still stores the next good request
        assert servers.export(_request(_span(2))) == b""
        assert _count(store) == 1


@pytest.mark.skipif(not hasattr(OtlpIngest, "ingest_logs"), reason="this build stores no OTLP logs")
def test_logs_service_stores_log_records(store: Store) -> None:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

    record = LogRecord(
        time_unix_nano=1_700_000_000_500_000_000,
        event_name="gen_ai.user.message",
        body=AnyValue(string_value="What is the capital of France?"),
        trace_id=(1).to_bytes(16, "big"),
        span_id=(1).to_bytes(8, "big"),
    )
    request = ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=[record])])]
    )
    with _serve(store) as servers:
        logs = servers.channel.unary_unary(LOGS_METHOD)
        with pytest.raises(grpc.RpcError) as raised:
            logs(b"\xff\xff\xff", timeout=60)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
        assert logs(request.SerializeToString(), timeout=60) == b""
    assert _count(store, "logs") == 1


def test_the_token_is_required_over_grpc_as_over_http(store: Store) -> None:
    with _serve(store, token="s3cret") as servers:
        body = _request(_span(1))
        assert _code(lambda: servers.export(body)) == grpc.StatusCode.UNAUTHENTICATED
        assert _code(lambda: servers.export(body, "wrong")) == grpc.StatusCode.UNAUTHENTICATED
        assert _count(store) == 0
        assert servers.export(body, "s3cret") == b""
        assert _count(store) == 1


def test_a_browser_request_to_the_grpc_port_stores_nothing(store: Store) -> None:
    """The gRPC port speaks HTTP/2 without TLS only, which no browser does: a page re-pointed
    at it by DNS rebinding (HTTP/1.1, a foreign Host) gets no answer from the receiver."""
    with _serve(store) as servers:
        with pytest.raises(httpx.HTTPError):
            response = httpx.post(
                f"http://127.0.0.1:{servers.grpc_port}{TRACES_METHOD}",
                content=_request(_span(1)),
                headers={"Host": "rebound.example", "Content-Type": "application/grpc"},
                timeout=10,
            )
            response.raise_for_status()
        assert _count(store) == 0


def test_a_full_disk_is_unavailable_with_retry_info_and_recovers(tmp_path: Path) -> None:
    """SQLite with ``max_page_count`` at the file's size (a full disk): UNAVAILABLE, which
    exporters retry, with ``google.rpc.RetryInfo``; stored once there is room again."""
    from sqlalchemy import event

    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    limit: dict[str, int | None] = {"pages": None}

    @event.listens_for(store.engine, "checkout")
    def _cap(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA max_page_count = {limit['pages'] or 1_073_741_823}")
        cursor.close()

    body = _request(*(_span(n, value="x" * 60_000) for n in range(1, 6)))
    with _serve(store) as servers:
        with store.engine.connect() as connection:
            limit["pages"] = int(connection.exec_driver_sql("PRAGMA page_count").scalar_one())
        with pytest.raises(grpc.RpcError) as raised:
            servers.export(body)
        error: Any = raised.value
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert "disk full" in error.details() and "\n" not in error.details()
        from google.rpc.error_details_pb2 import RetryInfo

        retry = RetryInfo.FromString(dict(error.trailing_metadata())["google.rpc.retryinfo-bin"])
        assert retry.retry_delay.seconds == 10
        limit["pages"] = None
        assert servers.export(body) == b""  # the exporter's retry
        assert _count(store) == 5


# ---- llmops server's ports ----------------------------------------------------------------------


def test_the_second_http_port_answers_the_bound_names_only() -> None:
    from llmops.server._auth import HostPolicy

    policy = HostPolicy.for_bind("127.0.0.1", 8765, ["proxy.example:443"]).also_on(8765, [4318])
    for host in ("127.0.0.1:8765", "127.0.0.1:4318", "localhost:4318", "proxy.example:443"):
        assert policy.allows(host), host
    for host in ("127.0.0.1:4319", "evil.example:4318", "proxy.example:4318"):
        assert not policy.allows(host), host


def _llmops_server(tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LLMOPS_HOME": str(tmp_path), "LLMOPS_CONFIG": str(tmp_path / "c.yaml")}
    (tmp_path / "c.yaml").write_text("{}\n")
    command = [sys.executable, "-m", "llmops", "server", *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait_healthy(process: subprocess.Popen[bytes], url: str) -> None:
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0].decode()[-2000:]
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("llmops server did not start")


def _serve_and_check(tmp_path: Path, port: int, grpc_port: int, http_port: int, *args: str) -> None:
    process = _llmops_server(tmp_path, "--port", str(port), *args)
    try:
        _wait_healthy(process, f"http://127.0.0.1:{port}")
        over_http = _request(_span(1))
        url = f"http://127.0.0.1:{http_port}/v1/traces"
        response = httpx.post(url, content=over_http, headers=_PROTOBUF)
        assert response.status_code == 200, response.text
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            assert channel.unary_unary(TRACES_METHOD)(_request(_span(2)), timeout=30) == b""
        traces = httpx.get(f"http://127.0.0.1:{port}/api/v1/traces").json()["items"]
        assert len(traces) == 2  # both in the one store
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_llmops_server_serves_otlp_grpc_and_a_second_http_port(tmp_path: Path) -> None:
    port, grpc_port, http_port = free_port(), free_port(), free_port()
    ports = ("--otlp-grpc-port", str(grpc_port), "--otlp-http-port", str(http_port))
    _serve_and_check(tmp_path, port, grpc_port, http_port, *ports)


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        for flags in (
            ("--port", str(busy), "--otlp-grpc-port", "0", "--otlp-http-port", "0"),
            ("--port", str(free_port()), "--otlp-grpc-port", str(busy), "--otlp-http-port", "0"),
            ("--port", str(free_port()), "--otlp-grpc-port", "0", "--otlp-http-port", str(busy)),
        ):
            process = _llmops_server(tmp_path, *flags)
            output = process.communicate(timeout=60)[0].decode()
            assert process.returncode == 2, output
            assert output.strip().count("\n") == 0 and "port is in use" in output, output
            assert "Traceback" not in output


@pytest.mark.xdist_group("otlp_default_ports")
def test_the_default_otlp_ports_are_4317_and_4318(tmp_path: Path) -> None:
    for default in (4317, 4318):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", default))
            except OSError:
                pytest.skip(f"port {default} is in use on this machine")
    _serve_and_check(tmp_path, free_port(), 4317, 4318)
