"""Fuzzing the YAML files a project holds: eval suites, the project config and prompt files;
and alias bombs and deep nesting in every kind of YAML file llmops reads.

Valid files are mutated (characters deleted, YAML punctuation inserted, lines replaced,
duplicated or re-indented) or replaced by random YAML documents. Loading each must give a
valid object or an ``LlmopsError`` whose message starts with ``file:line``, the line inside
the file: never a traceback from PyYAML or pydantic.
"""

from __future__ import annotations

import math
import os
import random
import re
import subprocess
import sys
import time
import tracemalloc
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
        tally.add(fuzz(mutated(base), _checker(path, load), examples), f"{path.name}: ")
    tally.record(reliability, "fuzz: suite/config YAML")


# ---- alias bombs and deep nesting, in every kind of YAML file llmops reads ---------------------


def _bomb(rng: random.Random) -> str:
    """A "billion laughs": each level aliases the one before ``fan`` times; a few lines of
    text that would expand to far more nodes than any file holds."""
    fan = rng.randint(3, 20)
    levels = math.ceil(math.log(10**8) / math.log(fan)) + rng.randint(0, 3)  # >= 10**8 nodes
    shape = rng.choice(["seq", "map", "merge"])
    lines = [f"lol0: &a0 [{', '.join(['lol'] * fan)}]"]
    for level in range(1, levels):
        if shape == "seq":
            body = "[" + ", ".join([f"*a{level - 1}"] * fan) + "]"
        elif shape == "map":
            body = "{" + ", ".join(f"k{i}: *a{level - 1}" for i in range(fan)) + "}"
        else:  # merge keys plus a list: still every node expanded
            body = (
                "{<<: {m: *a"
                + str(level - 1)
                + "}, l: ["
                + ", ".join([f"*a{level - 1}"] * fan)
                + "]}"
            )
        lines.append(f"lol{level}: &a{level} {body}")
    return "\n".join(lines) + "\n"


def _deep(rng: random.Random) -> str:
    depth = rng.randint(150, 3000)
    if rng.random() < 0.5:
        return "deep: " + "[" * depth + "]" * depth + "\n"
    depth = min(depth, 400)  # block style: the indentation makes the file grow as depth**2
    return "deep:\n" + "".join(" " * (2 * i + 2) + f"k{i}:\n" for i in range(depth)) + "\n"


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    for folder in ("configs/rag", "prompts", "evals"):
        (project / folder).mkdir(parents=True, exist_ok=True)
    return project


def _gates(project: Path, path: Path) -> Any:
    from llmops.gates import load_gates

    return load_gates(project)


def _protected(project: Path, path: Path) -> Any:
    from llmops.store import protected_aliases

    return protected_aliases(project)


def _routes(project: Path, path: Path) -> Any:
    from llmops.llm import load_routes

    return load_routes(path)


def _serving(project: Path, path: Path) -> Any:
    from llmops.serving import load_serving

    return load_serving(project)


def _rag(project: Path, path: Path) -> Any:
    from llmops.rag import load_pipeline

    return load_pipeline(str(path), project / "configs")


#: (file kind, path in the project, text before the payload, text after it, loader)
KINDS: list[tuple[str, str, str, str, Callable[[Path, Path], Any]]] = [
    ("prompt", "prompts/qa.yaml", "name: qa\ntemplate: hi\n", "", lambda _, p: _load_prompt(p)),
    (
        "prompt .md",
        "prompts/qa.md",
        "---\nname: qa\n",
        "---\nHello\n",
        lambda _, p: _load_prompt(p),
    ),
    ("suite", "evals/s.yaml", SUITE, "", lambda _, p: _load_suite(p)),
    ("config", "configs/llmops.yaml", CONFIG, "", lambda _, p: _load_config(p)),
    ("gates", "configs/gates.yaml", "protected_aliases: [production]\n", "", _gates),
    ("protected aliases", "configs/gates.yaml", "", "", _protected),
    ("routes", "configs/routes.yaml", "routes: []\n", "", _routes),
    ("serving", "configs/serving.yaml", "defaults: {}\n", "", _serving),
    ("rag spec", "configs/rag/docs.yaml", "name: docs\nsources: [{path: docs}]\n", "", _rag),
]


def _load_error(project: Path, path: Path, load: Callable[[Path, Path], Any]) -> str:
    try:
        load(project, path)
    except LlmopsError as exc:
        return str(exc)
    return "(loaded)"


@pytest.mark.parametrize(("attack", "make"), [("alias bombs", _bomb), ("deep nesting", _deep)])
def test_alias_bombs_and_deep_nesting_fail_fast_with_file_and_line_in_every_file_kind(
    reliability: ReliabilityLog, tmp_path: Path, attack: str, make: Callable[[random.Random], str]
) -> None:
    """Rejected while composing, before anything expands: bounded CPU and memory."""
    seed = int(os.environ.get("LLMOPS_TEST_SEED", "20261206"))
    rng = random.Random(f"{seed}-{attack}")
    project = _project(tmp_path)
    failures: list[str] = []
    runs = 0
    for kind, relative, before, after, load in KINDS:
        path = project / relative
        for attempt in range(3):
            runs += 1
            payload = make(rng)
            text = before + payload + after
            path.write_text(text, encoding="utf-8")
            started = time.process_time()
            message = _load_error(project, path, load)
            took = time.process_time() - started
            found = re.match(re.escape(str(path)) + r":(\d+): ", message)
            expected = "alias bomb" if attack == "alias bombs" else "levels deep"
            if not found or expected not in message or "\n" in message:
                failures.append(f"{kind} (seed {seed}): {message[:300]}")
            elif not 1 <= int(found.group(1)) <= text.count("\n") + 1:
                failures.append(f"{kind}: line out of the file: {message}")
            elif took > 2.0:  # generous: in practice well under 0.2 s
                failures.append(f"{kind}: {took:.2f} s of CPU")
            if attempt == 0 and attack == "alias bombs":  # memory once per kind (tracing is slow)
                tracemalloc.start()
                _load_error(project, path, load)
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                if peak > 64 * 2**20:  # in practice a few MiB
                    failures.append(f"{kind}: {peak / 2**20:.0f} MiB")
    reliability.record(f"YAML {attack}: every file kind", runs=runs, failures=len(failures))
    assert not failures, "\n".join(failures)


def test_a_yaml_bomb_at_the_cli_exits_2_with_one_line(
    reliability: ReliabilityLog, tmp_path: Path
) -> None:
    """``llmops prompts push`` of a bomb, and any command reading a bombed project config."""
    project = _project(tmp_path)
    bomb = _bomb(random.Random(1))
    (project / "prompts" / "qa.yaml").write_text("name: qa\ntemplate: hi\n" + bomb)
    env = {**os.environ, "LLMOPS_HOME": str(tmp_path / "home")}
    env.pop("LLMOPS_CONFIG", None)
    runs = failures = 0
    for argv, config in (
        (["prompts", "push", "prompts/qa.yaml"], "store_url: sqlite:///s.db\n"),
        (["prompts", "list"], "store_url: sqlite:///s.db\n" + bomb),
    ):
        runs += 1
        (project / "configs" / "llmops.yaml").write_text(config)
        done = subprocess.run(
            [sys.executable, "-m", "llmops", *argv],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        lines = done.stderr.strip().splitlines()
        ok = done.returncode == 2 and len(lines) == 1 and "alias bomb" in lines[0]
        failures += not ok
        assert ok, (argv, done.returncode, done.stderr[-500:])
    reliability.record("YAML alias bombs: CLI exit 2", runs=runs, failures=failures)
