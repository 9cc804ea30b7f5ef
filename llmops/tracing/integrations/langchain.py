"""LangChain runs as llmops spans: ``llmops.instrument("langchain")`` once, or a handler per
call (``chain.invoke(x, config={"callbacks": [LlmopsCallbackHandler()]})``).

Chains become ``chain`` spans, LLM and chat model runs ``llm`` spans (GenAI attributes: model,
parameters, messages, token usage), retrievers ``retriever`` spans (query and documents) and
tools ``tool`` spans. Spans nest as the runs do (``run_id`` / ``parent_run_id``); a top-level
run nests under the current span (llmops or OpenTelemetry). While a run executes its span is
the current span, so ``@llmops.trace`` functions, litellm calls and OTel spans inside a
Runnable are its children. A failed run has status ERROR.

Requires ``langchain-core`` (this module imports it; ``llmops.tracing`` does not).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any
from uuid import UUID

import orjson
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.runnables.config import var_child_runnable_config

from llmops.tracing._sdk import span as start_span
from llmops.tracing._semconv import normalize_role
from llmops.tracing._span import Span

__all__ = ["LlmopsCallbackHandler", "instrument_langchain", "uninstrument_langchain"]

_PARAMS = {  # invocation parameter -> gen_ai.request.*
    "temperature": "temperature",
    "max_tokens": "max_tokens",
    "max_completion_tokens": "max_tokens",
    "top_p": "top_p",
    "seed": "seed",
}
_SCORES = ("score", "relevance_score", "similarity_score")


class LlmopsCallbackHandler(BaseCallbackHandler):
    """A LangChain callback handler that records every run as an llmops span."""

    run_inline = True  # called in the run's own thread and context, in order

    def __init__(self) -> None:
        super().__init__()
        self._spans: dict[UUID, Span] = {}

    # -- chains --------------------------------------------------------------------------
    def on_chain_start(
        self,
        serialized: dict[str, Any],
        inputs: dict[str, Any],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        attributes = {"input.value": _json(inputs)}
        self._start(run_id, parent_run_id, _name(serialized, kwargs, "chain"), "chain", attributes)

    def on_chain_end(self, outputs: dict[str, Any], *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, {"output.value": _json(outputs)})

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._fail(run_id, error)

    # -- models --------------------------------------------------------------------------
    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        attributes = _model_attributes("chat", serialized, metadata, kwargs)
        inputs = [_message(m) for batch in messages for m in batch]
        attributes["gen_ai.input.messages"] = _json(inputs)
        self._start(run_id, parent_run_id, _name(serialized, kwargs, "llm"), "llm", attributes)

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        attributes = _model_attributes("text_completion", serialized, metadata, kwargs)
        inputs = [{"role": "user", "content": prompt} for prompt in prompts]
        attributes["gen_ai.input.messages"] = _json(inputs)
        self._start(run_id, parent_run_id, _name(serialized, kwargs, "llm"), "llm", attributes)

    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        active = self._spans.get(run_id)
        if active is not None and "llmops.time_to_first_token_ms" not in active.attributes:
            active.set("llmops.time_to_first_token_ms", (time.time_ns() - active.start_ns) / 1e6)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        active = self._spans.get(run_id)
        latency = (time.time_ns() - active.start_ns) / 1e6 if active is not None else 0.0
        self._end(run_id, {**_result_attributes(response), "llmops.latency_ms": latency})

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._fail(run_id, error)

    # -- retrievers ----------------------------------------------------------------------
    def on_retriever_start(
        self,
        serialized: dict[str, Any],
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        attributes = {"gen_ai.operation.name": "retrieval", "gen_ai.retrieval.query.text": query}
        name = _name(serialized, kwargs, "retriever")
        self._start(run_id, parent_run_id, name, "retriever", attributes)

    def on_retriever_end(
        self, documents: Sequence[Document], *, run_id: UUID, **kwargs: Any
    ) -> None:
        self._end(run_id, {"gen_ai.retrieval.documents": _json([_document(d) for d in documents])})

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._fail(run_id, error)

    # -- tools ---------------------------------------------------------------------------
    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        name = _name(serialized, kwargs, "tool")
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.call.arguments": _json(inputs) if inputs is not None else input_str,
        }
        if (serialized or {}).get("description"):
            attributes["gen_ai.tool.description"] = str(serialized["description"])
        if kwargs.get("tool_call_id"):
            attributes["gen_ai.tool.call.id"] = str(kwargs["tool_call_id"])
        self._start(run_id, parent_run_id, name, "tool", attributes)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        result = output.content if isinstance(output, ToolMessage) else output
        self._end(run_id, {"gen_ai.tool.call.result": _text(result)})

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._fail(run_id, error)

    # -- spans ---------------------------------------------------------------------------
    def _start(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        name: str,
        kind: str,
        attributes: dict[str, Any],
    ) -> None:
        parent = None  # the current span
        if parent_run_id is not None and not _inside_run(parent_run_id):
            # not in the parent run's body (a step a sequence calls, each input of a batch):
            # the current span may be a sibling's, the parent is the run's
            parent = self._spans.get(parent_run_id)
        started = start_span(name, kind, attributes, parent=parent)
        # current while the run executes: LangChain runs the body in a copy of this context
        # made after this callback, so code inside nests under the run; ending the span
        # makes it stop being current (runs of a batch that end out of order included)
        started.__enter__()
        self._spans[run_id] = started

    def _end(self, run_id: UUID, attributes: Mapping[str, Any]) -> None:
        active = self._spans.pop(run_id, None)
        if active is not None:
            active.set_attributes({k: v for k, v in attributes.items() if v is not None})
            active.end()

    def _fail(self, run_id: UUID, error: BaseException) -> None:
        active = self._spans.pop(run_id, None)
        if active is not None:
            message = (f"{type(error).__name__}: {error}".splitlines() or [""])[0][:500]
            active.record_exception(error).set("error.type", type(error).__name__)
            active.set_status("ERROR", message).end()


def _inside_run(run_id: UUID) -> bool:
    """Whether this runs inside the body of run ``run_id``, where the current span is that
    run's or a span started inside it (a ``@trace`` function that invoked a Runnable)."""
    config = var_child_runnable_config.get()
    callbacks = config.get("callbacks") if config else None
    return getattr(callbacks, "parent_run_id", None) == run_id


#: The ContextVar registered with LangChain's configure hooks, while instrumented.
_installed: list[ContextVar[LlmopsCallbackHandler | None] | None] = [None]


def instrument_langchain() -> None:
    """Record every LangChain run as an llmops span, with no handler passed per call
    (idempotent). A run given an ``LlmopsCallbackHandler`` explicitly is not recorded twice."""
    if _installed[0] is not None:
        return
    from langchain_core.tracers.context import register_configure_hook

    # the handler is the variable's default, not a value set in this context: every thread
    # and task sees it, whether or not its context was copied from here
    variable: ContextVar[LlmopsCallbackHandler | None] = ContextVar(
        "llmops_langchain_handler",
        default=LlmopsCallbackHandler(),  # noqa: B039 (one shared handler is the point)
    )
    register_configure_hook(variable, inheritable=True, handle_class=LlmopsCallbackHandler)
    _installed[0] = variable


def uninstrument_langchain() -> None:
    """Stop recording LangChain runs (runs already started still end their spans)."""
    variable, _installed[0] = _installed[0], None
    if variable is None:
        return
    from langchain_core.tracers import context

    # langchain-core has no way to unregister a hook: take ours out of its list
    context._configure_hooks[:] = [h for h in context._configure_hooks if h[0] is not variable]


# -- attributes ------------------------------------------------------------------------------


def _name(serialized: dict[str, Any] | None, kwargs: Mapping[str, Any], default: str) -> str:
    """The run's name: the ``name`` LangChain passes, else the serialized class name."""
    serialized = serialized or {}
    ids = serialized.get("id")
    fallback = ids[-1] if isinstance(ids, list) and ids else default
    return str(kwargs.get("name") or serialized.get("name") or fallback)


def _model_attributes(
    operation: str,
    serialized: dict[str, Any] | None,
    metadata: Mapping[str, Any] | None,
    kwargs: Mapping[str, Any],
) -> dict[str, Any]:
    metadata = metadata or {}
    params: Mapping[str, Any] = kwargs.get("invocation_params") or {}
    model_kwargs: Mapping[str, Any] = (serialized or {}).get("kwargs") or {}
    attributes: dict[str, Any] = {"gen_ai.operation.name": operation}
    if metadata.get("ls_provider"):
        attributes["gen_ai.provider.name"] = str(metadata["ls_provider"])
    for source, key in ((params, "model"), (params, "model_name"), (model_kwargs, "model")):
        if source.get(key):
            attributes["gen_ai.request.model"] = str(source[key])
            break
    else:
        if metadata.get("ls_model_name"):
            attributes["gen_ai.request.model"] = str(metadata["ls_model_name"])
    for key, name in _PARAMS.items():
        value = params.get(key, metadata.get(f"ls_{key}"))
        if value is not None:
            attributes[f"gen_ai.request.{name}"] = value
    return attributes


def _result_attributes(response: LLMResult) -> dict[str, Any]:
    generations = [g for batch in response.generations for g in batch]
    llm_output = response.llm_output or {}
    outputs, reasons = [], []
    input_tokens = output_tokens = 0
    has_usage = False
    model = llm_output.get("model_name") or llm_output.get("model")
    for generation in generations:
        info = generation.generation_info or {}
        reason = info.get("finish_reason")
        if isinstance(generation, ChatGeneration):
            message = generation.message
            outputs.append(_message(message))
            reason = reason or message.response_metadata.get("finish_reason")
            reason = reason or message.response_metadata.get("stop_reason")
            model = model or message.response_metadata.get("model_name")
            model = model or message.response_metadata.get("model")
            usage = message.usage_metadata if isinstance(message, AIMessage) else None
            if usage:
                has_usage = True
                input_tokens += usage.get("input_tokens", 0)
                output_tokens += usage.get("output_tokens", 0)
        else:
            outputs.append({"role": "assistant", "content": generation.text})
        reasons.append(str(reason or ""))
    if not has_usage:
        totals: Any = llm_output.get("token_usage") or llm_output.get("usage")
        if isinstance(totals, Mapping) and totals:
            has_usage = True
            input_tokens = int(totals.get("prompt_tokens", totals.get("input_tokens")) or 0)
            output_tokens = int(totals.get("completion_tokens", totals.get("output_tokens")) or 0)
    attributes: dict[str, Any] = {
        "gen_ai.output.messages": _json(outputs),
        "gen_ai.response.finish_reasons": reasons,
        "gen_ai.response.model": str(model) if model else None,
    }
    if has_usage:
        attributes["gen_ai.usage.input_tokens"] = input_tokens
        attributes["gen_ai.usage.output_tokens"] = output_tokens
    return attributes


def _message(message: BaseMessage) -> dict[str, Any]:
    # streamed chunks have types like AIMessageChunk: one role table for every convention
    role = normalize_role(getattr(message, "role", None) or message.type)
    output: dict[str, Any] = {"role": role, "content": message.content}
    if isinstance(message, AIMessage) and message.tool_calls:
        output["tool_calls"] = [
            {"id": call.get("id"), "name": call["name"], "arguments": call["args"]}
            for call in message.tool_calls
        ]
    if isinstance(message, ToolMessage):
        output["tool_call_id"] = message.tool_call_id
    return output


def _document(document: Document) -> dict[str, Any]:
    metadata = document.metadata or {}
    found: dict[str, Any] = {"content": document.page_content}
    identifier = document.id or metadata.get("id")
    if identifier is not None:
        found["id"] = str(identifier)
    score = next((metadata[k] for k in _SCORES if metadata.get(k) is not None), None)
    if score is not None:
        found["score"] = score
    if metadata:
        found["metadata"] = metadata
    return found


def _text(value: Any) -> str:
    return value if isinstance(value, str) else _json(value)


def _json(value: Any) -> str:
    return orjson.dumps(value, default=_plain, option=orjson.OPT_NON_STR_KEYS).decode()


def _plain(value: Any) -> Any:
    if isinstance(value, BaseMessage):
        return _message(value)
    if isinstance(value, Document):
        return _document(value)
    dump = getattr(value, "model_dump", None)
    return dump() if callable(dump) else repr(value)
