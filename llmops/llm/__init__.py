"""Model access: the one way llmops code calls a model (litellm underneath)."""

from llmops.llm._cache import ResponseCache
from llmops.llm._client import (
    CallOptions,
    Completion,
    ModelParams,
    ResolvedModel,
    acomplete,
    complete,
    resolve_model,
)
from llmops.llm._endpoints_lookup import REGISTRY_PREFIX as REGISTRY_PREFIX
from llmops.llm._endpoints_lookup import is_registry_ref as is_registry_ref
from llmops.llm._endpoints_lookup import resolve_version_model
from llmops.llm._local import local_model_path as local_model_path
from llmops.llm._local import local_server as local_server  # benchmarks/local_model.py
from llmops.llm._routing import Route, Router, load_routes, shadow_stats
from llmops.llm._vllm_offline import OFFLINE_BACKEND as OFFLINE_BACKEND
from llmops.llm._vllm_offline import OfflineEngine as OfflineEngine
from llmops.llm._vllm_offline import OfflineTarget as OfflineTarget
from llmops.llm._vllm_offline import close_offline_engines as close_offline_engines
from llmops.llm._vllm_offline import offline_engine as offline_engine

__all__ = [
    "CallOptions",
    "Completion",
    "ModelParams",
    "ResolvedModel",
    "ResponseCache",
    "Route",
    "Router",
    "acomplete",
    "complete",
    "load_routes",
    "resolve_model",
    "resolve_version_model",
    "shadow_stats",
]
