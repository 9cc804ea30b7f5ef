"""Integrations: spans from calls made through other libraries.

    from llmops.tracing.integrations import instrument_litellm, LlmopsCallbackHandler

    instrument_litellm()  # every litellm completion / embedding becomes an llmops span
    chain.invoke(x, config={"callbacks": [LlmopsCallbackHandler()]})  # LangChain runs

Nothing here imports litellm or langchain-core until it is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmops.tracing.integrations.litellm import (
    TRACED_MARKER,
    instrument_litellm,
    uninstrument_litellm,
)

if TYPE_CHECKING:
    from llmops.tracing.integrations.langchain import LlmopsCallbackHandler

__all__ = ["TRACED_MARKER", "LlmopsCallbackHandler", "instrument_litellm", "uninstrument_litellm"]


def __getattr__(name: str) -> Any:
    if name == "LlmopsCallbackHandler":
        from llmops.tracing.integrations.langchain import LlmopsCallbackHandler

        return LlmopsCallbackHandler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
