"""GenAI messages carried by events: span events (GenAI conventions 1.27) and log records
(openai-v2's default mode), read by one table into a span's input and output messages.

An event is a mapping with ``name`` (or ``event_name``), ``attributes`` and, for log records,
``body``. The content of an event sits in its body, else in a ``gen_ai.event.content``
attribute (JSON), else in its attributes themselves; without content capture there is none
and the event adds no message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from llmops.tracing._semconv import _dump, _json, _openai_parts, normalize_role

__all__ = ["EVENT_MESSAGES", "OPERATION_DETAILS", "event_messages"]

#: Event name -> (side, role of its message): the message events of GenAI 1.27 to 1.36 and
#: the older prompt/completion events (their messages JSON in ``gen_ai.prompt`` or
#: ``gen_ai.completion``, the role given by each message).
EVENT_MESSAGES: dict[str, tuple[str, str]] = {
    "gen_ai.system.message": ("input", "system"),
    "gen_ai.user.message": ("input", "user"),
    "gen_ai.assistant.message": ("input", "assistant"),
    "gen_ai.tool.message": ("input", "tool"),
    "gen_ai.choice": ("output", "assistant"),
    "gen_ai.content.prompt": ("input", "user"),
    "gen_ai.content.completion": ("output", "assistant"),
}
#: The event of GenAI 1.37+ carrying a call's ``gen_ai.input.messages``/``output.messages``.
OPERATION_DETAILS = "gen_ai.client.inference.operation.details"
_LISTS = {
    "gen_ai.content.prompt": "gen_ai.prompt",
    "gen_ai.content.completion": "gen_ai.completion",
}


def event_messages(events: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """GenAI messages JSON (``[{role, parts}]``) of ``events``, in their order, by side
    (``input``/``output``; a side without messages is absent)."""
    sides: dict[str, list[dict[str, Any]]] = {"input": [], "output": []}
    choices: list[tuple[int, dict[str, Any]]] = []
    for event in events:
        name = event.get("name") or event.get("event_name")
        attributes = event.get("attributes")
        attributes = attributes if isinstance(attributes, Mapping) else {}
        if name == OPERATION_DETAILS:
            content = _object(event.get("body")) or attributes
            for side in ("input", "output"):
                sides[side] += _messages(content.get(f"gen_ai.{side}.messages"), "user")
            continue
        if not isinstance(name, str) or name not in EVENT_MESSAGES:
            continue
        side, role = EVENT_MESSAGES[name]
        if name in _LISTS:
            sides[side] += _messages(attributes.get(_LISTS[name]), role)
            continue
        content = _object(event.get("body")) or _object(attributes.get("gen_ai.event.content"))
        content = content or dict(attributes)
        if name == "gen_ai.choice":
            message = _object(content.get("message")) or content
            index = content.get("index")
            for item in _messages([{"role": role, **message}], role):
                choices.append((index if isinstance(index, int) else len(choices), item))
        else:
            sides[side] += _messages([{**content, "role": content.get("role") or role}], role)
    sides["output"] += [message for _, message in sorted(choices, key=lambda c: c[0])]
    return {side: _dump(messages) for side, messages in sides.items() if messages}


def _object(value: Any) -> dict[str, Any]:
    parsed = _json(value)
    return parsed if isinstance(parsed, dict) else {}


def _messages(value: Any, default_role: str) -> list[dict[str, Any]]:
    """GenAI messages of OpenAI-style or GenAI (``parts``) messages; those without content
    (content capture off) are left out."""
    parsed = _json(value)
    if isinstance(parsed, dict):
        parsed = [parsed]
    if not isinstance(parsed, list):
        return []
    messages = []
    for item in parsed:
        if not isinstance(item, dict):
            continue
        parts = item.get("parts")
        if not isinstance(parts, list):
            parts = _openai_parts(item)
        if parts:
            messages.append(
                {"role": normalize_role(item.get("role"), default_role), "parts": parts}
            )
    return messages
