"""Prompt lineage carried by rendered output, so a model call knows which prompt version it ran.

``PromptVersion.render`` returns a :class:`RenderedText` (a ``str``) or :class:`RenderedMessages`
(a ``list``) holding the version's :class:`PromptRef`; ``llmops.llm`` reads it back with
:func:`prompt_of` and records ``llmops.prompt.name`` / ``llmops.prompt.version`` on the call's
span. Core, not ``llmops.prompts``: the llm layer below prompts reads it without importing them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["PromptLike", "PromptRef", "RenderedMessages", "RenderedText", "prompt_of"]

#: The attribute rendered output carries (prefixed: a user's own str/list subclass may have
#: a ``prompt`` of its own).
ATTRIBUTE = "llmops_prompt"


class PromptLike(Protocol):
    """What a span needs of a prompt version (``PromptVersion`` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> int: ...

    @property
    def id(self) -> int: ...


@dataclass(frozen=True)
class PromptRef:
    """The prompt version a rendering came from."""

    name: str
    version: int
    id: int


class RenderedText(str):
    """A rendered text prompt: a plain ``str`` that remembers its prompt version."""

    llmops_prompt: PromptRef | None

    def __new__(cls, text: str, prompt: PromptRef | None = None) -> RenderedText:
        rendered = super().__new__(cls, text)
        rendered.llmops_prompt = prompt  # None after unpickling: __dict__ is restored next
        return rendered


class RenderedMessages(list[dict[str, Any]]):
    """Rendered chat messages: a plain ``list`` that remembers its prompt version."""

    def __init__(self, messages: Iterable[dict[str, Any]] = (), prompt: PromptRef | None = None):
        super().__init__(messages)
        self.llmops_prompt = prompt


def prompt_of(messages: object) -> PromptRef | None:
    """The prompt version ``messages`` (or one message's content) was rendered from, if any."""
    found = getattr(messages, ATTRIBUTE, None)
    if isinstance(found, PromptRef):
        return found
    if isinstance(messages, list):
        for message in messages:
            content = message.get("content") if isinstance(message, Mapping) else None
            found = getattr(content, ATTRIBUTE, None)
            if isinstance(found, PromptRef):
                return found
    return None
