"""End to end with the real local model (SmolLM2 on llama.cpp): few, short calls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmops.config import Config
from llmops.llm import complete, resolve_model
from llmops.store import Store

pytestmark = pytest.mark.e2e


def test_local_model_answers_deterministically(store: Store) -> None:
    from llmops.tracing import configure_tracing

    configure_tracing(store)
    model = resolve_model(None, Config())
    messages = [{"role": "user", "content": "Name the capital of France."}]
    first = complete(messages, model, max_tokens=12, temperature=0.0)
    second = complete(messages, model, max_tokens=12, temperature=0.0)
    assert first.text.strip() != ""
    assert first.text == second.text
    assert first.input_tokens and first.input_tokens > 5
    assert first.output_tokens and 0 < first.output_tokens <= 12


def test_eval_run_cli_with_the_local_model(project: Path) -> None:
    env = {**os.environ, "LLMOPS_STORE_URL": f"sqlite:///{project / 'e2e.db'}"}
    # short answers: this is about the plumbing, and 32 tokens a case is a third of the test
    qa = project / "prompts" / "qa.yaml"
    assert "max_tokens: 32\n" in qa.read_text()
    qa.write_text(qa.read_text().replace("max_tokens: 32\n", "max_tokens: 8\n"))

    def llmops(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "llmops", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=project,
            timeout=300,
        )

    result = llmops(
        "eval", "run", "evals/llmops_docs.yaml", "--limit", "4", "--fail-under", "0", "--json"
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["cases"], summary["errors"], summary["prompt"]) == (4, 0, "qa@1")
    assert 0.0 <= summary["summary"]["token_f1"]["mean"] <= 1.0

    shown = json.loads(llmops("runs", "show", summary["id"], "--json").stdout)
    assert all(case["output"] and 0 < case["output_tokens"] <= 8 for case in shown["cases"])
    trace = json.loads(llmops("traces", "show", shown["cases"][0]["trace_id"], "--json").stdout)
    llm = next(span for span in trace["spans"] if span["kind"] == "llm")
    assert llm["attributes"]["gen_ai.provider.name"] == "llama.cpp"
    assert llm["attributes"]["gen_ai.usage.output_tokens"] == shown["cases"][0]["output_tokens"]
    assert llm["attributes"]["llmops.prompt.version"] == 1
