"""Prompt templates: Jinja2 in a sandbox, strict about variables, compiled once."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Literal

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta
from jinja2 import Template as JinjaTemplate
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from llmops._exceptions import TemplateError

__all__ = ["Message", "TemplateKind", "declared_variables", "render_template"]

TemplateKind = Literal["text", "chat"]
Message = dict[str, str]

_ENV = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
)
_UNDEFINED_NAME = re.compile(r"'([^']+)' is undefined")


@lru_cache(maxsize=4096)
def _compile(source: str, where: str) -> JinjaTemplate:
    try:
        return _ENV.from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(
            f"{where}: template syntax error on line {exc.lineno}: {exc.message}"
        ) from None


def _sources(kind: TemplateKind, template: Any) -> list[str]:
    if kind == "text":
        return [str(template)]
    return [str(message.get("content", "")) for message in template]


@lru_cache(maxsize=4096)
def _variables_of(source: str, where: str) -> frozenset[str]:
    try:
        return frozenset(meta.find_undeclared_variables(_ENV.parse(source)))
    except TemplateSyntaxError as exc:
        raise TemplateError(
            f"{where}: template syntax error on line {exc.lineno}: {exc.message}"
        ) from None


def declared_variables(kind: TemplateKind, template: Any, where: str = "template") -> list[str]:
    """The variables a template reads, sorted."""
    names: set[str] = set()
    for source in _sources(kind, template):
        names |= _variables_of(source, where)
    return sorted(names)


def _render_one(source: str, variables: dict[str, Any], where: str) -> str:
    try:
        return _compile(source, where).render(**variables)
    except UndefinedError as exc:
        found = _UNDEFINED_NAME.search(str(exc.message or ""))
        name = found.group(1) if found else str(exc.message)
        raise TemplateError(f"{where}: missing template variable '{name}'") from None
    except SecurityError as exc:
        raise TemplateError(f"{where}: unsafe template operation blocked: {exc}") from None


def render_template(
    kind: TemplateKind, template: Any, variables: dict[str, Any], where: str = "template"
) -> str | list[Message]:
    """Render a text template to a string, or a chat template to a list of messages.

    Every variable the template reads must be given; the first one missing is named.
    """
    missing = [name for name in declared_variables(kind, template, where) if name not in variables]
    if missing:
        raise TemplateError(f"{where}: missing template variable '{missing[0]}'")
    if kind == "text":
        return _render_one(str(template), variables, where)
    return [
        {
            "role": str(message["role"]),
            "content": _render_one(str(message.get("content", "")), variables, where),
        }
        for message in template
    ]
