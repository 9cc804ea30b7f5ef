"""``llmops.instrument(name)`` looks the name up in one table that other layers add to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import llmops
from llmops import InputError
from llmops.tracing import _instrument, instrumentable, register_integration, uninstrument


@pytest.fixture
def table() -> Iterator[None]:
    saved = dict(_instrument._INTEGRATIONS)
    yield
    _instrument._INTEGRATIONS.clear()
    _instrument._INTEGRATIONS.update(saved)


def test_the_built_in_integrations_are_registered_without_importing_them() -> None:
    assert instrumentable() == ("langchain", "litellm")


def test_a_registered_integration_is_instrumented_by_name(table: None) -> None:
    calls: list[str] = []
    loads: list[str] = []

    def load() -> _instrument.Integration:
        loads.append("loaded")
        return (lambda: calls.append("on")), (lambda: calls.append("off"))

    register_integration("mylib", load)
    assert loads == []  # registering imports nothing
    assert "mylib" in instrumentable()
    llmops.instrument("mylib")
    uninstrument("mylib")
    assert calls == ["on", "off"] and loads == ["loaded", "loaded"]


@pytest.mark.parametrize("names", [("nope",), ("mylib", "nope"), ("",)])
def test_an_unknown_name_fails_before_anything_is_instrumented(
    table: None, names: tuple[str, ...]
) -> None:
    calls: list[str] = []
    register_integration("mylib", lambda: ((lambda: calls.append("on")), (lambda: None)))
    with pytest.raises(InputError, match=r"the libraries llmops traces are langchain, litellm"):
        llmops.instrument(*names)
    assert calls == []


def test_an_integration_needs_a_name(table: None) -> None:
    with pytest.raises(InputError, match="non-empty name"):
        register_integration(" ", lambda: ((lambda: None), (lambda: None)))
