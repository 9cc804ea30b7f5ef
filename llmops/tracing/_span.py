"""The span: a lean recording object that follows the OpenTelemetry trace model.

128-bit trace ids and 64-bit span ids, parent links, attributes, events and a status, with
times in integer nanoseconds. Recording one costs a few microseconds; everything else
(redaction, serialization, storage) happens later on the pipeline's thread.

A span implements OpenTelemetry's ``Span`` API and, while entered, is OpenTelemetry's current
span (see ``_context``): OTel spans and instrumentations started inside nest under it, and
``trace.get_current_span().set_attribute(...)`` writes onto it.
"""

from __future__ import annotations

import random
import time
import traceback
from collections.abc import Callable, Mapping
from contextvars import Token
from types import TracebackType
from typing import Any

from opentelemetry import trace as otel_trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanContext, Status, StatusCode, TraceFlags
from opentelemetry.util.types import Attributes

from llmops.tracing._context import SPAN_KEY, _get_current, _reset, _set_current, current

__all__ = [
    "SPAN_KINDS",
    "Span",
    "current_span",
    "new_span_id",
    "new_trace_id",
]

#: The llmops span kinds (OpenInference-style); any other string is accepted and stored as is.
SPAN_KINDS = (
    "llm",
    "chain",
    "retriever",
    "embedding",
    "tool",
    "agent",
    "evaluator",
    "reranker",
    "guardrail",
)

_random = random.Random()
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


def new_trace_id() -> int:
    """A 128-bit trace id: 48 bits of Unix milliseconds, then 80 random bits (as UUIDv7 does).

    Time-ordered ids append to the store's index instead of landing at random places in it,
    which nearly halves the cost of an insert; 80 random bits keep them unique.
    """
    return (time.time_ns() // 1_000_000) << 80 | _random.getrandbits(80)


def new_span_id() -> int:
    """A random non-zero 64-bit span id."""
    return _random.getrandbits(64) or 1


def current_span() -> Span | None:
    """The llmops span active in this context: None when there is none, or when the current
    span is an OpenTelemetry one."""
    found = live_current()
    return found if isinstance(found, Span) else None


def live_current() -> Any:
    """The current span (llmops or OpenTelemetry) or None, passing over llmops spans that have
    ended but are still current because they were closed out of order (a generator's span
    closed while the consumer's span was open): their parent is what was current before."""
    found = current()
    while type(found) is Span and found.end_ns and found._token is not None:
        previous = found._token.old_value
        found = None if previous is Token.MISSING else previous.get(SPAN_KEY)
    return found


class Span(otel_trace.Span):
    """One timed operation. Use as a context manager, or call :meth:`end`."""

    __slots__ = (
        "_on_end",
        "_token",
        "attributes",
        "end_ns",
        "events",
        "kind",
        "links",
        "name",
        "parent_id",
        "span_id",
        "start_ns",
        "status",
        "status_message",
        "trace_id",
    )

    def __init__(
        self,
        name: str,
        kind: str,
        trace_id: int,
        parent_id: int | None,
        attributes: dict[str, Any] | None,
        on_end: Callable[[Span], None] | None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.trace_id = trace_id
        self.span_id = new_span_id()
        self.parent_id = parent_id
        self.attributes: dict[str, Any] = attributes if attributes is not None else {}
        self.events: list[dict[str, Any]] | None = None
        self.links: list[dict[str, Any]] | None = None
        self.status = "UNSET"
        self.status_message: str | None = None
        self.start_ns = time.time_ns()
        self.end_ns = 0
        self._on_end = on_end
        self._token: Token[Context] | None = None

    # -- recording -------------------------------------------------------------------------
    def set(self, key: str | Mapping[str, Any], value: object = None) -> Span:
        """Set one attribute (``set("k", v)``) or several (``set({"k": v})``)."""
        if isinstance(key, str):
            self.attributes[key] = value
        else:
            self.attributes.update(key)
        return self

    set_attribute = set  # type: ignore[assignment]  # returns the span (chains) where OTel's returns None

    def set_attributes(self, attributes: Mapping[str, Any]) -> Span:  # type: ignore[override]
        """Set several attributes."""
        self.attributes.update(attributes)
        return self

    def add_event(  # type: ignore[override]
        self, name: str, attributes: Attributes = None, timestamp: int | None = None
    ) -> Span:
        """A timestamped event inside the span."""
        if self.events is None:
            self.events = []
        self.events.append(
            {
                "name": name,
                "time_ns": timestamp or time.time_ns(),
                "attributes": dict(attributes or {}),
            }
        )
        return self

    def add_link(self, context: SpanContext, attributes: Attributes = None) -> None:
        """A link to another span, e.g. the request a batch job serves (OpenTelemetry API)."""
        if not context.is_valid:
            return
        if self.links is None:
            self.links = []
        self.links.append(
            {
                "trace_id": format(context.trace_id, "032x"),
                "span_id": format(context.span_id, "016x"),
                "trace_state": context.trace_state.to_header() or None,
                "attributes": dict(attributes or {}),
            }
        )

    def record_exception(  # type: ignore[override]
        self,
        exception: BaseException,
        attributes: Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> Span:
        """An ``exception`` event with type, message and stack trace (OTel semantic conventions)."""
        return self.add_event(
            "exception",
            {
                "exception.type": type(exception).__qualname__,
                "exception.message": str(exception),
                "exception.stacktrace": "".join(traceback.format_exception(exception)),
                **(attributes or {}),
            },
            timestamp,
        )

    def set_status(  # type: ignore[override]
        self, status: str | Status | StatusCode, message: str | None = None
    ) -> Span:
        """``OK``, ``ERROR`` or ``UNSET`` (or an OpenTelemetry status), with an optional message."""
        if isinstance(status, Status):
            message = message or status.description
            status = status.status_code
        self.status = status.name if isinstance(status, StatusCode) else status.upper()
        self.status_message = message
        return self

    def update_name(self, name: str) -> None:
        """Rename the span (OpenTelemetry API)."""
        self.name = name

    def is_recording(self) -> bool:
        """True until the span ends (OpenTelemetry API)."""
        return not self.end_ns

    def get_span_context(self) -> SpanContext:
        """The span's ids as an OpenTelemetry ``SpanContext`` (sampled, local)."""
        return SpanContext(self.trace_id, self.span_id, False, _SAMPLED)

    @property
    def trace_id_hex(self) -> str:
        return format(self.trace_id, "032x")

    @property
    def span_id_hex(self) -> str:
        return format(self.span_id, "016x")

    @property
    def traceparent(self) -> str:
        """The W3C ``traceparent`` header value to propagate this span to another service."""
        return f"00-{self.trace_id:032x}-{self.span_id:016x}-01"

    # -- lifecycle -------------------------------------------------------------------------
    def end(self, end_ns: int | None = None) -> None:
        """Finish the span (once) and hand it to the pipeline; if it is still current (entered
        and not exited), it stops being current."""
        if self.end_ns:
            return
        self.end_ns = end_ns or time.time_ns()
        if self._token is not None:
            self._release()
        on_end = self._on_end
        if on_end is not None:
            on_end(self)

    def __enter__(self) -> Span:
        # _context.attach inlined: this and __exit__ are the hot path
        self._token = _set_current(Context({**_get_current(), SPAN_KEY: self}))
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # the hot path: plain statements only (a contextlib.suppress here costs 10% of a span)
        if exc is not None:
            self.record_exception(exc)
            if self.status != "ERROR":
                self.set_status("ERROR", f"{type(exc).__name__}: {exc}")
        if not self.end_ns:
            self.end_ns = time.time_ns()
            if self._token is not None:
                self._release()
            on_end = self._on_end
            if on_end is not None:
                on_end(self)
        elif self._token is not None:
            self._release()

    def _release(self) -> None:
        """Stop being current. Closed out of order (not the current span: a generator's span,
        or one of a batch), it stays in the context until the spans above it end, which then
        unwind it too; :func:`live_current` passes over it meanwhile."""
        token = self._token
        if token is None or _get_current().get(SPAN_KEY) is not self:
            return
        try:
            _reset(token)
        except (ValueError, RuntimeError):  # entered in another context: that one unwinds it
            return
        self._token = None
        previous = token.old_value
        if previous is not Token.MISSING:
            below = previous.get(SPAN_KEY)
            if type(below) is Span and below.end_ns and below._token is not None:
                below._release()

    def __repr__(self) -> str:
        return (
            f"Span({self.name!r}, kind={self.kind!r}, span={self.trace_id_hex}/{self.span_id_hex})"
        )
