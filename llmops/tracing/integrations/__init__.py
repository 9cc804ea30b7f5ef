"""Integrations: spans from calls made through other libraries.

    from llmops.tracing.integrations import instrument_litellm, LlmopsCallbackHandler

    instrument_litellm()  # every litellm completion / embedding becomes an llmops span
    instrument_langchain()  # every LangChain run (or a handler per call:)
    chain.invoke(x, config={"callbacks": [LlmopsCallbackHandler()]})

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
    from llmops.tracing.integrations.langchain import (
        LlmopsCallbackHandler,
        instrument_langchain,
        uninstrument_langchain,
    )

__all__ = [
    "TRACED_MARKER",
    "LlmopsCallbackHandler",
    "instrument_langchain",
    "instrument_litellm",
    "uninstrument_langchain",
    "uninstrument_litellm",
]

_LANGCHAIN = ("LlmopsCallbackHandler", "instrument_langchain", "uninstrument_langchain")


def __getattr__(name: str) -> Any:
    if name in _LANGCHAIN:
        from llmops.tracing.integrations import langchain

        return getattr(langchain, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
