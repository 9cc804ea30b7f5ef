"""Decode OTLP/HTTP trace requests (protobuf or JSON, optionally gzipped) into span rows.

The rows have the keys of :func:`llmops.tracing._exporter.span_to_row`: the llmops span kind is
derived from OpenInference, GenAI or llmops attributes, and OpenTelemetry's own span kind, links,
instrumentation scope and W3C trace state are kept beside it. Bad bytes raise
:class:`~llmops._exceptions.InputError` (``UnsupportedContentError`` for a wrong media type or
encoding, ``PayloadTooLargeError`` past a limit) and nothing else.

The limits of one request live here, as the constants below, so that the memory one request
can take is bounded: bytes on the wire and inflated are capped before parsing, and so is the
number of values, because parsing costs about 60 bytes per value whatever its size (64 MiB of
empty array items used to take 2 GB). Past the per-span limits, attributes, events and links
are dropped and counted (OTLP allows partial success), long strings are truncated with a marker,
and span times are clamped into ``[0, MAX_TIME_NS]`` with ``end >= start`` so that no stored
span can overflow a later duration filter.
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
    "DROPPED_ATTRIBUTES",
    "DROPPED_EVENTS",
    "DROPPED_LINKS",
    "MAX_ATTRIBUTES",
    "MAX_BODY_BYTES",
    "MAX_DECODED_BYTES",
    "MAX_EVENTS",
    "MAX_LINKS",
    "MAX_SPANS",
    "MAX_STRING_CHARS",
    "MAX_TIME_NS",
    "MAX_VALUES",
    "MAX_VALUE_DEPTH",
    "PayloadTooLargeError",
    "UnsupportedContentError",
    "decode_otlp",
    "derive_kind",
]

#: The most bytes a request body may have on the wire (compressed or not); the OTel
#: Collector's default is 20 MiB, and exporters send batches of 512 spans.
MAX_BODY_BYTES = 16 * 1024 * 1024
#: The most bytes a gzip or deflate body may inflate to.
MAX_DECODED_BYTES = 32 * 1024 * 1024
#: The most values (spans, attributes, array items, any protobuf message) in one request.
MAX_VALUES = 1_000_000
#: The most spans in one request.
MAX_SPANS = 100_000
#: Attributes kept per span, event, resource or scope; the rest are dropped and counted in
#: ``DROPPED_ATTRIBUTES`` (OpenTelemetry SDKs keep 128 by default).
MAX_ATTRIBUTES = 1024
#: Events kept per span; the rest are dropped and counted in ``DROPPED_EVENTS``.
MAX_EVENTS = 1024
#: Links kept per span (OpenTelemetry SDKs keep 128); the rest are counted in ``DROPPED_LINKS``.
MAX_LINKS = 128
#: Longer strings (attribute values, status messages) are truncated with a marker.
MAX_STRING_CHARS = 64 * 1024
#: The latest span time kept (2100-01-01); later times are clamped to it.
MAX_TIME_NS = 4_102_444_800 * 10**9
DROPPED_ATTRIBUTES = "llmops.dropped_attributes"
DROPPED_EVENTS = "llmops.dropped_events"
DROPPED_LINKS = "llmops.dropped_links"
#: How deep arrays and key-value lists may nest in one attribute value (the store's JSON
#: encoder stops at 255 levels; protobuf's own limit allows about 45).
MAX_VALUE_DEPTH = 64
_INT64 = (-(2**63), 2**63 - 1)

_KIND_ATTRIBUTE = "llmops.span.kind"
_OTEL_KINDS = ("internal", "internal", "server", "client", "producer", "consumer")
_OTEL_KIND_NAMES = {f"SPAN_KIND_{name.upper()}": i for i, name in enumerate(_OTEL_KINDS)}
_OTEL_KIND_NAMES["SPAN_KIND_UNSPECIFIED"] = 0
# the stored OTel kind: UNSPECIFIED is read as INTERNAL, as the specification allows
_OTEL_KIND_COLUMN = tuple(name.upper() for name in _OTEL_KINDS)
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


class PayloadTooLargeError(InputError):
    """The request is past one of the limits of this module (HTTP 413)."""


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
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(f"request body over {MAX_BODY_BYTES:,} bytes")
    if encoding in ("gzip", "deflate"):
        body = _inflate(body, encoding)
    elif encoding != "identity":
        raise UnsupportedContentError(
            f"unsupported Content-Encoding '{content_encoding}': expected gzip, deflate or none"
        )
    # Every value takes at least 2 bytes (a tag and a length, or a digit and a comma), so
    # only a body over 2 * MAX_VALUES bytes can hold too many: smaller ones skip the count.
    if len(body) > 2 * MAX_VALUES:
        counted = _json_values(body) if media_type == "application/json" else _pb_values(body)
        if counted > MAX_VALUES:
            raise PayloadTooLargeError(
                f"request holds more than {MAX_VALUES:,} values (spans, attributes, array "
                "items): send smaller batches"
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


def _inflate(body: bytes, encoding: str) -> bytes:
    """The inflated body, stopping as soon as it passes ``MAX_DECODED_BYTES`` (a 1 GiB bomb
    costs no more than the cap); gzip may have several members, deflate is zlib-wrapped."""
    limit = MAX_DECODED_BYTES  # read at call time: tests lower it
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    out: list[bytes] = []
    size = 0
    data = body
    try:
        while data:
            inflater = zlib.decompressobj(wbits)
            chunk = inflater.decompress(data, limit - size + 1)
            size += len(chunk)
            if size > limit or inflater.unconsumed_tail:
                raise PayloadTooLargeError(f"{encoding} body inflates to more than {limit} bytes")
            if not inflater.eof:
                raise InputError(f"invalid {encoding} body: truncated stream")
            out.append(chunk)
            data = inflater.unused_data if encoding == "gzip" else b""
    except zlib.error as exc:
        raise InputError(f"invalid {encoding} body: {exc}") from None
    if not out:
        raise InputError(f"invalid {encoding} body: empty")
    return b"".join(out)


# Which length-delimited fields of each OTLP message are messages (the others are strings and
# bytes, which cost the parser no more than their size): field number -> message.
_PB_MESSAGES: dict[str, dict[int, str]] = {
    "request": {1: "resource_spans"},
    "resource_spans": {1: "resource", 2: "scope_spans"},
    "resource": {1: "key_value"},
    "scope_spans": {1: "scope", 2: "span"},
    "scope": {3: "key_value"},
    "span": {9: "key_value", 11: "event", 13: "link", 15: "status"},
    "event": {3: "key_value"},
    "link": {4: "key_value"},
    "status": {},
    "key_value": {2: "any_value"},
    "any_value": {5: "array", 6: "kvlist"},
    "array": {1: "any_value"},
    "kvlist": {1: "key_value"},
}
_CONTAINER_TAGS = (5 << 3 | 2, 6 << 3 | 2)  # AnyValue.array_value, AnyValue.kvlist_value


def _pb_values(body: bytes, messages: dict[str, dict[int, str]] = _PB_MESSAGES) -> int:
    """How many messages a protobuf request holds, counted up to ``MAX_VALUES + 1`` by a walk
    of the wire format that allocates nothing per message (the stack holds the open parents
    only). Bytes that do not parse end the walk early: the parser refuses them anyway.
    ``messages`` maps the request's messages (traces by default, or logs)."""
    count = 0
    stack: list[tuple[str, int, int]] = []
    message, pos, end = "request", 0, len(body)
    try:
        while True:
            if pos >= end:
                if not stack:
                    return count
                message, pos, end = stack.pop()
                continue
            key, pos = _varint(body, pos)
            wire = key & 7
            if wire == 0:
                pos = _varint(body, pos)[1]
            elif wire == 1:
                pos += 8
            elif wire == 5:
                pos += 4
            elif wire == 2:
                length, pos = _varint(body, pos)
                child = messages[message].get(key >> 3)
                if child is None:
                    pos += length
                    continue
                count += 1
                if count > MAX_VALUES:
                    return count
                if child == "key_value" and _scalar_key_value(body, pos, pos + length):
                    count += 1  # its value: most attributes, counted without a descent
                    pos += length
                    continue
                stack.append((message, pos + length, end))
                message, end = child, min(pos + length, end)
            elif wire == 3:  # a group: the parser keeps it as an unknown field
                pos = _skip_group(body, pos)
            else:  # an unmatched group end or no wire type at all: the parser refuses it
                return count
    except IndexError:
        return count


def _skip_group(body: bytes, pos: int) -> int:
    """The position after the end of the group whose start tag ends at ``pos``."""
    depth = 1
    while depth:
        key, pos = _varint(body, pos)
        wire = key & 7
        if wire == 0:
            pos = _varint(body, pos)[1]
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = _varint(body, pos)
            pos += length
        elif wire in (3, 4):
            depth += 1 if wire == 3 else -1
        else:
            raise IndexError  # not protobuf: ends the walk as bytes past the end would
    return pos


def _scalar_key_value(body: bytes, pos: int, end: int) -> bool:
    """Whether the KeyValue at ``body[pos:end]`` is a key then one scalar AnyValue (the usual
    layout, read with one-byte lengths only; anything else is walked field by field)."""
    if pos >= end or body[pos] != 0x0A or body[pos + 1] >= 0x80:  # key, under 128 bytes
        return False
    pos += 2 + body[pos + 1]
    if pos >= end or body[pos] != 0x12:  # value
        return False
    value, pos = _varint(body, pos + 1)
    return pos + value == end and (value == 0 or body[pos] not in _CONTAINER_TAGS)


def _varint(body: bytes, pos: int) -> tuple[int, int]:
    byte = body[pos]
    if byte < 0x80:
        return byte, pos + 1
    value, shift = byte & 0x7F, 7
    while True:
        pos += 1
        byte = body[pos]
        value |= (byte & 0x7F) << shift
        if byte < 0x80 or shift > 63:
            return value, pos + 1
        shift += 7


def _json_values(body: bytes) -> int:
    """An upper bound of the values in a JSON body: every one but the first of an array or
    object follows a comma (commas inside strings only make it larger). An object counts as
    4 more: parsed, it costs about as much as 5 protobuf values (~250 bytes)."""
    return body.count(b",") + 5 * body.count(b"{") + body.count(b"[") + 1


def _clip(text: str) -> str:
    if len(text) <= MAX_STRING_CHARS:
        return text
    return f"{text[:MAX_STRING_CHARS]}…[truncated {len(text) - MAX_STRING_CHARS} chars]"


def _span_times(start: int, end: int) -> tuple[int, int]:
    """Times clamped into ``[0, MAX_TIME_NS]``; an unset (0) or earlier end is the start."""
    start = min(max(start, 0), MAX_TIME_NS)
    end = min(max(end, 0), MAX_TIME_NS)
    return start, max(end, start)


def _capped(attributes: dict[str, Any], dropped: int) -> dict[str, Any]:
    if dropped:
        attributes[DROPPED_ATTRIBUTES] = dropped
    return attributes


def _too_many_spans() -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"request holds more than {MAX_SPANS:,} spans: send smaller batches"
    )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _otel_kind(value: int) -> str | None:
    return _OTEL_KIND_COLUMN[value] if 0 <= value < len(_OTEL_KIND_COLUMN) else None


def _scope(name: str, version: str, attributes: dict[str, Any]) -> dict[str, Any] | None:
    """The instrumentation scope of a span: its name, version and attributes, where set."""
    scope: dict[str, Any] = {}
    if name:
        scope["name"] = name
    if version:
        scope["version"] = version
    if attributes:
        scope["attributes"] = attributes
    return scope or None


# --- protobuf ---------------------------------------------------------------------------------


def _decode_protobuf(body: bytes) -> list[dict[str, Any]]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    try:
        request = ExportTraceServiceRequest.FromString(body)
    except Exception as exc:  # upb raises DecodeError; anything from bad bytes is bad input
        raise InputError(f"invalid OTLP protobuf trace request: {exc}") from None
    spans = sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
    if spans > MAX_SPANS:
        raise _too_many_spans()
    rows: list[dict[str, Any]] = []
    for resource_spans in request.resource_spans:
        resource = _pb_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = _scope(
                _clip(scope_spans.scope.name),
                _clip(scope_spans.scope.version),
                _pb_attributes(scope_spans.scope.attributes),
            )
            for span in scope_spans.spans:
                rows.append(_pb_row(span, resource, scope))
    return rows


def _pb_row(span: Any, resource: dict[str, Any], scope: dict[str, Any] | None) -> dict[str, Any]:
    trace_id = _pb_id(span.trace_id, 16, "traceId")
    span_id = _pb_id(span.span_id, 8, "spanId")
    parent = span.parent_span_id
    attributes = _pb_attributes(span.attributes)
    start_ns, end_ns = _span_times(span.start_time_unix_nano, span.end_time_unix_nano)
    status = span.status
    code = status.code
    events = [
        {
            "name": _clip(event.name),  # cut to 400 by the redactor, after masking
            "time_ns": _span_times(event.time_unix_nano, 0)[0],
            "attributes": _pb_attributes(event.attributes),
        }
        for event in span.events[:MAX_EVENTS]
    ]
    if len(span.events) > MAX_EVENTS:
        attributes[DROPPED_EVENTS] = len(span.events) - MAX_EVENTS
    links = [
        {
            "trace_id": _pb_id(link.trace_id, 16, "link traceId"),
            "span_id": _pb_id(link.span_id, 8, "link spanId"),
            "trace_state": _clip(link.trace_state) or None,
            "attributes": _pb_attributes(link.attributes),
        }
        for link in span.links[:MAX_LINKS]
    ]
    if len(span.links) > MAX_LINKS:
        attributes[DROPPED_LINKS] = len(span.links) - MAX_LINKS
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": _pb_id(parent, 8, "parentSpanId") if parent.strip(b"\0") else None,
        "name": _clip(span.name),
        "kind": derive_kind(attributes, span.kind),
        "otel_kind": _otel_kind(span.kind),
        "start_ns": start_ns,
        "end_ns": end_ns,
        "status_code": _STATUS_CODES[code] if 0 <= code < 3 else "UNSET",
        "status_message": _clip(status.message) or None,
        "attributes": attributes,
        "events": events or None,
        "resource": dict(resource),
        "scope": scope,
        "links": links or None,
        "trace_state": _clip(span.trace_state) or None,
    }


def _pb_id(raw: bytes, size: int, field: str) -> str:
    if len(raw) != size or not raw.strip(b"\0"):
        raise InputError(f"invalid {field} {raw.hex()[:64]!r}: expected {size} non-zero bytes")
    return raw.hex()


def _too_deep() -> InputError:
    return InputError(f"attribute values nest deeper than {MAX_VALUE_DEPTH} levels")


def _pb_attributes(key_values: Any, depth: int = 0) -> dict[str, Any]:
    """A key-value list; at the top (``depth`` 0), the first ``MAX_ATTRIBUTES`` of it."""
    if depth > MAX_VALUE_DEPTH:
        raise _too_deep()
    if depth == 0 and len(key_values) > MAX_ATTRIBUTES:
        kept = {kv.key: _pb_value(kv.value) for kv in key_values[:MAX_ATTRIBUTES]}
        return _capped(kept, len(key_values) - MAX_ATTRIBUTES)
    # strings and integers inline, the rest through _pb_value: a call less for most values
    # of every span (about 0.5 us a span)
    attributes: dict[str, Any] = {}
    for kv in key_values:
        value = kv.value
        which = value.WhichOneof("value")
        if which == "string_value":
            attributes[kv.key] = _clip(value.string_value)
        elif which == "int_value":
            attributes[kv.key] = value.int_value
        else:
            attributes[kv.key] = _pb_value(value, depth)
    return attributes


def _pb_value(value: Any, depth: int = 0) -> Any:
    which = value.WhichOneof("value")
    if which == "string_value":
        return _clip(value.string_value)
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
        return _clip(base64.b64encode(value.bytes_value[:MAX_STRING_CHARS]).decode("ascii"))
    return None  # unset, or a profiles-only string-table index


# --- JSON -------------------------------------------------------------------------------------


def _decode_json(body: bytes) -> list[dict[str, Any]]:
    envelope = ("resourceSpans", "scopeSpans", "spans")
    return decode_json_request(
        body, "trace", envelope, _json_scope, _json_row, MAX_SPANS, _too_many_spans
    )


def decode_json_request(
    body: bytes,
    what: str,
    envelope: tuple[str, str, str],
    scope_of: Callable[[dict[str, Any]], Any],
    row_of: Callable[[Any, dict[str, Any], Any], dict[str, Any]],
    limit: int,
    too_many: Callable[[], PayloadTooLargeError],
) -> list[dict[str, Any]]:
    """The rows of an OTLP/JSON export request (traces or logs): ``envelope`` names its
    resource, scope and item lists; every error is one ``InputError`` naming the request kind."""
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"invalid OTLP/JSON {what} request: {exc}") from None
    if not isinstance(request, dict):
        raise InputError(
            f"invalid OTLP/JSON {what} request: expected an object, got {type(request).__name__}"
        )
    resources_key, scopes_key, items_key = envelope
    rows: list[dict[str, Any]] = []
    try:
        count = sum(
            len(_list(scope_items, items_key))
            for resource_items in _list(request, resources_key)
            for scope_items in _list(resource_items, scopes_key)
        )
        if count > limit:  # counted before any row is built: refused before it costs memory
            raise too_many()
        for resource_items in _list(request, resources_key):
            resource = _json_attributes(_object(resource_items, "resource"))
            for scope_items in _list(resource_items, scopes_key):
                scope = scope_of(_object(scope_items, "scope"))
                for item in _list(scope_items, items_key):
                    rows.append(row_of(item, resource, scope))
    except PayloadTooLargeError:
        raise
    except InputError as exc:
        raise InputError(f"invalid OTLP/JSON {what} request: {exc}") from None
    except (TypeError, ValueError, AttributeError, OverflowError, RecursionError) as exc:
        message = f"invalid OTLP/JSON {what} request: {type(exc).__name__}: {exc}"
        raise InputError(message) from None
    return rows


def _json_row(span: Any, resource: dict[str, Any], scope: dict[str, Any] | None) -> dict[str, Any]:
    if not isinstance(span, dict):
        raise InputError(f"span must be an object, got {type(span).__name__}")
    attributes = _json_attributes(span)
    start_ns, end_ns = _span_times(
        _fixed64(span.get("startTimeUnixNano", 0), "startTimeUnixNano"),
        _fixed64(span.get("endTimeUnixNano", 0), "endTimeUnixNano"),
    )
    status = _object(span, "status")
    code = _enum(status.get("code", 0), _STATUS_NAMES, "status.code")
    message = status.get("message") or None
    all_events = _list(span, "events")
    events = [
        {
            "name": _clip(str(event.get("name", ""))),
            "time_ns": _span_times(_fixed64(event.get("timeUnixNano", 0), "timeUnixNano"), 0)[0],
            "attributes": _json_attributes(event),
        }
        for event in all_events[:MAX_EVENTS]
    ]
    if len(all_events) > MAX_EVENTS:
        attributes[DROPPED_EVENTS] = len(all_events) - MAX_EVENTS
    all_links = _list(span, "links")
    links = [_json_link(link) for link in all_links[:MAX_LINKS]]
    if len(all_links) > MAX_LINKS:
        attributes[DROPPED_LINKS] = len(all_links) - MAX_LINKS
    parent = span.get("parentSpanId")
    otel_kind = _enum(span.get("kind", 0), _OTEL_KIND_NAMES, "kind")
    return {
        "trace_id": _json_id(span.get("traceId"), 16, "traceId"),
        "span_id": _json_id(span.get("spanId"), 8, "spanId"),
        "parent_span_id": _json_id(parent, 8, "parentSpanId", optional=True) if parent else None,
        "name": _clip(str(span.get("name", ""))),
        "kind": derive_kind(attributes, otel_kind),
        "otel_kind": _otel_kind(otel_kind),
        "start_ns": start_ns,
        "end_ns": end_ns,
        "status_code": _STATUS_CODES[code] if 0 <= code < 3 else "UNSET",
        "status_message": _clip(str(message)) if message is not None else None,
        "attributes": attributes,
        "events": events or None,
        "resource": dict(resource),
        "scope": scope,
        "links": links or None,
        "trace_state": _json_text(span.get("traceState"), "traceState"),
    }


def _json_link(link: Any) -> dict[str, Any]:
    if not isinstance(link, dict):
        raise InputError(f"link must be an object, got {type(link).__name__}")
    return {
        "trace_id": _json_id(link.get("traceId"), 16, "link traceId"),
        "span_id": _json_id(link.get("spanId"), 8, "link spanId"),
        "trace_state": _json_text(link.get("traceState"), "link traceState"),
        "attributes": _json_attributes(link),
    }


def _json_scope(scope: dict[str, Any]) -> dict[str, Any] | None:
    return _scope(
        _json_text(scope.get("name"), "scope name") or "",
        _json_text(scope.get("version"), "scope version") or "",
        _json_attributes(scope),
    )


def _json_text(value: Any, field: str) -> str | None:
    """An optional string field; empty is absent."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InputError(f"invalid {field} {str(value)[:80]!r}: expected a string")
    return _clip(value)


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


def _fixed64(value: Any, field: str) -> int:
    """A time: an unsigned 64-bit integer, as a number or a decimal string."""
    number = _integer(value, field)
    if not 0 <= number < 2**64:
        raise InputError(f"invalid {field} {str(value)[:40]}: out of the unsigned 64-bit range")
    return number


def _int64(value: Any, field: str) -> int:
    number = _integer(value, field)
    if not _INT64[0] <= number <= _INT64[1]:
        raise InputError(f"invalid {field} {str(value)[:40]}: out of the 64-bit range")
    return number


def _integer(value: Any, field: str) -> int:
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
    return number


def _enum(value: Any, names: dict[str, int], field: str) -> int:
    if isinstance(value, str) and value in names:
        return names[value]
    return _int64(value, field)


def _json_attributes(holder: Any) -> dict[str, Any]:
    """The attributes of a span, event, resource or scope: the first ``MAX_ATTRIBUTES``."""
    items = _list(holder, "attributes")
    if len(items) > MAX_ATTRIBUTES:
        kept = _json_key_values(items[:MAX_ATTRIBUTES])
        return _capped(kept, len(items) - MAX_ATTRIBUTES)
    return _json_key_values(items)


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
    return _clip(item)


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
    return _clip(item)


_JSON_READERS: dict[str, Callable[[Any], Any]] = {
    "stringValue": _json_string,
    "boolValue": _json_bool,
    "intValue": lambda item: _int64(item, "intValue"),
    "doubleValue": _json_double,
    "bytesValue": _json_bytes,
}
