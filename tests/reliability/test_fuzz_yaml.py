"""Fuzzing the YAML files a project holds: eval suites, the project config and prompt files.

Valid files are mutated (characters deleted, YAML punctuation inserted, lines replaced,
duplicated or re-indented) or replaced by random YAML documents. Loading each must give a
valid object or an ``LlmopsError`` whose message starts with ``file:line``, the line inside
the file: never a traceback from PyYAML or pydantic.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import strategies as st

from llmops import LlmopsError
from reliability.conftest import ReliabilityLog
from reliability.test_fuzz_templates import Tally, fuzz

SUITE = """\
name: fuzz-suite
description: a suite to mutate
dataset:
  - {question: "2+2?", expected: "4"}
  - {question: "Capital of France?", expected: Paris}
prompt: qa
model: local
expected: expected
on_invalid_row: skip
scorers:
  - exact_match
  - contains
  - regex: {pattern: "^[A-Z]", name: capital}
thresholds:
  contains: 0.5
repeats: 1
concurrency: 2
params: {temperature: 0.0}
"""

CONFIG = """\
default_model: local
store_url: sqlite:///.llmops/llmops.db
models:
  local:
    model: local/smollm2
    params:
      temperature: 0.0
      max_tokens: 48
paths:
  prompts: prompts
  evals: evals
tracing:
  redact_patterns: ["secret-[0-9]+"]
"""

PROMPT = """\
name: qa
description: answer from a context
tags: [docs, qa]
messages:
  - role: system
    content: Answer from the context only.
  - role: user
    content: "Context: {{ context }}\\nQuestion: {{ question }}"
  - placeholder: history
model_params: {temperature: 0.2}
output_schema:
  type: object
  properties: {answer: {type: string}}
"""

PUNCTUATION = st.sampled_from(
    [
        ":",
        "- ",
        "[",
        "]",
        "{",
        "}",
        ",",
        "&a ",
        "*a",
        "!!python/object:os.system",
        "!!binary ",
        "|",
        ">",
        "'",
        '"',
        "#",
        "%",
        "@",
        "`",
        "\t",
        "\n",
        "  ",
        "? ",
        "---\n",
        "...\n",
        "\x00",
        "\ufeff",
        "é",
        "null",
        "~",
        "1e999",
        "-1",
        "true",
        "<<: *a",
    ]
)


@st.composite
def mutated(draw: st.DrawFn, base: str) -> str:
    """``base`` after a few random edits, or a random YAML document."""
    if draw(st.integers(0, 9)) == 0:
        return yaml.safe_dump(
            draw(
                st.recursive(
                    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                    lambda inner: (
                        st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=10), inner, max_size=3)
                    ),
                    max_leaves=8,
                )
            )
        )
    text = base
    for _ in range(draw(st.integers(1, 4))):
        lines = text.split("\n")
        op = draw(st.sampled_from(["delete", "insert", "replace", "duplicate", "indent"]))
        at = draw(st.integers(0, max(len(text) - 1, 0)))
        line = draw(st.integers(0, len(lines) - 1))
        if op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 12)) :]
        elif op == "insert":
            text = text[:at] + draw(PUNCTUATION | st.text(max_size=4)) + text[at:]
        elif op == "replace":
            lines[line] = draw(st.text(max_size=20) | PUNCTUATION)
            text = "\n".join(lines)
        elif op == "duplicate":
            lines.insert(line, lines[line])
            text = "\n".join(lines)
        else:
            lines[line] = " " * draw(st.integers(1, 5)) + lines[line]
            text = "\n".join(lines)
    return text


def _checker(path: Path, load: Callable[[Path], Any]) -> Callable[[str], None]:
    where = re.compile(re.escape(str(path)) + r":(\d+): \S")

    def check(text: str) -> None:
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            load(path)
        except LlmopsError as exc:
            message = str(exc)
            found = where.match(message)
            assert found, f"the error does not start with {path.name}:LINE: {message!r}"
            assert 1 <= int(found.group(1)) <= text.count("\n") + 2, message
            assert "\n" not in message.strip() or "Traceback" not in message

    return check


def _load_suite(path: Path) -> Any:
    from llmops.evals import load_suite

    return load_suite(path)


def _load_config(path: Path) -> Any:
    from llmops.config import load_config

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLMOPS_CONFIG", str(path))
        return load_config()


def _load_prompt(path: Path) -> Any:
    from llmops.prompts import load_prompt_file

    return load_prompt_file(path)


def test_mutated_yaml_files_load_or_name_file_and_line(
    reliability: ReliabilityLog, tmp_path: Path
) -> None:
    (tmp_path / "configs").mkdir()
    tally = Tally()
    for base, path, load, examples in (
        (SUITE, tmp_path / "suite.yaml", _load_suite, 200),
        (CONFIG, tmp_path / "configs" / "llmops.yaml", _load_config, 150),
        (PROMPT, tmp_path / "qa.yaml", _load_prompt, 150),
    ):
        _checker(path, load)(base)  # the unmutated file is valid
        one = fuzz(mutated(base), _checker(path, load), examples)
        tally.runs += one.runs
        tally.failures += [f"{path.name}: {failure}" for failure in one.failures]
    tally.record(reliability, "fuzz: suite/config YAML")
