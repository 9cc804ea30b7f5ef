"""The trace list filtered by prompt (``NAME`` or ``NAME@VERSION``) and route version, on
SQLite and PostgreSQL: through ``TraceFilter``, ``traces list --prompt/--route`` and the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _fake_openai import FakeOpenAI
from _live_server import LiveServer

from llmops.cli import main
from llmops.config import Config, ModelConfig
from llmops.llm import complete, resolve_model
from llmops.prompts import PromptSpec, register_prompt
from llmops.server import create_app
from llmops.store import Store, open_store
from llmops.tracing import TraceFilter, configure_tracing, flush, list_traces, span

TOKEN = "t0ken-for-tests"


def _write(store: Store) -> None:
    """Three traces: qa@1 on route bot@1, qa@2 on route bot@2, and one with no prompt. The
    prompt attributes are llmops.llm's own (a call with a rendered registry prompt); the route
    version is set as the router sets it on its call's span."""
    configure_tracing(store)
    first = register_prompt(store, PromptSpec(name="qa", template="first {{ question }}"))
    second = register_prompt(store, PromptSpec(name="qa", template="Q: {{ question }}"))
    with FakeOpenAI() as server:
        config = Config(models={"fake": ModelConfig(model="openai/fake", api_base=server.api_base)})
        model = resolve_model("fake", config)
        for name, version, route in (("one", first, "bot@1"), ("two", second, "bot@2")):
            with span(name) as root:
                root.set("llmops.route.version", route)
                complete(version.messages(question="why?"), model)
        with span("plain"):
            complete([{"role": "user", "content": "hi"}], model)
    assert flush()


def _names(store: Store, **conditions: object) -> list[str]:
    return [t.name for t in list_traces(store, where=TraceFilter(**conditions))]  # type: ignore[arg-type]


def test_prompt_and_route_filters(store: Store) -> None:
    _write(store)
    assert _names(store) == ["plain", "two", "one"]
    assert _names(store, prompt="qa") == ["two", "one"]
    assert _names(store, prompt="qa@2") == ["two"]
    assert _names(store, prompt="qa@1") == ["one"]
    assert _names(store, prompt="qa@3") == []
    assert _names(store, prompt="other") == []
    assert _names(store, route="bot@1") == ["one"]
    assert _names(store, route="bot@1", prompt="qa@2") == []


@pytest.fixture
def api(store: Store) -> Iterator[httpx.Client]:
    with LiveServer(create_app(store, token=TOKEN)) as live:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=f"{live.url}/api/v1", headers=headers, timeout=30) as client:
            yield client


def test_api_prompt_and_route(store: Store, api: httpx.Client) -> None:
    _write(store)

    def names(**params: str) -> list[str]:
        response = api.get("/traces", params=params)
        assert response.status_code == 200, response.text
        return [t["name"] for t in response.json()["items"]]

    assert names(prompt="qa") == ["two", "one"]
    assert names(prompt="qa@1") == ["one"]
    assert names(route="bot@2") == ["two"]
    for param, bad in (("prompt", "@2"), ("prompt", "qa@"), ("route", " ")):
        response = api.get("/traces", params={param: bad})
        assert response.status_code == 400, response.text
        assert param in response.json()["message"]


def test_cli_prompt_and_route(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(open_store())
    capsys.readouterr()
    assert main(["traces", "list", "--prompt", "qa@2", "--json"]) == 0
    assert [t["name"] for t in json.loads(capsys.readouterr().out)] == ["two"]
    assert main(["traces", "list", "--route", "bot@1", "--prompt", "qa", "--json"]) == 0
    assert [t["name"] for t in json.loads(capsys.readouterr().out)] == ["one"]
    assert main(["traces", "list", "--prompt", "qa@"]) == 2
    assert "--prompt" in capsys.readouterr().err
    assert main(["traces", "list", "--route", ""]) == 2
    assert "--route" in capsys.readouterr().err
    # the shared option set: queues create and datasets create --from-traces take them too
    for command in (["queues", "create"], ["datasets", "create"]):
        assert main([*command, "--help"]) == 0
        out = capsys.readouterr().out
        assert "--prompt" in out and "--route" in out
