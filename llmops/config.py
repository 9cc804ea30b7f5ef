"""Project configuration: ``configs/llmops.yaml``, validated, with environment overrides.

The project folder is the nearest folder, walking up from the working directory, that holds
``configs/llmops.yaml``; without one, llmops keeps its data under ``~/.llmops``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from llmops._duration import retention_s
from llmops._exceptions import ConfigError, UnknownModelError
from llmops._yaml import load_model

__all__ = [
    "CONFIG_RELPATH",
    "SETTINGS",
    "Config",
    "LocalRuntime",
    "ModelConfig",
    "ModelPrice",
    "PathsConfig",
    "RagConfig",
    "RetentionConfig",
    "ServerConfig",
    "Setting",
    "TracingConfig",
    "find_project_dir",
    "load_config",
]

CONFIG_RELPATH = Path("configs") / "llmops.yaml"


@dataclass(frozen=True)
class Setting:
    """An environment variable llmops reads, with what it overrides."""

    env: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("LLMOPS_CONFIG", "Path of the config file; skips the search for configs/llmops.yaml."),
    Setting("LLMOPS_HOME", "Data folder when no project is found (default ~/.llmops)."),
    Setting(
        "LLMOPS_STORE_URL",
        "Store URL, overriding store_url (sqlite:///... or postgresql+psycopg://...).",
    ),
    Setting("LLMOPS_DEFAULT_MODEL", "Name of the model used when a suite names none."),
    Setting(
        "LLMOPS_LOCAL_MODEL_PATH", "GGUF file for the local model, instead of the packaged SmolLM2."
    ),
    Setting(
        "LLMOPS_ARTIFACT_ROOT",
        "Where run artifacts are stored: a folder or an fsspec URL (default .llmops/artifacts).",
    ),
    Setting(
        "LLMOPS_ALLOWED_HOSTS",
        "Extra host names the server answers to, comma-separated (added to server.allowed_hosts).",
    ),
    Setting(
        "LLMOPS_OTLP_GRPC_PORT",
        "Port of the server's OTLP/gRPC receiver, overriding server.otlp_grpc_port (0: off).",
    ),
    Setting(
        "LLMOPS_OTLP_HTTP_PORT",
        "Second port of the server for OTLP/HTTP, overriding server.otlp_http_port (0: off).",
    ),
)


class LocalRuntime(BaseModel):
    """How llama.cpp runs a ``local/`` model (``models.NAME.local``). The defaults are measured
    by benchmarks/local_model.py on 2 shared cores: one thread generates faster than two there,
    two threads contend with each other and with everything else on the machine."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threads: int = Field(default=1, ge=1, le=256, description="CPU threads of llama.cpp")
    batch_size: int = Field(
        default=512, ge=8, le=8192, description="prompt tokens evaluated per step"
    )
    ctx_size: int = Field(
        default=4096, ge=256, le=131_072, description="context tokens, shared by 2 parallel slots"
    )


class ModelConfig(BaseModel):
    """A named model: a litellm model string (or ``local/<name>``) and its call parameters."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    api_base: str | None = None
    api_key_env: str | None = None
    rpm: float | None = Field(default=None, gt=0, description="requests per minute, at most")
    max_concurrency: int | None = Field(default=None, ge=1, description="calls in flight, at most")
    local: LocalRuntime | None = Field(
        default=None, description="llama.cpp threads, batch and context of a local/ model"
    )

    @model_validator(mode="after")
    def _local_runtime_for_local_models(self) -> ModelConfig:
        if self.local is not None and not self.model.startswith("local/"):
            raise ValueError(f"'local' applies to local/ models only, not '{self.model}'")
        return self


class PathsConfig(BaseModel):
    """Folders of the project, relative to the project folder."""

    model_config = ConfigDict(extra="forbid")

    prompts: str = "prompts"
    evals: str = "evals"


class TracingConfig(BaseModel):
    """Where spans go and what is masked before they get there."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    store: bool = Field(default=True, description="write spans to the llmops store")
    otlp_endpoint: str | None = Field(
        default=None, description="also export to this OTLP/HTTP endpoint"
    )
    otlp_headers: dict[str, str] = Field(default_factory=dict)
    otlp_openinference: bool = Field(
        default=False,
        description="also export OpenInference attribute names (Phoenix) beside the GenAI ones",
    )
    service_name: str | None = Field(
        default=None,
        description="service.name of exported spans (OTEL_SERVICE_NAME wins; default "
        "unknown_service:python)",
    )
    resource_attributes: dict[str, str] = Field(
        default_factory=dict,
        description="OTel resource of the app's spans (OTEL_RESOURCE_ATTRIBUTES wins per key)",
    )
    redact_patterns: list[str] = Field(default_factory=list, description="extra regexes to mask")
    redact_emails: bool = False
    max_attribute_chars: int = Field(default=32_768, ge=256)
    batch_size: int = Field(default=512, ge=1)
    flush_interval_ms: int = Field(default=200, ge=1)
    max_queue: int = Field(default=50_000, ge=1)


class ModelPrice(BaseModel):
    """The price of a model litellm's bundled map lacks (custom, fine-tuned, local), in US
    dollars per million tokens."""

    model_config = ConfigDict(extra="forbid")

    input_per_million: float = Field(ge=0)
    output_per_million: float = Field(default=0.0, ge=0)
    cached_input_per_million: float | None = Field(
        default=None, ge=0, description="cached input tokens (default: the input price)"
    )


class ServerConfig(BaseModel):
    """The llmops server (``llmops server``)."""

    model_config = ConfigDict(extra="forbid")

    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="host names (NAME or NAME:PORT) answered besides the bound one, e.g. a "
        "reverse proxy's; '*' answers any (no DNS rebinding protection)",
    )
    otlp_grpc_port: int = Field(
        default=4317, ge=0, le=65535, description="port of the OTLP/gRPC receiver (0: off)"
    )
    otlp_http_port: int = Field(
        default=4318,
        ge=0,
        le=65535,
        description="OTLP/HTTP's conventional port, served besides the main port (0: off)",
    )


class RagConfig(BaseModel):
    """How RAG indexes are built."""

    model_config = ConfigDict(extra="forbid")

    redact_chunks: bool = Field(
        default=False,
        description="mask secrets in documents (tracing's patterns) before they are indexed",
    )


class RetentionConfig(BaseModel):
    """How long data is kept: a duration (``30d``, ``12h``, ``2w``) or ``forever`` (also
    ``null``, the default: nothing is deleted unless asked). The server prunes in the
    background; ``llmops store prune`` does it once."""

    model_config = ConfigDict(extra="forbid")

    traces: str | None = Field(
        default=None,
        description="traces whose root ended longer ago go, with their logs and scores, "
        "unless an eval run, dataset, annotation queue or gate decision refers to them",
    )
    eval_runs: str | None = Field(
        default=None,
        description="eval runs started longer ago go, with their cases and scores, unless a "
        "gate decision rests on them",
    )

    @field_validator("traces", "eval_runs", mode="before")
    @classmethod
    def _duration(cls, value: object) -> str | None:
        seconds = retention_s(value)  # its ValueError names what was expected
        return None if seconds is None else str(value).strip()

    @property
    def traces_s(self) -> float | None:
        """The trace retention in seconds; None: kept for ever."""
        return retention_s(self.traces)

    @property
    def eval_runs_s(self) -> float | None:
        """The eval run retention in seconds; None: kept for ever."""
        return retention_s(self.eval_runs)


def _default_models() -> dict[str, ModelConfig]:
    return {
        "local": ModelConfig(model="local/smollm2", params={"temperature": 0.0, "max_tokens": 64})
    }


class Config(BaseModel):
    """The validated content of ``configs/llmops.yaml`` plus where it was found."""

    model_config = ConfigDict(extra="forbid")

    store_url: str | None = None
    default_model: str = "local"
    models: dict[str, ModelConfig] = Field(default_factory=_default_models)
    paths: PathsConfig = Field(default_factory=PathsConfig)
    tracing: TracingConfig = Field(default_factory=TracingConfig)
    rag: RagConfig = Field(default_factory=RagConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    pricing: dict[str, ModelPrice] = Field(
        default_factory=dict,
        description="prices by model name (as spans name it), before litellm's bundled map",
    )

    project_dir: Path | None = Field(default=None, exclude=True)
    source: str | None = Field(default=None, exclude=True)

    @property
    def data_dir(self) -> Path:
        """Where the embedded store and caches live."""
        if self.project_dir is not None:
            return self.project_dir / ".llmops"
        return Path(os.environ.get("LLMOPS_HOME") or Path.home() / ".llmops")

    @property
    def resolved_store_url(self) -> str:
        """The store URL after environment overrides, defaulting to SQLite in ``data_dir``."""
        url = os.environ.get("LLMOPS_STORE_URL") or self.store_url
        return url or f"sqlite:///{self.data_dir / 'llmops.db'}"

    def path(self, name: str) -> Path:
        """A project folder (``prompts`` or ``evals``) as an absolute path."""
        base = self.project_dir or Path.cwd()
        return base / str(getattr(self.paths, name))

    def model(self, name: str | None = None) -> tuple[str, ModelConfig]:
        """The named model (default: ``default_model``), or ``UnknownModelError``."""
        key = name or os.environ.get("LLMOPS_DEFAULT_MODEL") or self.default_model
        if key not in self.models:
            raise UnknownModelError(key, list(self.models))
        return key, self.models[key]


def find_project_dir(start: Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` holding ``configs/llmops.yaml``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_RELPATH).is_file():
            return folder
    return None


def load_config(start: Path | None = None) -> Config:
    """Load and validate the project config, or return defaults when there is none."""
    explicit = os.environ.get("LLMOPS_CONFIG")
    if explicit:
        path = Path(explicit).resolve()
        project_dir: Path | None = (
            path.parent.parent if path.parent.name == "configs" else path.parent
        )
    else:
        project_dir = find_project_dir(start)
        if project_dir is None:
            return Config()
        path = project_dir / CONFIG_RELPATH
    config, doc = load_model(path, Config, ConfigError)
    if config.default_model not in config.models:
        raise ConfigError(
            f"{doc.where(['default_model'])}: key 'default_model': '{config.default_model}' is not "
            f"one of the configured models ({', '.join(sorted(config.models)) or 'none'})"
        )
    return config.model_copy(update={"project_dir": project_dir, "source": str(path)})
