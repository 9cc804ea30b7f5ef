"""The server against hostile input, on real servers over 127.0.0.1.

- DNS rebinding: every route answers only the names it is bound to; other ``Host`` values get
  421 and a state-changing request from a foreign ``Origin`` 403, with nothing stored.
- Bombs: a gzip bomb, the 65 KB body that inflates to 32 million empty values, value and
  JSON bombs under the inflate cap and a 64 MB body are refused with 413, and the server's
  peak RSS (VmHWM of a real ``llmops server`` process) stays under the bound in the README.
- Numbers: extreme times, counts and costs are clamped or stored so that every later filter
  and sort of the API answers (SQLite and PostgreSQL).
- Store faults: a full disk (SQLite ``max_page_count``) and a stopped PostgreSQL are 503 with
  ``Retry-After``, logged once, and the server recovers by itself; nothing ever answers with
  a traceback.
- ``tag=`` matches tags (``llmops.tags``, OpenInference ``tag.tags``), not other attributes.
"""

from __future__ import annotations

import gzip
import itertools
import json
import logging
import os
import random
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from _live_server import LiveServer, free_port
from _postgres import PostgresCluster, find_pg_bin, require_or_skip_reason
from hypothesis import strategies as st

from llmops.server import create_app
from llmops.server._auth import HostPolicy
from llmops.store import Store, open_store
from llmops.tracing._otlp import (
    MAX_BODY_BYTES,
    MAX_DECODED_BYTES,
    MAX_STRING_CHARS,
    MAX_TIME_NS,
    MAX_VALUES,
)
from llmops.tracing._queries import TraceFilter, list_traces
from llmops.tracing._sinks import StoreSink
from reliability.conftest import ReliabilityLog
from reliability.test_fuzz_templates import fuzz

#: The most a real server's peak RSS may grow over all the bombs and the largest accepted
#: requests (the README states it).
RSS_BOUND_MB = 300
_ids = itertools.count(1)


def _span(**fields: Any) -> dict[str, Any]:
    n = next(_ids)
    return {
        "traceId": f"{n:032x}",
        "spanId": f"{n:016x}",
        "name": f"span {n}",
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001000000000",
        **fields,
    }


def _otlp_json(*spans: dict[str, Any]) -> bytes:
    request = {"resourceSpans": [{"scopeSpans": [{"scope": {"name": "t"}, "spans": list(spans)}]}]}
    return orjson.dumps(request)


def _count(store: Store) -> int:
    with store.engine.connect() as connection:
        return int(connection.exec_driver_sql("SELECT count(*) FROM spans").scalar_one())


def _raw(port: int, request: bytes) -> tuple[int, bytes]:
    """Send exactly ``request`` (any Host, even a malformed one); the status and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        answer = b"".join(iter(lambda: sock.recv(65536), b""))
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def _request(method: str, path: str, host: str | None, body: bytes = b"", **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    lines += ["Connection: close", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# ---- DNS rebinding ------------------------------------------------------------------------------

HOSTILE_HOSTS = [
    "evil.example",
    "evil.example:{port}",
    "127.0.0.1.nip.io:{port}",
    "localhost.evil.example:{port}",
    "LOCALHOST.evil:{port}",
    "attacker.localhost.:{port}",
    "127.0.0.1:{other}",
    "localhost:{other}",
    "[::1]:{other}",
    "10.0.0.1:{port}",
    "0x7f000001:{port}",
    "127.1:{port}",
    "2130706433:{port}",
    "[::1",
    "::1",
    "[::ffff:7f00:1]:{port}",
    "localhost:{port}:{port}",
    "localhost:port",
    "127.0.0.1@evil.example",
    "xn--80ak6aa92e.example:{port}",
    "",
]
FRIENDLY_HOSTS = [
    "127.0.0.1:{port}",
    "localhost:{port}",
    "LocalHost:{port}",
    "localhost.:{port}",
    "[::1]:{port}",
    "[0:0:0:0:0:0:0:1]:{port}",
    "127.0.0.1",
    "localhost",
    "traces.internal:{port}",
    "traces.internal",
]
HOSTILE_ORIGINS = [
    "http://evil.example",
    "http://evil.example:{port}",
    "https://127.0.0.1.nip.io:{port}",
    "http://127.0.0.1:{other}",
    "null",
    "file://",
    "chrome-extension://abcdef",
    "http://",
]
FRIENDLY_ORIGINS = ["http://127.0.0.1:{port}", "http://localhost:{port}", "http://[::1]:{port}"]
READS = ["/health", "/ui/", "/api/v1/traces", "/api/v1/sessions", "/api/openapi.json"]


def test_only_the_bound_host_names_are_answered(
    reliability: ReliabilityLog, store: Store, tmp_path: Path
) -> None:
    port = free_port()
    app = create_app(store, host="127.0.0.1", port=port, allowed_hosts=["traces.internal"])
    cases = 0
    fill = {"port": str(port), "other": str(port + 1 if port < 65535 else port - 1)}
    with LiveServer(app, port=port):
        for template in HOSTILE_HOSTS:
            host = template.format(**fill)
            for path in READS:
                status, body = _raw(port, _request("GET", path, host))
                cases += 1
                assert status in (400, 421), (host, path, status, body[:200])
                assert b"items" not in body and b"openapi" not in body, (host, path)
                if status == 421:
                    message = json.loads(body)["message"]
                    assert "--allowed-host" in message and "DNS rebinding" in message, message
            before = _count(store)
            otlp = _otlp_json(_span())
            headers = {"Content_Type": "application/json"}
            status, body = _raw(port, _request("POST", "/v1/traces", host, otlp, **headers))
            cases += 1
            assert status in (400, 421) and _count(store) == before, (host, status, body)
        for template in FRIENDLY_HOSTS:
            host = template.format(**fill)
            for path in READS:
                status, body = _raw(port, _request("GET", path, host))
                cases += 1
                assert status == 200, (host, path, status, body[:200])
            before = _count(store)
            otlp = _otlp_json(_span())
            headers = {"Content_Type": "application/json"}
            status, body = _raw(port, _request("POST", "/v1/traces", host, otlp, **headers))
            cases += 1
            assert status == 200 and _count(store) == before + 1, (host, status, body)
        host = f"127.0.0.1:{port}"
        for template in HOSTILE_ORIGINS:
            origin = template.format(**fill)
            before = _count(store)
            otlp = _otlp_json(_span())
            headers = {"Content_Type": "application/json", "Origin": origin}
            status, body = _raw(port, _request("POST", "/v1/traces", host, otlp, **headers))
            cases += 1
            assert status == 403 and _count(store) == before, (origin, status, body)
            assert b"cross-origin" in body
        for template in FRIENDLY_ORIGINS:
            origin = template.format(**fill)
            otlp = _otlp_json(_span())
            headers = {"Content_Type": "application/json", "Origin": origin}
            status, body = _raw(port, _request("POST", "/v1/traces", host, otlp, **headers))
            cases += 1
            assert status == 200, (origin, status, body)
    reliability.record("server: Host/Origin (DNS rebinding), live", runs=cases)


def _loopback_oracle(value: str) -> bool:
    """What a loopback-bound policy with port 8765 may accept, written independently."""
    import ipaddress
    import re

    match = re.fullmatch(r"(\[[^\]]*\]|[^:\[\]]*)(?::(\d{1,5}))?", value.strip())
    if match is None or (match[2] is not None and int(match[2]) != 8765):
        return False
    name = match[1].lower().rstrip(".").removeprefix("[").removesuffix("]")
    if name == "localhost":
        return True
    try:
        return str(ipaddress.ip_address(name)) in ("127.0.0.1", "::1")
    except ValueError:
        return False


HOST_TEXT = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"\A[a-zA-Z0-9.\[\]:@-]{0,40}\Z"),
    st.tuples(
        st.sampled_from(
            ["localhost", "127.0.0.1", "[::1]", "LOCALHOST.", "[::ffff:127.0.0.1]", ""]
        ),
        st.sampled_from(["", ".evil", ".", "x", ":", "]", "@a"]),
        st.sampled_from(["", ":8765", ":8766", ":80", ":", ":+1", ":08765", ":99999", ":8765:1"]),
    ).map("".join),
)


def test_host_policy_accepts_no_name_outside_the_bound_ones(reliability: ReliabilityLog) -> None:
    policy = HostPolicy.for_bind("127.0.0.1", 8765)

    def check(value: str) -> None:
        allowed = policy.allows(value)
        assert allowed == _loopback_oracle(value), (value, allowed)
        assert policy.allows_origin(f"http://{value}") in (allowed, False)

    fuzz(HOST_TEXT, check, examples=600).record(reliability, "server: Host/Origin, generated")


# ---- bombs and the RSS bound --------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _pb_array_span(items: bytes) -> bytes:
    """An OTLP protobuf request of one span with one attribute whose array holds ``items``."""
    key_value = _field(1, b"k") + _field(2, _field(5, items))
    span = _field(1, b"\x01" * 16) + _field(2, b"\x02" * 8) + _field(9, key_value)
    span += b"\x39" + (1_700_000_000 * 10**9).to_bytes(8, "little")
    return _field(1, _field(2, _field(2, span)))


def _gzip_stream(chunks: Iterator[bytes]) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    return b"".join([*(packer.compress(chunk) for chunk in chunks), packer.flush()])


def _zeros(total: int) -> Iterator[bytes]:
    block = bytes(1 << 20)
    for _ in range(total >> 20):
        yield block


def _peak_mb(pid: int) -> tuple[float, float]:
    """VmHWM (the peak) and VmRSS of a process, in MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmHWM"].split()[0]) / 1024, int(fields["VmRSS"].split()[0]) / 1024


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``llmops server`` in its own process, over a fresh SQLite store, also answering to
    ``flag.example`` (``--allowed-host``), ``env.example`` (``LLMOPS_ALLOWED_HOSTS``) and
    ``config.example`` (``server.allowed_hosts``)."""
    port = free_port()
    config = tmp_path / "configs" / "llmops.yaml"
    config.parent.mkdir()
    config.write_text("server:\n  allowed_hosts: [config.example]\n")
    env = {
        **os.environ,
        "LLMOPS_STORE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "LLMOPS_HOME": str(tmp_path / "home"),
        "LLMOPS_CONFIG": str(config),
        "LLMOPS_ALLOWED_HOSTS": f" env.example:{port}, ",
    }
    command = [sys.executable, "-m", "llmops", "server", "--port", str(port)]
    command += ["--allowed-host", "flag.example", "--otlp-grpc-port", "0", "--otlp-http-port", "0"]
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp_path / "server.log").read_text()[-3000:])
            time.sleep(0.2)
        yield process, url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)
        log.close()


def test_the_cli_server_answers_its_configured_hosts(
    server_process: tuple[subprocess.Popen[bytes], str],
) -> None:
    port = int(server_process[1].rsplit(":", 1)[1])
    for host in ("flag.example", f"env.example:{port}", "config.example", f"localhost:{port}"):
        assert _raw(port, _request("GET", "/api/v1/traces", host))[0] == 200, host
    for host in (f"env.example:{port + 1}", "evil.example", f"127.0.0.1:{port + 1}"):
        status, body = _raw(port, _request("GET", "/api/v1/traces", host))
        assert status == 421 and b"--allowed-host" in body, host


def test_bombs_and_huge_bodies_are_refused_with_bounded_memory(
    reliability: ReliabilityLog, server_process: tuple[subprocess.Popen[bytes], str]
) -> None:
    process, url = server_process
    pb = {"Content-Type": "application/x-protobuf"}
    pb_gzip = {**pb, "Content-Encoding": "gzip"}
    json_gzip = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    empty_values = b"\x0a\x00"  # an empty AnyValue: 2 bytes, about 60 parsed
    bombs: list[tuple[str, bytes | Iterator[bytes], dict[str, str]]] = [
        ("1 GiB of zeros, gzip", _gzip_stream(_zeros(1 << 30)), pb_gzip),
        (
            "64 MiB of empty values, gzip (the 65 KB body of the issue)",
            gzip.compress(_pb_array_span(empty_values * (32 << 20)), 9),
            pb_gzip,
        ),
        (
            "empty values just under the inflate cap",
            gzip.compress(_pb_array_span(empty_values * (MAX_DECODED_BYTES // 2 - 64)), 9),
            pb_gzip,
        ),
        (
            "the same as JSON",
            gzip.compress(
                _otlp_json(
                    _span(
                        attributes=[
                            {"key": "k", "value": {"arrayValue": {"values": [{}] * (10 << 20)}}}
                        ]
                    )
                ),
                9,
            ),
            json_gzip,
        ),
        ("64 MB body", os.urandom(64 << 20), pb),
        ("64 MB body, chunked", (os.urandom(1 << 20) for _ in range(64)), pb),
        ("deflate bomb", zlib.compress(bytes(256 << 20), 9), {**pb, "Content-Encoding": "deflate"}),
    ]
    tried = 0
    peaks: list[str] = []  # after each request, for the failure message
    with httpx.Client(base_url=url, timeout=300) as client:
        # warm up: the first request imports protobuf and opens the store
        json_headers = {"Content-Type": "application/json"}
        warm_up = client.post("/v1/traces", content=_otlp_json(_span()), headers=json_headers)
        assert warm_up.status_code == 200, warm_up.text
        baseline, _ = _peak_mb(process.pid)
        for name, body, headers in bombs:
            response = client.post("/v1/traces", content=body, headers=headers)
            peaks.append(f"{name}: peak {_peak_mb(process.pid)[0]:.0f} MB")
            tried += 1
            assert response.status_code == 413, (name, response.status_code, response.text[:300])
            assert "bytes" in response.text or "values" in response.text, (name, response.text)
        # the largest requests accepted: the bound must hold for them too
        string_value = _field(1, b"x" * (MAX_DECODED_BYTES - 1024))  # AnyValue.string_value
        key_value = _field(1, b"input.value") + _field(2, string_value)
        span = _field(1, b"\x03" * 16) + _field(2, b"\x04" * 8) + _field(9, key_value)
        true_values = b"\x0a\x02\x10\x01" * (MAX_VALUES - 10)  # AnyValue(bool_value=True)
        accepted = [
            ("values just under the value cap", _pb_array_span(true_values)),
            ("one string filling the inflate cap", _field(1, _field(2, _field(2, span)))),
        ]
        # JSON is counted by its commas and brackets, objects 5 times: 6 per value object
        json_values = [{"boolValue": True}] * (MAX_VALUES // 6 - 100)
        json_span = _span(
            attributes=[{"key": "k", "value": {"arrayValue": {"values": json_values}}}]
        )
        for name, body, headers in [
            *((name, body, pb_gzip) for name, body in accepted),
            ("JSON values just under the value cap", _otlp_json(json_span), json_gzip),
        ]:
            response = client.post("/v1/traces", content=gzip.compress(body, 6), headers=headers)
            peaks.append(f"{name}: peak {_peak_mb(process.pid)[0]:.0f} MB")
            tried += 1
            assert response.status_code == 200, (name, response.status_code, response.text[:300])
        stored = client.get(
            "/api/v1/traces/03030303030303030303030303030303/spans/0404040404040404"
        )
        assert stored.status_code == 200, stored.text[:300]
        value = stored.json()["attributes"]["input.value"]
        assert len(value) < MAX_STRING_CHARS + 100 and "truncated" in value
        assert client.get("/health").status_code == 200
    peak, now = _peak_mb(process.pid)
    grew = peak - baseline
    kept = now - baseline
    print(f"server RSS: baseline {baseline:.0f} MB, peak +{grew:.0f} MB, after +{kept:.0f} MB")
    reliability.record(
        "server: body and decompression bombs (RSS bound)",
        runs=tried,
        failures=int(grew > RSS_BOUND_MB),
    )
    assert grew < RSS_BOUND_MB, f"peak RSS grew by {grew:.0f} MB (baseline {baseline:.0f} MB): " + (
        "; ".join(peaks)
    )
    assert kept < RSS_BOUND_MB, f"RSS stays {kept:.0f} MB above the baseline"
    assert MAX_BODY_BYTES <= 16 << 20  # the README's numbers


def _parsed_messages(message: Any) -> int:
    """The messages under ``message`` as the parser builds them (the walk must not count
    fewer: it is what keeps a request under MAX_VALUES)."""
    total = 0
    for field, value in message.ListFields():
        if field.type != field.TYPE_MESSAGE:
            continue
        for item in value if field.is_repeated else [value]:
            total += 1 + _parsed_messages(item)
    return total


ANY_VALUES = st.recursive(
    st.one_of(
        st.builds(dict, string_value=st.text(max_size=200)),
        st.builds(dict, int_value=st.integers(-(2**63), 2**63 - 1)),
        st.builds(dict, bool_value=st.booleans()),
        st.builds(dict, double_value=st.floats(allow_nan=False, allow_infinity=False)),
        st.builds(dict, bytes_value=st.sampled_from(["", "AAEC", "//79"])),
        st.just({}),
    ),
    lambda inner: st.one_of(
        st.builds(lambda v: {"array_value": {"values": v}}, st.lists(inner, max_size=4)),
        st.builds(
            lambda kv: {"kvlist_value": {"values": kv}},
            st.lists(st.builds(dict, key=st.text(max_size=150), value=inner), max_size=3),
        ),
    ),
    max_leaves=10,
)
KEY_VALUES = st.lists(st.builds(dict, key=st.text(max_size=150), value=ANY_VALUES), max_size=5)


@st.composite
def pb_requests(draw: st.DrawFn) -> bytes:
    from google.protobuf.json_format import ParseDict
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    events = st.lists(st.builds(dict, name=st.text(max_size=3), attributes=KEY_VALUES), max_size=2)
    links = st.lists(
        st.builds(dict, span_id=st.just("AgICAgICAgI="), attributes=KEY_VALUES), max_size=2
    )
    span = st.builds(
        dict,
        trace_id=st.just("AQEBAQEBAQEBAQEBAQEBAQ=="),
        span_id=st.just("AgICAgICAgI="),
        name=st.text(max_size=5),
        attributes=KEY_VALUES,
        events=events,
        links=links,
        status=st.builds(dict, message=st.text(max_size=3), code=st.integers(0, 2)),
    )
    scope_spans = st.builds(
        dict,
        scope=st.builds(dict, name=st.text(max_size=5), attributes=KEY_VALUES),
        spans=st.lists(span, max_size=3),
    )
    resource_spans = st.builds(
        dict,
        resource=st.builds(dict, attributes=KEY_VALUES),
        scope_spans=st.lists(scope_spans, max_size=2),
    )
    request = ExportTraceServiceRequest()
    for item in draw(st.lists(resource_spans, min_size=1, max_size=2)):
        ParseDict(item, request.resource_spans.add(), ignore_unknown_fields=False)
    return request.SerializeToString()


def test_the_wire_walk_counts_every_message_the_parser_builds(
    reliability: ReliabilityLog,
) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from llmops.tracing._otlp import _pb_values

    # unknown fields, which the parser keeps as bytes: a group (nested) and a mistyped field
    unknown = _varint(15 << 3 | 3) + b"\x08\x01" + _varint(16 << 3 | 3) + _field(1, b"\x0a\x00")
    unknown += _varint(16 << 3 | 4) + _varint(15 << 3 | 4) + b"\x08\x05"

    def check(body: bytes) -> None:
        parsed = _parsed_messages(ExportTraceServiceRequest.FromString(body))
        assert _pb_values(body) == parsed
        hidden = unknown + body + unknown
        assert _parsed_messages(ExportTraceServiceRequest.FromString(hidden)) == parsed
        assert _pb_values(hidden) == parsed

    tally = fuzz(pb_requests(), check, examples=300)
    tally.record(reliability, "server: value cap, wire walk == parsed messages")


def test_body_size_is_checked_before_reading(store: Store) -> None:
    """A declared Content-Length over the cap is refused at once; a malformed one is 400."""
    with LiveServer(create_app(store)) as server:
        too_big = f"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\nConnection: close\r\n\r\n"  # noqa: E501
        status, body = _raw(server.port, too_big.encode())  # nothing sent after the headers
        assert status == 413 and b"send smaller batches" in body


# ---- numbers ------------------------------------------------------------------------------------

EXTREME_TIMES = st.one_of(
    st.sampled_from([0, 1, MAX_TIME_NS, MAX_TIME_NS + 1, 2**62, 2**63 - 1, 2**63, 2**64 - 1]),
    st.integers(0, 2**64 - 1),
)
EXTREME_INTS = st.one_of(
    st.sampled_from([-(2**63), 2**63 - 1, -1, 0, 2**53 + 1]), st.integers(-(2**63), 2**63 - 1)
)
EXTREME_DOUBLES = st.sampled_from([1e308, -1e308, 5e-324, -0.0, 1.7976931348623157e308, "NaN"])
ODD_TAGS = st.sampled_from(
    [
        {"stringValue": "x"},
        {"intValue": "9223372036854775807"},
        {"arrayValue": {"values": [{"arrayValue": {"values": [{"stringValue": "x"}]}}]}},
        {"kvlistValue": {"values": [{"key": "x", "value": {"stringValue": "x"}}]}},
        {"arrayValue": {"values": [{"stringValue": "x"}, {"doubleValue": 1e308}, {}]}},
    ]
)


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float) or value == "NaN":
        return {"doubleValue": value}
    return {"stringValue": value}


@st.composite
def extreme_spans(draw: st.DrawFn) -> list[dict[str, Any]]:
    spans = []
    for _ in range(draw(st.integers(1, 3))):
        attributes = [
            {"key": "gen_ai.usage.input_tokens", "value": _value(draw(EXTREME_INTS))},
            {"key": "gen_ai.usage.output_tokens", "value": _value(draw(EXTREME_INTS | EXTREME_DOUBLES))},  # noqa: E501
            {"key": "llm.token_count.prompt", "value": _value(draw(EXTREME_INTS))},
            {"key": "llmops.cost_usd", "value": _value(draw(EXTREME_DOUBLES | EXTREME_INTS))},
            {"key": "gen_ai.request.model", "value": _value(draw(EXTREME_INTS | st.just("m")))},
            {"key": "session.id", "value": _value(draw(EXTREME_INTS | st.just("s")))},
            {"key": "llmops.tags", "value": draw(ODD_TAGS)},
            {"key": "tag.tags", "value": draw(ODD_TAGS)},
        ]  # fmt: skip
        span = _span(
            startTimeUnixNano=str(draw(EXTREME_TIMES)),
            endTimeUnixNano=str(draw(EXTREME_TIMES)),
            attributes=attributes,
            events=[{"name": "e", "timeUnixNano": str(draw(EXTREME_TIMES))}],
            status={"code": draw(st.sampled_from([0, 1, 2]))},
        )
        spans.append(span)
    return spans


FILTERS: list[dict[str, Any]] = [
    {},
    {"start_ns": 0},
    {"start_ns": 2**63 - 1},
    {"end_ns": 2**63 - 1},
    {"end_ns": 0},
    {"since_ns": 0},
    {"since_ns": 2**63 - 1},
    {"status": "OK"},
    {"status": "ERROR"},
    {"status": "UNSET"},
    {"min_latency_ms": 0},
    {"min_latency_ms": 1e9},
    {"max_latency_ms": 0},
    {"max_latency_ms": 1e9},
    {"min_latency_ms": 1, "max_latency_ms": 1e9, "start_ns": 1, "end_ns": 2**63 - 1},
    {"min_cost": 0},
    {"min_cost": 1e12},
    {"model": "m"},
    {"session": "s"},
    {"tag": "x"},
    {"q": "x"},
    {"limit": 1},
]


def test_extreme_numbers_never_break_a_later_query(
    reliability: ReliabilityLog, store: Store
) -> None:
    """Spans with times up to 2**64-1, counts at the 64-bit limits and costs near the double
    limit are stored (times clamped), and then every filter, sort and page of the API and of
    ``list_traces`` answers."""
    client = httpx.Client(timeout=60)

    def check(spans: list[dict[str, Any]]) -> None:
        response = client.post(
            f"{server.url}/v1/traces",
            content=_otlp_json(*spans),
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 200, response.text[:300]
        for params in FILTERS:
            answer = client.get(f"{server.url}/api/v1/traces", params=params)
            assert answer.status_code == 200, (params, answer.text[:300])
            body = answer.json()
            for item in body["items"]:
                assert 0 <= item["start_ns"] <= item["end_ns"] <= MAX_TIME_NS, item
            if body["next_cursor"]:
                more = {**params, "cursor": body["next_cursor"]}
                page = client.get(f"{server.url}/api/v1/traces", params=more)
                assert page.status_code == 200, (params, page.text[:300])
        for path in ("", "/spans?parent=ROOT", "/timeline"):
            trace = client.get(f"{server.url}/api/v1/traces/{spans[0]['traceId']}{path}")
            assert trace.status_code == 200, (path, trace.text[:300])
        span_path = f"/{spans[0]['traceId']}/spans/{spans[0]['spanId']}"
        for path in ("/sessions", "/sessions/s", "/users", "/traces" + span_path):
            answer = client.get(f"{server.url}/api/v1{path}")
            assert answer.status_code in (200, 404), (path, answer.text[:300])
        for where in (
            TraceFilter(min_duration_ms=0),
            TraceFilter(min_duration_ms=1e12),
            TraceFilter(since_ns=0, until_ns=2**63 - 1, status="OK", tag="x", model="m"),
        ):
            list_traces(store, where=where)

    with LiveServer(create_app(store)) as server, client:
        tally = fuzz(extreme_spans(), check, examples=50)
    tally.record(reliability, f"server: extreme numeric fields then every filter ({store.dialect})")


# ---- store faults -------------------------------------------------------------------------------


def _fault_log(caplog: pytest.LogCaptureFixture, words: str) -> int:
    return sum(words in r.getMessage() for r in caplog.records if r.name == "llmops.server")


def test_a_full_disk_is_503_with_retry_after_and_recovers(
    reliability: ReliabilityLog, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLite with ``max_page_count`` at the file's size: writes fail with "database or disk is
    full" as on a full disk. Every OTLP request is then 503 with Retry-After and a one-line
    message, the fault is logged once, reads still answer, and the first request after the
    space returns is stored."""
    from sqlalchemy import event

    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    limit: dict[str, int | None] = {"pages": None}

    @event.listens_for(store.engine, "checkout")
    def _cap(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA max_page_count = {limit['pages'] or 1_073_741_823}")
        cursor.close()

    caplog.set_level(logging.WARNING, logger="llmops.server")
    headers = {"Content-Type": "application/json"}
    runs, lost = 0, 0
    with LiveServer(create_app(store)) as server, httpx.Client(timeout=60) as client:
        for outage in range(3):
            with store.engine.connect() as connection:
                limit["pages"] = int(connection.exec_driver_sql("PRAGMA page_count").scalar_one())
            refused = []
            for _ in range(4):
                big = {"key": "input.value", "value": {"stringValue": "x" * 60_000}}
                body = _otlp_json(*(_span(attributes=[big]) for _ in range(5)))
                response = client.post(f"{server.url}/v1/traces", content=body, headers=headers)
                runs += 1
                refused.append(body)
                assert response.status_code == 503, response.text[:300]
                assert response.headers["retry-after"].isdigit()
                message = response.json()["message"]
                assert "disk full" in message and "\n" not in message, message
                assert "Traceback" not in response.text and "INSERT" not in response.text
                assert client.get(f"{server.url}/api/v1/traces").status_code == 200
            assert _fault_log(caplog, "store unavailable") == outage + 1, caplog.text
            limit["pages"] = None
            before = _count(store)
            for body in refused:  # the exporter's retries, now that there is room
                response = client.post(f"{server.url}/v1/traces", content=body, headers=headers)
                assert response.status_code == 200, response.text[:300]
            lost += 20 - (_count(store) - before)
            assert _fault_log(caplog, "store recovered for writes after 4 failed") == outage + 1
    reliability.record("server: store faults -> 503 Retry-After, recovery (sqlite full disk)",
                       runs=runs, data_lost=lost)  # fmt: skip
    assert lost == 0


def _pg_ctl(cluster: PostgresCluster, *args: str) -> None:
    cluster._run("pg_ctl", *args, "-D", str(cluster.data), timeout=90)


@pytest.mark.postgres
def test_a_stopped_postgresql_is_503_and_the_server_recovers(
    reliability: ReliabilityLog, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL stopped under a running server (connection refused): ingest and reads are
    503 with Retry-After, logged once; after a restart both work again without a restart of
    the llmops server."""
    reason = require_or_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    caplog.set_level(logging.WARNING, logger="llmops.server")
    headers = {"Content-Type": "application/json"}
    with PostgresCluster(find_pg_bin()) as cluster:
        store = open_store(cluster.create_database("faults"))
        assert cluster.root is not None
        options = f"-p {cluster.port} -k {cluster.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        runs = 0
        with LiveServer(create_app(store)) as server, httpx.Client(timeout=60) as client:
            url = server.url
            assert client.post(f"{url}/v1/traces", content=_otlp_json(_span()), headers=headers)
            _pg_ctl(cluster, "stop", "-w", "-m", "fast")
            for _ in range(3):
                body = _otlp_json(_span())
                response = client.post(f"{url}/v1/traces", content=body, headers=headers)
                read = client.get(f"{url}/api/v1/traces")
                runs += 2
                for answer in (response, read):
                    assert answer.status_code == 503, answer.text[:300]
                    assert answer.headers["retry-after"].isdigit()
                    assert "Traceback" not in answer.text and "psycopg" not in answer.text
            assert _fault_log(caplog, "store unavailable for writes") == 1, caplog.text
            assert _fault_log(caplog, "store unavailable for reads") == 1, caplog.text
            log = str(cluster.root / "server.log")
            _pg_ctl(cluster, "start", "-w", "-t", "60", "-l", log, "-o", options)
            response = client.post(f"{url}/v1/traces", content=body, headers=headers)
            assert response.status_code == 200, response.text[:300]
            assert client.get(f"{url}/api/v1/traces").json()["items"]
            assert _fault_log(caplog, "store recovered for writes") == 1
            assert _fault_log(caplog, "store recovered for reads") == 1
        store.engine.dispose()
    reliability.record(
        "server: store faults -> 503 Retry-After, recovery (postgresql down)", runs=runs
    )


def test_no_route_answers_with_a_traceback(store: Store) -> None:
    app = create_app(store)

    def boom() -> None:
        raise RuntimeError("secret internals at /etc/llmops/key")

    app.add_api_route("/api/v1/boom", boom)
    with LiveServer(app) as server:
        response = httpx.get(f"{server.url}/api/v1/boom", timeout=30)
    assert response.status_code == 500
    assert response.json() == {
        "code": 500,
        "message": "internal server error (details are in the server's log)",
    }


# ---- the tag filter -----------------------------------------------------------------------------

TAGS = ["prod", "a%b", "a_b", 'q"uote', "back\\slash", "ünïcode 🙂", "x,y", "[1]", "{}", "null"]


def _row(attributes: dict[str, Any]) -> dict[str, Any]:
    n = next(_ids)
    return {
        "trace_id": f"{n:032x}",
        "span_id": f"{n:016x}",
        "parent_span_id": None,
        "name": f"t{n}",
        "kind": "internal",
        "start_ns": 1_700_000_000_000_000_000 + n,
        "end_ns": 1_700_000_001_000_000_000 + n,
        "status_code": "OK",
        "attributes": attributes,
    }


def test_the_tag_filter_matches_tags_only(reliability: ReliabilityLog, store: Store) -> None:
    rng = random.Random(15)
    cases = 0
    sink = StoreSink(store)
    with LiveServer(create_app(store)) as server, httpx.Client(timeout=30) as client:
        for tag in TAGS:
            other = f"{tag} {rng.choice(TAGS)}"  # in no other case's answer
            tagged = [
                _row({"llmops.tags": [other, tag]}),
                _row({"tag.tags": [tag]}),
                _row({"llmops.tags": tag}),
            ]
            untagged = [
                _row({"input.value": tag}),
                _row({"metadata": {"tags": [tag]}, "note": f'"{tag}"'}),
                _row({"llmops.tags": [tag + "-2", "x" + tag, other]}),
                _row({"tag.tags": {"k": tag}}),
                _row({"llmops.tags": [[tag]]}),
                _row({"user.id": tag, "session.id": tag}),
            ]
            sink.write([*tagged, *untagged])
            want = {row["trace_id"] for row in tagged}
            answer = client.get(f"{server.url}/api/v1/traces", params={"tag": tag, "limit": 500})
            assert answer.status_code == 200, answer.text[:300]
            got = {item["trace_id"] for item in answer.json()["items"]}
            listed = {t.trace_id for t in list_traces(store, limit=500, where=TraceFilter(tag=tag))}
            cases += 1
            assert got == want, (tag, got ^ want)
            assert listed == want, (tag, listed ^ want)
    reliability.record(f"server: tag filter matches tags only ({store.dialect})", runs=cases)
