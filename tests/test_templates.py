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


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}",
        "{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(2) %}"
        "{% endfor %}{% endfor %}{% endfor %}",
        "{{ 7**99999999 }}",
        "{{ 'a' * 10**9 }}",
    ],
)
def test_templates_cannot_run_away(source: str) -> None:
    with pytest.raises(TemplateError, match="unsafe template operation blocked"):
        render_template("text", source, {}, where="t")


def test_range_still_behaves_like_range() -> None:
    source = (
        "{{ range(3)|list }} {{ range(5)|length }} {% for i in range(3) %}{{ loop.index }}"
        "{% endfor %} {{ 2 in range(3) }} {{ range(10)[2] }} {{ range(4)|reverse|list }}"
    )
    assert render_template("text", source, {}, where="t") == "[0, 1, 2] 5 123 True 2 [3, 2, 1, 0]"
    # the budget is per render: a big loop fits in each of many renders
    for _ in range(3):
        assert len(render_template("text", "{% for i in range(90000) %}x{% endfor %}", {})) == 90000


def test_a_template_that_cannot_compile_fails_when_its_variables_are_read() -> None:
    """Registering reads the variables, so an unknown filter or nesting Python cannot compile
    fails at push, not at the first render."""
    with pytest.raises(TemplateError, match=r"^p@1: template syntax error on line 1: .*nope"):
        declared_variables("text", "{{ x|nope }}", where="p@1")
    with pytest.raises(TemplateError, match=r"^p@1: template nests too deeply to compile$"):
        declared_variables("text", "{% if x %}" * 150 + "{% endif %}" * 150, where="p@1")


def test_loops_keep_their_features_under_the_budget() -> None:
    source = (
        "{% for x in items %}{{ loop.index }}/{{ loop.length }}{{ loop.cycle('a', 'b') }}"
        "{% if loop.changed(x) %}!{% endif %} {% else %}empty{% endfor %}"
        "{% for c in 'ab' if c != 'a' %}{{ c }}{% endfor %}"
        "{% for k, v in {'k': 1}.items() %}{{ k }}={{ v }}{% endfor %}"
    )
    assert render_template("text", source, {"items": [1, 1]}) == "1/2a! 2/2b bk=1"
    assert render_template("text", source, {"items": []}) == "emptybk=1"
