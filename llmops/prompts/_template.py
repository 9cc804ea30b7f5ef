"""Prompt templates: Jinja2 in a sandbox, strict about variables, compiled once.

A text template is one string. A chat template is a list of messages, each either
``{"role": ..., "content": ...}`` (content is a template) or ``{"placeholder": NAME}``,
which is replaced by the list of messages passed as variable NAME (e.g. a chat history).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta
from jinja2 import Template as JinjaTemplate
from jinja2.exceptions import SecurityError

from llmops._exceptions import TemplateError
from llmops._suggest import closest
from llmops.prompts._sandbox import MAX_OUTPUT, Sandbox, budget, budget_scope

__all__ = [
    "ROLES",
    "Message",
    "Template",
    "TemplateKind",
    "declared_variables",
    "placeholders_of",
    "render_template",
]

TemplateKind = Literal["text", "chat"]
Message = dict[str, Any]
#: A text template's source, or a chat template's messages (placeholders included).
Template = str | list[Message]
ROLES = ("system", "user", "assistant", "tool", "developer")

_ENV = Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_UNDEFINED_NAME = re.compile(r"'([^']+)' is undefined")


def _syntax_error(where: str, exc: TemplateSyntaxError) -> TemplateError:
    return TemplateError(f"{where}: template syntax error on line {exc.lineno}: {exc.message}")


def _too_deep(where: str) -> TemplateError:
    return TemplateError(f"{where}: template nests too deeply to compile")


@lru_cache(maxsize=4096)
def _compile(source: str, where: str) -> JinjaTemplate:
    try:
        return _ENV.from_string(source)
    except TemplateSyntaxError as exc:
        raise _syntax_error(where, exc) from None
    # {{ ((((...)))) }} thousands deep: Jinja's parser recurses; a hundred nested blocks:
    # Python refuses to compile the generated code
    except (RecursionError, SyntaxError, MemoryError):
        raise _too_deep(where) from None


@lru_cache(maxsize=4096)
def _variables_of(source: str, where: str) -> frozenset[str]:
    _compile(source, where)  # so what cannot compile (deep nesting, unknown filters) fails early
    try:
        return frozenset(meta.find_undeclared_variables(_ENV.parse(source)))
    except TemplateSyntaxError as exc:
        raise _syntax_error(where, exc) from None
    except RecursionError:
        raise _too_deep(where) from None


def _sources(kind: TemplateKind, template: Template) -> list[str]:
    if kind == "text" or isinstance(template, str):
        return [str(template)]
    return [str(message["content"]) for message in template if "placeholder" not in message]


def placeholders_of(kind: TemplateKind, template: Template) -> list[str]:
    """Names of the message-list placeholders of a chat template."""
    if kind == "text" or isinstance(template, str):
        return []
    return [str(message["placeholder"]) for message in template if "placeholder" in message]


def declared_variables(
    kind: TemplateKind, template: Template, where: str = "template"
) -> list[str]:
    """The variables a template reads (placeholders included), sorted."""
    names: set[str] = set(placeholders_of(kind, template))
    for source in _sources(kind, template):
        names |= _variables_of(source, where)
    return sorted(names)


def _render_one(source: str, variables: Mapping[str, object], where: str) -> str:
    """Render inside the running budget, streaming so the output stops at its cap."""
    template = _compile(source, where)
    spend = budget()
    pieces: list[str] = []
    try:
        for piece in template.generate(**variables):
            spend.output -= len(piece)
            if spend.output < 0:
                raise TemplateError(f"{where}: template output over {MAX_OUTPUT:,} characters")
            pieces.append(piece)
        return "".join(pieces)
    except UndefinedError as exc:
        found = _UNDEFINED_NAME.search(str(exc.message or ""))
        if found is None:  # e.g. "'dict object' has no attribute 'x'"
            raise TemplateError(f"{where}: missing template variable: {exc.message}") from None
        raise TemplateError(f"{where}: missing template variable '{found.group(1)}'") from None
    except SecurityError as exc:
        raise TemplateError(f"{where}: unsafe template operation blocked: {exc}") from None
    except TemplateSyntaxError as exc:
        raise _syntax_error(where, exc) from None
    except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
        raise TemplateError(f"{where}: template failed: {type(exc).__name__}: {exc}") from None
    # backstops: the budget should stop both first
    except RecursionError:
        raise TemplateError(f"{where}: template recursion too deep") from None
    except MemoryError:
        raise TemplateError(f"{where}: template ran out of memory") from None


def _history(name: str, value: object, where: str) -> list[Message]:
    if not isinstance(value, list | tuple):
        raise TemplateError(f"{where}: placeholder '{name}' needs a list of messages")
    messages: list[Message] = []
    for item in value:
        if not isinstance(item, dict) or item.get("role") not in ROLES or "content" not in item:
            raise TemplateError(
                f"{where}: placeholder '{name}': each message needs a role "
                f"({', '.join(ROLES)}) and a content"
            )
        messages.append(dict(item))
    return messages


def render_template(
    kind: TemplateKind,
    template: Template,
    variables: Mapping[str, object],
    where: str = "template",
    *,
    allow_extra: bool = False,
) -> str | list[Message]:
    """Render a text template to a string, or a chat template to a list of messages.

    Every variable the template reads must be given; the first one missing is named.
    Variables the template does not read are rejected unless ``allow_extra``. Rendering is
    bounded (see ``llmops.prompts._sandbox``): going over a limit is a ``TemplateError``.
    """
    declared = declared_variables(kind, template, where)
    missing = [name for name in declared if name not in variables]
    if missing:
        # a variable given but not read is most likely the missing one misspelt
        given = closest(missing[0], (name for name in variables if name not in declared))
        hint = f" (got '{given}'; did you mean it?)" if given is not None else ""
        raise TemplateError(f"{where}: missing template variable '{missing[0]}'{hint}")
    if not allow_extra:
        extra = sorted(set(variables) - set(declared))
        if extra:
            raise TemplateError(
                f"{where}: unknown template variable '{extra[0]}' "
                f"(the template reads: {', '.join(declared) or 'nothing'})"
            )
    with budget_scope():  # one budget for the whole render, every message of a chat included
        if kind == "text" or isinstance(template, str):
            return _render_one(str(template), variables, where)
        rendered: list[Message] = []
        for message in template:
            if "placeholder" in message:
                name = str(message["placeholder"])
                rendered.extend(_history(name, variables[name], where))
            else:
                content = _render_one(str(message["content"]), variables, where)
                rendered.append({"role": str(message["role"]), "content": content})
        return rendered
