"""Which weights an eval suite's model loads on vLLM's offline engine (``--backend vllm-offline``).

offline_model("support-bot@production", config, store)   # base weights + LoRA adapter
offline_model("qwen", config, store)   # a configured hosted_vllm/ or vllm/ model

The settings are those of ``configs/serving.yaml``, as for ``llmops serve``; the engine itself
(batching, generation) is ``llmops.llm``'s.
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Sequence
from typing import Any

from llmops._exceptions import ConfigError
from llmops._serving_spec import ServeSettings, base_model_of, load_serving
from llmops.config import Config
from llmops.llm import (
    OFFLINE_BACKEND,
    REGISTRY_PREFIX,
    OfflineTarget,
    ResolvedModel,
    is_registry_ref,
)
from llmops.registry import get_model_version
from llmops.store import Store

__all__ = ["offline_model"]

PROVIDER = "vllm"
_PREFIXES = ("hosted_vllm/", "vllm/")


def _flag_args(argv: Sequence[str]) -> list[tuple[str, Any]]:
    """``--enforce-eager --max-num-seqs 8`` as engine keyword arguments."""
    found: list[tuple[str, Any]] = []
    items = list(argv)
    index = 0
    while index < len(items):
        item = items[index]
        if not item.startswith("--"):
            raise ConfigError(f"extra_args: expected a --flag, got {item!r} in {shlex.join(argv)}")
        key, _, inline = item[2:].partition("=")
        key = key.replace("-", "_")
        if inline:
            found.append((key, _literal(inline)))
        elif index + 1 < len(items) and not items[index + 1].startswith("--"):
            index += 1
            found.append((key, _literal(items[index])))
        else:
            found.append((key, True))
        index += 1
    return found


def _literal(text: str) -> Any:
    for cast in (int, float):
        with contextlib.suppress(ValueError):
            return cast(text)
    return {"true": True, "false": False}.get(text.lower(), text)


def _engine_args(settings: ServeSettings, lora: bool) -> tuple[tuple[str, Any], ...]:
    args: dict[str, Any] = {}
    for key in (
        "tensor_parallel_size",
        "max_model_len",
        "gpu_memory_utilization",
        "dtype",
        "quantization",
    ):
        value = getattr(settings, key)
        if value is not None:
            args[key] = value
    if lora or settings.enable_lora:
        args["enable_lora"] = True
        for key in ("max_lora_rank", "max_loras"):
            if getattr(settings, key) is not None:
                args[key] = getattr(settings, key)
    args.update(_flag_args(settings.extra_args))
    return tuple(sorted(args.items()))


def offline_model(name: str, config: Config, store: Store) -> ResolvedModel:
    """The model ``name`` of an eval suite, run on vLLM's offline engine.

    ``registry:NAME@SEL`` (or ``NAME@SEL``) loads the version's base weights with its LoRA
    adapter; a configured model whose litellm name is ``hosted_vllm/X`` or ``vllm/X`` loads
    ``X``. Engine settings (dtype, max_model_len, ``extra_args`` ...) come from
    ``configs/serving.yaml`` as for ``llmops serve``.
    """
    serving = load_serving(config.project_dir).spec
    if is_registry_ref(name) and name not in config.models:
        version = get_model_version(store, name.removeprefix(REGISTRY_PREFIX))
        settings = serving.settings_for(version.name)
        adapter = version.adapter_path
        target = OfflineTarget(
            base=base_model_of(version, settings),
            engine_args=_engine_args(settings, adapter is not None),
            adapter_name=(settings.served_model_name or version.name) if adapter else None,
            adapter_path=adapter,
        )
        return ResolvedModel(
            name=version.ref,
            model=f"{OFFLINE_BACKEND}/{target.base}",
            provider=PROVIDER,
            params=dict(version.params),
            offline=target,
        )
    key, spec = config.model(name)
    if not spec.model.startswith(_PREFIXES):
        raise ConfigError(
            f"model '{key}' ({spec.model}) cannot run on --backend vllm-offline: it takes "
            "registered model versions (registry:NAME@ALIAS) and hosted_vllm/ or vllm/ models"
        )
    base = spec.model.split("/", 1)[1]
    settings = serving.settings_for(key)
    target = OfflineTarget(
        base=settings.base_model or base, engine_args=_engine_args(settings, False)
    )
    return ResolvedModel(
        name=key,
        model=f"{OFFLINE_BACKEND}/{target.base}",
        provider=PROVIDER,
        params=dict(spec.params),
        offline=target,
    )
