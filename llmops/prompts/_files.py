"""Prompts kept as files: ``prompts/<name>.yaml``, or ``<name>.md`` with YAML front matter.

A YAML file holds ``template:`` (text) or ``messages:`` (chat); a Markdown file's body is
the text template and its front matter holds the other fields.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from llmops._exceptions import InputError, NotFoundError
from llmops._yaml import YamlDocument, describe_validation_error, load_yaml, parse_yaml

__all__ = [
    "PROMPT_SUFFIXES",
    "ChatMessage",
    "Placeholder",
    "PromptSpec",
    "check_prompt_name",
    "find_prompt_file",
    "list_prompt_files",
    "load_prompt_file",
]

PROMPT_SUFFIXES = (".yaml", ".yml", ".md")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)^---[ \t]*\n?(.*)\Z", re.S | re.M)


def check_prompt_name(name: str) -> str:
    """``name`` if valid, else a clear ``InputError``."""
    if not _NAME.match(name):
        raise InputError(
            f"invalid prompt name {name!r}: use letters, digits, '.', '_' or '-', starting with a "
            "letter or digit, at most 200 characters"
        )
    return name


class ChatMessage(BaseModel):
    """One message of a chat template; ``content`` is a Jinja2 template."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str


class Placeholder(BaseModel):
    """A slot filled at render time by a list of messages (e.g. the chat history)."""

    model_config = ConfigDict(extra="forbid")

    placeholder: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class PromptSpec(BaseModel):
    """The content of a prompt file: exactly one of ``template`` or ``messages``."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    template: str | None = None
    messages: list[ChatMessage | Placeholder] | None = None
    model_params: dict[str, Any] = Field(default_factory=dict)
    output_schema: dict[str, Any] | None = Field(
        default=None, description="JSON schema of the output; sets model_params.response_format"
    )

    @field_validator("name")
    @classmethod
    def _valid_name(cls, name: str) -> str:
        try:
            return check_prompt_name(name)
        except InputError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _one_template(self) -> PromptSpec:
        if (self.template is None) == (self.messages is None):
            raise ValueError("give exactly one of 'template' (text) or 'messages' (chat)")
        if self.messages is not None and not self.messages:
            raise ValueError("'messages' needs at least one message")
        if self.output_schema is not None:
            response_format = {
                "type": "json_schema",
                "json_schema": {"name": self.name.replace(".", "_"), "schema": self.output_schema},
            }
            self.model_params = {**self.model_params, "response_format": response_format}
            self.output_schema = None
        return self

    @property
    def kind(self) -> Literal["text", "chat"]:
        """``text`` or ``chat``."""
        return "text" if self.template is not None else "chat"

    @property
    def body(self) -> str | list[dict[str, str]]:
        """The template as stored: a string, or a list of message / placeholder dicts."""
        if self.template is not None:
            return self.template
        return [message.model_dump() for message in self.messages or []]


def _read(path: Path) -> tuple[YamlDocument, dict[str, Any]]:
    if path.suffix != ".md":
        doc = load_yaml(path)
        if not isinstance(doc.data, dict):
            raise InputError(f"{doc.where([])}: a prompt file must be a mapping")
        return doc, dict(doc.data)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"{path}: file not found") from None
    found = _FRONT_MATTER.match(text)
    if found is None:
        return parse_yaml("", str(path)), {"template": text}
    doc = parse_yaml("\n" + found.group(1), str(path))  # keep line numbers of the file
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise InputError(f"{path}:2: the front matter must be a mapping")
    if "template" in data or "messages" in data:
        raise InputError(
            f"{path}: a Markdown prompt's template is its body, not a front matter key"
        )
    return doc, {**data, "template": found.group(2)}


def load_prompt_file(path: Path) -> PromptSpec:
    """Parse and validate one prompt file; its name defaults to the file stem."""
    doc, data = _read(path)
    data = {"name": path.stem, **data}
    try:
        return PromptSpec.model_validate(data)
    except ValidationError as exc:
        raise InputError(describe_validation_error(doc, exc, PromptSpec)) from None


def list_prompt_files(prompts_dir: Path) -> list[Path]:
    """Every prompt file in ``prompts_dir``, sorted by name."""
    if not prompts_dir.is_dir():
        return []
    return sorted(p for p in prompts_dir.iterdir() if p.suffix in PROMPT_SUFFIXES and p.is_file())


def find_prompt_file(prompts_dir: Path, name: str) -> Path:
    """The file of prompt ``name`` in ``prompts_dir``."""
    for suffix in PROMPT_SUFFIXES:
        candidate = prompts_dir / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    known = [p.stem for p in list_prompt_files(prompts_dir)]
    raise NotFoundError(
        f"prompt '{name}' not found in {prompts_dir} (files: {', '.join(known) or 'none'})"
    )
