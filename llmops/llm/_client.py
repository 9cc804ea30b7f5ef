"""Model calls: every model is reached through litellm, with retries and a span per call."""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from typing import Any, TypedDict, Unpack

import orjson

from llmops._aio import run_sync
from llmops._exceptions import ModelError
from llmops._litellm import import_litellm as _litellm
from llmops._prompt_ref import PromptLike, prompt_of
from llmops._retry import async_retrying
from llmops.config import Config, ModelConfig, load_config
from llmops.llm._cache import ResponseCache, cache_key
from llmops.llm._limits import limited
from llmops.llm._local import local_server
from llmops.llm._providers import use_plugin_provider
from llmops.llm._vllm_offline import OfflineTarget, offline_engine
from llmops.tracing import Span
from llmops.tracing import span as start_span
from llmops.tracing.integrations import TRACED_MARKER

__all__ = [
    "CallOptions",
    "Completion",
    "ModelParams",
    "ResolvedModel",
    "acomplete",
    "complete",
    "resolve_model",
]


class ModelParams(TypedDict, total=False):
    """Model parameters of a call, passed to litellm over the model's configured ``params``."""

    temperature: float
    max_tokens: int
    top_p: float
    seed: int
    stop: str | list[str]
    presence_penalty: float
    frequency_penalty: float
    tools: list[dict[str, Any]]
    tool_choice: str | dict[str, Any]
    response_format: dict[str, Any]


class CallOptions(ModelParams, total=False):
    """Keyword arguments of :func:`complete` and ``Router.complete``: see :func:`acomplete`."""

    prompt: PromptLike | None
    retries: int
    backoff_s: float
    timeout_s: float
    cache: ResponseCache | None
    cache_salt: str


@dataclass(frozen=True)
class ResolvedModel:
    """A configured model turned into the arguments of a litellm call."""

    name: str
    model: str
    provider: str
    params: dict[str, Any] = field(default_factory=dict)
    api_base: str | None = None
    api_key: str | None = None
    rpm: float | None = None
    max_concurrency: int | None = None
    #: Set for ``--backend vllm-offline``: calls go to vLLM's in-process engine, not litellm.
    offline: OfflineTarget | None = None

    @property
    def litellm_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.model}
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if self.api_key:
            kwargs["api_key"] = self.api_key
        return kwargs


def resolve_model(name: str | None = None, config: Config | None = None) -> ResolvedModel:
    """The named model of the config (``UnknownModelError`` lists the known names).

    ``registry:NAME[@VERSION|@ALIAS]`` is a registered model version, called at its ready
    serving endpoint if there is one (see ``llmops.llm._endpoints_lookup``).
    """
    config = config or load_config()
    wanted = name or os.environ.get("LLMOPS_DEFAULT_MODEL") or config.default_model
    if wanted.startswith("registry:") and wanted not in config.models:
        # here, not at the top: _endpoints_lookup imports this module
        from llmops.llm._endpoints_lookup import resolve_registry_name

        _litellm()
        return resolve_registry_name(wanted, config)
    key, spec = config.model(name)
    litellm = _litellm()  # import now (about 1-3 s), not inside the first timed call
    if "/" in spec.model and not spec.model.startswith("local/"):
        use_plugin_provider(litellm, spec.model.split("/", 1)[0])
    return _resolve(key, spec)


def _resolve(key: str, spec: ModelConfig) -> ResolvedModel:
    api_key = os.environ.get(spec.api_key_env) if spec.api_key_env else None
    if spec.model.startswith("local/"):
        server = local_server(spec.model.removeprefix("local/"), spec.local)
        return ResolvedModel(
            name=key,
            model=f"openai/{server.alias}",
            provider="llama.cpp",
            params=dict(spec.params),
            api_base=server.api_base,
            api_key="local",
            rpm=spec.rpm,
            max_concurrency=spec.max_concurrency,
        )
    provider = spec.model.split("/", 1)[0] if "/" in spec.model else "openai"
    if spec.api_base and not api_key:
        api_key = "not-needed"  # self-hosted OpenAI-compatible servers ignore the key
    return ResolvedModel(
        name=key,
        model=spec.model,
        provider=provider,
        params=dict(spec.params),
        api_base=spec.api_base,
        api_key=api_key,
        rpm=spec.rpm,
        max_concurrency=spec.max_concurrency,
    )


@dataclass(frozen=True)
class Completion:
    """A model's answer with what it cost."""

    text: str
    model: str
    input_tokens: int | None
    output_tokens: int | None
    latency_ms: float
    finish_reason: str | None = None
    attempts: int = 1
    cost_usd: float | None = None
    cached: bool = False
    tool_calls: tuple[dict[str, Any], ...] = ()
    #: Which version answered: the configured model name or registry version (``name@N``)...
    version: str | None = None
    #: ...at which endpoint (its api_base; None: the provider's own)...
    endpoint: str | None = None
    #: ...and, for a call through a route, the route and the target it chose (as written).
    route: str | None = None
    route_target: str | None = None

    def to_cache(self) -> dict[str, Any]:
        return {
            "tool_calls": list(self.tool_calls),
            "text": self.text,
            "model": self.model,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "finish_reason": self.finish_reason,
            "cost_usd": self.cost_usd,
        }

    @classmethod
    def from_cache(cls, data: dict[str, Any]) -> Completion:
        return cls(
            text=str(data.get("text", "")),
            model=str(data.get("model", "")),
            input_tokens=data.get("input_tokens"),
            output_tokens=data.get("output_tokens"),
            latency_ms=0.0,
            finish_reason=data.get("finish_reason"),
            attempts=0,
            cost_usd=data.get("cost_usd"),
            cached=True,
            tool_calls=tuple(data.get("tool_calls") or ()),
        )


def genai_messages(
    messages: list[dict[str, Any]], finish_reason: str | None = None
) -> list[dict[str, Any]]:
    """Chat messages in the GenAI semantic-convention form: ``{role, parts: [{type, content}]}``."""
    converted: list[dict[str, Any]] = []
    for message in messages:
        item: dict[str, Any] = {
            "role": message.get("role", "user"),
            "parts": [{"type": "text", "content": message.get("content", "")}],
        }
        if finish_reason is not None:
            item["finish_reason"] = finish_reason
        converted.append(item)
    return converted


def _span_attributes(
    model: ResolvedModel,
    params: dict[str, Any],
    messages: list[dict[str, str]],
    prompt: PromptLike | None,
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": model.provider,
        "gen_ai.request.model": model.model,
        "llmops.model.name": model.name,
        "gen_ai.input.messages": orjson.dumps(genai_messages(messages)).decode(),
    }
    for key in ("temperature", "max_tokens", "top_p", "seed"):
        if params.get(key) is not None:
            attributes[f"gen_ai.request.{key}"] = params[key]
    if prompt is None:  # rendered messages carry the version they came from
        prompt = prompt_of(messages)
    if prompt is not None:
        attributes["llmops.prompt.name"] = prompt.name
        attributes["llmops.prompt.version"] = prompt.version
        attributes["llmops.prompt.id"] = prompt.id
    return attributes


def _cost_of(response: Any, model: ResolvedModel) -> float | None:
    """The call's cost in USD from litellm's local price map; 0 for the local model."""
    if model.provider == "llama.cpp":
        return 0.0
    hidden = getattr(response, "_hidden_params", None) or {}
    cost = hidden.get("response_cost")  # litellm priced the response already
    return float(cost) if isinstance(cost, (int, float)) else None


def _tool_calls_of(message: Any) -> tuple[dict[str, Any], ...]:
    """The message's tool calls in OpenAI's shape: ``{id, type, function: {name, arguments}}``."""
    calls = getattr(message, "tool_calls", None) or []
    found = []
    for call in calls:
        function = getattr(call, "function", None)
        found.append(
            {
                "id": getattr(call, "id", None),
                "type": getattr(call, "type", "function"),
                "function": {
                    "name": getattr(function, "name", None),
                    "arguments": getattr(function, "arguments", None),
                },
            }
        )
    return tuple(found)


def _completion_of(
    response: Any, started: float, attempts: int, model: ResolvedModel
) -> Completion:
    choice = response.choices[0]
    usage = getattr(response, "usage", None)
    return Completion(
        text=choice.message.content or "",
        model=str(getattr(response, "model", "")),
        input_tokens=getattr(usage, "prompt_tokens", None),
        output_tokens=getattr(usage, "completion_tokens", None),
        latency_ms=(time.perf_counter() - started) * 1000,
        finish_reason=getattr(choice, "finish_reason", None),
        attempts=attempts,
        cost_usd=_cost_of(response, model),
        tool_calls=_tool_calls_of(choice.message),
    )


def _answered_by(completion: Completion, model: ResolvedModel) -> Completion:
    return dataclasses.replace(completion, version=model.name, endpoint=model.api_base)


def _response_attributes(completion: Completion) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.response.model": completion.model,
        "gen_ai.usage.input_tokens": completion.input_tokens or 0,
        "gen_ai.usage.output_tokens": completion.output_tokens or 0,
        "gen_ai.response.finish_reasons": [completion.finish_reason or ""],
        "gen_ai.output.messages": orjson.dumps(
            genai_messages(
                [{"role": "assistant", "content": completion.text}],
                completion.finish_reason or "stop",
            )
        ).decode(),
        "llmops.latency_ms": completion.latency_ms,
    }
    if completion.cost_usd is not None:
        attributes["llmops.cost_usd"] = completion.cost_usd
    return attributes


async def acomplete(
    messages: list[dict[str, str]],
    model: ResolvedModel,
    *,
    prompt: PromptLike | None = None,
    retries: int = 2,
    backoff_s: float = 0.5,
    timeout_s: float = 120.0,
    cache: ResponseCache | None = None,
    cache_salt: str = "",
    **params: Unpack[ModelParams],
) -> Completion:
    """Call ``model`` with chat ``messages``; transient failures are retried, then raised.

    The call is traced as an ``llm`` span with GenAI semantic-convention attributes. With a
    ``cache``, an identical earlier request (same model, parameters, messages and salt) is
    answered from it, and the span says so (``llmops.cache.hit``). Calls respect the model's
    ``rpm`` and ``max_concurrency`` limits. Messages rendered from a prompt version (or
    ``prompt=``, which wins) put ``llmops.prompt.name`` and ``.version`` on the span.
    """
    litellm = _litellm()
    merged = {**model.params, **params}
    key = cache_key(model.model, merged, messages, cache_salt) if cache is not None else ""
    with start_span(
        f"chat {model.name}",
        kind="llm",
        attributes=_span_attributes(model, merged, messages, prompt),
    ) as span:
        if cache is not None:
            hit = cache.get(key)
            if hit is not None:
                completion = _answered_by(Completion.from_cache(hit), model)
                span.set_attributes({"llmops.cache.hit": True, **_response_attributes(completion)})
                return completion
        attempts = 0
        try:
            async for attempt in async_retrying(retries, backoff_s):
                with attempt:
                    attempts += 1
                    answer = await _attempt(
                        litellm, model, messages, merged, timeout_s, attempts, span
                    )
        except Exception as exc:  # the last attempt's failure, or one no retry can fix
            message = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
            span.set_status("ERROR", message)
            raise ModelError(
                f"model '{model.name}' failed after {attempts} attempt(s): {message}"
            ) from None
        if isinstance(answer, Completion):
            completion = answer
        else:
            completion = _completion_of(answer[0], answer[1], attempts, model)
        completion = _answered_by(completion, model)
        span.set_attributes(_response_attributes(completion))
        if cache is not None:
            cache.put(key, model.model, completion.to_cache())
        return completion


async def _attempt(
    litellm: Any,
    model: ResolvedModel,
    messages: list[dict[str, str]],
    params: dict[str, Any],
    timeout_s: float,
    attempt: int,
    span: Span,
) -> Completion | tuple[Any, float]:
    """One attempt: the offline engine's completion, or litellm's response and its start.

    A failure is recorded on the call's span as a ``retry`` event, then goes to the policy.
    """
    try:
        if model.offline is not None:
            return await _offline_call(model, messages, params, attempt)
        async with limited(model.name, model.rpm, model.max_concurrency):
            started = time.perf_counter()  # after the wait for a slot: latency of the call
            response = await litellm.acompletion(
                metadata={TRACED_MARKER: True},  # traced here; litellm's hook skips it
                messages=messages,
                timeout=timeout_s,
                num_retries=0,
                **model.litellm_kwargs,
                **params,
            )
    except Exception as exc:
        span.add_event("retry", {"attempt": attempt, "error": f"{type(exc).__name__}: {exc}"[:500]})
        raise
    return response, started


async def _offline_call(
    model: ResolvedModel, messages: list[dict[str, str]], params: dict[str, Any], attempt: int
) -> Completion:
    """One call through vLLM's offline engine (batched with the calls in flight)."""
    assert model.offline is not None
    started = time.perf_counter()
    output = await offline_engine(model.offline).acomplete(messages, params, model.offline)
    return Completion(
        text=output.text,
        model=output.model,
        input_tokens=output.input_tokens,
        output_tokens=output.output_tokens,
        latency_ms=(time.perf_counter() - started) * 1000,
        finish_reason=output.finish_reason,
        attempts=attempt,
        cost_usd=0.0,
    )


def complete(
    messages: list[dict[str, str]],
    model: ResolvedModel | str | None = None,
    **kwargs: Unpack[CallOptions],
) -> Completion:
    """Blocking form of :func:`acomplete`; ``model`` may be a configured model name."""
    resolved = model if isinstance(model, ResolvedModel) else resolve_model(model)
    return run_sync(acomplete(messages, resolved, **kwargs))
