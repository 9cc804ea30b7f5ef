"""Fuzzing the OTLP/HTTP receiver of a real server, on SQLite and PostgreSQL.

Bodies: valid requests with random attributes (huge strings, NULs, deep nesting, integers
past 64 bits), truncated or bit-flipped protobuf and JSON, random bytes, invalid trace and
span ids, wrong content types and broken gzip. Every answer is 200 or a 4xx with a message,
never a 5xx, and a request is stored whole or not at all: the span count moves by exactly
the spans of an accepted request and not at all for a refused one.
"""

from __future__ import annotations

import gzip
import itertools
import json
from typing import Any

import httpx
import pytest
from _live_server import LiveServer
from hypothesis import strategies as st

from llmops.server import create_app
from llmops.store import Store
from llmops.tracing._otlp import decode_otlp
from reliability.conftest import ReliabilityLog
from reliability.test_fuzz_templates import fuzz

_ids = itertools.count(1)


def _span_id() -> str:
    return f"{next(_ids):016x}"


#: Stands for a 300,000-character string, put in after drawing (hypothesis shows every draw).
HUGE = "@HUGE@"
KEYS = st.sampled_from(["k", "gen_ai.prompt", "input.value", "api_key", "x\x00y", ""]) | st.text(
    max_size=8
)
SCALARS = st.one_of(
    st.fixed_dictionaries({"stringValue": st.text(max_size=30)}),
    st.fixed_dictionaries({"stringValue": st.sampled_from([HUGE, "\x00" * 10, "🙂" * 999])}),
    st.fixed_dictionaries({"intValue": st.integers(-(2**70), 2**70).map(str)}),
    st.fixed_dictionaries({"intValue": st.integers(-(2**70), 2**70)}),
    st.fixed_dictionaries({"doubleValue": st.floats() | st.sampled_from(["NaN", "Infinity", "x"])}),
    st.fixed_dictionaries({"boolValue": st.booleans() | st.integers(0, 1)}),
    st.fixed_dictionaries({"bytesValue": st.text(max_size=12)}),
    st.just({}),
    st.just(None),
    st.just("not an AnyValue"),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.fixed_dictionaries(
            {"arrayValue": st.fixed_dictionaries({"values": st.lists(inner, max_size=3)})}
        )
        | st.fixed_dictionaries(
            {
                "kvlistValue": st.fixed_dictionaries(
                    {
                        "values": st.lists(
                            st.fixed_dictionaries({"key": KEYS, "value": inner}), max_size=3
                        )
                    }
                )
            }
        )
    ),
    max_leaves=6,
)
ATTRIBUTES = st.lists(st.fixed_dictionaries({"key": KEYS, "value": VALUES}), max_size=4)
IDS = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "0" * 32, "zz" * 16, "AAAAAAAAAAAAAAAAAAAAAA==", "abc", None, 7]),
    st.binary(min_size=1, max_size=20).map(bytes.hex),
)
TIMES = st.one_of(
    st.integers(0, 2**62).map(str),
    st.sampled_from(["-1", "1e3", "", "99999999999999999999999", 2**64, 1.5, None]),
)


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"stringValue": "deep"}
    for _ in range(depth):
        value = {"arrayValue": {"values": [value]}}
    return value


@st.composite
def json_span(draw: st.DrawFn) -> dict[str, Any]:
    span: dict[str, Any] = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": _span_id(),
        "name": draw(st.text(max_size=20)),
        "kind": draw(st.sampled_from([1, 3, "SPAN_KIND_CLIENT", 99, "bogus"])),
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001000000000",
        "attributes": draw(ATTRIBUTES),
    }
    broken = draw(st.sampled_from(["none", "none", "traceId", "spanId", "parentSpanId", "time"]))
    if broken == "time":
        span[draw(st.sampled_from(["startTimeUnixNano", "endTimeUnixNano"]))] = draw(TIMES)
    elif broken != "none":
        span[broken] = draw(IDS)
    if draw(st.booleans()):
        span["events"] = [
            {"name": "e", "timeUnixNano": draw(TIMES), "attributes": draw(ATTRIBUTES)}
        ]
    if draw(st.integers(0, 15)) == 0:
        span["attributes"].append(
            {"key": "deep", "value": _nested(draw(st.sampled_from([30, 64, 65, 300])))}
        )
    if draw(st.booleans()):
        span["status"] = {
            "code": draw(st.sampled_from([0, 2, "STATUS_CODE_ERROR", 7, "x"])),
            "message": draw(st.text(max_size=10)),
        }
    return span


@st.composite
def json_request(draw: st.DrawFn) -> bytes:
    spans = draw(st.lists(json_span(), min_size=1, max_size=4))
    request = {
        "resourceSpans": [
            {
                "resource": {"attributes": draw(ATTRIBUTES)},
                "scopeSpans": [{"scope": {"name": "fuzz"}, "spans": spans}],
            }
        ]
    }
    return json.dumps(request).replace(HUGE, "x" * 300_000).encode()


def _protobuf(spans: int) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for _ in range(spans):
        span = scope.spans.add(
            trace_id=bytes.fromhex("5b8efff798038103d269b633813fc60c"),
            span_id=bytes.fromhex(_span_id()),
            name="pb",
            start_time_unix_nano=1_700_000_000_000_000_000,
            end_time_unix_nano=1_700_000_001_000_000_000,
        )
        span.attributes.add(key="input.value").value.string_value = "hello"
    return request.SerializeToString()


@st.composite
def request(draw: st.DrawFn) -> tuple[bytes, str, str | None]:
    """(body, content type, content encoding)."""
    kind = draw(
        st.sampled_from(["json", "json", "pb", "truncate", "flip", "random", "type", "gzip"])
    )
    body = draw(json_request()) if draw(st.booleans()) else _protobuf(draw(st.integers(1, 3)))
    content_type = "application/json" if body.startswith(b"{") else "application/x-protobuf"
    encoding = None
    if kind == "pb":
        body, content_type = _protobuf(draw(st.integers(1, 3))), "application/x-protobuf"
    elif kind == "truncate":
        body = body[: draw(st.integers(0, max(len(body) - 1, 0)))]
    elif kind == "flip":
        at = draw(st.integers(0, len(body) - 1))
        body = body[:at] + bytes([body[at] ^ draw(st.integers(1, 255))]) + body[at + 1 :]
    elif kind == "random":
        body = draw(st.binary(max_size=200))
    elif kind == "type":
        content_type = draw(
            st.sampled_from(
                [
                    "text/plain",
                    "",
                    "application/xml",
                    "application/json-seq",
                    "multipart/form-data; boundary=x",
                    "application/x-protobuf; charset=utf-8",
                ]
            )
        )
    elif kind == "gzip":
        encoding = draw(st.sampled_from(["gzip", "gzip", "br", "deflate"]))
        zipped = gzip.compress(body)
        body = zipped[: draw(st.integers(1, len(zipped)))]
    return body, content_type, encoding


def _count(store: Store) -> int:
    from sqlalchemy import text

    with store.engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM spans")).scalar_one())


@pytest.fixture
def server(store: Store) -> Any:
    with LiveServer(create_app(store)) as live:
        yield live


def test_otlp_payloads_are_stored_whole_or_refused_with_a_4xx(
    reliability: ReliabilityLog, store: Store, server: LiveServer
) -> None:
    client = httpx.Client(timeout=30)

    def check(example: tuple[bytes, str, str | None]) -> None:
        body, content_type, encoding = example
        headers = {"Content-Type": content_type}
        if encoding:
            headers["Content-Encoding"] = encoding
        before = _count(store)
        response = client.post(f"{server.url}/v1/traces", content=body, headers=headers)
        after = _count(store)
        assert response.status_code in (200, 400, 413, 415), (
            response.status_code,
            response.text[:200],
        )
        if response.status_code != 200:
            assert after == before, f"a refused request stored {after - before} spans"
            assert len(response.text) > 10, f"no message: {response.text!r}"
            return
        rows = decode_otlp(body if encoding is None else gzip.decompress(body), content_type)
        assert after - before == len({(r["trace_id"], r["span_id"]) for r in rows}), "stored half"

    with client:
        tally = fuzz(request(), check, examples=150)
    tally.record(reliability, "fuzz: OTLP payloads")


# ---- the SDK -----------------------------------------------------------------------------------

PYTHON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**80), 2**80)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["\x00", "a\x00b", "\ud800"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=5) | st.integers(), inner, max_size=3)
    ),
    max_leaves=8,
)


def _deep(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def test_sdk_span_attributes_never_lose_a_batch(reliability: ReliabilityLog, store: Store) -> None:
    """Any attribute value (integers past 64 bits, NULs, lone surrogates, non-string keys, deep
    nesting) is stored with its span, and never costs the other spans of the batch."""
    from llmops.tracing import configure_tracing, flush, get_trace, shutdown_tracing, span

    configure_tracing(store)

    def check(example: tuple[dict[Any, Any], int]) -> None:
        attributes, depth = example
        with span("root") as root:
            with span("sibling"):
                pass
            with span("odd \x00 name") as odd:
                odd.set({str(k): v for k, v in attributes.items()})
                odd.set("deep", _deep(depth))
                odd.add_event("event", {"value": attributes, "deep": _deep(depth)})
                odd.set_status("ERROR", "message \x00")
        assert flush(5), "the spans were not written"
        names = sorted(
            row.name.replace("\ufffd", "\x00") for row in get_trace(store, root.trace_id_hex)
        )
        assert names == ["odd \x00 name", "root", "sibling"], names

    try:
        tally = fuzz(
            st.tuples(
                st.dictionaries(st.text(max_size=5), PYTHON_VALUES, max_size=4),
                st.sampled_from([0, 5, 40, 300]),
            ),
            check,
            examples=40,
        )
    finally:
        shutdown_tracing()
    tally.record(reliability, "fuzz: SDK span attributes")
