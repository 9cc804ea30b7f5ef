"""Interplay with the OpenTelemetry SDK, when the application uses one.

An llmops span started under a current OTel span becomes its child; while an llmops span
is current, it is also the current OTel span, so OTel spans started inside become its
children. When no OpenTelemetry SDK is imported, none of this costs anything.
"""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmops.tracing._span import Span

__all__ = ["attach", "detach", "otel_parent"]


#: [the global provider last checked, whether it is an SDK one]
_checked: list[Any] = [object(), False]


def _otel_active() -> bool:
    """True when the application installed an OpenTelemetry SDK tracer provider globally.

    Costs a module lookup and an identity check per span; the isinstance check runs only
    when the global provider changes.
    """
    trace_module = sys.modules.get("opentelemetry.trace")
    if trace_module is None:
        return False
    provider = getattr(trace_module, "_TRACER_PROVIDER", None)
    if provider is not _checked[0]:
        sdk = sys.modules.get("opentelemetry.sdk.trace")
        _checked[:] = [provider, sdk is not None and isinstance(provider, sdk.TracerProvider)]
    return bool(_checked[1])


def otel_parent() -> tuple[int, int] | None:
    """(trace id, span id) of the current OpenTelemetry span, if there is a valid one."""
    if not _otel_active():
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return context.trace_id, context.span_id


def attach(span: Span) -> None:
    """Make ``span`` the current OpenTelemetry span too (only when an OTel SDK is in use)."""
    if not _otel_active():
        return
    from opentelemetry import context, trace

    span_context = trace.SpanContext(
        trace_id=span.trace_id,
        span_id=span.span_id,
        is_remote=False,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
    )
    token = context.attach(trace.set_span_in_context(trace.NonRecordingSpan(span_context)))
    span._otel_token = token


def detach(token: Any) -> None:
    """Undo :func:`attach`."""
    from opentelemetry import context

    with contextlib.suppress(Exception):  # a token from another context: nothing to undo
        context.detach(token)


def _install() -> None:
    from llmops.tracing import _span

    _span._otel_hook[0] = attach


_install()
