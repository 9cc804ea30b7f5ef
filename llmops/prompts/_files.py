"""Prompts kept as files: ``prompts/<name>.yaml`` holds a text or chat template."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from llmops._exceptions import InputError, NotFoundError
from llmops._yaml import describe_validation_error, load_yaml

__all__ = ["ChatMessage", "PromptSpec", "find_prompt_file", "load_prompt_file"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")


class ChatMessage(BaseModel):
    """One message of a chat template."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant", "tool"]
    content: str


class PromptSpec(BaseModel):
    """The content of a prompt file: exactly one of ``template`` or ``messages``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME.pattern)
    description: str = ""
    template: str | None = None
    messages: list[ChatMessage] | None = None
    model_params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_template(self) -> PromptSpec:
        if (self.template is None) == (self.messages is None):
            raise ValueError("give exactly one of 'template' (text) or 'messages' (chat)")
        return self

    @property
    def kind(self) -> Literal["text", "chat"]:
        """``text`` or ``chat``."""
        return "text" if self.template is not None else "chat"

    @property
    def body(self) -> str | list[dict[str, str]]:
        """The template as stored: a string, or a list of role/content dicts."""
        if self.template is not None:
            return self.template
        return [message.model_dump() for message in self.messages or []]


def load_prompt_file(path: Path) -> PromptSpec:
    """Parse and validate one prompt file; its name defaults to the file stem."""
    doc = load_yaml(path)
    data = doc.data
    if not isinstance(data, dict):
        raise InputError(f"{doc.where([])}: a prompt file must be a mapping")
    data = {"name": path.stem, **data}
    try:
        return PromptSpec.model_validate(data)
    except ValidationError as exc:
        raise InputError(describe_validation_error(doc, exc)) from None


def find_prompt_file(prompts_dir: Path, name: str) -> Path:
    """The file of prompt ``name`` in ``prompts_dir``."""
    for suffix in (".yaml", ".yml"):
        candidate = prompts_dir / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    known = sorted(p.stem for p in prompts_dir.glob("*.y*ml")) if prompts_dir.is_dir() else []
    raise NotFoundError(
        f"prompt '{name}' not found in {prompts_dir} (files: {', '.join(known) or 'none'})"
    )
