"""The CLI end to end against a fake model server: eval run, runs, traces, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _fake_openai import FakeOpenAI, echo_context
from conftest import use_fake_model

from llmops.cli import main

SUITE = "evals/llmops_docs.yaml"


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> Any:
    capsys.readouterr()
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_eval_run_stores_runs_cases_and_traces(
    project: Path, fake_model: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    use_fake_model(project, fake_model)
    code = main(["eval", "run", SUITE, "--fail-under", "contains=0.5"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "llmops-docs · summary" in out and "contains" in out
    assert len(fake_model.requests) == 16
    # the prompt was rendered with the dataset row and the suite's prompt parameters
    assert "Question: Which database does llmops use by default?" in json.dumps(fake_model.requests)
    assert all(request["max_tokens"] == 32 for request in fake_model.requests)

    [run] = _json(capsys, ["runs", "list", "--json"])
    assert (run["suite"], run["model"], run["status"], run["cases"], run["errors"]) == (
        "llmops-docs",
        "fake",
        "completed",
        16,
        0,
    )
    assert run["config"]["prompt"] == "qa@1"
    assert 0.5 <= run["summary"]["contains"]["mean"] <= 1.0

    shown = _json(capsys, ["runs", "show", run["id"][:8], "--json"])
    first = shown["cases"][0]
    assert first["expected"] == "SQLite"
    assert first["output"].startswith("llmops stores runs, prompts and traces in SQLite")
    assert first["input_tokens"] == 11 and first["output_tokens"] == 3
    assert set(first["scores"]) == {"contains", "exact_match", "token_f1"}

    trace = _json(capsys, ["traces", "show", first["trace_id"], "--json"])
    root, llm = trace["spans"]
    assert root["kind"] == "evaluator" and root["attributes"]["llmops.eval.run_id"] == run["id"]
    assert llm["parent_span_id"] == root["span_id"]
    assert (llm["kind"], llm["otel_kind"], root["otel_kind"]) == ("llm", "CLIENT", "INTERNAL")
    assert llm["scope"]["name"] == "llmops" and llm["links"] is None
    assert llm["attributes"]["llmops.prompt.name"] == "qa"
    assert llm["attributes"]["llmops.prompt.version"] == 1
    assert llm["attributes"]["gen_ai.usage.input_tokens"] == 11
    assert llm["attributes"]["llmops.latency_ms"] > 0
    traces = _json(capsys, ["traces", "list", "--json", "-n", "100"])
    assert len(traces) == 16

    assert main(["runs", "show", run["id"][:8]]) == 0
    assert main(["traces", "show", first["trace_id"][-8:]]) == 0
    assert "gen_ai.input.messages" in capsys.readouterr().out


def test_threshold_missed_exits_1(
    project: Path, fake_model: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    use_fake_model(project, fake_model)
    assert (
        main(
            ["eval", "run", SUITE, "--limit", "3", "--fail-under", "exact_match=0.99", "--no-cases"]
        )
        == 1
    )
    assert "threshold not met: exact_match" in capsys.readouterr().err


def test_model_failures_are_recorded_and_the_run_goes_on(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def half_down(request: dict[str, Any], count: int) -> tuple[int, str]:
        question = request["messages"][-1]["content"]
        return (500, "down") if "France" in question else echo_context(request, count)

    with FakeOpenAI(half_down) as server:
        use_fake_model(project, server)
        assert main(["eval", "run", SUITE, "--no-cases"]) == 1
        err = capsys.readouterr().err
        assert "1 case(s) failed with errors" in err
        [run] = _json(capsys, ["runs", "list", "--json"])
        assert (run["status"], run["cases"], run["errors"]) == ("completed_with_errors", 16, 1)
        cases = _json(capsys, ["runs", "show", run["id"], "--json"])["cases"]
        failed = [case for case in cases if case["error"]]
        assert len(failed) == 1 and "InternalServerError" in failed[0]["error"]
        assert failed[0]["scores"]["contains"] == {"value": None, "error": "target failed"}
        assert main(["eval", "run", SUITE, "--no-cases", "--allow-errors"]) == 0


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(
    ("setup", "argv", "expected"),
    [
        (None, ["eval", "run", "evals/nope.yaml"], r"evals/nope.yaml: eval suite not found"),
        (
            ("evals/bad.yaml", "name: x\nscorers: [contains\n"),
            ["eval", "run", "evals/bad.yaml"],
            r"evals/bad.yaml:3: invalid YAML",
        ),
        (
            None,
            ["eval", "run", SUITE, "--model", "gpt-9"],
            r"unknown model 'gpt-9'; configured models: local",
        ),
        (
            (
                "evals/s.yaml",
                "name: s\ndataset: data/llmops_docs.jsonl\nprompt: qa\nexpected: answer\n"
                "scorers: [contains, blue_score]\n",
            ),
            ["eval", "run", "evals/s.yaml"],
            r"evals/s.yaml:5: key 'scorers': unknown scorer 'blue_score'",
        ),
        (
            ("prompts/qa.yaml", "template: '{{ context }} {{ topic }}'\n"),
            ["eval", "run", SUITE],
            r"row 1 has no column 'topic' for the missing template variable 'topic' of prompt qa@",
        ),
        (None, ["--version"], None),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    setup: tuple[str, str] | None,
    argv: list[str],
    expected: str | None,
) -> None:
    if setup is not None:
        _write(project / setup[0], setup[1])
    code = main(argv)
    err = capsys.readouterr().err.strip()
    if expected is None:
        assert code == 0
        return
    assert code == 2
    assert err.startswith("error: ")
    assert len(err.splitlines()) == 1, err
    import re

    assert re.search(expected, err), err


def test_unreachable_store_in_a_real_process_has_no_traceback(project: Path) -> None:
    env = {
        "LLMOPS_STORE_URL": "postgresql+psycopg://llmops:pw@127.0.0.1:1/llmops",
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "-m", "llmops", "runs", "list"],
        capture_output=True,
        text=True,
        env=env,
        cwd=project,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(
        "error: cannot open store postgresql+psycopg://llmops:***@127.0.0.1:1/llmops"
    )
    assert "Traceback" not in result.stderr and "pw" not in result.stderr
    debug = subprocess.run(
        [sys.executable, "-m", "llmops", "--debug", "runs", "list"],
        capture_output=True,
        text=True,
        env=env,
        cwd=project,
    )
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "run"]) == 2
    assert "Missing argument" in capsys.readouterr().err
