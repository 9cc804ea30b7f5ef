"""Prompt templates: sandboxed, strict about variables, clear errors."""

from __future__ import annotations

import pytest

from llmops import TemplateError
from llmops.prompts import declared_variables, render_template


def test_text_and_chat_render() -> None:
    assert render_template("text", "Hi {{ name }}!", {"name": "Ada"}) == "Hi Ada!"
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q: {{ q }}"}]
    assert render_template("chat", chat, {"q": "why?"}) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Q: why?"},
    ]
    assert declared_variables("chat", chat) == ["q"]


def test_missing_variable_is_named() -> None:
    with pytest.raises(TemplateError, match=r"^prompt qa@1: missing template variable 'question'$"):
        render_template(
            "text", "{{ context }} {{ question }}", {"context": "c"}, where="prompt qa@1"
        )


def test_nested_undefined_attribute_is_reported() -> None:
    with pytest.raises(TemplateError, match="missing template variable"):
        render_template("text", "{{ user.name }}", {"user": {}})


def test_syntax_error_names_line() -> None:
    with pytest.raises(TemplateError, match="template syntax error on line 2"):
        render_template("text", "ok\n{% if %}", {})


@pytest.mark.parametrize(
    "payload",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{{ x.__class__.__base__.__subclasses__() }}",
        "{{ lipsum.__globals__['os'].popen('id').read() }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ [].append(1) }}",
    ],
)
def test_ssti_payloads_fail_safely(payload: str) -> None:
    with pytest.raises(TemplateError):
        render_template("text", payload, {"x": "value"})
