"""The tracing SDK: ``span()``, ``@trace``, ``trace_context()`` and W3C propagation."""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar, overload

import orjson

from llmops.tracing._context import SPAN_KEY, _get_current, attach, detach
from llmops.tracing._span import Span, live_current, new_trace_id

__all__ = [
    "extract_traceparent",
    "span",
    "span_attributes",
    "start_span",
    "trace",
    "trace_context",
]

F = TypeVar("F", bound=Callable[..., Any])

_CONTEXT: ContextVar[dict[str, Any] | None] = ContextVar("llmops_trace_context", default=None)
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")

#: Called with every finished span; set by the pipeline (``None``: tracing is off).
_sink: list[Callable[[Span], None] | None] = [None]


def _on_end(span: Span) -> None:
    sink = _sink[0]
    if sink is None:
        from llmops.tracing._pipeline import get_pipeline

        sink = get_pipeline().submit
    sink(span)


def extract_traceparent(header: str) -> tuple[int, int] | None:
    """(trace id, parent span id) from a W3C ``traceparent`` header, or None if invalid."""
    found = _TRACEPARENT.match(header.strip().lower())
    if found is None or set(found.group(1)) == {"0"} or set(found.group(2)) == {"0"}:
        return None
    return int(found.group(1), 16), int(found.group(2), 16)


def span(
    name: str,
    kind: str = "chain",
    attributes: Mapping[str, Any] | None = None,
    *,
    parent: Span | str | None = None,
) -> Span:
    """A started span: ``with llmops.span("retrieve", kind="retriever") as s: ...``.

    Its parent is ``parent`` (a span or a W3C ``traceparent`` header), else the current span
    (llmops or OpenTelemetry, from any tracer provider), else it starts a new trace. Inside a
    ``with`` block it is the current span, OpenTelemetry's included; an exception is recorded
    and sets status ERROR. Without ``with``, call ``end()``.
    """
    parent_id: int | None = None
    if parent is None:
        current: Any = _get_current().get(SPAN_KEY)
        if type(current) is Span and current.end_ns and current._token is not None:
            current = live_current()  # rare: an ended span still current (closed out of order)
        if type(current) is Span:
            trace_id, parent_id = current.trace_id, current.span_id
        elif current is not None and (context := current.get_span_context()).is_valid:
            trace_id, parent_id = context.trace_id, context.span_id
        else:
            trace_id = new_trace_id()
    elif isinstance(parent, Span):
        trace_id, parent_id = parent.trace_id, parent.span_id
    elif (ids := extract_traceparent(parent)) is not None:
        trace_id, parent_id = ids
    else:
        trace_id = new_trace_id()
    attrs = {**attributes} if attributes else {}
    context = _CONTEXT.get()
    if context:
        attrs.update(context)
    return Span(name, kind, trace_id, parent_id, attrs, _sink[0] or _on_end)


start_span = span


@contextmanager
def trace_context(
    *,
    session_id: str | None = None,
    user_id: str | None = None,
    tags: list[str] | None = None,
    **metadata: object,
) -> Iterator[None]:
    """Attach a session, user, tags and metadata to every span started inside the block."""
    merged = dict(_CONTEXT.get() or {})
    if session_id is not None:
        merged["session.id"] = session_id
    if user_id is not None:
        merged["user.id"] = user_id
    if tags:
        merged["llmops.tags"] = sorted({*merged.get("llmops.tags", []), *tags})
    for key, value in metadata.items():
        merged[f"llmops.metadata.{key}"] = value
    token = _CONTEXT.set(merged)
    try:
        yield
    finally:
        _CONTEXT.reset(token)


@contextmanager
def span_attributes(attributes: Mapping[str, Any]) -> Iterator[None]:
    """Set ``attributes`` (exact keys) on every span started inside the block."""
    token = _CONTEXT.set({**(_CONTEXT.get() or {}), **attributes})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def _dump(value: Any) -> str:
    try:
        return orjson.dumps(value, default=repr).decode()
    except TypeError:
        return repr(value)


def _inputs(function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    try:
        bound = inspect.signature(function).bind_partial(*args, **kwargs)
    except (TypeError, ValueError):
        return _dump({"args": args, "kwargs": kwargs})
    arguments = {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}
    return _dump(arguments)


@overload
def trace(function: F) -> F: ...


@overload
def trace(
    *,
    name: str | None = None,
    kind: str = "chain",
    capture_input: bool = True,
    capture_output: bool = True,
) -> Callable[[F], F]: ...


def trace(
    function: F | None = None,
    *,
    name: str | None = None,
    kind: str = "chain",
    capture_input: bool = True,
    capture_output: bool = True,
) -> F | Callable[[F], F]:
    """Trace every call of a function (sync, async, generator or async generator).

    ``@llmops.trace`` or ``@llmops.trace(name=..., kind="tool")``. Arguments and the return
    value are recorded as ``input.value`` / ``output.value`` (JSON) unless turned off.
    """

    def decorate(fn: F) -> F:
        label = name or fn.__qualname__

        def begin(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Span:
            started = span(label, kind)
            if capture_input:
                started.attributes["input.value"] = _inputs(fn, args, kwargs)
            return started

        def finish(active: Span, result: Any) -> None:
            if capture_output:
                active.attributes["output.value"] = _dump(result)

        # A generator's span is current only while the generator runs, not between items:
        # a span around ``yield`` would be current in the consumer's code too, and would close
        # out of order with the consumer's spans.
        if inspect.isasyncgenfunction(fn):

            @functools.wraps(fn)
            async def agen_wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
                active = begin(args, kwargs)
                items = []
                iterator = fn(*args, **kwargs)
                try:
                    while True:
                        token = attach(active)
                        try:
                            item = await iterator.__anext__()
                        except StopAsyncIteration:
                            break
                        finally:
                            detach(token)
                        items.append(item)
                        yield item
                    finish(active, items)
                except GeneratorExit:  # the consumer stopped early: not an error
                    raise
                except BaseException as exc:
                    active.__exit__(type(exc), exc, exc.__traceback__)
                    raise
                finally:
                    await iterator.aclose()
                    active.end()

            return agen_wrapper  # type: ignore[return-value]

        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
                active = begin(args, kwargs)
                items = []
                iterator = fn(*args, **kwargs)
                try:
                    while True:
                        token = attach(active)
                        try:
                            item = next(iterator)
                        except StopIteration:
                            break
                        finally:
                            detach(token)
                        items.append(item)
                        yield item
                    finish(active, items)
                except GeneratorExit:  # the consumer stopped early: not an error
                    raise
                except BaseException as exc:
                    active.__exit__(type(exc), exc, exc.__traceback__)
                    raise
                finally:
                    iterator.close()
                    active.end()

            return gen_wrapper  # type: ignore[return-value]

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with begin(args, kwargs) as active:
                    result = await fn(*args, **kwargs)
                    finish(active, result)
                    return result

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with begin(args, kwargs) as active:
                result = fn(*args, **kwargs)
                finish(active, result)
                return result

        return wrapper  # type: ignore[return-value]

    if function is not None:
        return decorate(function)
    return decorate
