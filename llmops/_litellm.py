"""litellm, imported on first use with its network lookups and telemetry off.

Core, not ``llmops.llm``: the tracing layer's litellm integration and the RAG embedder use it
too, and tracing sits below llm.
"""

from __future__ import annotations

from typing import Any

from llmops._env import defaults_during

__all__ = ["NOT_RETRIED", "import_litellm", "is_retryable"]

#: litellm exceptions that another attempt cannot fix (by class name: no litellm import needed).
NOT_RETRIED = (
    "AuthenticationError",
    "BadRequestError",
    "NotFoundError",
    "PermissionDeniedError",
    "UnprocessableEntityError",
    "ContextWindowExceededError",
    "ContentPolicyViolationError",
    "ConfigError",  # e.g. a parameter the offline engine does not take
)


def import_litellm() -> Any:
    """The ``litellm`` module, configured for offline use (imported here, about 1-3 s)."""
    # litellm reads LITELLM_LOCAL_MODEL_COST_MAP once, at import: set only around the import,
    # it keeps the cost map local without changing the app's environment.
    with defaults_during(LITELLM_LOCAL_MODEL_COST_MAP="True"):
        import litellm  # lazy: keeps import llmops light

    # litellm's own switch (no per-call argument): without it a failed call prints a "Give
    # Feedback / Get Help" banner to stdout, which would land in CLI output and users' logs.
    litellm.suppress_debug_info = True
    return litellm


def is_retryable(exc: Exception) -> bool:
    """Whether a failed model call may succeed on another attempt."""
    return type(exc).__name__ not in NOT_RETRIED
