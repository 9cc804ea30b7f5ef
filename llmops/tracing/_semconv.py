"""Map span attributes between the conventions LLM tracers use and the OTel GenAI ones.

:func:`to_genai` applies one declarative table per convention (:data:`CONVENTIONS`: old OTel
GenAI, OpenInference, OpenLLMetry/Traceloop, Langfuse) of ``(source, target, transform)``
rules, then reads the indexed message lists (``llm.input_messages.{i}.*``,
``gen_ai.prompt.{i}.*``), so any span has the GenAI names (``gen_ai.request.model``,
``gen_ai.usage.*``, ``gen_ai.input.messages``...), the llmops ones (``llmops.tags``,
``llmops.cost_usd``, ``session.id``, ``user.id``) and the short texts ``llmops.input`` /
``llmops.output``. Names are added, never removed or overwritten: a name the span carries
(explicit GenAI) wins over every table, then the first table in :data:`CONVENTIONS` order.
Message roles are normalized (:func:`normalize_role`). :func:`to_openinference` adds the
OpenInference names so a span can be exported to OpenInference tools. Messages use the GenAI
JSON form ``[{"role", "parts": [{"type": "text", "content"}...]}]``; the OpenAI-style
``[{"role", "content"}]`` is read too. Malformed values are skipped, never raised.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import orjson

from llmops._digits import ascii_int
from llmops.tracing._cost import COST
from llmops.tracing._span import SPAN_KINDS

__all__ = [
    "CONVENTIONS",
    "KIND",
    "OTEL_KINDS",
    "TAGS",
    "Rule",
    "normalize_role",
    "otel_kind_for",
    "refine_kind",
    "to_genai",
    "to_openinference",
]

#: (source attribute, target attribute, transform): the transform's result is set on the
#: target unless it is None or the target is already set; it never raises.
Rule = tuple[str, str, Callable[[Any], Any]]

# gen_ai.system (deprecated) and OpenInference llm.provider/llm.system values -> provider.name
_PROVIDERS = {
    "az.ai.inference": "azure.ai.inference",
    "az.ai.openai": "azure.ai.openai",
    "azure": "azure.ai.openai",
    "aws": "aws.bedrock",
    "gemini": "gcp.gemini",
    "google": "gcp.gen_ai",
    "mistralai": "mistral_ai",
    "moonshot": "moonshot_ai",
    "vertex_ai": "gcp.vertex_ai",
    "vertexai": "gcp.vertex_ai",
    "xai": "x_ai",
}
_OI_PROVIDERS = {
    "azure.ai.inference": "azure",
    "azure.ai.openai": "azure",
    "aws.bedrock": "aws",
    "gcp.gemini": "google",
    "gcp.gen_ai": "google",
    "gcp.vertex_ai": "google",
    "mistral_ai": "mistralai",
    "moonshot_ai": "moonshot",
    "x_ai": "xai",
}
_OI_SYSTEMS = {"openai", "anthropic", "cohere", "mistralai", "vertexai"}
#: Where a convention's table puts the llmops span kind it names (popped by :func:`refine_kind`).
KIND = "llmops.span.kind"
#: Where tags go: the attribute the trace list's Tags column and ``tag=`` filter read.
TAGS = "llmops.tags"
_OTEL_KINDS = frozenset(("internal", "server", "client", "producer", "consumer", "unknown"))
_ROLES = {  # lowercase role, without a LangChain "message"/"messagechunk" suffix -> GenAI role
    "ai": "assistant",
    "assistant": "assistant",
    "bot": "assistant",
    "chatbot": "assistant",
    "model": "assistant",
    "human": "user",
    "user": "user",
    "system": "system",
    "tool": "tool",
    "function": "tool",
    "ipython": "tool",
}
_TOKENS = (  # (OpenInference, GenAI)
    ("llm.token_count.prompt", "gen_ai.usage.input_tokens"),
    ("llm.token_count.completion", "gen_ai.usage.output_tokens"),
    ("llm.token_count.prompt_details.cache_read", "gen_ai.usage.cache_read.input_tokens"),
    ("llm.token_count.prompt_details.cache_write", "gen_ai.usage.cache_creation.input_tokens"),
    ("llm.token_count.completion_details.reasoning", "gen_ai.usage.reasoning.output_tokens"),
)
_DEPRECATED = (  # (old or vendor GenAI name, current name)
    ("gen_ai.usage.prompt_tokens", "gen_ai.usage.input_tokens"),
    ("gen_ai.usage.completion_tokens", "gen_ai.usage.output_tokens"),
    ("gen_ai.usage.reasoning_tokens", "gen_ai.usage.reasoning.output_tokens"),  # Traceloop
    ("gen_ai.openai.request.seed", "gen_ai.request.seed"),
)
_PARAMETERS = {  # invocation parameter -> gen_ai.request.*
    "temperature": "temperature",
    "max_tokens": "max_tokens",
    "max_completion_tokens": "max_tokens",
    "top_p": "top_p",
    "top_k": "top_k",
    "seed": "seed",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
    "n": "choice.count",
    "stop": "stop_sequences",
}
_OPERATIONS = {  # OpenInference span kind <-> gen_ai.operation.name
    "LLM": "chat",
    "EMBEDDING": "embeddings",
    "TOOL": "execute_tool",
    "AGENT": "invoke_agent",
    "RETRIEVER": "retrieval",
}
_OI_KINDS = {
    "CHAT": "LLM",
    "TEXT_COMPLETION": "LLM",
    "GENERATE_CONTENT": "LLM",
    "EMBEDDINGS": "EMBEDDING",
    "EXECUTE_TOOL": "TOOL",
    "INVOKE_AGENT": "AGENT",
    "CREATE_AGENT": "AGENT",
    "RETRIEVAL": "RETRIEVER",
}
_OI_SPAN_KINDS = frozenset(kind.upper() for kind in (*SPAN_KINDS, "prompt"))


def to_genai(attributes: dict[str, Any]) -> dict[str, Any]:
    """``attributes`` plus their GenAI semantic-convention names and ``llmops.input``/``output``:
    the rules of every table in :data:`CONVENTIONS`, then the indexed message lists."""
    out = dict(attributes)
    # the rules of the span's own names only, in table order: a span has a handful of the
    # ~80 sources, and testing every rule against it cost ~4 us a span on the ingest path
    matched = [rule for key in attributes if (rules := _RULES_BY_SOURCE.get(key)) for rule in rules]
    if len(matched) > 1:
        matched.sort(key=_first)
    for _order, source, target, transform in matched:
        if target not in out:
            value = transform(attributes[source])
            if value is not None:
                out[target] = value
    _genai_content(out, _lists(attributes))
    _put(out, "llmops.input", _input_text(out))
    _put(out, "llmops.output", _output_text(out))
    return out


_IndexedRule = tuple[int, str, str, Callable[[Any], Any]]


def _rules_by_source(
    conventions: tuple[tuple[str, tuple[Rule, ...]], ...],
) -> dict[str, tuple[_IndexedRule, ...]]:
    """The rules of ``conventions`` by source name, each with its place in precedence order."""
    index: dict[str, list[_IndexedRule]] = {}
    order = 0
    for _convention, rules in conventions:
        for source, target, transform in rules:
            index.setdefault(source, []).append((order, source, target, transform))
            order += 1
    return {source: tuple(rules) for source, rules in index.items()}


def _first(rule: _IndexedRule) -> int:
    return rule[0]


#: The OpenTelemetry span kind of each llmops kind: model, embedding, retrieval and reranking
#: calls go to a server (the GenAI conventions make inference spans CLIENT); the others are
#: work inside the process.
OTEL_KINDS: dict[str, str] = {
    "llm": "CLIENT",
    "embedding": "CLIENT",
    "retriever": "CLIENT",
    "reranker": "CLIENT",
}


def otel_kind_for(kind: str) -> str:
    """The OpenTelemetry span kind of a span of llmops kind ``kind`` (INTERNAL by default)."""
    return OTEL_KINDS.get(kind, "INTERNAL")


def refine_kind(kind: str, attributes: dict[str, Any]) -> str:
    """The llmops span kind of a received span: ``kind`` as derived from OpenInference, GenAI
    or OTel names, unless that is only an OTel kind (``internal``, ``client``...) and a
    convention's table named one (Langfuse, Traceloop). Pops :data:`KIND` from ``attributes``."""
    mapped = attributes.pop(KIND, None)
    if isinstance(mapped, str) and kind in _OTEL_KINDS:
        return mapped
    return kind


def normalize_role(role: Any, default: str = "user") -> str:
    """A message role in the GenAI spelling: LangChain's ``AIMessageChunk``/``ai``/``human``,
    Gemini's ``model`` and OpenAI's ``function`` become ``assistant``, ``user``, ``tool``."""
    if not isinstance(role, str) or not role.strip():
        return default
    name = role.strip().lower()
    for suffix in ("messagechunk", "message"):
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return _ROLES.get(name, name)


def to_openinference(attributes: dict[str, Any], kind: str | None = None) -> dict[str, Any]:
    """``attributes`` plus their OpenInference names; ``kind`` (an llmops span kind) sets
    ``openinference.span.kind``."""
    out = dict(attributes)
    operation = out.get("gen_ai.operation.name")
    oi_kind = (kind or "").upper()
    if oi_kind not in _OI_SPAN_KINDS:
        oi_kind = _OI_KINDS.get(str(operation).upper(), "")
    _put(out, "openinference.span.kind", oi_kind or None)
    embedding = oi_kind == "EMBEDDING" or operation == "embeddings"
    model = _as_str(out.get("gen_ai.response.model")) or _as_str(out.get("gen_ai.request.model"))
    _put(out, "embedding.model_name" if embedding else "llm.model_name", model)
    provider = _provider(out.get("gen_ai.provider.name")) or _provider(out.get("gen_ai.system"))
    if provider is not None:
        _put(out, "llm.provider", _OI_PROVIDERS.get(provider, provider))
        system = "vertexai" if provider == "gcp.vertex_ai" else provider
        _put(out, "llm.system", system if system in _OI_SYSTEMS else None)
    _oi_usage(out)
    parameters = {
        name: out[f"gen_ai.request.{suffix}"]
        for name, suffix in _PARAMETERS.items()
        if f"gen_ai.request.{suffix}" in out and name not in ("max_completion_tokens", "n")
    }
    if parameters and oi_kind != "RETRIEVER":
        prefix = "embedding" if embedding else "llm"
        _put(out, f"{prefix}.invocation_parameters", _dump(parameters))
    _oi_content(out, embedding)
    _put(out, "tool.name", _as_str(out.get("gen_ai.tool.name")))
    _put(out, "tool.description", _as_str(out.get("gen_ai.tool.description")))
    _put(out, "session.id", _as_str(out.get("gen_ai.conversation.id")))
    for side, text in (("input", _input_text(out)), ("output", _output_text(out))):
        if f"{side}.value" not in out and text is not None:
            out[f"{side}.value"] = text
            out[f"{side}.mime_type"] = "text/plain"
    return out


def _genai_content(out: dict[str, Any], lists: dict[str, list[dict[str, Any]]]) -> None:
    """Messages, retrieved documents and tool definitions in their GenAI JSON forms."""
    if "gen_ai.input.messages" not in out:
        inputs = _oi_messages(lists.get("llm.input_messages", []), "user")
        inputs = inputs or _legacy_messages(lists.get("gen_ai.prompt", []), "user")
        _put(out, "gen_ai.input.messages", _dump(inputs) if inputs else None)
    if "gen_ai.output.messages" not in out:
        finish = out.get("llm.finish_reason")
        outputs = _oi_messages(lists.get("llm.output_messages", []), "assistant", finish)
        outputs = outputs or _legacy_messages(lists.get("gen_ai.completion", []), "assistant")
        _put(out, "gen_ai.output.messages", _dump(outputs) if outputs else None)
    documents = [_oi_document(fields) for fields in lists.get("retrieval.documents", [])]
    _put(out, "gen_ai.retrieval.documents", _dump(documents) if documents else None)
    tools = [_tool(_json(t.get("tool.json_schema"))) for t in lists.get("llm.tools", [])]
    _put(out, "gen_ai.tool.definitions", _dump([t for t in tools if t]) if any(tools) else None)


def _oi_usage(out: dict[str, Any]) -> None:
    renamed = {new: old for old, new in _DEPRECATED}
    for openinference, genai in _TOKENS:
        value = _as_int(out.get(genai))
        if value is None:
            value = _as_int(out.get(renamed.get(genai, "")))
        _put(out, openinference, value)
    prompt, completion = out.get("llm.token_count.prompt"), out.get("llm.token_count.completion")
    total = _as_int(out.get("gen_ai.usage.total_tokens"))
    if total is None and isinstance(prompt, int) and isinstance(completion, int):
        total = prompt + completion
    _put(out, "llm.token_count.total", total)


def _oi_content(out: dict[str, Any], embedding: bool) -> None:
    """GenAI messages and documents as indexed OpenInference attributes."""
    lists = _lists(out)
    inputs = _genai_messages(out.get("gen_ai.input.messages")) or []
    if embedding and "embedding.embeddings" not in lists:
        for i, content in enumerate(t for t in map(_text, inputs) if t is not None):
            out[f"embedding.embeddings.{i}.embedding.text"] = content
        inputs = []
    instructions = out.get("gen_ai.system_instructions")
    if instructions is not None and not any(m.get("role") == "system" for m in inputs):
        parts = _json(instructions)
        if not isinstance(parts, list):
            parts = [{"type": "text", "content": str(instructions)}]
        inputs = [{"role": "system", "parts": parts}, *inputs]
    if "llm.input_messages" not in lists:
        out.update(_flatten_messages(inputs, "llm.input_messages."))
    if "llm.output_messages" not in lists:
        outputs = _genai_messages(out.get("gen_ai.output.messages")) or []
        out.update(_flatten_messages(outputs, "llm.output_messages."))
    reasons = out.get("gen_ai.response.finish_reasons")
    if isinstance(reasons, list) and reasons and isinstance(reasons[0], str):
        _put(out, "llm.finish_reason", reasons[0])
    documents = _json(out.get("gen_ai.retrieval.documents"))
    if isinstance(documents, list) and "retrieval.documents" not in lists:
        for i, document in enumerate(d for d in documents if isinstance(d, dict)):
            for field in ("id", "content", "score", "metadata"):
                item = document.get(field)
                if item is not None:
                    item = item if isinstance(item, str | int | float) else _dump(item)
                    out[f"retrieval.documents.{i}.document.{field}"] = item


# --- helpers ----------------------------------------------------------------------------------


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None and key not in out:
        out[key] = value


def _as_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return ascii_int(value.strip())
    return None


def _provider(value: Any) -> str | None:
    name = _as_str(value)
    if name is None:
        return None
    name = name.lower()  # old OpenLLMetry writes "OpenAI"; GenAI provider names are lowercase
    return _PROVIDERS.get(name, name)


def _parameter(name: str, value: Any) -> Any:
    if name == "stop":
        if isinstance(value, str):
            return [value]
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return value if ok else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _json(value: Any) -> Any:
    """A JSON string parsed (a list or dict passes through); anything else is None."""
    if isinstance(value, list | dict):
        return value
    if not isinstance(value, str):
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return None


def _dump(value: Any) -> str:
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:  # an integer beyond 64 bits, which orjson refuses and json writes
        import json

        return json.dumps(value, default=str, ensure_ascii=False)


def _lists(attributes: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Indexed keys ``a.b.{i}.rest`` as ``{"a.b": [{rest: value} for each i, in order]}``."""
    groups: dict[str, dict[int, dict[str, Any]]] = {}
    for key, value in attributes.items():
        if key.count(".") < 3:  # most keys: skips the split (ingest maps every span)
            continue
        parts = key.split(".", 3)
        index = ascii_int(parts[2])
        if index is not None:
            name = f"{parts[0]}.{parts[1]}"
            groups.setdefault(name, {}).setdefault(index, {})[parts[3]] = value
    return {name: [items[i] for i in sorted(items)] for name, items in groups.items()}


# --- messages ---------------------------------------------------------------------------------


def _oi_messages(
    items: list[dict[str, Any]], default_role: str, finish: Any = None
) -> list[dict[str, Any]]:
    messages = []
    for fields in items:
        role = normalize_role(fields.get("message.role"), default_role)
        nested = _lists(fields)
        parts: list[dict[str, Any]] = []
        content = fields.get("message.content")
        call_id = fields.get("message.tool_call_id")
        if content is not None and role == "tool" and call_id:
            parts.append({"type": "tool_call_response", "id": call_id, "response": content})
        elif content is not None:
            parts.append({"type": "text", "content": content})
        for item in nested.get("message.contents", []):
            text = item.get("message_content.text")
            url = item.get("message_content.image.image.url")
            if text is not None:
                parts.append({"type": "text", "content": text})
            elif url is not None:
                parts.append({"type": "uri", "modality": "image", "uri": url})
        for call in nested.get("message.tool_calls", []):
            part = {
                "type": "tool_call",
                "id": call.get("tool_call.id"),
                "name": call.get("tool_call.function.name"),
                "arguments": _maybe_json(call.get("tool_call.function.arguments")),
            }
            parts.append({k: v for k, v in part.items() if v is not None})
        message: dict[str, Any] = {"role": role, "parts": parts}
        if isinstance(fields.get("message.name"), str):
            message["name"] = fields["message.name"]
        if isinstance(finish, str):
            message["finish_reason"] = finish
        messages.append(message)
    return messages


def _legacy_messages(items: list[dict[str, Any]], default_role: str) -> list[dict[str, Any]]:
    """Pre-1.30 ``gen_ai.prompt.{i}.role/content`` and ``gen_ai.completion.{i}.*`` attributes."""
    messages = []
    for fields in items:
        content = fields.get("content")
        if content is None:
            continue
        role = normalize_role(fields.get("role"), default_role)
        messages.append({"role": role, "parts": [{"type": "text", "content": content}]})
    return messages


def _maybe_json(value: Any) -> Any:
    parsed = _json(value)
    return parsed if parsed is not None else value


def _tool(schema: Any) -> Any:
    """An OpenAI-style ``{"type": "function", "function": {...}}`` in the GenAI flat form."""
    if isinstance(schema, dict) and isinstance(schema.get("function"), dict):
        return {"type": schema.get("type", "function"), **schema["function"]}
    return schema


def _oi_document(fields: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for field in ("id", "content", "score", "metadata"):
        value = fields.get(f"document.{field}")
        if field == "metadata":
            value = _maybe_json(value)
        if value is not None:
            document[field] = value
    return document


def _genai_messages(value: Any) -> list[dict[str, Any]] | None:
    messages = _json(value)
    if not isinstance(messages, list):
        return None
    return [m for m in messages if isinstance(m, dict)]


def _text(message: dict[str, Any]) -> str | None:
    """The text of a GenAI (``parts``) or OpenAI-style (``content``) message."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    items = message.get("parts") if content is None else content
    if not isinstance(items, list):
        return None
    texts = []
    for item in items:
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, dict) and item.get("type", "text") == "text":
            text = item.get("content", item.get("text"))
            if isinstance(text, str):
                texts.append(text)
    return "\n".join(texts) if texts else None


def _input_text(attributes: dict[str, Any]) -> str | None:
    """The last user message's text; without messages, the span's input value."""
    messages = _genai_messages(attributes.get("gen_ai.input.messages"))
    if messages:
        users = [m for m in messages if m.get("role") == "user"] or messages
        return next((t for t in map(_text, reversed(users)) if t is not None), None)
    for key in _INPUT_VALUES:
        value = attributes.get(key)
        if value is not None:
            return value if isinstance(value, str) else _dump(value)
    return None


def _output_text(attributes: dict[str, Any]) -> str | None:
    """The first output message's text; without messages, the span's output value."""
    messages = _genai_messages(attributes.get("gen_ai.output.messages"))
    if messages:
        return next((t for t in map(_text, messages) if t is not None), None)
    for key in _OUTPUT_VALUES:
        value = attributes.get(key)
        if value is not None:
            return value if isinstance(value, str) else _dump(value)
    return None


def _flatten_messages(messages: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    """GenAI messages as OpenInference ``{prefix}{i}.message.*`` attributes."""
    flat: dict[str, Any] = {}
    for i, message in enumerate(messages):
        key = f"{prefix}{i}.message."
        role = message.get("role")
        if isinstance(role, str):
            flat[key + "role"] = role
        text = _text(message)
        parts = message.get("parts")
        calls = 0
        for part in parts if isinstance(parts, list) else []:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "tool_call":
                call = f"{key}tool_calls.{calls}.tool_call."
                calls += 1
                arguments = part.get("arguments")
                fields = {
                    "id": part.get("id"),
                    "function.name": part.get("name"),
                    "function.arguments": arguments
                    if isinstance(arguments, str) or arguments is None
                    else _dump(arguments),
                }
                flat.update({call + k: v for k, v in fields.items() if v is not None})
            elif part.get("type") == "tool_call_response":
                response = part.get("response")
                if part.get("id") is not None:
                    flat[key + "tool_call_id"] = part["id"]
                if text is None and response is not None:
                    text = response if isinstance(response, str) else _dump(response)
        if text is not None:
            flat[key + "content"] = text
    return flat


# --- the conventions --------------------------------------------------------------------------
# Each table is applied in order, and the first rule to set a target wins: names already on
# the span (explicit GenAI) win over every table, then the tables in CONVENTIONS order.


def _same(value: Any) -> Any:
    return value


def _cost(value: Any) -> float | None:
    """A cost in US dollars: a number (or numeric string) that is finite and not negative."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 <= value < float("inf") else None


@functools.lru_cache(maxsize=64)
def _parsed_object(text: str) -> dict[str, Any] | None:
    parsed = _json(text)
    return parsed if isinstance(parsed, dict) else None


def _object(value: Any) -> dict[str, Any]:
    """A JSON object attribute (parsed once per distinct string; callers only read it)."""
    if isinstance(value, dict):
        return value
    return (_parsed_object(value) if isinstance(value, str) else None) or {}


def _param(name: str) -> Callable[[Any], Any]:
    """The ``name`` entry of a JSON object of invocation parameters."""
    if name == "model":
        return lambda value: _as_str(_object(value).get("model"))
    return lambda value: _parameter(name, _object(value).get(name))


def _parameters(source: str) -> tuple[Rule, ...]:
    return tuple(
        (source, f"gen_ai.request.{suffix}", _param(name)) for name, suffix in _PARAMETERS.items()
    )


def _usage(*names: str) -> Callable[[Any], Any]:
    """The first of ``names`` in a JSON object of token counts."""

    def read(value: Any) -> int | None:
        usage = _object(value)
        return next((n for n in (_as_int(usage.get(k)) for k in names) if n is not None), None)

    return read


def _cost_details(value: Any) -> float | None:
    """Langfuse's ``{"input": ..., "output": ..., "total": ...}``: the total, else the sum."""
    details = _object(value)
    if "total" in details:
        return _cost(details["total"])
    costs = [_cost(v) for v in details.values()]
    return sum(c for c in costs if c is not None) if any(c is not None for c in costs) else None


def _lookup(table: dict[str, str]) -> Callable[[Any], Any]:
    return lambda value: table.get(value.lower()) if isinstance(value, str) else None


def _oi_operation(value: Any) -> str | None:
    return _OPERATIONS.get(value.upper()) if isinstance(value, str) else None


def _tags(value: Any) -> list[str] | None:
    """Tags as a list of strings: from an array, a JSON array, or one string."""
    if isinstance(value, str):
        parsed = _json(value) if value.startswith("[") else None
        value = parsed if isinstance(parsed, list) else [value]
    if not isinstance(value, list):
        return None
    tags = [t for t in value if isinstance(t, str) and t]
    return tags or None


def _messages_json(default_role: str) -> Callable[[Any], Any]:
    """OpenAI-style messages (a list, one message, or ``{"messages": [...]}``, as SDKs log a
    call's input and output) as GenAI messages JSON, roles normalized; else None."""

    def read(value: Any) -> str | None:
        parsed = _json(value)
        if isinstance(parsed, dict):
            inner = parsed.get("messages")
            parsed = inner if isinstance(inner, list) else [parsed]
        if not isinstance(parsed, list) or not parsed:
            return None
        messages = []
        for item in parsed:
            if not isinstance(item, dict) or "role" not in item:
                return None  # not a list of messages: left to the input/output text
            message: dict[str, Any] = {
                "role": normalize_role(item.get("role"), default_role),
                "parts": _openai_parts(item),
            }
            messages.append(message)
        return _dump(messages)

    return read


def _openai_parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    content = message.get("content")
    if isinstance(content, str):
        parts.append({"type": "text", "content": content})
    elif isinstance(content, list):
        for item in content:
            text = _text({"content": [item]})
            if text is not None:
                parts.append({"type": "text", "content": text})
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            part = {
                "type": "tool_call",
                "id": call.get("id"),
                "name": function.get("name"),
                "arguments": _maybe_json(function.get("arguments")),
            }
            parts.append({k: v for k, v in part.items() if v is not None})
    return parts


#: OTel GenAI conventions before 1.37 (``gen_ai.system``, ``gen_ai.usage.prompt_tokens``)
#: and vendor spellings of GenAI names (LiteLLM's ``gen_ai.usage.cost``).
GENAI: tuple[Rule, ...] = (
    *((old, new, _as_int if "tokens" in old else _same) for old, new in _DEPRECATED),
    ("gen_ai.system", "gen_ai.provider.name", _provider),
    ("gen_ai.conversation.id", "session.id", _as_str),
    ("gen_ai.usage.cost", COST, _cost),
)
#: OpenInference (Arize Phoenix); its indexed message lists are read by ``_genai_content``.
OPENINFERENCE: tuple[Rule, ...] = (
    ("llm.provider", "gen_ai.provider.name", _provider),
    ("llm.system", "gen_ai.provider.name", _provider),
    ("llm.request.model_name", "gen_ai.request.model", _as_str),
    ("llm.invocation_parameters", "gen_ai.request.model", _param("model")),
    ("embedding.invocation_parameters", "gen_ai.request.model", _param("model")),
    ("llm.model_name", "gen_ai.request.model", _as_str),
    ("embedding.model_name", "gen_ai.request.model", _as_str),
    ("reranker.model_name", "gen_ai.request.model", _as_str),
    ("llm.response.model_name", "gen_ai.response.model", _as_str),
    ("llm.model_name", "gen_ai.response.model", _as_str),
    *((name, genai, _as_int) for name, genai in _TOKENS),
    *_parameters("llm.invocation_parameters"),
    *_parameters("embedding.invocation_parameters"),
    ("openinference.span.kind", "gen_ai.operation.name", _oi_operation),
    ("tool.name", "gen_ai.tool.name", _as_str),
    ("tool.description", "gen_ai.tool.description", _as_str),
    ("tag.tags", TAGS, _tags),
    ("llm.cost.total", COST, _cost),
)
#: Traceloop's OpenLLMetry: its names besides GenAI's, old (``llm.request.type``,
#: ``llm.usage.*``) and new; its ``gen_ai.prompt.{i}.*`` lists are read by ``_genai_content``.
OPENLLMETRY: tuple[Rule, ...] = (
    (
        "llm.request.type",
        "gen_ai.operation.name",
        _lookup({"chat": "chat", "completion": "text_completion", "embedding": "embeddings"}),
    ),
    (
        "llm.request.type",
        KIND,
        _lookup(
            {"chat": "llm", "completion": "llm", "embedding": "embedding", "rerank": "reranker"}
        ),
    ),
    ("llm.request.model", "gen_ai.request.model", _as_str),
    ("llm.response.model", "gen_ai.response.model", _as_str),
    ("llm.usage.prompt_tokens", "gen_ai.usage.input_tokens", _as_int),
    ("llm.usage.completion_tokens", "gen_ai.usage.output_tokens", _as_int),
    ("llm.usage.total_tokens", "gen_ai.usage.total_tokens", _as_int),
    ("gen_ai.usage.cache_read_input_tokens", "gen_ai.usage.cache_read.input_tokens", _as_int),
    (
        "gen_ai.usage.cache_creation_input_tokens",
        "gen_ai.usage.cache_creation.input_tokens",
        _as_int,
    ),
    (
        "traceloop.span.kind",
        KIND,
        _lookup({"workflow": "chain", "task": "chain", "agent": "agent", "tool": "tool"}),
    ),
    ("traceloop.association.properties.session_id", "session.id", _as_str),
    ("traceloop.association.properties.user_id", "user.id", _as_str),
)
#: Langfuse's SDK (v3, on OpenTelemetry): observations and the trace attributes it sets.
LANGFUSE: tuple[Rule, ...] = (
    (
        "langfuse.observation.type",
        KIND,
        _lookup(
            {
                "generation": "llm",
                "span": "chain",
                "chain": "chain",
                "agent": "agent",
                "tool": "tool",
                "retriever": "retriever",
                "embedding": "embedding",
                "evaluator": "evaluator",
                "guardrail": "guardrail",
                "event": "event",
            }
        ),
    ),
    (
        "langfuse.observation.type",
        "gen_ai.operation.name",
        _lookup(
            {
                "generation": "chat",
                "embedding": "embeddings",
                "tool": "execute_tool",
                "agent": "invoke_agent",
                "retriever": "retrieval",
            }
        ),
    ),
    ("langfuse.observation.model.name", "gen_ai.request.model", _as_str),
    *_parameters("langfuse.observation.model.parameters"),
    (
        "langfuse.observation.usage_details",
        "gen_ai.usage.input_tokens",
        _usage("input", "prompt_tokens", "input_tokens"),
    ),
    (
        "langfuse.observation.usage_details",
        "gen_ai.usage.output_tokens",
        _usage("output", "completion_tokens", "output_tokens"),
    ),
    (
        "langfuse.observation.usage_details",
        "gen_ai.usage.total_tokens",
        _usage("total", "total_tokens"),
    ),
    (
        "langfuse.observation.usage_details",
        "gen_ai.usage.cache_read.input_tokens",
        _usage("input_cache_read", "cache_read_input_tokens", "input_cached_tokens"),
    ),
    ("langfuse.observation.cost_details", COST, _cost_details),
    ("langfuse.observation.input", "gen_ai.input.messages", _messages_json("user")),
    ("langfuse.observation.output", "gen_ai.output.messages", _messages_json("assistant")),
    ("langfuse.observation.prompt.name", "llmops.prompt.name", _as_str),
    ("langfuse.observation.prompt.version", "llmops.prompt.version", _same),
    ("langfuse.session.id", "session.id", _as_str),
    ("langfuse.user.id", "user.id", _as_str),
    ("langfuse.trace.tags", TAGS, _tags),
)
#: The tables :func:`to_genai` applies, in precedence order.
CONVENTIONS: tuple[tuple[str, tuple[Rule, ...]], ...] = (
    ("genai", GENAI),
    ("openinference", OPENINFERENCE),
    ("openllmetry", OPENLLMETRY),
    ("langfuse", LANGFUSE),
)
# to_genai looks up the rules of a span's own names: a span has a handful of the ~80 sources
_RULES_BY_SOURCE = _rules_by_source(CONVENTIONS)
# A span's input and output text when it has no messages, first present wins.
_INPUT_VALUES = (
    "input.value",
    "gen_ai.retrieval.query.text",
    "gen_ai.tool.call.arguments",
    "traceloop.entity.input",
    "langfuse.observation.input",
    "langfuse.trace.input",
)
_OUTPUT_VALUES = (
    "output.value",
    "gen_ai.tool.call.result",
    "traceloop.entity.output",
    "langfuse.observation.output",
    "langfuse.trace.output",
)


# The names the server reads stored messages with (through ``llmops.tracing``).
parse_json = _json
parse_genai_messages = _genai_messages
message_text = _text
