"""``--backend vllm-offline``: the batching engine, model resolution and the eval run path.

vLLM itself is not in the base environment, so these tests put a small stand-in ``vllm``
module in ``sys.modules`` (it answers with the last user message reversed). The real engine
is exercised in tests/test_vllm_real.py with vLLM's CPU build.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import threading
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmops._exceptions import ConfigError, ModelError, SuiteError
from llmops.config import load_config
from llmops.evals import resume_run, run_matrix
from llmops.evals._offline import offline_model
from llmops.llm import complete
from llmops.llm._vllm_offline import (
    MISSING,
    OfflineEngine,
    OfflineTarget,
    close_offline_engines,
    sampling_kwargs,
)
from llmops.registry import register_model_version
from llmops.store import open_store


@dataclass
class _Choice:
    text: str
    token_ids: list[int]
    finish_reason: str = "stop"


@dataclass
class _Output:
    prompt_token_ids: list[int]
    outputs: list[_Choice]


@dataclass
class _FakeLLM:
    model: str
    kwargs: dict[str, Any]
    calls: list[tuple[int, dict[str, Any], Any]] = field(default_factory=list)
    fail: bool = False

    def chat(self, conversations: list[Any], sampling: Any, **kwargs: Any) -> list[_Output]:
        assert kwargs["use_tqdm"] is False
        self.calls.append((len(conversations), sampling.kwargs, kwargs["lora_request"]))
        if self.fail:
            raise RuntimeError("CUDA out of memory")
        answers = []
        for messages in conversations:
            text = messages[-1]["content"][::-1]
            answers.append(_Output(list(range(len(text))), [_Choice(text, [1, 2, 3])]))
        return answers


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[_FakeLLM]]:
    """A stand-in ``vllm`` package; yields the engines it made."""
    made: list[_FakeLLM] = []

    class SamplingParams:
        def __init__(self, **kwargs: Any) -> None:
            self.kwargs = kwargs

    class LoRARequest:
        def __init__(self, name: str, number: int, path: str) -> None:
            self.name, self.number, self.path = name, number, path

    def llm(model: str, **kwargs: Any) -> _FakeLLM:
        made.append(_FakeLLM(model, kwargs))
        return made[-1]

    vllm = types.ModuleType("vllm")
    vllm.LLM = llm  # type: ignore[attr-defined]
    vllm.SamplingParams = SamplingParams  # type: ignore[attr-defined]
    lora = types.ModuleType("vllm.lora")
    request = types.ModuleType("vllm.lora.request")
    request.LoRARequest = LoRARequest  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.lora", lora)
    monkeypatch.setitem(sys.modules, "vllm.lora.request", request)
    yield made
    close_offline_engines()


async def _many(engine: OfflineEngine, target: OfflineTarget, n: int) -> list[str]:
    async def one(i: int) -> str:
        messages = [{"role": "user", "content": f"question {i}"}]
        return (await engine.acomplete(messages, {"temperature": 0}, target)).text

    return await asyncio.gather(*(one(i) for i in range(n)))


def test_concurrent_calls_are_batched_and_answered_in_order(fake_vllm: list[_FakeLLM]) -> None:
    target = OfflineTarget(base="org/tiny", engine_args=(("enforce_eager", True),))
    engine = OfflineEngine(target, max_batch=16, window_s=0.05)
    answers = asyncio.run(_many(engine, target, 40))
    engine.close()
    assert answers == [f"question {i}"[::-1] for i in range(40)]
    assert sum(engine.batches) == 40 and max(engine.batches) == 16
    assert len(engine.batches) <= 4  # 16 + 16 + 8, not 40 calls of one
    (llm,) = fake_vllm
    assert (llm.model, llm.kwargs) == ("org/tiny", {"enforce_eager": True})
    assert all(sampling == {"temperature": 0, "max_tokens": 512} for _, sampling, _ in llm.calls)


def test_a_failing_batch_fails_each_of_its_calls(fake_vllm: list[_FakeLLM]) -> None:
    target = OfflineTarget(base="org/tiny")
    engine = OfflineEngine(target, window_s=0.05)
    engine.load()
    fake_vllm[0].fail = True

    async def run() -> list[Any]:
        messages = [{"role": "user", "content": "hi"}]
        calls = [engine.acomplete(messages, {}, target) for _ in range(3)]
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(run())
    engine.close()
    assert [str(r) for r in results] == ["CUDA out of memory"] * 3


def test_engine_calls_from_several_threads_and_loops(fake_vllm: list[_FakeLLM]) -> None:
    target = OfflineTarget(base="org/tiny")
    engine = OfflineEngine(target, window_s=0.02)
    found: list[list[str]] = []
    threads = [
        threading.Thread(target=lambda: found.append(asyncio.run(_many(engine, target, 10))))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.close()
    assert sorted(map(tuple, found)) == [tuple(f"question {i}"[::-1] for i in range(10))] * 3


def test_sampling_parameters_are_checked() -> None:
    assert sampling_kwargs({"temperature": 0.2, "stop": "\n", "seed": None}) == {
        "temperature": 0.2,
        "stop": ["\n"],
        "max_tokens": 512,
    }
    with pytest.raises(ConfigError, match=r"does not take the parameter\(s\) response_format"):
        sampling_kwargs({"response_format": {"type": "json_object"}})


def _project(tmp_path: Path, serving: dict[str, Any] | None = None) -> Path:
    root = tmp_path / "proj"
    (root / "configs").mkdir(parents=True)
    config = {
        "models": {
            "tiny": {"model": "hosted_vllm/org/tiny", "params": {"temperature": 0}},
            "gpt": {"model": "openai/gpt-4o-mini"},
        },
        "default_model": "tiny",
        "store_url": f"sqlite:///{root / 'store.db'}",
    }
    (root / "configs" / "llmops.yaml").write_text(yaml.safe_dump(config))
    if serving is not None:
        (root / "configs" / "serving.yaml").write_text(yaml.safe_dump(serving))
    return root


def test_offline_models_from_config_and_registry(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {"models": {"tiny": {"dtype": "float32", "extra_args": ["--enforce-eager"]}}},
    )
    config = load_config(root)
    store = open_store(config.resolved_store_url)
    model = offline_model("tiny", config, store)
    assert model.offline == OfflineTarget(
        base="org/tiny", engine_args=(("dtype", "float32"), ("enforce_eager", True))
    )
    assert (model.provider, model.params) == ("vllm", {"temperature": 0})
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    register_model_version(
        store, "bot", serve_model="hosted_vllm/bot", base_model="org/tiny", adapter_path=adapter
    )
    bot = offline_model("registry:bot@1", config, store)
    assert bot.name == "bot@1" and bot.offline is not None
    assert (bot.offline.base, bot.offline.adapter_name) == ("org/tiny", "bot")
    assert bot.offline.adapter_path == str(adapter)
    assert ("enable_lora", True) in bot.offline.engine_args
    with pytest.raises(ConfigError, match=r"model 'gpt' \(openai/gpt-4o-mini\) cannot run"):
        offline_model("gpt", config, store)


def _suite(root: Path, rows: int = 6) -> Path:
    (root / "prompts").mkdir(exist_ok=True)
    (root / "prompts" / "echo.yaml").write_text(
        "name: echo\ntemplate: '{{ question }}'\nmodel_params: {max_tokens: 32}\n"
    )
    data = root / "evals" / "data.jsonl"
    data.parent.mkdir(exist_ok=True)
    data.write_text("".join(f'{{"question": "q{i}", "answer": "{i}q"}}\n' for i in range(rows)))
    suite = root / "evals" / "echo.yaml"
    suite.write_text(
        "name: echo\ndataset: data.jsonl\nprompt: echo\nmodel: tiny\nexpected: answer\n"
        "scorers: [exact_match]\nconcurrency: 8\n"
    )
    return suite


def test_eval_run_on_the_offline_backend(
    tmp_path: Path, fake_vllm: list[_FakeLLM], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(tmp_path)
    monkeypatch.chdir(root)
    (run,) = run_matrix(_suite(root), backend="vllm-offline")
    assert run.status == "completed" and run.summary["exact_match"].mean == 1.0
    (llm,) = fake_vllm
    assert sum(size for size, _, _ in llm.calls) == 6 and len(llm.calls) < 6
    assert llm.calls[0][1] == {"temperature": 0, "max_tokens": 32}
    with sqlite3.connect(root / "store.db") as db:
        (config,) = db.execute("select config from eval_runs").fetchone()
        providers = db.execute(
            "select distinct json_extract(attributes, '$.\"gen_ai.provider.name\"') from spans "
            "where kind = 'llm'"
        ).fetchall()
    assert json.loads(config)["backend"] == "vllm-offline"
    assert providers == [("vllm",)]


def test_resume_keeps_the_offline_backend(
    tmp_path: Path, fake_vllm: list[_FakeLLM], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(tmp_path)
    monkeypatch.chdir(root)
    (run,) = run_matrix(_suite(root), backend="vllm-offline")
    with sqlite3.connect(root / "store.db") as db:
        db.execute("delete from eval_scores where case_index >= 3")
        db.execute("delete from eval_cases where case_index >= 3")
        db.execute("update eval_runs set status = 'running'")
    resumed = resume_run(run.id)
    assert resumed.status == "completed" and len(resumed.results) == 6
    assert len(fake_vllm) == 2  # one engine per run, each closed at its end


def test_offline_backend_refuses_other_targets_and_needs_vllm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(tmp_path)
    monkeypatch.chdir(root)
    suite = _suite(root)
    rag = root / "evals" / "rag.yaml"
    rag.write_text(suite.read_text().replace("prompt: echo", "rag: docs"))
    with pytest.raises(SuiteError, match="runs prompt suites; this one runs a rag target"):
        run_matrix(rag, backend="vllm-offline")
    monkeypatch.setitem(sys.modules, "vllm", None)  # vLLM is not installed
    with pytest.raises(ConfigError, match="needs vLLM"):
        run_matrix(suite, backend="vllm-offline")
    assert "pip install 'llmops[gpu]'" in MISSING


def test_complete_goes_through_the_offline_engine(fake_vllm: list[_FakeLLM]) -> None:
    from llmops.llm import ResolvedModel

    model = ResolvedModel(
        name="tiny", model="vllm-offline/org/tiny", provider="vllm", offline=OfflineTarget("x")
    )
    answer = complete([{"role": "user", "content": "abc"}], model)
    assert (answer.text, answer.input_tokens, answer.output_tokens) == ("cba", 3, 3)
    with pytest.raises(ModelError, match="does not take"):
        complete([{"role": "user", "content": "abc"}], model, logprobs=True)
