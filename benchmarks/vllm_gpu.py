"""vLLM serving through llmops on a GPU: throughput directly against vLLM and through routing.

Run (GPU machine, ``pip install 'llmops[gpu]'``):
    .venv/bin/python benchmarks/vllm_gpu.py [--model Qwen/Qwen2.5-0.5B-Instruct]
        [--requests 256] [--concurrency 32] [--max-tokens 128]
The model is registered, served by ``llmops serve``'s manager (``vllm serve``), then the same
load runs twice: raw HTTP to vLLM's ``/v1/chat/completions``, and ``llmops.llm.acomplete``
(litellm ``hosted_vllm/``, a traced span per call). Target (issue #9): llmops routing costs
at most 2% of vLLM's tokens/s. Without vLLM or a GPU it says so and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from llmops.serving import vllm_available

_PROMPT = "Write a short paragraph about {topic}."
_TOPICS = ["rivers", "compilers", "bread", "glaciers", "chess", "tides", "owls", "maps"]


def _skip_reason() -> str | None:
    if not vllm_available():
        return "vLLM is not installed: pip install 'llmops[gpu]' on a GPU machine"
    if shutil.which("nvidia-smi") is None:
        return "no NVIDIA GPU found (nvidia-smi is missing)"
    return None


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


def _messages(index: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": _PROMPT.format(topic=_TOPICS[index % len(_TOPICS)])}]


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


async def _routed(api_base: str, served: str, args: argparse.Namespace) -> tuple[int, float]:
    from llmops.config import ModelConfig
    from llmops.llm import acomplete
    from llmops.llm._client import _resolve

    model = _resolve("bench", ModelConfig(model=f"hosted_vllm/{served}", api_base=api_base))

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="Qwen/Qwen2.5-0.5B-Instruct")
    parser.add_argument("--requests", type=int, default=256)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.85)
    args = parser.parse_args()
    reason = _skip_reason()
    if reason is not None:
        print(f"skipped: {reason}")
        return 0

    from llmops.registry import register_model_version
    from llmops.serving import ManagedServer, plan_for
    from llmops.store import open_store

    with tempfile.TemporaryDirectory() as folder:
        store = open_store(f"sqlite:///{Path(folder) / 'bench.db'}")
        version = register_model_version(
            store, "bench", serve_model=f"hosted_vllm/{args.model}", base_model=args.model
        )
        plan = plan_for(store, version.ref, backend="vllm")
        argv = [*plan.argv, "--gpu-memory-utilization", str(args.gpu_memory_utilization)]
        plan = type(plan)(**{**plan.__dict__, "argv": argv})
        server = ManagedServer(store, plan, log_dir=Path(folder))
        started = time.perf_counter()
        endpoint = server.start()
        print(f"vLLM ready in {time.perf_counter() - started:.1f} s at {endpoint.api_base}")
        try:
            asyncio.run(_direct(endpoint.api_base, plan.served_model_name, args))  # warm-up
            results = {}
            for name, run in (("vLLM direct", _direct), ("llmops routing", _routed)):
                tokens, seconds = asyncio.run(run(endpoint.api_base, plan.served_model_name, args))
                results[name] = tokens / seconds
                rate = tokens / seconds
                print(f"{name:15} {tokens:8d} tokens in {seconds:6.2f} s: {rate:9.1f} tok/s")
        finally:
            server.stop()
    ratio = results["llmops routing"] / results["vLLM direct"]
    verdict = "ok" if ratio >= 0.98 else "above the 2% target"
    print(f"routing/direct = {ratio:.3f} (overhead {100 * (1 - ratio):.1f}%: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
