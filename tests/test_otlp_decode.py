"""OTLP/HTTP trace decoding: conformance on real captured payloads, JSON variants, bad input."""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from llmops._exceptions import InputError
from llmops.tracing._exporter import span_to_row
from llmops.tracing._otlp import UnsupportedContentError, decode_otlp
from llmops.tracing._semconv import to_genai

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "otlp-traces"
CAPTURED = DATA / "captured"
needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"OTLP fixtures not found at {DATA} (shared/ beside the repo)"
)
PB = "application/x-protobuf"
JSON = "application/json"
ROW_KEYS = {
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "start_ns",
    "end_ns",
    "status_code",
    "status_message",
    "attributes",
    "events",
    "resource",
    "scope",
    "otel_kind",
    "links",
    "trace_state",
}
NO_USAGE = {"openinference-langchain"}  # FakeListChatModel reports no token usage


def _captures() -> list[str]:
    if not CAPTURED.is_dir():
        return []
    return sorted(p.name.removesuffix(".otlp.json") for p in CAPTURED.glob("*.otlp.json"))


def _payloads() -> list[Path]:
    if not DATA.is_dir():
        return []
    files = sorted(CAPTURED.glob("*.otlp.pb")) + sorted(CAPTURED.glob("*.otlp.json"))
    return [*files, DATA / "opentelemetry-proto-examples" / "trace.json"]


def _headers(path: Path) -> tuple[str, str | None]:
    """Content type and encoding for ``path``, from its capture's request headers."""
    default = PB if path.suffix == ".pb" else JSON
    name = path.name.split(".otlp.")[0]
    headers_file = path.with_name(f"{name}.request-headers.json")
    if not headers_file.exists():
        return default, None
    headers = {k.lower(): v for k, v in json.loads(headers_file.read_text())["headers"].items()}
    content_type = headers.get("content-type", default)
    if ("json" in content_type) != (path.suffix == ".json"):
        return default, None  # the headers describe the other encoding of this capture
    return content_type, headers.get("content-encoding")


def _decode(path: Path) -> list[dict[str, Any]]:
    content_type, encoding = _headers(path)
    return decode_otlp(path.read_bytes(), content_type, encoding)


def _span_counts() -> dict[str, int]:
    text = (DATA / "SOURCE.txt").read_text()
    section = text[text.index("Span counts:") :]
    return {name: int(count) for name, count in re.findall(r"([\w-]+) (\d+) \(", section)}


# --- conformance on the captured payloads ------------------------------------------------------


@needs_data
def test_source_lists_a_span_count_for_every_capture() -> None:
    assert set(_captures()) <= set(_span_counts()), "SOURCE.txt lacks a capture's span count"
    assert len(_captures()) == 6


@needs_data
@pytest.mark.parametrize("path", _payloads(), ids=lambda p: p.name)
def test_payload_decodes_to_valid_rows(path: Path) -> None:
    rows = _decode(path)
    name = path.name.split(".otlp.")[0]
    expected = 1 if path.name == "trace.json" else _span_counts()[name]
    assert len(rows) == expected
    for row in rows:
        assert set(row) == ROW_KEYS
        assert re.fullmatch(r"[0-9a-f]{32}", row["trace_id"])
        assert re.fullmatch(r"[0-9a-f]{16}", row["span_id"])
        parent = row["parent_span_id"]
        assert parent is None or re.fullmatch(r"[0-9a-f]{16}", parent)
        assert isinstance(row["start_ns"], int) and isinstance(row["end_ns"], int)
        assert row["end_ns"] >= row["start_ns"] > 0
        assert row["status_code"] in ("UNSET", "OK", "ERROR")
        assert row["kind"] and row["kind"] == row["kind"].lower()
        assert row["otel_kind"] in ("INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
        assert "llmops.span.kind" not in row["attributes"]
        assert isinstance(row["resource"].get("service.name"), str)
        json.dumps(row, allow_nan=False)  # JSON-able as is


@needs_data
@pytest.mark.parametrize("name", _captures())
def test_parent_links_stay_inside_the_trace(name: str) -> None:
    for suffix in (".otlp.pb", ".otlp.json"):
        path = CAPTURED / f"{name}{suffix}"
        if not path.exists():
            continue
        rows = _decode(path)
        ids = {(row["trace_id"], row["span_id"]) for row in rows}
        assert len(ids) == len(rows)
        for row in rows:
            if row["parent_span_id"] is not None:
                assert (row["trace_id"], row["parent_span_id"]) in ids
        assert any(row["parent_span_id"] is None for row in rows)


@needs_data
@pytest.mark.parametrize("name", [n for n in _captures() if (CAPTURED / f"{n}.otlp.pb").exists()])
def test_protobuf_and_json_of_a_capture_decode_alike(name: str) -> None:
    from_pb = _decode(CAPTURED / f"{name}.otlp.pb")
    from_json = _decode(CAPTURED / f"{name}.otlp.json")

    def keys(rows: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
        fields = ("trace_id", "span_id", "name", "kind", "start_ns")
        return {tuple(row[f] for f in fields) for row in rows}

    assert keys(from_pb) == keys(from_json)
    assert from_pb == from_json  # every field, attribute and event too


@needs_data
@pytest.mark.parametrize("name", sorted(set(_captures()) - NO_USAGE))
def test_llm_spans_report_tokens_and_404_errors(name: str) -> None:
    rows = _decode(CAPTURED / f"{name}.otlp.json")
    errors = [row for row in rows if row["status_code"] == "ERROR"]
    assert len(errors) == 1
    error = errors[0]
    assert to_genai(error["attributes"]).get("gen_ai.request.model") == "error-model"
    assert "404" in error["status_message"] or "not found" in error["status_message"]
    chats = [row for row in rows if row["kind"] == "llm" and row["status_code"] != "ERROR"]
    assert chats
    for row in chats:
        attributes = to_genai(row["attributes"])
        assert attributes["gen_ai.usage.input_tokens"] > 0
        assert attributes["gen_ai.usage.output_tokens"] > 0
        assert attributes["gen_ai.request.model"].startswith("gpt-4o-mini")


@needs_data
def test_span_kinds_of_the_captures() -> None:
    def kinds(name: str) -> list[str]:
        return sorted(row["kind"] for row in _decode(CAPTURED / f"{name}.otlp.json"))

    assert kinds("openinference-openai") == ["embedding", "llm", "llm", "llm", "llm"]
    assert kinds("otel-genai-openai-v2-latest") == ["embedding", "llm", "llm", "llm", "llm"]
    assert kinds("js-otlp-http-json") == ["chain", "llm", "llm", "retriever"]
    assert kinds("openinference-langchain").count("chain") == 6
    assert {"retriever", "llm", "prompt"} <= set(kinds("openinference-langchain"))


@needs_data
def test_official_example_with_uppercase_hex_ids() -> None:
    [row] = _decode(DATA / "opentelemetry-proto-examples" / "trace.json")
    assert row["trace_id"] == "5b8efff798038103d269b633813fc60c"
    assert row["span_id"] == "eee19b7ec3c1b174"
    assert row["parent_span_id"] == "eee19b7ec3c1b173"  # a remote parent, not in the payload
    assert row["kind"] == "server"
    assert row["otel_kind"] == "SERVER"
    assert row["scope"] == {
        "name": "my.library",
        "version": "1.0.0",
        "attributes": {"my.scope.attribute": "some scope attribute"},
    }
    assert row["resource"] == {"service.name": "my.service"}
    assert row["attributes"] == {"my.span.attr": "some value"}


@needs_data
def test_gzip_and_content_type_parameters() -> None:
    body = (CAPTURED / "traceloop-openai.otlp.pb").read_bytes()
    plain = decode_otlp(body, PB)
    assert decode_otlp(gzip.compress(body), "application/x-protobuf; foo=bar", "GZIP") == plain
    text = (CAPTURED / "traceloop-openai.otlp.json").read_bytes()
    assert decode_otlp(gzip.compress(text), "Application/JSON; charset=utf-8", "gzip") == plain


@needs_data
def test_js_exporter_json_numbers_and_events() -> None:
    rows = {row["name"]: row for row in _decode(CAPTURED / "js-otlp-http-json.otlp.json")}
    chat = rows["chat gpt-4o-mini"]
    assert chat["attributes"]["gen_ai.usage.input_tokens"] == 42
    assert chat["attributes"]["gen_ai.response.finish_reasons"] == ["stop"]
    assert chat["attributes"]["gen_ai.request.stream"] is False
    assert chat["events"][0]["name"] == "gen_ai.content.completion"
    assert chat["events"][0]["time_ns"] == 1795908976496326614
    assert rows["rag.query"]["kind"] == "chain" and rows["rag.query"]["status_code"] == "OK"
    assert rows["chat error-model"]["status_message"] == "model not found"


# --- synthetic payloads ------------------------------------------------------------------------

TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"


def _json_span(**fields: Any) -> dict[str, Any]:
    span = {
        "traceId": TRACE,
        "spanId": SPAN,
        "name": "op",
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001000000000",
    }
    span.update(fields)
    return span


def _json_body(*spans: dict[str, Any], resource: list[Any] | None = None) -> bytes:
    request = {
        "resourceSpans": [
            {
                "resource": {"attributes": resource or []},
                "scopeSpans": [{"scope": {"name": "lib"}, "spans": list(spans)}],
            }
        ]
    }
    return json.dumps(request).encode()


def _one(body: bytes, content_type: str = JSON) -> dict[str, Any]:
    [row] = decode_otlp(body, content_type)
    return row


def _attr(key: str, value: Any) -> dict[str, Any]:
    return {"key": key, "value": value}


def test_json_ids_in_any_case_or_base64() -> None:
    row = _one(_json_body(_json_span(traceId=TRACE.upper(), spanId=SPAN.upper(), parentSpanId="")))
    assert (row["trace_id"], row["span_id"], row["parent_span_id"]) == (TRACE, SPAN, None)
    b64 = {
        "traceId": base64.b64encode(bytes.fromhex(TRACE)).decode(),
        "spanId": base64.b64encode(bytes.fromhex(SPAN)).decode(),
        "parentSpanId": base64.b64encode(bytes.fromhex("00f067aa0ba902b7")).decode(),
    }
    row = _one(_json_body(_json_span(**b64)))
    assert (row["trace_id"], row["span_id"], row["parent_span_id"]) == (
        TRACE,
        SPAN,
        "00f067aa0ba902b7",
    )


def test_json_numbers_strings_and_enum_names() -> None:
    span = _json_span(
        kind="SPAN_KIND_CONSUMER",
        startTimeUnixNano=1700000000000000000,
        endTimeUnixNano="1700000000000000500",
        status={"code": "STATUS_CODE_ERROR", "message": "boom"},
        attributes=[_attr("n", {"intValue": 7}), _attr("s", {"intValue": "-8"})],
        events=[{"name": "e", "timeUnixNano": 5, "attributes": [_attr("x", {"boolValue": True})]}],
        futureField={"ignored": True},
    )
    row = _one(_json_body(span))
    assert row["kind"] == "consumer"
    assert (row["start_ns"], row["end_ns"]) == (1700000000000000000, 1700000000000000500)
    assert (row["status_code"], row["status_message"]) == ("ERROR", "boom")
    assert row["attributes"] == {"n": 7, "s": -8}
    assert row["events"] == [{"name": "e", "time_ns": 5, "attributes": {"x": True}}]
    row = _one(_json_body(_json_span(kind=2, status={"code": 1})))
    assert (row["kind"], row["status_code"], row["status_message"]) == ("server", "OK", None)


def test_any_value_kinds() -> None:
    attributes = [
        _attr("str", {"stringValue": "a"}),
        _attr("double", {"doubleValue": 0.5}),
        _attr("nan", {"doubleValue": "NaN"}),
        _attr("bytes", {"bytesValue": "AAE="}),
        _attr("list", {"arrayValue": {"values": [{"intValue": "1"}, {"stringValue": "b"}, {}]}}),
        _attr("map", {"kvlistValue": {"values": [_attr("k", {"boolValue": False})]}}),
        _attr("empty", {}),
        _attr("empty.list", {"arrayValue": {}}),
    ]
    row = _one(_json_body(_json_span(attributes=attributes)))
    assert row["attributes"] == {
        "str": "a",
        "double": 0.5,
        "nan": None,
        "bytes": "AAE=",
        "list": [1, "b", None],
        "map": {"k": False},
        "empty": None,
        "empty.list": [],
    }


def _pb_body(**span_fields: Any) -> bytes:
    fields: dict[str, Any] = {
        "trace_id": bytes.fromhex(TRACE),
        "span_id": bytes.fromhex(SPAN),
        "name": "op",
        "start_time_unix_nano": 10,
        "end_time_unix_nano": 20,
    }
    fields.update(span_fields)
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(
                    attributes=[KeyValue(key="service.name", value=AnyValue(string_value="svc"))]
                ),
                scope_spans=[ScopeSpans(spans=[Span(**fields)])],
            )
        ]
    )
    body: bytes = request.SerializeToString()
    return body


def test_protobuf_values_and_defaults() -> None:
    attributes = [
        KeyValue(key="b", value=AnyValue(bytes_value=b"\x00\x01")),
        KeyValue(key="i", value=AnyValue(int_value=-3)),
        KeyValue(key="inf", value=AnyValue(double_value=float("inf"))),
        KeyValue(key="unset", value=AnyValue()),
        KeyValue(
            key="list",
            value=AnyValue(array_value=ArrayValue(values=[AnyValue(string_value="x")])),
        ),
        KeyValue(key="llmops.span.kind", value=AnyValue(string_value="evaluator")),
    ]
    row = _one(_pb_body(attributes=attributes, end_time_unix_nano=0), PB)
    assert row["attributes"] == {"b": "AAE=", "i": -3, "inf": None, "unset": None, "list": ["x"]}
    assert row["kind"] == "evaluator"
    assert row["end_ns"] == row["start_ns"] == 10
    assert (row["scope"], row["resource"]) == (None, {"service.name": "svc"})
    assert row["parent_span_id"] is None and row["events"] is None
    assert (row["status_code"], row["status_message"]) == ("UNSET", None)
    zero_parent = _one(
        _pb_body(parent_span_id=bytes(8), status=Status(code=Status.STATUS_CODE_ERROR)), PB
    )
    assert zero_parent["parent_span_id"] is None
    assert zero_parent["status_code"] == "ERROR"


@pytest.mark.parametrize(
    ("attributes", "otel_kind", "kind"),
    [
        ({"openinference.span.kind": "RETRIEVER", "gen_ai.operation.name": "chat"}, 3, "retriever"),
        ({"openinference.span.kind": "GUARDRAIL"}, 1, "guardrail"),
        ({"gen_ai.operation.name": "chat"}, 3, "llm"),
        ({"gen_ai.operation.name": "generate_content"}, 3, "llm"),
        ({"gen_ai.operation.name": "embeddings"}, 3, "embedding"),
        ({"gen_ai.operation.name": "execute_tool"}, 1, "tool"),
        ({"gen_ai.operation.name": "create_agent"}, 1, "agent"),
        ({"gen_ai.operation.name": "invoke_agent", "llmops.span.kind": "chain"}, 1, "agent"),
        ({"llmops.span.kind": "evaluator"}, 1, "evaluator"),
        ({"gen_ai.operation.name": "something_new"}, 4, "producer"),
        ({}, 0, "internal"),
        ({}, 5, "consumer"),
    ],
)
def test_kind_derivation(attributes: dict[str, Any], otel_kind: int, kind: str) -> None:
    values = [_attr(k, {"stringValue": v}) for k, v in attributes.items()]
    row = _one(_json_body(_json_span(kind=otel_kind, attributes=values)))
    assert row["kind"] == kind
    assert "llmops.span.kind" not in row["attributes"]


def test_rows_have_the_exporter_row_keys() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.get_tracer("t").start_span("s").end()
    provider.shutdown()
    [span] = exporter.get_finished_spans()
    assert set(span_to_row(span)) == ROW_KEYS


def test_empty_requests_decode_to_no_rows() -> None:
    assert decode_otlp(b"{}", JSON) == []
    assert decode_otlp(b"", PB) == []
    assert decode_otlp(b'{"resourceSpans": [{"scopeSpans": [{}]}]}', JSON) == []


# --- bad input ---------------------------------------------------------------------------------


def _pb_fixture() -> bytes:
    return _pb_body(attributes=[KeyValue(key="k", value=AnyValue(string_value="v" * 50))])


@pytest.mark.parametrize(
    ("body", "content_type", "encoding", "message"),
    [
        (_pb_fixture()[:-7], PB, None, "invalid OTLP protobuf"),
        (b"\xff\xff\xff\xff garbage \x00\x01", PB, None, "invalid OTLP protobuf"),
        (b"{not json", JSON, None, "invalid OTLP/JSON"),
        (b"\xff\xfe", JSON, None, "invalid OTLP/JSON"),
        (b"[1, 2]", JSON, None, "expected an object, got list"),
        (b'"text"', JSON, None, "expected an object, got str"),
        (b"42", JSON, None, "expected an object, got int"),
        (_json_body(_json_span(traceId="abcde")), JSON, None, "invalid traceId 'abcde'"),
        (_json_body(_json_span(traceId="")), JSON, None, "traceId"),
        (_json_body(_json_span(spanId="0" * 16)), JSON, None, "spanId"),
        (_json_body(_json_span(parentSpanId="xyz")), JSON, None, "parentSpanId"),
        (_json_body(_json_span(startTimeUnixNano="soon")), JSON, None, "startTimeUnixNano"),
        (_json_body(_json_span(kind="SPAN_KIND_NOPE")), JSON, None, "kind"),
        (_json_body(_json_span(attributes=[{"value": {}}])), JSON, None, "invalid attribute"),
        (_json_body(_json_span(attributes=[_attr("k", "v")])), JSON, None, "AnyValue"),
        (_json_body(_json_span(attributes=[_attr("k", {"stringValue": 1})])), JSON, None, "1"),
        (b'{"resourceSpans": {}}', JSON, None, "'resourceSpans' must be an array"),
        (b'{"resourceSpans": [1]}', JSON, None, "got int"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": ["x"]}]}]}', JSON, None, "span must"),
        (_pb_body(trace_id=b"\x01\x02\x03"), PB, None, "invalid traceId"),
        (_pb_body(trace_id=bytes(16)), PB, None, "invalid traceId"),
        (_pb_body(span_id=b""), PB, None, "invalid spanId"),
        (_pb_body(parent_span_id=b"\x01"), PB, None, "invalid parentSpanId"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00garbage", PB, "gzip", "invalid gzip body"),
        (gzip.compress(b"{}", mtime=0)[:-6], JSON, "gzip", "invalid gzip body"),
        (b"", JSON, "gzip", "invalid gzip body"),
    ],
)
def test_bad_input_raises_input_error(
    body: bytes, content_type: str, encoding: str | None, message: str
) -> None:
    with pytest.raises(InputError) as caught:
        decode_otlp(body, content_type, encoding)
    text = str(caught.value)
    assert message in text
    assert "\n" not in text and len(text) < 400


@pytest.mark.parametrize(
    ("content_type", "encoding"),
    [("text/plain", None), ("application/xml", None), ("", None), (PB, "br"), (JSON, "zstd")],
)
def test_unsupported_content_type_or_encoding(content_type: str, encoding: str | None) -> None:
    with pytest.raises(UnsupportedContentError, match="unsupported Content-"):
        decode_otlp(b"{}", content_type, encoding)
    assert issubclass(UnsupportedContentError, InputError)


def test_random_bytes_never_raise_anything_but_input_error() -> None:
    import random

    rng = random.Random(7)
    valid = _pb_fixture()
    for _ in range(500):
        body = bytearray(valid)
        for _ in range(rng.randint(1, 5)):
            body[rng.randrange(len(body))] = rng.randrange(256)
        for content_type in (PB, JSON):
            with contextlib.suppress(InputError):
                decode_otlp(bytes(body), content_type)


def test_gzip_bomb_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmops.tracing import _otlp

    monkeypatch.setattr(_otlp, "MAX_DECODED_BYTES", 1000)
    with pytest.raises(InputError, match="inflates to more than 1000 bytes"):
        decode_otlp(gzip.compress(b" " * 5000), JSON, "gzip")


@needs_data
@pytest.mark.parametrize("path", sorted(CAPTURED.glob("*.otlp.pb")), ids=lambda p: p.name)
def test_truncated_capture_raises_input_error(path: Path) -> None:
    body = path.read_bytes()
    with pytest.raises(InputError, match="invalid OTLP protobuf"):
        decode_otlp(body[: len(body) // 2], PB)


# --- OTel kind, links, scope and trace state -----------------------------------------------------

OTHER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
OTHER_SPAN = "00f067aa0ba902b7"


def test_links_otel_kind_scope_and_trace_state_in_protobuf() -> None:
    from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope

    link = Span.Link(
        trace_id=bytes.fromhex(OTHER_TRACE),
        span_id=bytes.fromhex(OTHER_SPAN),
        trace_state="vendor=1",
        attributes=[KeyValue(key="reason", value=AnyValue(string_value="retry of"))],
    )
    span = Span(
        trace_id=bytes.fromhex(TRACE),
        span_id=bytes.fromhex(SPAN),
        name="op",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=10,
        end_time_unix_nano=20,
        trace_state="rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
        links=[link],
    )
    scope = InstrumentationScope(
        name="openinference.instrumentation.openai",
        version="0.1.30",
        attributes=[KeyValue(key="lang", value=AnyValue(string_value="py"))],
    )
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(scope=scope, spans=[span])])]
    )
    row = _one(request.SerializeToString(), PB)
    assert row["otel_kind"] == "CLIENT" and row["kind"] == "client"
    assert row["links"] == [
        {
            "trace_id": OTHER_TRACE,
            "span_id": OTHER_SPAN,
            "trace_state": "vendor=1",
            "attributes": {"reason": "retry of"},
        }
    ]
    assert row["scope"] == {
        "name": "openinference.instrumentation.openai",
        "version": "0.1.30",
        "attributes": {"lang": "py"},
    }
    assert row["trace_state"] == "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    assert "otel.scope.name" not in row["attributes"]


def test_links_otel_kind_scope_and_trace_state_in_json() -> None:
    link = {
        "traceId": OTHER_TRACE.upper(),
        "spanId": base64.b64encode(bytes.fromhex(OTHER_SPAN)).decode(),
        "attributes": [_attr("n", {"intValue": "3"})],
    }
    span = _json_span(kind="SPAN_KIND_SERVER", traceState="a=b", links=[link])
    row = _one(_json_body(span))
    assert row["otel_kind"] == "SERVER"
    assert row["links"] == [
        {
            "trace_id": OTHER_TRACE,
            "span_id": OTHER_SPAN,
            "trace_state": None,
            "attributes": {"n": 3},
        }
    ]
    assert row["scope"] == {"name": "lib"}
    assert row["trace_state"] == "a=b"
    plain = _one(_json_body(_json_span(kind=0)))
    assert (plain["otel_kind"], plain["links"], plain["trace_state"]) == ("INTERNAL", None, None)
    assert _one(_json_body(_json_span(kind=9)))["otel_kind"] is None  # not an OTel kind


@pytest.mark.parametrize(
    ("link", "message"),
    [
        ({"traceId": "00" * 16, "spanId": OTHER_SPAN}, "link traceId"),
        ({"traceId": OTHER_TRACE, "spanId": "xyz"}, "link spanId"),
        ({"traceId": OTHER_TRACE, "spanId": OTHER_SPAN, "traceState": 5}, "link traceState"),
        ("link", "link must be an object"),
    ],
)
def test_invalid_links_are_refused(link: Any, message: str) -> None:
    with pytest.raises(InputError, match=message):
        decode_otlp(_json_body(_json_span(links=[link])), JSON)


def test_links_past_the_cap_are_dropped_and_counted() -> None:
    from llmops.tracing._otlp import DROPPED_LINKS, MAX_LINKS

    links = [{"traceId": OTHER_TRACE, "spanId": f"{i + 1:016x}"} for i in range(MAX_LINKS + 5)]
    row = _one(_json_body(_json_span(links=links)))
    assert len(row["links"]) == MAX_LINKS and row["attributes"][DROPPED_LINKS] == 5
    assert row["links"][-1]["span_id"] == f"{MAX_LINKS:016x}"
    pb_links = [
        Span.Link(trace_id=bytes.fromhex(OTHER_TRACE), span_id=(i + 1).to_bytes(8, "big"))
        for i in range(MAX_LINKS + 2)
    ]
    pb_row = _one(_pb_body(links=pb_links), PB)
    assert len(pb_row["links"]) == MAX_LINKS and pb_row["attributes"][DROPPED_LINKS] == 2


def test_a_secret_across_char_400_of_a_name_is_masked_before_the_cut() -> None:
    """Names are cut to 400 characters by the redactor after masking, not by the decoder."""
    from llmops.tracing import Redactor

    name = "x" * 390 + " sk-proj-abcdefghijklmnopqrstuvwxyz"
    event = {"name": name, "timeUnixNano": "1700000000500000000"}
    for content_type, body in (
        (JSON, _json_body(_json_span(name=name, events=[event]))),
        (PB, _pb_body(name=name, events=[Span.Event(name=name, time_unix_nano=15)])),
    ):
        row = _one(body, content_type)
        assert row["name"] == name and row["events"][0]["name"] == name  # uncut
        stored = Redactor().span(row)
        for text in (stored["name"], stored["events"][0]["name"]):
            assert text == "x" * 390 + " [REDACTED]"[:10], text


def test_redaction_covers_links_scope_and_trace_state_and_keeps_ids() -> None:
    from llmops.tracing import Redactor

    secret = "sk-proj-abcdefghijklmnopqrstuvwx"
    link = {
        "traceId": OTHER_TRACE,
        "spanId": OTHER_SPAN,
        "traceState": f"k={secret}",
        "attributes": [_attr("note", {"stringValue": f"see {secret}"})],
    }
    request = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "scope": {
                            "name": f"lib {secret}",
                            "version": secret,
                            "attributes": [_attr("k", {"stringValue": secret})],
                        },
                        "spans": [_json_span(links=[link], traceState=f"v={secret}")],
                    }
                ]
            }
        ]
    }
    row = Redactor(patterns=[r"[0-9a-f]{16}"]).span(_one(json.dumps(request).encode()))
    assert "abcdefghijklmnop" not in json.dumps(row)
    assert row["links"][0]["trace_id"] == OTHER_TRACE and row["links"][0]["span_id"] == OTHER_SPAN
    assert row["links"][0]["attributes"] == {"note": "see [REDACTED]"}
    assert row["scope"] == {
        "name": "lib [REDACTED]",
        "version": "[REDACTED]",
        "attributes": {"k": "[REDACTED]"},
    }
    assert row["trace_state"] == "v=[REDACTED]"
