"""Trace the calls an application makes directly through litellm.

:func:`instrument_litellm` adds a litellm ``CustomLogger`` to ``litellm.callbacks``: every
``completion`` / ``acompletion`` (streamed or not) becomes an ``llm`` span and every
``embedding`` / ``aembedding`` an ``embedding`` span, with the GenAI attributes llmops' own
model calls carry, plus ``llmops.cost_usd`` from litellm's offline price map. Failures set
status ERROR. Other call types (images, audio, ...) are not traced.

The span starts in litellm's pre-call hook, which runs in the caller's context, so it nests
under the current span (llmops, a LangChain run's or OpenTelemetry's); it ends in the success
or failure callback (another thread for sync calls), keyed by ``litellm_call_id``. A call with
no pre-call hook (mocked embeddings, a provider error before the request) is recorded from the
callback with litellm's times.

Calls whose ``metadata`` holds ``{TRACED_MARKER: True}`` are skipped: llmops' own model calls
make their span themselves. litellm hands that metadata to callbacks as
``kwargs["litellm_params"]["metadata"]``.
"""

from __future__ import annotations

import functools
import importlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from llmops._litellm import import_litellm
from llmops.tracing._sdk import span as start_span
from llmops.tracing._span import Span

__all__ = ["TRACED_MARKER", "instrument_litellm", "uninstrument_litellm"]

#: Key in a litellm call's ``metadata`` that marks a call already traced by llmops.
TRACED_MARKER = "llmops_traced"

_log = logging.getLogger(__name__)
_CALL_TYPES = {  # litellm call_type -> (span kind, gen_ai.operation.name)
    "completion": ("llm", "chat"),
    "acompletion": ("llm", "chat"),
    "embedding": ("embedding", "embeddings"),
    "aembedding": ("embedding", "embeddings"),
}
_PARAMS = {  # litellm parameter -> gen_ai.request.*
    "temperature": "temperature",
    "max_tokens": "max_tokens",
    "max_completion_tokens": "max_tokens",
    "top_p": "top_p",
    "seed": "seed",
}
_CALLBACK_LISTS = (
    "callbacks",
    "input_callback",
    "success_callback",
    "failure_callback",
    "_async_input_callback",
    "_async_success_callback",
    "_async_failure_callback",
)
_MAX_OPEN = 10_000  # spans of calls that never reported back are ended beyond this many
_installed: list[Any] = [None]


def instrument_litellm() -> None:
    """Trace every litellm completion and embedding call as an llmops span (idempotent)."""
    if _installed[0] is not None:
        return
    litellm = import_litellm()
    base = importlib.import_module("litellm.integrations.custom_logger").CustomLogger
    logger = type("LlmopsLitellmLogger", (_Tracer, base), {})()
    manager = getattr(litellm, "logging_callback_manager", None)
    if manager is not None:
        manager.add_litellm_callback(logger)
    else:  # pragma: no cover - litellm before the callback manager
        litellm.callbacks.append(logger)
    _installed[0] = logger


def uninstrument_litellm() -> None:
    """Stop tracing litellm calls; spans of calls still running are ended now."""
    logger, _installed[0] = _installed[0], None
    if logger is None:
        return
    litellm = import_litellm()
    for name in _CALLBACK_LISTS:
        callbacks = getattr(litellm, name, None)
        if isinstance(callbacks, list):
            callbacks[:] = [c for c in callbacks if c is not logger]
    logger.close()


def _safe(method: Callable[..., None]) -> Callable[..., None]:
    """Telemetry never raises into the call it observes."""

    @functools.wraps(method)
    def guarded(*args: Any, **kwargs: Any) -> None:
        try:
            method(*args, **kwargs)
        except Exception:
            _log.warning("llmops: tracing a litellm call failed", exc_info=True)

    return guarded


class _Tracer:
    """The callback methods; combined with litellm's ``CustomLogger`` at install time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()
        self._open: OrderedDict[str, Span] = OrderedDict()
        self._done: OrderedDict[str, None] = OrderedDict()

    # -- litellm hooks -------------------------------------------------------------------
    @_safe
    def log_pre_api_call(self, model: Any, messages: Any, kwargs: dict[str, Any]) -> None:
        call_id = kwargs.get("litellm_call_id")
        if not call_id or not _traced(kwargs):
            return
        with self._lock:
            if call_id in self._open or call_id in self._done:
                return  # a retry of a call already open
            self._open[call_id] = _begin(kwargs, _ns(kwargs.get("start_time")))
            stale = self._open.popitem(last=False)[1] if len(self._open) > _MAX_OPEN else None
        if stale is not None:
            stale.set("llmops.incomplete", True).end()

    @_safe
    def log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        active = self._take(kwargs, start_time)
        if active is not None:
            _succeed(active, kwargs, response_obj, start_time, end_time)
            active.end(_ns(end_time))

    @_safe
    def log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        active = self._take(kwargs, start_time)
        if active is not None:
            _fail(active, kwargs.get("exception"), start_time, end_time)
            active.end(_ns(end_time))

    async def async_log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self.log_success_event(kwargs, response_obj, start_time, end_time)

    async def async_log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self.log_failure_event(kwargs, response_obj, start_time, end_time)

    # -- state ---------------------------------------------------------------------------
    def _take(self, kwargs: dict[str, Any], start_time: Any) -> Span | None:
        """The call's open span (once), or a new one when no pre-call hook ran."""
        call_id = kwargs.get("litellm_call_id")
        if not call_id or not _traced(kwargs):
            return None
        with self._lock:
            if call_id in self._done:
                return None  # reported twice (sync and async handlers)
            self._done[call_id] = None
            if len(self._done) > _MAX_OPEN:
                self._done.popitem(last=False)
            active = self._open.pop(call_id, None)
        return active if active is not None else _begin(kwargs, _ns(start_time))

    def close(self) -> None:
        """End the spans of calls still running."""
        with self._lock:
            still_open = list(self._open.values())
            self._open.clear()
        for active in still_open:
            active.set("llmops.incomplete", True).end()


# -- attributes ------------------------------------------------------------------------------


def _traced(kwargs: dict[str, Any]) -> bool:
    """Whether this call is one to trace: a known call type, not marked by llmops."""
    if kwargs.get("call_type") not in _CALL_TYPES:
        return False
    params = kwargs.get("litellm_params") or {}
    for key in ("metadata", "litellm_metadata"):
        metadata = params.get(key)
        if isinstance(metadata, dict) and metadata.get(TRACED_MARKER):
            return False
    return True


def _begin(kwargs: dict[str, Any], start_ns: int | None) -> Span:
    kind, operation = _CALL_TYPES[kwargs["call_type"]]
    model = str(kwargs.get("model") or "")
    params = kwargs.get("litellm_params") or {}
    attributes: dict[str, Any] = {"gen_ai.operation.name": operation, "gen_ai.request.model": model}
    provider = params.get("custom_llm_provider") or kwargs.get("custom_llm_provider")
    if provider:
        attributes["gen_ai.provider.name"] = str(provider)
    optional = kwargs.get("optional_params") or {}
    for key, name in _PARAMS.items():
        value = optional.get(key, kwargs.get(key))
        if value is not None:
            attributes[f"gen_ai.request.{name}"] = value
    if kind == "llm":
        messages = kwargs.get("messages")
    else:
        inputs = kwargs.get("input")
        inputs = [inputs] if isinstance(inputs, str) else inputs or []
        messages = [{"role": "user", "content": text} for text in inputs]
    if messages:
        attributes["gen_ai.input.messages"] = _json(messages)
    started = start_span(f"{operation} {model}".strip(), kind, attributes)
    if start_ns:
        started.start_ns = start_ns
    return started


def _succeed(
    active: Span, kwargs: dict[str, Any], response: Any, start_time: Any, end_time: Any
) -> None:
    attributes: dict[str, Any] = {"llmops.latency_ms": _ms(start_time, end_time)}
    if getattr(response, "model", None):
        attributes["gen_ai.response.model"] = str(response.model)
    if getattr(response, "id", None):
        attributes["gen_ai.response.id"] = str(response.id)
    usage = getattr(response, "usage", None)
    if usage is not None:
        attributes["gen_ai.usage.input_tokens"] = getattr(usage, "prompt_tokens", None) or 0
        if active.kind == "llm":
            attributes["gen_ai.usage.output_tokens"] = (
                getattr(usage, "completion_tokens", None) or 0
            )
    choices = getattr(response, "choices", None) or []
    if active.kind == "llm" and choices:
        attributes["gen_ai.response.finish_reasons"] = [c.finish_reason or "" for c in choices]
        attributes["gen_ai.output.messages"] = _json([_output(c) for c in choices])
    if kwargs.get("stream") and kwargs.get("completion_start_time") is not None:
        attributes["llmops.time_to_first_token_ms"] = _ms(
            start_time, kwargs["completion_start_time"]
        )
    cost = kwargs.get("response_cost")
    if cost is None:
        cost = (kwargs.get("standard_logging_object") or {}).get("response_cost")
    if cost is not None:
        attributes["llmops.cost_usd"] = float(cost)
    active.set_attributes(attributes)


def _fail(active: Span, error: Any, start_time: Any, end_time: Any) -> None:
    active.set("llmops.latency_ms", _ms(start_time, end_time))
    if isinstance(error, BaseException):
        active.record_exception(error)
        active.set("error.type", type(error).__name__)
        message = f"{type(error).__name__}: {error}"
    else:
        message = str(error or "litellm call failed")
    active.set_status("ERROR", (message.splitlines() or [""])[0][:500])


def _output(choice: Any) -> dict[str, Any]:
    message = getattr(choice, "message", None)
    output: dict[str, Any] = {
        "role": getattr(message, "role", None) or "assistant",
        "content": getattr(message, "content", None) or "",
    }
    tool_calls = getattr(message, "tool_calls", None)
    if tool_calls:
        output["tool_calls"] = tool_calls
    return output


def _json(value: Any) -> str:
    return orjson.dumps(value, default=_plain, option=orjson.OPT_NON_STR_KEYS).decode()


def _plain(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    return dump() if callable(dump) else repr(value)


def _ns(moment: Any) -> int | None:
    if isinstance(moment, datetime):
        return int(moment.timestamp() * 1e9)
    if isinstance(moment, int | float) and moment > 0:
        return int(moment * 1e9)
    return None


def _ms(start: Any, end: Any) -> float:
    start_ns, end_ns = _ns(start), _ns(end)
    return (end_ns - start_ns) / 1e6 if start_ns and end_ns else 0.0
