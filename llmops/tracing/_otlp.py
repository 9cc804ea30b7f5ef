"""Decode OTLP/HTTP trace requests (protobuf or JSON, optionally gzipped) into span rows.

The rows have the keys of :func:`llmops.tracing._exporter.span_to_row` plus ``scope``; the
llmops span kind is derived from OpenInference, GenAI or llmops attributes. Bad bytes raise
:class:`~llmops._exceptions.InputError` (``UnsupportedContentError`` for a wrong media type or
encoding) and nothing else.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import math
import zlib
from collections.abc import Callable
from typing import Any

import orjson

from llmops._exceptions import InputError

__all__ = [
    "MAX_DECODED_BYTES",
    "MAX_VALUE_DEPTH",
    "UnsupportedContentError",
    "decode_otlp",
    "derive_kind",
]

#: The most bytes a gzipped body may inflate to.
MAX_DECODED_BYTES = 64 * 1024 * 1024
#: How deep arrays and key-value lists may nest in one attribute value (the store's JSON
#: encoder stops at 255 levels; protobuf's own limit allows about 45).
MAX_VALUE_DEPTH = 64
_INT64 = (-(2**63), 2**63 - 1)

_KIND_ATTRIBUTE = "llmops.span.kind"
_OTEL_KINDS = ("internal", "internal", "server", "client", "producer", "consumer")
_OTEL_KIND_NAMES = {f"SPAN_KIND_{name.upper()}": i for i, name in enumerate(_OTEL_KINDS)}
_OTEL_KIND_NAMES["SPAN_KIND_UNSPECIFIED"] = 0
_STATUS_CODES = ("UNSET", "OK", "ERROR")
_STATUS_NAMES = {f"STATUS_CODE_{name}": i for i, name in enumerate(_STATUS_CODES)}
_GENAI_KINDS = {
    "chat": "llm",
    "text_completion": "llm",
    "generate_content": "llm",
    "embeddings": "embedding",
    "execute_tool": "tool",
    "invoke_agent": "agent",
    "create_agent": "agent",
    "retrieval": "retriever",
}


class UnsupportedContentError(InputError):
    """The request's Content-Type or Content-Encoding is not one OTLP/HTTP uses (HTTP 415)."""


def decode_otlp(
    body: bytes, content_type: str, content_encoding: str | None = None
) -> list[dict[str, Any]]:
    """The span rows of an OTLP/HTTP ``ExportTraceServiceRequest`` body."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in ("application/x-protobuf", "application/protobuf", "application/json"):
        raise UnsupportedContentError(
            f"unsupported Content-Type '{content_type}': "
            "expected application/x-protobuf or application/json"
        )
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "gzip":
        body = _gunzip(body)
    elif encoding != "identity":
        raise UnsupportedContentError(
            f"unsupported Content-Encoding '{content_encoding}': expected gzip or none"
        )
    if media_type == "application/json":
        return _decode_json(body)
    return _decode_protobuf(body)


def derive_kind(attributes: dict[str, Any], otel_kind: int) -> str:
    """The llmops span kind; pops ``llmops.span.kind`` from ``attributes``."""
    explicit = attributes.pop(_KIND_ATTRIBUTE, None)
    openinference = attributes.get("openinference.span.kind")
    if isinstance(openinference, str) and openinference and openinference.upper() != "UNKNOWN":
        return openinference.lower()[:32]
    operation = attributes.get("gen_ai.operation.name")
    if isinstance(operation, str) and operation in _GENAI_KINDS:
        return _GENAI_KINDS[operation]
    if explicit:
        return str(explicit)[:32]
    return _OTEL_KINDS[otel_kind] if 0 <= otel_kind < len(_OTEL_KINDS) else "internal"


def _gunzip(body: bytes) -> bytes:
    out: list[bytes] = []
    size = 0
    data = body
    try:
        while data:
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            chunk = inflater.decompress(data, MAX_DECODED_BYTES - size + 1)
            size += len(chunk)
            if size > MAX_DECODED_BYTES or inflater.unconsumed_tail:
                raise InputError(f"gzip body inflates to more than {MAX_DECODED_BYTES} bytes")
            if not inflater.eof:
                raise InputError("invalid gzip body: truncated stream")
            out.append(chunk)
            data = inflater.unused_data
    except zlib.error as exc:
        raise InputError(f"invalid gzip body: {exc}") from None
    if not out:
        raise InputError("invalid gzip body: empty")
    return b"".join(out)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


# --- protobuf ---------------------------------------------------------------------------------


def _decode_protobuf(body: bytes) -> list[dict[str, Any]]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    try:
        request = ExportTraceServiceRequest.FromString(body)
    except Exception as exc:  # upb raises DecodeError; anything from bad bytes is bad input
        raise InputError(f"invalid OTLP protobuf trace request: {exc}") from None
    rows: list[dict[str, Any]] = []
    for resource_spans in request.resource_spans:
        resource = _pb_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name or None
            for span in scope_spans.spans:
                rows.append(_pb_row(span, resource, scope))
    return rows


def _pb_row(span: Any, resource: dict[str, Any], scope: str | None) -> dict[str, Any]:
    trace_id = _pb_id(span.trace_id, 16, "traceId")
    span_id = _pb_id(span.span_id, 8, "spanId")
    parent = span.parent_span_id
    attributes = _pb_attributes(span.attributes)
    start_ns = _pb_time(span.start_time_unix_nano, "startTimeUnixNano")
    status = span.status
    code = status.code
    events = [
        {
            "name": event.name,
            "time_ns": _pb_time(event.time_unix_nano, "timeUnixNano"),
            "attributes": _pb_attributes(event.attributes),
        }
        for event in span.events
    ]
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": _pb_id(parent, 8, "parentSpanId") if parent.strip(b"\0") else None,
        "name": span.name[:400],
        "kind": derive_kind(attributes, span.kind),
        "start_ns": start_ns,
        "end_ns": _pb_time(span.end_time_unix_nano, "endTimeUnixNano") or start_ns,
        "status_code": _STATUS_CODES[code] if 0 <= code < 3 else "UNSET",
        "status_message": status.message or None,
        "attributes": attributes,
        "events": events or None,
        "resource": dict(resource),
        "scope": scope,
    }


def _pb_id(raw: bytes, size: int, field: str) -> str:
    if len(raw) != size or not raw.strip(b"\0"):
        raise InputError(f"invalid {field} {raw.hex()[:64]!r}: expected {size} non-zero bytes")
    return raw.hex()


def _pb_time(value: int, field: str) -> int:
    """A fixed64 time that fits the store's signed 64-bit columns."""
    if value > _INT64[1]:
        raise InputError(f"invalid {field} {value}: out of range")
    return value


def _too_deep() -> InputError:
    return InputError(f"attribute values nest deeper than {MAX_VALUE_DEPTH} levels")


def _pb_attributes(key_values: Any, depth: int = 0) -> dict[str, Any]:
    if depth > MAX_VALUE_DEPTH:
        raise _too_deep()
    return {kv.key: _pb_value(kv.value, depth) for kv in key_values}


def _pb_value(value: Any, depth: int = 0) -> Any:
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "int_value":
        return value.int_value
    if which == "bool_value":
        return value.bool_value
    if which == "double_value":
        return _finite(value.double_value)
    if which == "array_value":
        if depth >= MAX_VALUE_DEPTH:
            raise _too_deep()
        return [_pb_value(item, depth + 1) for item in value.array_value.values]
    if which == "kvlist_value":
        return _pb_attributes(value.kvlist_value.values, depth + 1)
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return None  # unset, or a profiles-only string-table index


# --- JSON -------------------------------------------------------------------------------------


def _decode_json(body: bytes) -> list[dict[str, Any]]:
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"invalid OTLP/JSON trace request: {exc}") from None
    if not isinstance(request, dict):
        raise InputError(
            f"invalid OTLP/JSON trace request: expected an object, got {type(request).__name__}"
        )
    rows: list[dict[str, Any]] = []
    try:
        for resource_spans in _list(request, "resourceSpans"):
            resource = _json_attributes(_object(resource_spans, "resource"))
            for scope_spans in _list(resource_spans, "scopeSpans"):
                scope = _object(scope_spans, "scope").get("name") or None
                if scope is not None and not isinstance(scope, str):
                    raise InputError(f"invalid scope name {scope!r}: expected a string")
                for span in _list(scope_spans, "spans"):
                    rows.append(_json_row(span, resource, scope))
    except InputError as exc:
        raise InputError(f"invalid OTLP/JSON trace request: {exc}") from None
    except (TypeError, ValueError, AttributeError, OverflowError, RecursionError) as exc:
        raise InputError(f"invalid OTLP/JSON trace request: {type(exc).__name__}: {exc}") from None
    return rows


def _json_row(span: Any, resource: dict[str, Any], scope: str | None) -> dict[str, Any]:
    if not isinstance(span, dict):
        raise InputError(f"span must be an object, got {type(span).__name__}")
    attributes = _json_attributes(span)
    start_ns = _int64(span.get("startTimeUnixNano", 0), "startTimeUnixNano")
    status = _object(span, "status")
    code = _enum(status.get("code", 0), _STATUS_NAMES, "status.code")
    message = status.get("message") or None
    events = [
        {
            "name": str(event.get("name", "")),
            "time_ns": _int64(event.get("timeUnixNano", 0), "timeUnixNano"),
            "attributes": _json_attributes(event),
        }
        for event in _list(span, "events")
    ]
    parent = span.get("parentSpanId")
    return {
        "trace_id": _json_id(span.get("traceId"), 16, "traceId"),
        "span_id": _json_id(span.get("spanId"), 8, "spanId"),
        "parent_span_id": _json_id(parent, 8, "parentSpanId", optional=True) if parent else None,
        "name": str(span.get("name", ""))[:400],
        "kind": derive_kind(attributes, _enum(span.get("kind", 0), _OTEL_KIND_NAMES, "kind")),
        "start_ns": start_ns,
        "end_ns": _int64(span.get("endTimeUnixNano", 0), "endTimeUnixNano") or start_ns,
        "status_code": _STATUS_CODES[code] if 0 <= code < 3 else "UNSET",
        "status_message": str(message) if message is not None else None,
        "attributes": attributes,
        "events": events or None,
        "resource": dict(resource),
        "scope": scope,
    }


def _list(parent: Any, key: str) -> list[Any]:
    if not isinstance(parent, dict):
        raise InputError(f"expected an object with '{key}', got {type(parent).__name__}")
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"'{key}' must be an array, got {type(value).__name__}")
    return value


def _object(parent: Any, key: str) -> dict[str, Any]:
    if not isinstance(parent, dict):
        raise InputError(f"expected an object with '{key}', got {type(parent).__name__}")
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"'{key}' must be an object, got {type(value).__name__}")
    return value


def _json_id(value: Any, size: int, field: str, optional: bool = False) -> str | None:
    """Hex (any case) or, failing that, base64; all-zero is invalid except for a parent."""
    if not isinstance(value, str) or not value:
        raise InputError(f"missing or invalid {field}: {value!r}")
    raw: bytes | None = None
    if len(value) == 2 * size:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raw = None
    if raw is None or len(raw) != size:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) != size:
        raise InputError(
            f"invalid {field} {value[:64]!r}: expected {2 * size} hex characters "
            f"(or base64 of {size} bytes)"
        )
    if not raw.strip(b"\0"):
        if optional:
            return None
        raise InputError(f"invalid {field} {value!r}: all zero")
    return raw.hex()


def _int64(value: Any, field: str) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            number = int(value)
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    if number is None:
        raise InputError(f"invalid {field} {value!r}: expected an integer or a decimal string")
    if not _INT64[0] <= number <= _INT64[1]:
        raise InputError(f"invalid {field} {str(value)[:40]}: out of the 64-bit range")
    return number


def _enum(value: Any, names: dict[str, int], field: str) -> int:
    if isinstance(value, str) and value in names:
        return names[value]
    return _int64(value, field)


def _json_attributes(holder: Any) -> dict[str, Any]:
    return _json_key_values(_list(holder, "attributes"))


def _json_key_values(items: list[Any], depth: int = 0) -> dict[str, Any]:
    if depth > MAX_VALUE_DEPTH:
        raise _too_deep()
    attributes: dict[str, Any] = {}
    for kv in items:
        if not isinstance(kv, dict) or not isinstance(kv.get("key"), str):
            raise InputError(f"invalid attribute {str(kv)[:80]}: expected {{key, value}}")
        attributes[kv["key"]] = _json_value(kv.get("value"), depth)
    return attributes


def _json_value(value: Any, depth: int = 0) -> Any:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InputError(f"invalid AnyValue {str(value)[:80]}: expected an object")
    for key, item in value.items():
        if key == "arrayValue":
            if depth >= MAX_VALUE_DEPTH:
                raise _too_deep()
            return [_json_value(v, depth + 1) for v in _list(item, "values")]
        if key == "kvlistValue":
            return _json_key_values(_list(item, "values"), depth + 1)
        reader = _JSON_READERS.get(key)
        if reader is not None:
            return reader(item)
    return None


def _json_string(item: Any) -> str:
    if not isinstance(item, str):
        raise InputError(f"invalid stringValue {item!r}")
    return item


def _json_bool(item: Any) -> bool:
    if not isinstance(item, bool):
        raise InputError(f"invalid boolValue {item!r}")
    return item


def _json_double(item: Any) -> float | None:
    if isinstance(item, bool) or not isinstance(item, int | float | str):
        raise InputError(f"invalid doubleValue {item!r}")
    return _finite(float(item))  # "NaN" and "Infinity" are valid proto3 JSON doubles


def _json_bytes(item: Any) -> str:
    if not isinstance(item, str):
        raise InputError(f"invalid bytesValue {item!r}")
    return item


_JSON_READERS: dict[str, Callable[[Any], Any]] = {
    "stringValue": _json_string,
    "boolValue": _json_bool,
    "intValue": lambda item: _int64(item, "intValue"),
    "doubleValue": _json_double,
    "bytesValue": _json_bytes,
}
