"""Model access: the one way llmops code calls a model (litellm underneath)."""

from llmops.llm._cache import ResponseCache
from llmops.llm._client import Completion, ResolvedModel, acomplete, complete, resolve_model

__all__ = ["Completion", "ResolvedModel", "ResponseCache", "acomplete", "complete", "resolve_model"]
