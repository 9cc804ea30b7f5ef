"""The command lines that serve a model version: ``vllm serve`` and llama.cpp's server."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from llmops._exceptions import ConfigError, InputError
from llmops._serving_spec import Backend, ServeSettings, base_model_of
from llmops.llm import local_model_path
from llmops.registry import ModelVersion

__all__ = [
    "VLLM_MISSING",
    "base_model_of",
    "choose_backend",
    "command_for",
    "gguf_path_of",
    "llamacpp_command",
    "served_name_of",
    "vllm_available",
    "vllm_command",
    "vllm_python_of",
]

VLLM_MISSING = (
    "vLLM is not installed: pip install 'llmops[gpu]' (needs a GPU), or point vllm_python in "
    "configs/serving.yaml (or LLMOPS_VLLM_PYTHON) at a Python that has it, or use backend: llamacpp"
)


def vllm_python_of(settings: ServeSettings | None = None) -> str | None:
    """The Python of a separate vLLM environment: the setting, else ``LLMOPS_VLLM_PYTHON``."""
    chosen = (settings.vllm_python if settings else None) or os.environ.get("LLMOPS_VLLM_PYTHON")
    return str(Path(chosen).expanduser()) if chosen else None


def vllm_available(settings: ServeSettings | None = None) -> bool:
    """Whether vLLM can be launched: a configured vLLM Python, or vLLM importable here."""
    python = vllm_python_of(settings)
    if python is not None:
        return Path(python).is_file()
    return importlib.util.find_spec("vllm") is not None


def served_name_of(version: ModelVersion, settings: ServeSettings) -> str:
    """The model name clients ask for: the setting, else the registered model's name."""
    return settings.served_model_name or version.name


def choose_backend(version: ModelVersion, settings: ServeSettings) -> Backend:
    """The configured backend; by default llama.cpp for ``local/`` and GGUF models."""
    if settings.backend is not None:
        return settings.backend
    model = settings.base_model or version.base_model or version.serve_model
    local = version.serve_model.startswith("local/") or model.endswith(".gguf")
    return "llamacpp" if local else "vllm"


def vllm_command(version: ModelVersion, settings: ServeSettings) -> list[str]:
    """``vllm serve BASE ...`` for ``version``; its LoRA adapter becomes the served model.

    With a separate vLLM Python (``vllm_python``) the same server runs as
    ``PYTHON -m vllm.entrypoints.openai.api_server --model BASE ...``.
    """
    served = served_name_of(version, settings)
    python = vllm_python_of(settings)
    base = base_model_of(version, settings)
    if python is not None:
        argv = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", base]
    else:
        argv = ["vllm", "serve", base]
    argv += ["--host", settings.host, "--port", str(settings.port)]
    if version.adapter_path is None:
        argv += ["--served-model-name", served]
    options: list[tuple[str, object]] = [
        ("--tensor-parallel-size", settings.tensor_parallel_size),
        ("--max-model-len", settings.max_model_len),
        ("--gpu-memory-utilization", settings.gpu_memory_utilization),
        ("--dtype", settings.dtype),
        ("--quantization", settings.quantization),
    ]
    argv += [item for flag, value in options if value is not None for item in (flag, str(value))]
    if settings.enable_lora or version.adapter_path is not None:
        argv.append("--enable-lora")
        if version.adapter_path is not None:
            argv += ["--lora-modules", f"{served}={version.adapter_path}"]
        if settings.max_lora_rank is not None:
            argv += ["--max-lora-rank", str(settings.max_lora_rank)]
        if settings.max_loras is not None:
            argv += ["--max-loras", str(settings.max_loras)]
    return argv + list(settings.extra_args)


def gguf_path_of(version: ModelVersion, settings: ServeSettings) -> Path:
    """The GGUF file llama.cpp loads: ``local/<name>`` or a path ending in ``.gguf``."""
    model = settings.base_model or version.serve_model
    if model.startswith("local/"):
        return local_model_path(model.removeprefix("local/"))
    path = Path(model).expanduser()
    if path.suffix == ".gguf" and path.is_file():
        return path
    raise InputError(
        f"{version.ref}: llama.cpp serves GGUF files; '{model}' is neither local/NAME nor an "
        "existing .gguf file (set base_model in configs/serving.yaml or use backend: vllm)"
    )


def llamacpp_command(version: ModelVersion, settings: ServeSettings) -> list[str]:
    """llama.cpp's OpenAI-compatible server (CPU, offline) through ``_llamacpp_main``."""
    if version.adapter_path is not None:
        raise InputError(
            f"{version.ref} has a LoRA adapter; the llama.cpp backend serves plain GGUF models "
            "(use backend: vllm)"
        )
    argv = [sys.executable, "-m", "llmops.serving._llamacpp_main"]
    argv += ["--model", str(gguf_path_of(version, settings))]
    argv += ["--host", settings.host, "--port", str(settings.port)]
    argv += ["--alias", served_name_of(version, settings)]
    if settings.max_model_len is not None:
        argv += ["--ctx-size", str(settings.max_model_len)]
    return argv + list(settings.extra_args)


def command_for(version: ModelVersion, settings: ServeSettings) -> tuple[Backend, list[str]]:
    """The backend and argv serving ``version``; ``ConfigError`` when vLLM is missing."""
    backend = choose_backend(version, settings)
    if backend == "vllm":
        python = vllm_python_of(settings)
        if python is not None and not Path(python).is_file():
            raise ConfigError(f"vllm_python {python} does not exist")
        if not vllm_available(settings):
            raise ConfigError(VLLM_MISSING)
        return backend, vllm_command(version, settings)
    return backend, llamacpp_command(version, settings)
