"""``instrument(name)``: turn on tracing of a library by name, importing it only then."""

from __future__ import annotations

from collections.abc import Callable

from llmops._exceptions import InputError

__all__ = ["INSTRUMENTABLE", "instrument", "uninstrument"]

#: The libraries ``instrument`` knows.
INSTRUMENTABLE = ("langchain", "litellm")


def _functions(name: str) -> tuple[Callable[[], None], Callable[[], None]]:
    if name == "langchain":
        from llmops.tracing.integrations.langchain import (
            instrument_langchain,
            uninstrument_langchain,
        )

        return instrument_langchain, uninstrument_langchain
    if name == "litellm":
        from llmops.tracing.integrations.litellm import instrument_litellm, uninstrument_litellm

        return instrument_litellm, uninstrument_litellm
    known = ", ".join(INSTRUMENTABLE)
    raise InputError(f"cannot instrument {name!r}: the libraries llmops traces are {known}")


def instrument(*names: str) -> None:
    """Trace every call made through these libraries as llmops spans (idempotent):
    ``llmops.instrument("langchain", "litellm")``."""
    for function in [_functions(name)[0] for name in names]:  # all names checked first
        function()


def uninstrument(*names: str) -> None:
    """Stop tracing these libraries."""
    for function in [_functions(name)[1] for name in names]:
        function()
