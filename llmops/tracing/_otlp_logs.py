"""Decode OTLP/HTTP log requests (protobuf or JSON, optionally gzipped) into log rows.

GenAI instrumentations send prompts and completions as log records (openai-v2 by default:
``event.name`` ``gen_ai.user.message``... with the message in the body); llmops keeps them
beside the spans, joined to their span by trace and span id when a span is read. One request
has the limits of :mod:`llmops.tracing._otlp` (the same helpers, so the same 413s and 415s),
with log records counted as spans are.

A row: ``trace_id`` and ``span_id`` (hex, or None), ``time_ns`` (the record's time, else the
time it was observed, clamped), ``severity`` (its text, else the name of its number),
``event_name`` (the record's field, else its ``event.name`` attribute), ``body`` (any value),
``attributes``, ``resource`` and ``scope``.
"""

from __future__ import annotations

from typing import Any

from llmops._exceptions import InputError
from llmops.tracing._otlp import (
    MAX_BODY_BYTES,
    MAX_SPANS,
    MAX_VALUES,
    PayloadTooLargeError,
    UnsupportedContentError,
    _clip,
    _enum,
    _fixed64,
    _inflate,
    _json_attributes,
    _json_id,
    _json_value,
    _json_values,
    _pb_attributes,
    _pb_id,
    _pb_value,
    _pb_values,
    _span_times,
    decode_json_request,
)

__all__ = ["MAX_LOG_RECORDS", "decode_otlp_logs"]

#: The most log records in one request (as many as spans).
MAX_LOG_RECORDS = MAX_SPANS
_EVENT_NAME = "event.name"
# severity numbers 1-24 in ranges of 4 (OTel log data model)
_SEVERITIES = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
_SEVERITY_NAMES = {
    f"SEVERITY_NUMBER_{name}{suffix}": 1 + 4 * i + j
    for i, name in enumerate(_SEVERITIES)
    for j, suffix in enumerate(("", "2", "3", "4"))
}
_SEVERITY_NAMES["SEVERITY_NUMBER_UNSPECIFIED"] = 0
# which length-delimited fields of each OTLP logs message are messages (see _otlp._pb_values)
_PB_LOG_MESSAGES: dict[str, dict[int, str]] = {
    "request": {1: "resource_logs"},
    "resource_logs": {1: "resource", 2: "scope_logs"},
    "resource": {1: "key_value"},
    "scope_logs": {1: "scope", 2: "log_record"},
    "scope": {3: "key_value"},
    "log_record": {5: "any_value", 6: "key_value"},
    "key_value": {2: "any_value"},
    "any_value": {5: "array", 6: "kvlist"},
    "array": {1: "any_value"},
    "kvlist": {1: "key_value"},
}


def decode_otlp_logs(
    body: bytes, content_type: str, content_encoding: str | None = None
) -> list[dict[str, Any]]:
    """The log rows of an OTLP/HTTP ``ExportLogsServiceRequest`` body."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in ("application/x-protobuf", "application/protobuf", "application/json"):
        raise UnsupportedContentError(
            f"unsupported Content-Type '{content_type}': "
            "expected application/x-protobuf or application/json"
        )
    encoding = (content_encoding or "identity").strip().lower()
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(f"request body over {MAX_BODY_BYTES:,} bytes")
    if encoding in ("gzip", "deflate"):
        body = _inflate(body, encoding)
    elif encoding != "identity":
        raise UnsupportedContentError(
            f"unsupported Content-Encoding '{content_encoding}': expected gzip, deflate or none"
        )
    if len(body) > 2 * MAX_VALUES:  # as in decode_otlp: smaller bodies cannot hold too many
        counted = (
            _json_values(body)
            if media_type == "application/json"
            else _pb_values(body, _PB_LOG_MESSAGES)
        )
        if counted > MAX_VALUES:
            raise PayloadTooLargeError(
                f"request holds more than {MAX_VALUES:,} values (log records, attributes, "
                "array items): send smaller batches"
            )
    if media_type == "application/json":
        return _decode_json(body)
    return _decode_protobuf(body)


def _too_many() -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"request holds more than {MAX_LOG_RECORDS:,} log records: send smaller batches"
    )


def _severity(text: str, number: int) -> str | None:
    if text:
        return text[:32]
    if 1 <= number <= 24:
        return _SEVERITIES[(number - 1) // 4]
    return None


def _event_name(name: Any, attributes: dict[str, Any]) -> str | None:
    """The record's ``event_name`` field, else its older ``event.name`` attribute."""
    if not name:
        name = attributes.get(_EVENT_NAME)
    return name[:400] if isinstance(name, str) and name else None


def _row(
    *,
    trace_id: str | None,
    span_id: str | None,
    time_ns: int,
    observed_ns: int,
    severity: str | None,
    event_name: str | None,
    body: Any,
    attributes: dict[str, Any],
    resource: dict[str, Any],
    scope: str | None,
) -> dict[str, Any]:
    return {
        "trace_id": trace_id,
        "span_id": span_id if trace_id else None,
        "time_ns": _span_times(time_ns or observed_ns, 0)[0],
        "severity": severity,
        "event_name": event_name,
        "body": body,
        "attributes": attributes,
        "resource": dict(resource),
        "scope": scope,
    }


# --- protobuf ---------------------------------------------------------------------------------


def _decode_protobuf(body: bytes) -> list[dict[str, Any]]:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    try:
        request = ExportLogsServiceRequest.FromString(body)
    except Exception as exc:  # upb raises DecodeError; anything from bad bytes is bad input
        raise InputError(f"invalid OTLP protobuf logs request: {exc}") from None
    records = sum(len(s.log_records) for r in request.resource_logs for s in r.scope_logs)
    if records > MAX_LOG_RECORDS:
        raise _too_many()
    rows: list[dict[str, Any]] = []
    for resource_logs in request.resource_logs:
        resource = _pb_attributes(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            scope = _clip(scope_logs.scope.name) or None
            for record in scope_logs.log_records:
                attributes = _pb_attributes(record.attributes)
                # a record outside any span may carry all-zero ids: no ids, not bad input
                trace, span = record.trace_id, record.span_id
                trace_id = _pb_id(trace, 16, "traceId") if trace.strip(b"\0") else None
                span_id = _pb_id(span, 8, "spanId") if span.strip(b"\0") else None
                rows.append(
                    _row(
                        trace_id=trace_id,
                        span_id=span_id,
                        time_ns=record.time_unix_nano,
                        observed_ns=record.observed_time_unix_nano,
                        severity=_severity(record.severity_text, record.severity_number),
                        event_name=_event_name(record.event_name, attributes),
                        body=_pb_value(record.body) if record.HasField("body") else None,
                        attributes=attributes,
                        resource=resource,
                        scope=scope,
                    )
                )
    return rows


# --- JSON -------------------------------------------------------------------------------------


def _decode_json(body: bytes) -> list[dict[str, Any]]:
    envelope = ("resourceLogs", "scopeLogs", "logRecords")
    return decode_json_request(
        body, "logs", envelope, _json_scope_name, _json_row, MAX_LOG_RECORDS, _too_many
    )


def _json_scope_name(scope: dict[str, Any]) -> str | None:
    name = scope.get("name") or None
    if name is not None and not isinstance(name, str):
        raise InputError(f"invalid scope name {name!r}: expected a string")
    return name


def _json_row(record: Any, resource: dict[str, Any], scope: str | None) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise InputError(f"log record must be an object, got {type(record).__name__}")
    attributes = _json_attributes(record)
    trace = record.get("traceId")
    span = record.get("spanId")
    text = record.get("severityText") or ""
    if not isinstance(text, str):
        raise InputError(f"invalid severityText {text!r}")
    number = _enum(record.get("severityNumber", 0), _SEVERITY_NAMES, "severityNumber")
    name = record.get("eventName")
    return _row(
        trace_id=_json_id(trace, 16, "traceId", optional=True) if trace else None,
        span_id=_json_id(span, 8, "spanId", optional=True) if span else None,
        time_ns=_fixed64(record.get("timeUnixNano", 0), "timeUnixNano"),
        observed_ns=_fixed64(record.get("observedTimeUnixNano", 0), "observedTimeUnixNano"),
        severity=_severity(text, number),
        event_name=_event_name(name if isinstance(name, str) else None, attributes),
        body=_json_value(record.get("body")),
        attributes=attributes,
        resource=resource,
        scope=scope,
    )
