"""Serving settings, read from ``configs/serving.yaml``::

defaults:                     # every model, unless it says otherwise
  host: 127.0.0.1
  port: 0                     # 0: a free port
  gpu_memory_utilization: 0.9
models:
  support-bot:                # a registered model name
    backend: vllm             # vllm | llamacpp (default: llamacpp for local/ and .gguf models)
    tensor_parallel_size: 2
    enable_lora: true
    vllm_python: /opt/vllm/bin/python   # vLLM in its own venv (it pins fastapi and numpy)

Core, not ``llmops.serving``: evals load these settings too (``--backend vllm-offline`` runs the
weights ``llmops serve`` would), and evals sit below serving.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from llmops._exceptions import ConfigError
from llmops._yaml import YamlDocument, load_model

__all__ = [
    "Backend",
    "LoadedServing",
    "ServeSettings",
    "ServedVersion",
    "ServingFile",
    "base_model_of",
    "load_serving",
]

Backend = Literal["vllm", "llamacpp"]


class ServeSettings(BaseModel):
    """How one model is served; unset keys fall back to ``defaults``, then to these values."""

    model_config = ConfigDict(extra="forbid")

    backend: Backend | None = Field(default=None, description="None: chosen from the model")
    base_model: str | None = Field(default=None, min_length=1, description="overrides the version")
    tensor_parallel_size: int | None = Field(default=None, ge=1)
    max_model_len: int | None = Field(default=None, ge=1)
    gpu_memory_utilization: float | None = Field(default=None, gt=0.0, le=1.0)
    dtype: str | None = Field(default=None, min_length=1)
    quantization: str | None = Field(default=None, min_length=1)
    enable_lora: bool = False
    max_lora_rank: int | None = Field(default=None, ge=1)
    max_loras: int | None = Field(default=None, ge=1)
    served_model_name: str | None = Field(default=None, min_length=1, max_length=200)
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=0, ge=0, le=65535, description="0: a free port")
    extra_args: list[str] = Field(default_factory=list)
    vllm_python: str | None = Field(
        default=None,
        min_length=1,
        description="a Python with vLLM (its own venv); default: LLMOPS_VLLM_PYTHON, else `vllm`",
    )
    startup_timeout_s: float = Field(default=600.0, gt=0.0)
    restart: int = Field(default=1, ge=0, description="restarts after a crash, at most")


class ServingFile(BaseModel):
    """The content of ``configs/serving.yaml``."""

    model_config = ConfigDict(extra="forbid")

    defaults: ServeSettings = Field(default_factory=ServeSettings)
    models: dict[str, ServeSettings] = Field(default_factory=dict)

    def settings_for(self, name: str) -> ServeSettings:
        """``defaults`` overlaid with the keys set for model ``name``."""
        merged = self.defaults.model_dump(exclude_unset=True)
        if name in self.models:
            merged.update(self.models[name].model_dump(exclude_unset=True))
        return ServeSettings.model_validate(merged)


@dataclass(frozen=True)
class LoadedServing:
    """The validated serving file and where it came from (None: no file, all defaults)."""

    spec: ServingFile
    path: Path | None = None
    doc: YamlDocument | None = None


def load_serving(project_dir: Path | None) -> LoadedServing:
    """Read and validate ``configs/serving.yaml``; problems name file, line and key."""
    if project_dir is None:
        return LoadedServing(ServingFile())
    path = project_dir / "configs" / "serving.yaml"
    if not path.is_file():
        return LoadedServing(ServingFile())
    spec, doc = load_model(path, ServingFile, ConfigError, what="serving settings")
    return LoadedServing(spec=spec, path=path, doc=doc)


class ServedVersion(Protocol):
    """What the settings need of a registered model version (``ModelVersion`` is one)."""

    @property
    def base_model(self) -> str: ...

    @property
    def serve_model(self) -> str: ...


_PROVIDERS = ("hosted_vllm/", "vllm/", "openai/")


def base_model_of(version: ServedVersion, settings: ServeSettings) -> str:
    """The weights to load: the setting, the version's base model, else its serve model."""
    base = settings.base_model or version.base_model or version.serve_model
    for prefix in _PROVIDERS:
        base = base.removeprefix(prefix)
    return base
