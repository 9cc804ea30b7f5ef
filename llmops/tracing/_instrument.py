"""``instrument(name)``: turn on tracing of a library by name, importing it only then.

The names come from one table, name -> loader; a loader returns the library's
``(instrument, uninstrument)`` pair and is called only when the name is used, so registering
costs no import. llmops registers its own integrations below; a higher layer or a plugin adds
more with :func:`register_integration`.
"""

from __future__ import annotations

from collections.abc import Callable

from llmops._exceptions import InputError
from llmops._plugins import failed, load_plugin, plugin_names, wrong_kind

__all__ = ["Integration", "instrument", "instrumentable", "register_integration", "uninstrument"]

#: ``instrument`` and ``uninstrument`` of one library.
Integration = tuple[Callable[[], None], Callable[[], None]]

_INTEGRATIONS: dict[str, Callable[[], Integration]] = {}


def register_integration(name: str, load: Callable[[], Integration]) -> None:
    """Make ``instrument(name)`` call what ``load()`` returns (the last registration wins)."""
    if not name or not name.strip():
        raise InputError("an integration needs a non-empty name")
    _INTEGRATIONS[name] = load


def instrumentable() -> tuple[str, ...]:
    """The names :func:`instrument` knows (installed plugins' too), sorted."""
    return tuple(sorted({*_INTEGRATIONS, *plugin_names("llmops.integrations")}))


def _langchain() -> Integration:
    # lazy: langchain-core loads only when asked for
    from llmops.tracing.integrations.langchain import instrument_langchain, uninstrument_langchain

    return instrument_langchain, uninstrument_langchain


def _litellm() -> Integration:
    # lazy: the integration module loads when the name is first used, like langchain's
    from llmops.tracing.integrations.litellm import instrument_litellm, uninstrument_litellm

    return instrument_litellm, uninstrument_litellm


register_integration("langchain", _langchain)
register_integration("litellm", _litellm)


def _plugin(name: str) -> Callable[[], Integration] | None:
    """The loader an installed plugin registers as ``name`` (``llmops.integrations``): a
    function returning ``(instrument, uninstrument)``, checked when it is called."""
    group = "llmops.integrations"
    load = load_plugin(group, name)
    if load is None:
        return None
    if not callable(load):
        raise wrong_kind(group, name, "a function returning (instrument, uninstrument)")

    def checked() -> Integration:
        try:
            pair = load()
        except Exception as exc:
            raise failed(group, name, exc) from exc
        if not (isinstance(pair, tuple) and len(pair) == 2 and all(map(callable, pair))):
            raise wrong_kind(group, name, "a function returning (instrument, uninstrument)")
        return pair[0], pair[1]

    register_integration(name, checked)
    return checked


def _functions(name: str) -> Integration:
    load = _INTEGRATIONS.get(name) or _plugin(name)
    if load is None:
        known = ", ".join(instrumentable())
        raise InputError(f"cannot instrument {name!r}: the libraries llmops traces are {known}")
    return load()


def instrument(*names: str) -> None:
    """Trace every call made through these libraries as llmops spans (idempotent):
    ``llmops.instrument("langchain", "litellm")``."""
    for function in [_functions(name)[0] for name in names]:  # all names checked first
        function()


def uninstrument(*names: str) -> None:
    """Stop tracing these libraries."""
    for function in [_functions(name)[1] for name in names]:
        function()
