"""Model access: the one way llmops code calls a model (litellm underneath)."""

from llmops.llm._cache import ResponseCache
from llmops.llm._client import Completion, ResolvedModel, acomplete, complete, resolve_model
from llmops.llm._endpoints_lookup import resolve_version_model
from llmops.llm._routing import Route, Router, load_routes

__all__ = [
    "Completion",
    "ResolvedModel",
    "ResponseCache",
    "Route",
    "Router",
    "acomplete",
    "complete",
    "load_routes",
    "resolve_model",
    "resolve_version_model",
]
