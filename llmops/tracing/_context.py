"""The current span lives in OpenTelemetry's context: one contextvar for every tracer.

An entered llmops span is set as OpenTelemetry's current span, so OTel SDK spans (from any
tracer provider, global or not) and instrumented libraries started inside it become its
children, and llmops spans started inside an OTel span become children of that. Whatever mix
of the two nests exactly as it ran, at any depth, because there is only one "current".
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import Token
from typing import Any

from opentelemetry import context as _otel_context
from opentelemetry.context import Context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.trace.propagation import _SPAN_KEY

__all__ = ["SPAN_KEY", "attach", "current", "detach"]

#: Where OpenTelemetry keeps the current span in a ``Context``.
SPAN_KEY = _SPAN_KEY

_runtime = _otel_context._RUNTIME_CONTEXT
_get_current: Callable[[], Context]
_set_current: Callable[[Context], Token[Context]]
_reset: Callable[[Token[Context]], None]
if isinstance(_runtime, ContextVarsRuntimeContext):
    # the default runtime: its contextvar directly, without two Python calls per access
    _var = _runtime._current_context
    _get_current = _var.get
    _set_current = _var.set
    _reset = _var.reset
else:  # another runtime context chosen through OTEL_PYTHON_CONTEXT
    _get_current = _runtime.get_current
    _set_current = _runtime.attach
    _reset = _runtime.detach


def current() -> Any:
    """The current span object (llmops or OpenTelemetry), or None."""
    return _get_current().get(SPAN_KEY)


def attach(span: Any) -> Token[Context]:
    """Make ``span`` the current span; returns the token to undo it."""
    return _set_current(Context({**_get_current(), SPAN_KEY: span}))


def detach(token: Token[Context]) -> bool:
    """Undo :func:`attach`; False (never an error) when the token belongs to another context
    (a generator finished elsewhere) or was used already.

    OpenTelemetry's own ``context.detach`` logs such a token as an error: telemetry must not
    be noisy over a span that a generator closed in another context.
    """
    try:
        _reset(token)
    except (ValueError, RuntimeError):
        return False
    return True
