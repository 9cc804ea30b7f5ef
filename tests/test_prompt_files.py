"""Prompt files: YAML and Markdown, chat placeholders, output schemas, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmops import InputError, OutputParseError, TemplateError, YamlError
from llmops.prompts import PromptSpec, PromptVersion, content_hash, load_prompt_file


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _version(spec: PromptSpec) -> PromptVersion:
    from llmops.prompts import declared_variables

    return PromptVersion(
        spec.name,
        1,
        1,
        content_hash(spec.kind, spec.body, spec.model_params),
        spec.kind,
        spec.body,
        declared_variables(spec.kind, spec.body),
        spec.model_params,
    )


def test_markdown_with_front_matter(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "summarize.md",
        "---\ndescription: Summaries\ntags: [docs]\nmodel_params:\n"
        "  temperature: 0.2\n---\nSummarize:\n{{ text }}\n",
    )
    spec = load_prompt_file(path)
    assert (spec.name, spec.kind, spec.tags, spec.model_params) == (
        "summarize",
        "text",
        ["docs"],
        {"temperature": 0.2},
    )
    assert spec.template == "Summarize:\n{{ text }}\n"


def test_markdown_front_matter_errors_keep_file_lines(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.md", "---\ndescription: ok\ntags: 7\n---\nbody\n")
    with pytest.raises(InputError, match=rf"^{path}:3: key 'tags'"):
        load_prompt_file(path)
    broken = _write(tmp_path / "q.md", "---\ndescription: [oops\n---\nbody\n")
    with pytest.raises(YamlError, match=rf"^{broken}:3: invalid YAML"):
        load_prompt_file(broken)


def test_markdown_without_front_matter_is_all_template(tmp_path: Path) -> None:
    spec = load_prompt_file(_write(tmp_path / "plain.md", "Hello {{ who }}\n"))
    assert spec.template == "Hello {{ who }}\n"


def test_yaml_errors(tmp_path: Path) -> None:
    both = _write(tmp_path / "a.yaml", "template: x\nmessages:\n  - {role: user, content: y}\n")
    with pytest.raises(InputError, match="exactly one of 'template'"):
        load_prompt_file(both)
    role = _write(tmp_path / "b.yaml", "messages:\n  - role: wizard\n    content: y\n")
    with pytest.raises(InputError, match=rf"^{role}:2: key 'messages.0"):
        load_prompt_file(role)
    name = _write(tmp_path / "c.yaml", "name: has space\ntemplate: x\n")
    with pytest.raises(InputError, match=rf"^{name}:1: key 'name': invalid prompt name"):
        load_prompt_file(name)


def test_chat_placeholder_takes_a_message_list(tmp_path: Path) -> None:
    spec = load_prompt_file(
        _write(
            tmp_path / "chat.yaml",
            (
                "messages:\n  - {role: system, content: 'You help {{ user }}.'}\n"
                "  - placeholder: history\n"
                "  - {role: user, content: '{{ question }}'}\n"
            ),
        )
    )
    version = _version(spec)
    assert version.variables == ["history", "question", "user"]
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert version.render(user="Ada", history=history, question="and?") == [
        {"role": "system", "content": "You help Ada."},
        *history,
        {"role": "user", "content": "and?"},
    ]
    with pytest.raises(TemplateError, match="placeholder 'history' needs a list of messages"):
        version.render(user="Ada", history="nope", question="q")
    with pytest.raises(TemplateError, match="each message needs a role"):
        version.render(user="Ada", history=[{"role": "alien", "content": "x"}], question="q")


def test_extra_variables_are_rejected_unless_allowed() -> None:
    version = _version(PromptSpec(name="t", template="Hi {{ a }}"))
    with pytest.raises(
        TemplateError, match=r"unknown template variable 'b' \(the template reads: a\)"
    ):
        version.render(a=1, b=2)
    assert version.render(allow_extra=True, a=1, b=2) == "Hi 1"


def test_output_schema_and_parse(tmp_path: Path) -> None:
    spec = load_prompt_file(
        _write(
            tmp_path / "extract.yaml",
            (
                "template: 'Extract from {{ text }}'\noutput_schema:\n  type: object\n"
                "  required: [city]\n"
                "  properties:\n    city: {type: string}\n"
            ),
        )
    )
    assert spec.model_params["response_format"]["type"] == "json_schema"
    version = _version(spec)
    assert version.parse('```json\n{"city": "Paris"}\n```') == {"city": "Paris"}
    with pytest.raises(OutputParseError, match="output is not valid JSON"):
        version.parse("Paris")
    with pytest.raises(
        OutputParseError, match=r"does not match its schema at city: 3 is not of type 'string'"
    ):
        version.parse('{"city": 3}')
    with pytest.raises(OutputParseError, match=r"at \(root\): 'city' is a required property"):
        version.parse("{}")
