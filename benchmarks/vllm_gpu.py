"""vLLM serving through llmops on a GPU: throughput directly against vLLM and through routing.

Run (GPU machine, ``pip install 'llmops[gpu]'``):
    .venv/bin/python benchmarks/vllm_gpu.py [--model Qwen/Qwen2.5-0.5B-Instruct]
        [--requests 256] [--concurrency 32] [--max-tokens 128] [--runs 3] [--quick] [--json PATH]
The model is registered, served by ``llmops serve``'s manager (``vllm serve``), then the same
load runs twice: raw HTTP to vLLM's ``/v1/chat/completions``, and ``llmops.llm.acomplete``
(litellm ``hosted_vllm/``, a traced span per call). Target (issue #9): llmops routing costs
at most 2% of vLLM's tokens/s. Without a GPU or vLLM it says so ("skipped: no GPU ...") and
exits 0.
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

from _bench import Measurement, Report, figure, parser

from llmops.serving import vllm_available

_PROMPT = "Write a short paragraph about {topic}."
_TOPICS = ["rivers", "compilers", "bread", "glaciers", "chess", "tides", "owls", "maps"]


def _skip_reason() -> str | None:
    if shutil.which("nvidia-smi") is None:
        return "no GPU (nvidia-smi is missing)"
    if not vllm_available():
        return "vLLM is not installed: pip install 'llmops[gpu]' on a GPU machine"
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
    arguments = parser(__doc__.splitlines()[0])
    add = arguments.add_argument
    add("--model", default="Qwen/Qwen2.5-0.5B-Instruct")
    add("--requests", type=int, default=None, help="per run; default 256 (quick 64)")
    add("--concurrency", type=int, default=32)
    add("--max-tokens", type=int, default=128)
    add("--runs", type=int, default=None, help="default 3 (quick 2)")
    add("--gpu-memory-utilization", type=float, default=0.85)
    args = arguments.parse_args()
    args.requests = args.requests or (64 if args.quick else 256)
    runs = args.runs or (2 if args.quick else 3)
    report = Report.start(__file__, args)
    reason = _skip_reason()
    if reason is not None:
        report.skip(reason)

    from llmops.registry import register_model_version
    from llmops.serving import ManagedServer, plan_for
    from llmops.store import open_store

    samples: dict[str, list[float]] = {"vLLM direct": [], "llmops routing": []}
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
        report.note(f"vLLM ready in {time.perf_counter() - started:.1f} s at {endpoint.api_base}")
        try:
            asyncio.run(_direct(endpoint.api_base, plan.served_model_name, args))  # warm-up
            for _ in range(runs):  # interleaved, so drift hits both alike
                for name, run in (("vLLM direct", _direct), ("llmops routing", _routed)):
                    tokens, seconds = asyncio.run(
                        run(endpoint.api_base, plan.served_model_name, args)
                    )
                    samples[name].append(tokens / seconds)
        finally:
            server.stop()
    routed = Measurement.from_samples(samples["llmops routing"])
    direct = Measurement.from_samples(samples["vLLM direct"])
    ratio = routed.median / direct.median
    report.add(
        figure(
            f"vLLM: output tokens/s, {args.requests} requests, j{args.concurrency}",
            "tok/s",
            routed,
            higher_is_better=True,
            peer="vLLM direct (raw HTTP)",
            peer_value=direct,
            note=f"target: routing overhead <= 2%: {'ok' if ratio >= 0.98 else 'MISSED'}",
        )
    )
    report.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
