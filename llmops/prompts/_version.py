"""``PromptVersion``: one immutable version of a prompt, ready to render and to parse output."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import yaml

from llmops._digits import ascii_int
from llmops._exceptions import InputError, OutputParseError
from llmops._json import JSONValue
from llmops._prompt_ref import PromptRef, RenderedMessages, RenderedText
from llmops.prompts._template import Message, Template, TemplateKind, render_template
from llmops.store import LATEST, check_alias

__all__ = ["LATEST", "PromptVersion", "check_alias", "diff_versions", "parse_ref"]


def parse_ref(ref: str) -> tuple[str, int | str]:
    """``name``, ``name@latest``, ``name@3`` or ``name@production`` -> (name, version or alias)."""
    name, _, selector = ref.partition("@")
    if not name:
        raise InputError(f"invalid prompt reference {ref!r}: expected NAME[@VERSION|@ALIAS]")
    if not selector or selector == LATEST:
        return name, LATEST
    number = ascii_int(selector)
    if number is not None:
        if number < 1:
            raise InputError(f"invalid prompt reference {ref!r}: versions start at 1")
        return name, number
    return name, check_alias(selector)


@dataclass(frozen=True)
class PromptVersion:
    """One immutable version of a prompt."""

    name: str
    version: int
    id: int
    content_hash: str
    kind: TemplateKind
    template: Template
    variables: list[str]
    model_params: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    author: str = ""
    created_at: datetime | None = None

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"

    def render(self, allow_extra: bool = False, **variables: object) -> str | list[Message]:
        """A string (text template) or a list of chat messages ready for litellm.

        Either remembers this version (``RenderedText`` / ``RenderedMessages``), so a model
        called with it records the prompt's name and version on its span.
        """
        rendered = render_template(
            self.kind, self.template, variables, where=f"prompt {self.ref}", allow_extra=allow_extra
        )
        lineage = PromptRef(self.name, self.version, self.id)
        if isinstance(rendered, str):
            return RenderedText(rendered, lineage)
        return RenderedMessages(rendered, lineage)

    def messages(self, **variables: object) -> list[Message]:
        """The rendered prompt as chat messages (a text template becomes one user message)."""
        rendered = self.render(False, **variables)
        if isinstance(rendered, str):
            lineage = PromptRef(self.name, self.version, self.id)
            return RenderedMessages([{"role": "user", "content": rendered}], lineage)
        return rendered

    @property
    def output_schema(self) -> dict[str, Any] | None:
        """The JSON schema of ``model_params.response_format``, if the version declares one."""
        response_format = self.model_params.get("response_format")
        if not isinstance(response_format, dict):
            return None
        schema = response_format.get("json_schema", {}).get("schema")
        return schema if isinstance(schema, dict) else None

    def parse(self, output: str) -> JSONValue:
        """The model output as JSON, validated against the version's schema when it has one."""
        text = output.strip()
        fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, re.S)
        if fenced:
            text = fenced.group(1)
        try:
            value: JSONValue = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise OutputParseError(f"prompt {self.ref}: output is not valid JSON: {exc}") from None
        schema = self.output_schema
        if schema is not None:
            import jsonschema

            try:
                jsonschema.validate(value, schema)
            except jsonschema.ValidationError as exc:
                where = "/".join(str(part) for part in exc.absolute_path) or "(root)"
                raise OutputParseError(
                    f"prompt {self.ref}: output does not match its schema at {where}: {exc.message}"
                ) from None
            except jsonschema.SchemaError as exc:
                raise OutputParseError(
                    f"prompt {self.ref}: its JSON schema is invalid: {exc.message}"
                ) from None
        return value

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "id": self.id,
            "content_hash": self.content_hash,
            "kind": self.kind,
            "template": self.template,
            "variables": self.variables,
            "model_params": self.model_params,
            "message": self.message,
            "author": self.author,
            "created_at": self.created_at,
        }


def _as_text(version: PromptVersion) -> list[str]:
    content = {
        "kind": version.kind,
        "template": version.template,
        "model_params": version.model_params,
    }
    dumped = yaml.safe_dump(content, sort_keys=False, allow_unicode=True, width=1_000_000)
    return dumped.splitlines(keepends=True)


def diff_versions(a: PromptVersion, b: PromptVersion) -> str:
    """A unified diff of two versions' template and model parameters."""
    return "".join(difflib.unified_diff(_as_text(a), _as_text(b), fromfile=a.ref, tofile=b.ref))
