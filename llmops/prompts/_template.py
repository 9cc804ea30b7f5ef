"""Prompt templates: Jinja2 in a sandbox, strict about variables, compiled once.

A text template is one string. A chat template is a list of messages, each either
``{"role": ..., "content": ...}`` (content is a template) or ``{"placeholder": NAME}``,
which is replaced by the list of messages passed as variable NAME (e.g. a chat history).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from functools import lru_cache
from typing import Any, Literal

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta
from jinja2 import Template as JinjaTemplate
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

from llmops._exceptions import TemplateError

__all__ = [
    "ROLES",
    "Message",
    "TemplateKind",
    "declared_variables",
    "placeholders_of",
    "render_template",
]

TemplateKind = Literal["text", "chat"]
Message = dict[str, Any]
ROLES = ("system", "user", "assistant", "tool", "developer")

#: The most items ``*`` may repeat a string or list to, and the most bits ``**`` may build.
MAX_REPEAT = 1_000_000
MAX_POWER_BITS = 100_000
#: The most iterations over ``range()`` one render may make, all loops together (nested loops
#: of ``range(99999)`` would otherwise run for hours).
MAX_LOOP_ITEMS = 1_000_000
_loop_budget: ContextVar[list[int] | None] = ContextVar("llmops_template_loop_budget", default=None)


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, where ``*`` and ``**`` cannot exhaust memory or CPU
    (``{{ 'a' * 10**9 }}``, ``{{ 7**99999999 }}``); also stops folding them at compile time."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and right > 0
                and left.bit_length() * right > MAX_POWER_BITS
            ):
                raise SecurityError(f"'**' would build a number of over {MAX_POWER_BITS} bits")
        else:
            for count, sequence in ((left, right), (right, left)):
                if (
                    isinstance(count, int)
                    and isinstance(sequence, str | list | tuple)
                    and count * len(sequence) > MAX_REPEAT
                ):
                    raise SecurityError(f"'*' would repeat to over {MAX_REPEAT} items")
        return super().call_binop(context, operator, left, right)


class _CountedRange(Sequence[int]):
    """``range()`` in a template: a range whose iterations count against the render's budget."""

    def __init__(self, numbers: range) -> None:
        self._numbers = numbers

    def __len__(self) -> int:
        return len(self._numbers)

    def __getitem__(self, index: Any) -> Any:
        return self._numbers[index]

    def __contains__(self, item: object) -> bool:
        return item in self._numbers

    def __iter__(self) -> Iterator[int]:
        left = _loop_budget.get() or [MAX_LOOP_ITEMS]  # outside a render: this range alone
        for number in self._numbers:
            left[0] -= 1
            if left[0] < 0:
                raise SecurityError(f"template loops ran over {MAX_LOOP_ITEMS:,} iterations")
            yield number

    def __repr__(self) -> str:
        return repr(self._numbers)


def _counted_range(*args: int) -> _CountedRange:
    return _CountedRange(safe_range(*args))  # Jinja's own cap on one range still applies


_ENV = _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_ENV.globals["range"] = _counted_range
_UNDEFINED_NAME = re.compile(r"'([^']+)' is undefined")


def _syntax_error(where: str, exc: TemplateSyntaxError) -> TemplateError:
    return TemplateError(f"{where}: template syntax error on line {exc.lineno}: {exc.message}")


@lru_cache(maxsize=4096)
def _compile(source: str, where: str) -> JinjaTemplate:
    try:
        return _ENV.from_string(source)
    except TemplateSyntaxError as exc:
        raise _syntax_error(where, exc) from None


@lru_cache(maxsize=4096)
def _variables_of(source: str, where: str) -> frozenset[str]:
    try:
        return frozenset(meta.find_undeclared_variables(_ENV.parse(source)))
    except TemplateSyntaxError as exc:
        raise _syntax_error(where, exc) from None


def _sources(kind: TemplateKind, template: Any) -> list[str]:
    if kind == "text":
        return [str(template)]
    return [str(message["content"]) for message in template if "placeholder" not in message]


def placeholders_of(kind: TemplateKind, template: Any) -> list[str]:
    """Names of the message-list placeholders of a chat template."""
    if kind == "text":
        return []
    return [str(message["placeholder"]) for message in template if "placeholder" in message]


def declared_variables(kind: TemplateKind, template: Any, where: str = "template") -> list[str]:
    """The variables a template reads (placeholders included), sorted."""
    names: set[str] = set(placeholders_of(kind, template))
    for source in _sources(kind, template):
        names |= _variables_of(source, where)
    return sorted(names)


def _render_one(source: str, variables: dict[str, Any], where: str) -> str:
    budget = _loop_budget.set([MAX_LOOP_ITEMS])
    try:
        return _compile(source, where).render(**variables)
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
    finally:
        _loop_budget.reset(budget)


def _history(name: str, value: Any, where: str) -> list[Message]:
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
    template: Any,
    variables: dict[str, Any],
    where: str = "template",
    *,
    allow_extra: bool = False,
) -> str | list[Message]:
    """Render a text template to a string, or a chat template to a list of messages.

    Every variable the template reads must be given; the first one missing is named.
    Variables the template does not read are rejected unless ``allow_extra``.
    """
    declared = declared_variables(kind, template, where)
    missing = [name for name in declared if name not in variables]
    if missing:
        raise TemplateError(f"{where}: missing template variable '{missing[0]}'")
    if not allow_extra:
        extra = sorted(set(variables) - set(declared))
        if extra:
            raise TemplateError(
                f"{where}: unknown template variable '{extra[0]}' "
                f"(the template reads: {', '.join(declared) or 'nothing'})"
            )
    if kind == "text":
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
