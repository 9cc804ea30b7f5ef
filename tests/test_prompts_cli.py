"""``llmops prompts``: sync, check, push, alias, rollback, history, diff, render, show."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmops.cli import main


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> Any:
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_prompt_lifecycle(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    qa = project / "prompts" / "qa.yaml"
    assert main(["prompts", "sync", "--check"]) == 1
    assert "prompt files differ from the registry: qa, rag_answer" in capsys.readouterr().err
    assert {item["status"] for item in _json(capsys, ["prompts", "sync"])} == {"new"}
    assert {item["status"] for item in _json(capsys, ["prompts", "sync"])} == {"unchanged"}
    assert main(["prompts", "sync", "--check"]) == 0

    qa.write_text(qa.read_text().replace("as few words as possible", "very few words"))
    (project / "prompts" / "greet.md").write_text(
        "---\ndescription: Greeting\n---\nHello {{ name }}!\n"
    )
    synced = {item["name"]: item for item in _json(capsys, ["prompts", "sync", "-m", "reword"])}
    assert (synced["qa"]["status"], synced["qa"]["version"]) == ("changed", 2)
    assert (synced["greet"]["status"], synced["greet"]["version"]) == ("new", 1)

    pushed = _json(capsys, ["prompts", "push", str(qa)])
    assert (pushed["version"], pushed["created"]) == (2, False)

    assert (
        _json(capsys, ["prompts", "alias", "qa", "staging", "1", "--reason", "v1 reviewed"])[
            "to_version"
        ]
        == 1
    )
    moved = _json(capsys, ["prompts", "alias", "qa", "staging", "2", "-r", "shorter answers"])
    assert (moved["from_version"], moved["to_version"]) == (1, 2)
    back = _json(capsys, ["prompts", "rollback", "qa", "staging", "-r", "regressed"])
    assert (back["from_version"], back["to_version"], back["action"]) == (2, 1, "rollback")

    shown = _json(capsys, ["prompts", "show", "qa@staging"])
    assert (shown["version"], shown["variables"]) == (1, ["context", "question"])
    history = _json(capsys, ["prompts", "history", "qa"])
    assert [v["version"] for v in history["versions"]] == [2, 1]
    assert [e["reason"] for e in history["alias_events"]] == [
        "regressed",
        "shorter answers",
        "v1 reviewed",
    ]
    listed = {p["name"]: p for p in _json(capsys, ["prompts", "list"])}
    assert (
        listed["qa"]["aliases"] == {"staging": 1} and listed["greet"]["description"] == "Greeting"
    )

    capsys.readouterr()
    assert main(["prompts", "diff", "qa", "staging", "2"]) == 0
    out = capsys.readouterr().out
    assert "--- qa@1" in out and "+++ qa@2" in out and "very few words" in out
    assert main(["prompts", "render", "greet", "--var", "name=Ada"]) == 0
    assert capsys.readouterr().out == "Hello Ada!\n"
    rendered = _json(
        capsys, ["prompts", "render", "qa@staging", "-v", "context=C", "-v", "question=Q"]
    )
    assert rendered[1] == {"role": "user", "content": "Context: C\n\nQuestion: Q"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["prompts", "show", "qa@staging"], "prompt 'qa' has no alias 'staging'"),
        (["prompts", "show", "nope"], "prompt 'nope' not found"),
        (["prompts", "show", "qa@7"], "prompt 'qa' has no version 7"),
        (["prompts", "alias", "qa", "latest", "1", "-r", "x"], "invalid alias 'latest'"),
        (["prompts", "render", "qa", "--var", "context=C"], "missing template variable 'question'"),
        (["prompts", "render", "qa", "--var", "oops"], "--var 'oops': expected NAME=VALUE"),
        (["prompts", "rollback", "qa", "staging"], "prompt 'qa' has no alias 'staging'"),
        (["prompts", "push", "prompts/missing.yaml"], "prompts/missing.yaml: file not found"),
    ],
)
def test_prompt_errors_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["prompts", "sync"]) == 0
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_malformed_prompt_file_names_file_and_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "prompts" / "bad.yaml").write_text("template: ok\nmodel_params: {temperature: [\n")
    assert main(["prompts", "sync"]) == 2
    assert "prompts/bad.yaml:3: invalid YAML" in capsys.readouterr().err


def test_eval_suite_can_name_a_registered_alias(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from _fake_openai import FakeOpenAI
    from conftest import use_fake_model

    assert main(["prompts", "sync"]) == 0
    assert main(["prompts", "alias", "qa", "staging", "1", "-r", "release"]) == 0
    suite = project / "evals" / "llmops_docs.yaml"
    suite.write_text(suite.read_text().replace("prompt: qa", "prompt: qa@staging"))
    with FakeOpenAI() as server:
        use_fake_model(project, server)
        result = _json(capsys, ["eval", "run", str(suite), "--limit", "2"])
    assert result["prompt"] == "qa@1"
