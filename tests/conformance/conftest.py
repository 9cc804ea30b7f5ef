"""Fixtures of the conformance suite: the client environment, one fake OpenAI server and one
real ``llmops server`` for the whole session (the tests share them in one xdist group)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _conformance_venv import conformance_python, required
from _fake_openai import FakeOpenAI

from conformance._harness import LlmopsServer, respond


@pytest.fixture(scope="session")
def client_python() -> Path:
    """The conformance environment's Python; skips (or fails, when required) without it."""
    try:
        return conformance_python()
    except Exception as exc:
        message = f"the conformance client environment could not be built: {exc}"
        if required():
            pytest.fail(message + " (LLMOPS_REQUIRE_CONFORMANCE=1)")
        pytest.skip(message + "; set LLMOPS_REQUIRE_CONFORMANCE=1 to fail instead")


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(respond) as server:
        yield server


@pytest.fixture(scope="session")
def llmops_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlmopsServer]:
    with LlmopsServer(tmp_path_factory.mktemp("conformance-server")) as server:
        yield server
