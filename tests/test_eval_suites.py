"""Suites beyond the walking skeleton: dataset formats, matrix runs, cache, repeats, resume,
python targets and scorers, the Python API, rate limits and error budgets."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from _fake_openai import FakeOpenAI, echo_context
from conftest import use_fake_model

from llmops._exceptions import InputError, SuiteError
from llmops.cli import main
from llmops.evals import evaluate, load_dataset, load_suite, run_matrix, scorer

ROWS = [
    {"question": "What is 2+2?", "answer": "4"},
    {"question": "Capital of France?", "answer": "Paris"},
    {"question": "Colour of the sky?", "answer": "blue"},
]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json"])
def test_csv_parquet_and_json_datasets_load_through_hf_datasets(
    tmp_path: Path, suffix: str
) -> None:
    import pandas as pd

    path = tmp_path / f"rows{suffix}"
    frame = pd.DataFrame(ROWS)
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(path)
    else:
        path.write_text(json.dumps(ROWS))
    dataset = load_dataset(path, expected_field="answer")
    assert [case.expected for case in dataset.cases] == ["4", "Paris", "blue"]
    assert dataset.cases[1].input == "Capital of France?"  # the 'question' column
    assert len(dataset.content_hash) == 64


def test_bad_rows_name_their_line_and_can_be_skipped(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "d.jsonl",
        '{"question": "a", "answer": "1"}\n\n{"question": "b"}\n{"question": "c", "answer": "3"}\n',
    )
    with pytest.raises(InputError, match=r"d.jsonl:3: row has no value for 'answer'"):
        load_dataset(path, expected_field="answer")
    dataset = load_dataset(path, expected_field="answer", on_invalid_row="skip")
    assert [case.row["question"] for case in dataset.cases] == ["a", "c"]
    assert dataset.skipped == [f"{path}:3: row has no value for 'answer' (the suite's 'expected')"]
    _write(tmp_path / "broken.jsonl", '{"question": "a"}\n{"question": \n')
    with pytest.raises(InputError, match=r"broken.jsonl:2: invalid JSON"):
        load_dataset(tmp_path / "broken.jsonl", expected_field=None)


def test_a_csv_row_with_extra_fields_fails_or_is_skipped_by_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "rows.csv", "question,answer\na,1\nb,2,surplus\n\nc,3\n")
    with pytest.raises(InputError, match=r"rows.csv:3: row has 3 fields, the header has 2"):
        load_dataset(path, expected_field="answer")
    dataset = load_dataset(path, expected_field="answer", on_invalid_row="skip")
    assert [case.row["question"] for case in dataset.cases] == ["a", "c"]
    assert dataset.skipped == [f"{path}:3: row has 3 fields, the header has 2"]


def test_suite_errors_name_file_and_line(project: Path) -> None:
    suite = _write(
        project / "evals" / "bad.yaml",
        "name: bad\ndataset: data/llmops_docs.jsonl\nprompt: qa\nrag: docs\n",
    )
    with pytest.raises(SuiteError, match="exactly one of: prompt/prompts"):
        load_suite(suite)
    _write(
        suite,
        "name: bad\ndataset: data/llmops_docs.jsonl\nprompt: qa\nscorers:\n"
        "  - regex: {pattern: '('}\n",
    )
    with pytest.raises(SuiteError, match=r"bad.yaml:\d+: .*scorer 'regex'"):
        load_suite(suite)
    _write(
        suite,
        "name: bad\ndataset: data/llmops_docs.jsonl\nprompt: qa\nscorers: [contains]\n"
        "thresholds: {token_f1: 0.5}\n",
    )
    with pytest.raises(SuiteError, match="threshold for unknown scorer 'token_f1'"):
        load_suite(suite)


def _second_model(project: Path, fake: FakeOpenAI) -> None:
    import yaml

    config_path = project / "configs" / "llmops.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["models"]["fake2"] = {"model": "openai/fake2", "api_base": fake.api_base}
    config_path.write_text(yaml.safe_dump(config))


def test_matrix_of_prompts_and_models_shares_a_group(
    project: Path, fake_model: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    use_fake_model(project, fake_model)
    _second_model(project, fake_model)
    _write(
        project / "prompts" / "qa_terse.yaml",
        "template: 'Answer tersely. Context: {{ context }} Question: {{ question }}'\n",
    )
    _write(
        project / "evals" / "matrix.yaml",
        "name: matrix\ndataset: data/llmops_docs.jsonl\nexpected: answer\n"
        "prompts: [qa, qa_terse]\nmodels: [fake, fake2]\nscorers: [contains]\n",
    )
    assert main(["eval", "run", "evals/matrix.yaml", "--limit", "1", "--no-cases"]) == 0
    assert "matrix · matrix" in capsys.readouterr().out
    assert len(fake_model.requests) == 4
    runs = run_matrix(project / "evals" / "matrix.yaml", limit=1)  # answered from the cache
    assert len(fake_model.requests) == 4
    assert {(run.prompt.split("@")[0], run.model) for run in runs} == {
        ("qa", "fake"),
        ("qa", "fake2"),
        ("qa_terse", "fake"),
        ("qa_terse", "fake2"),
    }
    assert len({run.group_id for run in runs}) == 1 and runs[0].group_id is not None
    assert all(run.n_cached == 1 for run in runs)
    assert {request["model"] for request in fake_model.requests} == {"fake", "fake2"}


def test_cache_makes_reruns_free_and_keeps_repeats_apart(
    project: Path, fake_model: FakeOpenAI
) -> None:
    use_fake_model(project, fake_model)
    suite = project / "evals" / "llmops_docs.yaml"
    first = run_matrix(suite, limit=4, repeats=2)[0]
    assert len(fake_model.requests) == 8  # two repeats are two distinct calls
    assert first.n_cached == 0 and len(first.results) == 8
    again = run_matrix(suite, limit=4, repeats=2)[0]
    assert len(fake_model.requests) == 8  # all answered from the cache
    assert again.n_cached == 8
    assert [r.output for r in again.results] == [r.output for r in first.results]
    run_matrix(suite, limit=4, repeats=2, use_cache=False)
    assert len(fake_model.requests) == 16


def test_killed_run_resumes_where_it_stopped(project: Path) -> None:
    def slow(request: dict[str, Any], count: int) -> tuple[int, str]:
        time.sleep(0.3)
        return echo_context(request, count)

    db = project / "kill.db"
    env = {**os.environ, "LLMOPS_STORE_URL": f"sqlite:///{db}"}
    with FakeOpenAI(slow) as server:
        use_fake_model(project, server)
        argv = ["eval", "run", "evals/llmops_docs.yaml", "-j", "1", "--limit", "10"]
        process = subprocess.Popen(
            [sys.executable, "-m", "llmops", *argv],
            cwd=project,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        stored = 0
        while time.monotonic() < deadline and stored < 3:
            time.sleep(0.1)
            if db.exists():
                try:
                    with sqlite3.connect(db) as connection:
                        stored = connection.execute("SELECT count(*) FROM eval_cases").fetchone()[0]
                except sqlite3.OperationalError:
                    stored = 0
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        assert 3 <= stored < 10
        with sqlite3.connect(db) as connection:
            run_id, status = connection.execute("SELECT id, status FROM eval_runs").fetchone()
            done = connection.execute("SELECT count(*) FROM eval_cases").fetchone()[0]
        assert status == "running"
        # `runs list` counts what a running run has stored (its counts are written at its end)
        listed = subprocess.run(
            [sys.executable, "-m", "llmops", "runs", "list", "--json"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        [row] = json.loads(listed.stdout)
        assert (row["id"], row["status"], row["cases"], row["errors"]) == (
            run_id,
            "running",
            done,
            0,
        )
        before = len(server.requests)
        resumed = subprocess.run(
            [sys.executable, "-m", "llmops", "eval", "resume", run_id[:10], "--json"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert resumed.returncode == 0, resumed.stderr
        assert f"resuming: {done} of 10 cases already done" in resumed.stderr
        result = json.loads(resumed.stdout)
        assert (result["id"], result["status"], result["cases"]) == (run_id, "completed", 10)
        # only the missing cases were called (the killed one may have been in flight)
        assert len(server.requests) - before == 10 - done
    with sqlite3.connect(db) as connection:
        indexes = [row[0] for row in connection.execute("SELECT case_index FROM eval_cases")]
    assert sorted(indexes) == list(range(10))


def test_python_target_and_custom_scorer_from_the_suite(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(
        project / "evals" / "my_agent.py",
        "async def answer(row):\n"
        "    return {'output': row['answer'].upper(), 'contexts': ['ctx ' + row['answer']]}\n\n"
        "def shouty(sample):\n"
        "    return float(sample.output.isupper())\n",
    )
    _write(
        project / "evals" / "agent.yaml",
        "name: agent\ndataset: data/llmops_docs.jsonl\nexpected: answer\n"
        "python: my_agent:answer\n"
        "scorers: [contains, {python: my_agent:shouty, threshold: 0.9}]\n",
    )
    assert main(["eval", "run", "evals/agent.yaml", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["summary"]["contains"]["mean"] == 1.0
    assert result["summary"]["shouty"]["mean"] == pytest.approx(15 / 16)  # '128' has no case
    assert result["thresholds"] == {"shouty": 0.9}
    assert result["failed_thresholds"] == {}
    _write(
        project / "evals" / "agent.yaml",
        (project / "evals" / "agent.yaml").read_text().replace("0.9", "0.95"),
    )
    assert main(["eval", "run", "evals/agent.yaml", "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["failed_thresholds"]["shouty"]["threshold"] == 0.95


def test_evaluate_api_stores_a_run_with_statistics(project: Path) -> None:
    @scorer("starts_upper")
    def starts_upper(output: str, expected: str | None) -> float:
        return float(output[:1].isupper())

    def target(row: dict[str, Any]) -> str:
        if row["question"].startswith("Colour"):
            raise RuntimeError("no idea")
        return str(row["answer"])

    run = evaluate(ROWS, target, ["exact_match", starts_upper], name="api", expected="answer")
    assert run.summary["exact_match"].mean == 1.0
    assert run.summary["exact_match"].n == 2 and run.summary["exact_match"].unmeasured == 1
    assert run.summary["starts_upper"].mean == 0.5
    assert run.results[2].error == "RuntimeError: no idea"
    assert run.problems() and "1 case(s) failed with errors" in run.problems()[0]
    from llmops.config import load_config
    from llmops.evals import get_run
    from llmops.store import open_store

    stored = get_run(open_store(load_config().resolved_store_url), run.id)
    assert stored.run.suite == "api" and len(stored.cases) == 3


def test_error_budget_counts_unmeasured_scores(project: Path) -> None:
    rows = [{"question": "q", "answer": "a"}, {"question": "q", "answer": "b"}]

    @scorer("sometimes")
    def sometimes(output: str, expected: str | None) -> float:
        if expected == "b":
            from llmops.evals import ScorerUnmeasured

            raise ScorerUnmeasured("cannot tell")
        return 1.0

    run = evaluate(rows, lambda row: "x", [sometimes], expected="answer")
    assert run.unmeasured_rate == 0.5
    assert any("over the error budget" in problem for problem in run.problems())
    run.error_budget = 0.5
    assert run.problems() == []


def test_rate_limit_spaces_calls_and_caps_concurrency() -> None:
    from llmops.llm._limits import limited

    in_flight = 0
    peak = 0
    starts: list[float] = []

    async def call() -> None:
        nonlocal in_flight, peak
        async with limited("m", rpm=1200, max_concurrency=2):
            starts.append(time.monotonic())
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1

    async def main_() -> None:
        await asyncio.gather(*(call() for _ in range(25)))

    asyncio.run(main_())
    assert peak == 2
    # 1200 rpm = 20/s with a burst of 20: the last 5 calls wait about 50 ms each
    starts.sort()
    assert len(starts) == 25 and starts[-1] - starts[0] >= 0.2


def test_tool_calls_of_the_model_are_scored_against_the_dataset(project: Path) -> None:
    def call_weather(request: dict[str, Any], count: int) -> tuple[int, Any]:
        city = "Paris" if "France" in json.dumps(request["messages"]) else "Oslo"
        arguments = json.dumps({"city": city})
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": f"call_{count}",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": arguments},
                }
            ],
        }
        return 200, message

    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    rows = [
        {
            "question": "Weather in France?",
            "calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}],
        },
        {
            "question": "Weather in Peru?",
            "calls": [{"name": "get_weather", "arguments": {"city": "Lima"}}],
        },
    ]
    _write(project / "evals" / "data" / "tools.jsonl", "\n".join(json.dumps(r) for r in rows))
    _write(project / "prompts" / "weather.yaml", "template: '{{ question }}'\n")
    _write(
        project / "evals" / "tools.yaml",
        "name: tools\ndataset: data/tools.jsonl\nprompt: weather\nexpected: null\n"
        f"params: {{tools: {json.dumps(tools)}}}\n"
        "scorers: [{tool_call_match: {field: calls}}]\n",
    )
    with FakeOpenAI(call_weather) as server:
        use_fake_model(project, server)
        [run] = run_matrix(project / "evals" / "tools.yaml")
    assert server.requests[0]["tools"][0]["function"]["name"] == "get_weather"
    assert [r.scores["tool_call_match"] for r in run.results] == [1.0, 0.0]
    assert run.results[0].tool_calls[0]["function"]["name"] == "get_weather"


def test_judge_verdicts_are_cached_with_the_run(project: Path) -> None:
    def answer_or_judge(request: dict[str, Any], count: int) -> tuple[int, Any]:
        if "score" in json.dumps(request.get("response_format") or {}) or any(
            "<response>" in str(m.get("content")) for m in request["messages"]
        ):
            return 200, '{"reasoning": "fine", "score": 4}'
        return echo_context(request, count)

    _write(
        project / "evals" / "judged.yaml",
        "name: judged\ndataset: data/llmops_docs.jsonl\nprompt: qa\nexpected: answer\n"
        "scorers: [{llm_rubric: {rubric: 'Is the answer short and right?'}}]\n",
    )
    with FakeOpenAI(answer_or_judge) as server:
        use_fake_model(project, server)
        [first] = run_matrix(project / "evals" / "judged.yaml", limit=3)
        calls = len(server.requests)
        [again] = run_matrix(project / "evals" / "judged.yaml", limit=3)
    assert calls == 6  # three answers, three verdicts
    assert len(server.requests) == calls  # the re-run paid for nothing
    assert [r.scores["llm_rubric"] for r in again.results] == [0.75, 0.75, 0.75]
    assert first.results[0].score_details["llm_rubric"]["raw"] == [
        '{"reasoning": "fine", "score": 4}'
    ]
