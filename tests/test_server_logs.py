"""GenAI content sent as OTLP logs or span events, on a real server: ``POST /v1/logs``
(protobuf from the real OTel exporter, JSON, gzip), the join of log records to their span at
read time (logs first too), GenAI 1.27 span events, errors, redaction, and Langfuse's OTLP
path with its Basic auth."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _live_server import LiveServer
from sqlmodel import select

from llmops.server import create_app
from llmops.store import Store
from llmops.store.models import SpanLogRecord, SpanRecord

TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "otlp-traces"
OPENAI_V2 = DATA / "captured" / "otel-genai-openai-v2-default.otlp.pb"
JSON = {"Content-Type": "application/json"}
PROTOBUF = {"Content-Type": "application/x-protobuf"}


@pytest.fixture
def server(store: Store) -> Iterator[LiveServer]:
    with LiveServer(create_app(store)) as live:
        yield live


def _span(server: LiveServer, trace_id: str = TRACE_ID, span_id: str = SPAN_ID) -> Any:
    response = httpx.get(f"{server.url}/api/v1/traces/{trace_id}/spans/{span_id}")
    assert response.status_code == 200, response.text
    return response.json()


def _logs(store: Store) -> list[SpanLogRecord]:
    with store.session() as session:
        return list(session.exec(select(SpanLogRecord).order_by(SpanLogRecord.time_ns)).all())


def _any(value: Any) -> dict[str, Any]:
    """An OTLP/JSON AnyValue."""
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, list):
        return {"arrayValue": {"values": [_any(v) for v in value]}}
    return {"kvlistValue": {"values": [{"key": k, "value": _any(v)} for k, v in value.items()]}}


def _json_logs(*records: dict[str, Any]) -> bytes:
    """An OTLP/JSON ExportLogsServiceRequest; each record ``{name, body, time, ...}``."""
    log_records = [
        {
            "timeUnixNano": str(r.get("time", 1_700_000_000_000_000_000)),
            "severityNumber": "SEVERITY_NUMBER_INFO",
            "traceId": r.get("trace_id", TRACE_ID),
            "spanId": r.get("span_id", SPAN_ID),
            **({"eventName": r["name"]} if r.get("field", True) else {}),
            "attributes": [
                {"key": "gen_ai.system", "value": {"stringValue": "openai"}},
                *(
                    []
                    if r.get("field", True)
                    else [{"key": "event.name", "value": _any(r["name"])}]
                ),
            ],
            **({"body": _any(r["body"])} if "body" in r else {}),
        }
        for r in records
    ]
    request = {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": _any("shop")}]},
                "scopeLogs": [
                    {
                        "scope": {"name": "opentelemetry.instrumentation.openai_v2"},
                        "logRecords": log_records,
                    }
                ],
            }
        ]
    }
    return json.dumps(request).encode()


def _json_span(attributes: dict[str, Any] | None = None) -> bytes:
    span = {
        "traceId": TRACE_ID,
        "spanId": SPAN_ID,
        "name": "chat gpt-4o-mini",
        "kind": 3,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001000000000",
        "attributes": [
            {"key": "gen_ai.operation.name", "value": _any("chat")},
            {"key": "gen_ai.request.model", "value": _any("gpt-4o-mini")},
            *({"key": k, "value": _any(v)} for k, v in (attributes or {}).items()),
        ],
    }
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()


OPENAI_V2_RECORDS = (  # as openai-v2 sends them by default, content capture on
    {"name": "gen_ai.system.message", "body": {"content": "You are terse."}, "time": 1},
    {"name": "gen_ai.user.message", "body": {"content": "Capital of France?"}, "time": 2},
    {
        "name": "gen_ai.choice",
        "body": {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "Paris."},
        },
        "time": 3,
    },
)


def test_json_logs_sent_before_their_span_are_its_messages(
    store: Store, server: LiveServer
) -> None:
    response = httpx.post(
        f"{server.url}/v1/logs", content=_json_logs(*OPENAI_V2_RECORDS), headers=JSON
    )
    assert response.status_code == 200 and response.json() == {}
    assert [log.event_name for log in _logs(store)] == [r["name"] for r in OPENAI_V2_RECORDS]
    assert httpx.post(f"{server.url}/v1/traces", content=_json_span(), headers=JSON).is_success

    span = _span(server)
    assert span["input"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Capital of France?"},
    ]
    assert span["output"] == [{"role": "assistant", "content": "Paris."}]
    assert [log["event_name"] for log in span["logs"]] == [r["name"] for r in OPENAI_V2_RECORDS]
    assert span["logs"][1]["body"] == {"content": "Capital of France?"}
    assert span["logs"][1]["severity"] == "INFO"
    stored = _logs(store)[0]
    assert stored.attributes["otel.scope.name"] == "opentelemetry.instrumentation.openai_v2"
    assert stored.resource == {"service.name": "shop"}


def test_the_older_event_name_attribute_and_gzip(store: Store, server: LiveServer) -> None:
    records = [{**r, "field": False} for r in OPENAI_V2_RECORDS]
    response = httpx.post(
        f"{server.url}/v1/logs",
        content=gzip.compress(_json_logs(*records)),
        headers={**JSON, "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200, response.text
    assert [log.event_name for log in _logs(store)] == [r["name"] for r in OPENAI_V2_RECORDS]
    httpx.post(f"{server.url}/v1/traces", content=_json_span(), headers=JSON)
    assert _span(server)["output"] == [{"role": "assistant", "content": "Paris."}]


def test_the_span_s_own_messages_win_over_its_logs(store: Store, server: LiveServer) -> None:
    own = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "own"}]}])
    httpx.post(
        f"{server.url}/v1/traces", content=_json_span({"gen_ai.input.messages": own}), headers=JSON
    )
    httpx.post(f"{server.url}/v1/logs", content=_json_logs(*OPENAI_V2_RECORDS), headers=JSON)
    span = _span(server)
    assert span["input"] == [{"role": "user", "content": "own"}]
    assert span["output"] == [{"role": "assistant", "content": "Paris."}]  # none of its own


def test_operation_details_events_and_tool_calls(store: Store, server: LiveServer) -> None:
    details = {
        "name": "gen_ai.client.inference.operation.details",
        "body": {
            "gen_ai.input.messages": [
                {"role": "user", "parts": [{"type": "text", "content": "weather?"}]}
            ],
            "gen_ai.output.messages": [
                {
                    "role": "assistant",
                    "parts": [{"type": "tool_call", "id": "c1", "name": "weather"}],
                }
            ],
        },
    }
    httpx.post(f"{server.url}/v1/logs", content=_json_logs(details), headers=JSON)
    httpx.post(f"{server.url}/v1/traces", content=_json_span(), headers=JSON)
    span = _span(server)
    assert span["input"] == [{"role": "user", "content": "weather?"}]
    assert span["output"][0]["role"] == "assistant"
    assert span["output"][0]["parts"] == [{"type": "tool_call", "id": "c1", "name": "weather"}]


def test_logs_from_the_otel_sdk_exporter(store: Store, server: LiveServer) -> None:
    """The real OTLPLogExporter (protobuf): records emitted inside a span carry its ids."""
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{server.url}/v1/traces"))
    )
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{server.url}/v1/logs"))
    )
    logger = logger_provider.get_logger("opentelemetry.instrumentation.openai_v2")
    with tracer_provider.get_tracer("app").start_as_current_span("chat gpt-x") as chat:
        chat.set_attribute("gen_ai.operation.name", "chat")
        logger.emit(event_name="gen_ai.user.message", body={"content": "hello"})
        logger.emit(
            event_name="gen_ai.choice",
            body={"index": 0, "message": {"role": "assistant", "content": "hi there"}},
        )
        context = chat.get_span_context()
    assert len(_logs(store)) == 2  # exported before the span ended
    tracer_provider.shutdown()
    logger_provider.shutdown()
    span = _span(server, f"{context.trace_id:032x}", f"{context.span_id:016x}")
    assert span["kind"] == "llm"
    assert span["input"] == [{"role": "user", "content": "hello"}]
    assert span["output"] == [{"role": "assistant", "content": "hi there"}]


def _genai_127_span() -> bytes:
    """A protobuf trace request whose span carries its messages as GenAI 1.27 span events."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    def kv(key: str, value: str) -> KeyValue:
        return KeyValue(key=key, value=AnyValue(string_value=value))

    prompt = [{"role": "system", "content": "Be brief."}, {"role": "human", "content": "2+2?"}]
    events = [
        Span.Event(
            name="gen_ai.content.prompt",
            time_unix_nano=1,
            attributes=[kv("gen_ai.prompt", json.dumps(prompt))],
        ),
        Span.Event(
            name="gen_ai.content.completion",
            time_unix_nano=2,
            attributes=[kv("gen_ai.completion", json.dumps([{"role": "ai", "content": "4"}]))],
        ),
    ]
    span = Span(
        trace_id=bytes.fromhex(TRACE_ID),
        span_id=bytes.fromhex(SPAN_ID),
        name="chat",
        start_time_unix_nano=1,
        end_time_unix_nano=3,
        attributes=[kv("gen_ai.operation.name", "chat")],
        events=events,
    )
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])]
    )
    return request.SerializeToString()


def test_genai_1_27_span_events_are_the_span_s_messages(store: Store, server: LiveServer) -> None:
    response = httpx.post(f"{server.url}/v1/traces", content=_genai_127_span(), headers=PROTOBUF)
    assert response.status_code == 200, response.text
    span = _span(server)
    assert span["input"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "2+2?"},  # "human" normalized
    ]
    assert span["output"] == [{"role": "assistant", "content": "4"}]
    assert span["logs"] == []


def test_genai_message_span_events_with_event_content(store: Store, server: LiveServer) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    request = ExportTraceServiceRequest.FromString(_genai_127_span())
    span = request.resource_spans[0].scope_spans[0].spans[0]
    del span.events[:]
    for name, content in (
        ("gen_ai.user.message", {"content": "ping"}),
        ("gen_ai.choice", {"index": 0, "message": {"content": "pong"}}),
    ):
        span.events.add(
            name=name,
            attributes=[
                KeyValue(
                    key="gen_ai.event.content", value=AnyValue(string_value=json.dumps(content))
                )
            ],
        )
    body = request.SerializeToString()
    assert httpx.post(f"{server.url}/v1/traces", content=body, headers=PROTOBUF).is_success
    shown = _span(server)
    assert shown["input"] == [{"role": "user", "content": "ping"}]
    assert shown["output"] == [{"role": "assistant", "content": "pong"}]


def test_protobuf_logs_and_their_fields(store: Store, server: LiveServer) -> None:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

    records = [
        LogRecord(
            observed_time_unix_nano=5,  # no time: the observed time
            severity_number=17,
            trace_id=bytes.fromhex(TRACE_ID),
            span_id=bytes.fromhex(SPAN_ID),
            event_name="gen_ai.user.message",
            body=AnyValue(string_value="plain text body"),
        ),
        LogRecord(
            time_unix_nano=7,
            severity_text="warn",
            body=AnyValue(int_value=3),
            trace_id=bytes(16),  # outside any span, as some SDKs send it
            span_id=bytes(8),
        ),
    ]
    request = ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=records)])]
    )
    response = httpx.post(
        f"{server.url}/v1/logs", content=request.SerializeToString(), headers=PROTOBUF
    )
    assert response.status_code == 200 and response.content == b""
    first, second = _logs(store)
    assert (first.time_ns, first.severity, first.event_name) == (5, "ERROR", "gen_ai.user.message")
    assert (first.trace_id, first.span_id, first.body) == (TRACE_ID, SPAN_ID, "plain text body")
    assert (second.trace_id, second.span_id, second.severity, second.body) == (
        None,
        None,
        "warn",
        "3",  # a number body is kept as its text (SQLite's JSON columns are numeric)
    )


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"{not json", JSON, 400),
        (b"[1]", JSON, 400),
        (_json_logs({"name": "x", "trace_id": "zz"}), JSON, 400),
        (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [1]}]}]}', JSON, 400),
        (b"\xff\xff\xff", PROTOBUF, 400),
        (b"{}", {"Content-Type": "text/plain"}, 415),
        (b"{}", {**JSON, "Content-Encoding": "br"}, 415),
        (b"not gzip", {**JSON, "Content-Encoding": "gzip"}, 400),
    ],
)
def test_bad_logs_are_refused(
    store: Store, server: LiveServer, body: bytes, headers: dict[str, str], status: int
) -> None:
    response = httpx.post(f"{server.url}/v1/logs", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert _logs(store) == []


def test_oversized_logs_are_413(
    store: Store, server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmops.tracing import _otlp

    too_long = b" " * (_otlp.MAX_BODY_BYTES + 1)
    response = httpx.post(f"{server.url}/v1/logs", content=too_long, headers=JSON)
    assert response.status_code == 413
    monkeypatch.setattr(_otlp, "MAX_DECODED_BYTES", 1000)
    bomb = gzip.compress(_json_logs(*[{"name": "x", "body": "a" * 100}] * 20))
    response = httpx.post(
        f"{server.url}/v1/logs", content=bomb, headers={**JSON, "Content-Encoding": "gzip"}
    )
    assert response.status_code == 413, response.text
    assert _logs(store) == []


def test_a_secret_in_a_log_body_is_redacted(store: Store, server: LiveServer) -> None:
    secret = "sk-proj-abcdefghijklmnopqrstuvwxyz012345"
    record = {"name": "gen_ai.user.message", "body": {"content": f"my key is {secret}"}}
    httpx.post(f"{server.url}/v1/logs", content=_json_logs(record), headers=JSON)
    httpx.post(f"{server.url}/v1/traces", content=_json_span(), headers=JSON)
    (stored,) = _logs(store)
    assert secret not in json.dumps(stored.body)
    assert "[REDACTED]" in stored.body["content"]
    assert secret not in httpx.get(f"{server.url}/api/v1/traces/{TRACE_ID}/spans/{SPAN_ID}").text


# --- Langfuse's OTLP path ---------------------------------------------------------------------


def _basic(public: str = "pk-lf-1", secret: str = "sk-lf-1") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{public}:{secret}".encode()).decode()}


def _stored_spans(store: Store) -> list[SpanRecord]:
    with store.session() as session:
        return list(session.exec(select(SpanRecord)).all())


@pytest.mark.skipif(not OPENAI_V2.is_file(), reason=f"no OTLP fixtures at {DATA}")
def test_langfuse_s_path_is_an_alias_of_v1_traces(store: Store, server: LiveServer) -> None:
    response = httpx.post(
        f"{server.url}/api/public/otel/v1/traces",
        content=OPENAI_V2.read_bytes(),
        headers={**PROTOBUF, **_basic()},  # Langfuse's keys: no token configured, accepted
    )
    assert response.status_code == 200, response.text
    assert len(_stored_spans(store)) == 5
    bad = httpx.post(f"{server.url}/api/public/otel/v1/traces", content=b"\xff", headers=PROTOBUF)
    assert bad.status_code == 400


def test_langfuse_s_path_with_a_token(store: Store) -> None:
    with LiveServer(create_app(store, token="s3cret")) as live:
        url = f"{live.url}/api/public/otel/v1/traces"
        body = _json_span()
        assert httpx.post(url, content=body, headers={**JSON, **_basic()}).status_code == 401
        bearer = {**JSON, "Authorization": "Bearer s3cret"}
        assert httpx.post(url, content=body, headers=bearer).status_code == 200
        assert httpx.post(f"{live.url}/v1/logs", content=b"{}", headers=JSON).status_code == 401
    assert [s.span_id for s in _stored_spans(store)] == [SPAN_ID]


def test_a_full_disk_is_503_then_the_logs_are_stored(tmp_path: Path) -> None:
    """Store faults on the logs path answer as on the traces path: 503 with Retry-After."""
    from sqlalchemy import event

    from llmops.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    limit: dict[str, int | None] = {"pages": None}

    @event.listens_for(store.engine, "checkout")
    def _cap(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA max_page_count = {limit['pages'] or 1_073_741_823}")
        cursor.close()

    big = {"name": "gen_ai.user.message", "body": {"content": "x" * 60_000}}
    body = _json_logs(*[big] * 5)
    with LiveServer(create_app(store)) as server:
        with store.engine.connect() as connection:
            limit["pages"] = int(connection.exec_driver_sql("PRAGMA page_count").scalar_one())
        response = httpx.post(f"{server.url}/v1/logs", content=body, headers=JSON)
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"].isdigit()
        assert "disk full" in response.json()["message"]
        limit["pages"] = None
        response = httpx.post(f"{server.url}/v1/logs", content=body, headers=JSON)
        assert response.status_code == 200, response.text
    assert len(_logs(store)) == 5
    store.close()


def test_too_many_values_in_a_protobuf_logs_request_is_413() -> None:
    """The value count guard of traces, walking the logs messages: a body of 1.1 million
    empty array items is refused before it is parsed."""
    from llmops.tracing._otlp import MAX_VALUES, PayloadTooLargeError
    from llmops.tracing._otlp_logs import decode_otlp_logs

    def field(number: int, payload: bytes) -> bytes:
        length, size = bytearray(), len(payload)
        while True:
            byte = size & 0x7F
            size >>= 7
            length.append(byte | (0x80 if size else 0))
            if not size:
                break
        return bytes([number << 3 | 2]) + bytes(length) + payload

    items = b"\x0a\x00" * (MAX_VALUES + 100_000)  # ArrayValue.values: empty AnyValues
    record = field(5, field(5, items))  # LogRecord.body = AnyValue{array_value}
    body = field(1, field(2, field(2, record)))  # request > resource_logs > scope_logs
    with pytest.raises(PayloadTooLargeError, match="more than 1,000,000 values"):
        decode_otlp_logs(body, "application/x-protobuf")
    fewer = field(1, field(2, field(2, field(5, field(5, b"\x0a\x00" * 1000)))))
    (row,) = decode_otlp_logs(fewer, "application/x-protobuf")
    assert row["body"] == [None] * 1000


def _parsed_messages(message: Any) -> int:
    """The messages under ``message`` as the parser builds them."""
    total = 0
    for field, value in message.ListFields():
        if field.type == field.TYPE_MESSAGE:
            for item in value if field.is_repeated else [value]:
                total += 1 + _parsed_messages(item)
    return total


def test_the_logs_wire_walk_counts_every_message_the_parser_builds() -> None:
    """What keeps a logs request under MAX_VALUES counts no fewer messages than the parser
    builds, for generated requests (bodies, attributes, nested values)."""
    from google.protobuf.json_format import ParseDict
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    from llmops.tracing._otlp import _pb_values
    from llmops.tracing._otlp_logs import _PB_LOG_MESSAGES

    values = st.recursive(
        st.one_of(
            st.builds(dict, string_value=st.text(max_size=20)),
            st.builds(dict, int_value=st.integers(-(2**63), 2**63 - 1)),
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
    key_values = st.lists(st.builds(dict, key=st.text(max_size=150), value=values), max_size=4)
    record = st.builds(
        dict,
        body=values,
        attributes=key_values,
        event_name=st.text(max_size=5),
        trace_id=st.just("AQEBAQEBAQEBAQEBAQEBAQ=="),
    )
    scope_logs = st.builds(
        dict,
        scope=st.builds(dict, name=st.text(max_size=5), attributes=key_values),
        log_records=st.lists(record, max_size=3),
    )
    resource_logs = st.builds(
        dict,
        resource=st.builds(dict, attributes=key_values),
        scope_logs=st.lists(scope_logs, max_size=2),
    )

    @settings(
        max_examples=200,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(resource_logs, min_size=1, max_size=2))
    def check(items: list[dict[str, Any]]) -> None:
        request = ExportLogsServiceRequest()
        for item in items:
            ParseDict(item, request.resource_logs.add())
        body = request.SerializeToString()
        assert _pb_values(body, _PB_LOG_MESSAGES) == _parsed_messages(request)

    check()
