"""Prompt lineage is automatic: a model called with output rendered from a prompt version
records the prompt's name, version and id on its span, with no ``prompt=``."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import pytest
from _fake_openai import FakeOpenAI

from llmops._prompt_ref import PromptRef, RenderedMessages, RenderedText, prompt_of
from llmops.config import Config, ModelConfig
from llmops.llm import complete, resolve_model
from llmops.prompts import PromptSpec, PromptVersion, register_prompt
from llmops.store import Store
from llmops.tracing import configure_tracing, flush, get_trace, list_traces

Messages = list[dict[str, Any]]


def _register(store: Store) -> tuple[PromptVersion, PromptVersion]:
    chat = PromptSpec(
        name="support",
        messages=[
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "{{ question }}"},
        ],
    )
    register_prompt(store, PromptSpec(name="qa", template="first {{ question }}"))
    text = register_prompt(store, PromptSpec(name="qa", template="Q: {{ question }}"))
    return register_prompt(store, chat), text


# How callers build messages from a version: each must carry the version to the span.
BUILDERS: dict[str, Callable[[PromptVersion, PromptVersion], tuple[PromptVersion, Messages]]] = {
    "chat render": lambda chat, text: (chat, chat.render(question="why?")),
    "chat messages()": lambda chat, text: (chat, chat.messages(question="why?")),
    "text messages()": lambda chat, text: (text, text.messages(question="why?")),
    "text render() as a message's content": lambda chat, text: (
        text,
        [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": text.render(question="why?")},
        ],
    ),
}


def _span_of_call(store: Store, messages: Messages, **kwargs: Any) -> dict[str, Any]:
    configure_tracing(store)
    with FakeOpenAI() as server:
        config = Config(models={"fake": ModelConfig(model="openai/fake", api_base=server.api_base)})
        complete(messages, resolve_model("fake", config), **kwargs)
        assert server.requests[0]["messages"] == [dict(message) for message in messages]
    flush()
    [span] = get_trace(store, list_traces(store)[0].trace_id)
    return span.attributes


@pytest.mark.parametrize("builder", list(BUILDERS))
def test_rendered_messages_record_their_prompt_version(store: Store, builder: str) -> None:
    chat, text = _register(store)
    version, messages = BUILDERS[builder](chat, text)
    attributes = _span_of_call(store, messages)
    assert attributes["llmops.prompt.name"] == version.name
    assert attributes["llmops.prompt.version"] == version.version
    assert attributes["llmops.prompt.id"] == version.id
    assert (version.name, version.version) in {("support", 1), ("qa", 2)}


def test_an_explicit_prompt_wins(store: Store) -> None:
    chat, text = _register(store)
    attributes = _span_of_call(store, chat.messages(question="q"), prompt=text)
    assert (attributes["llmops.prompt.name"], attributes["llmops.prompt.version"]) == ("qa", 2)


def test_messages_not_rendered_from_a_prompt_record_none(store: Store) -> None:
    chat, _ = _register(store)
    rendered = chat.messages(question="q")
    # a new list built by hand from plain strings: nothing says which prompt it came from
    plain = [{"role": m["role"], "content": str(m["content"])} for m in rendered]
    attributes = _span_of_call(store, plain)
    assert attributes["gen_ai.request.model"] == "openai/fake"
    assert not any(key.startswith("llmops.prompt.") for key in attributes)


def test_rendered_output_is_a_plain_str_or_list_that_keeps_its_version() -> None:
    ref = PromptRef("qa", 3, 7)
    text = RenderedText("Q: why?", ref)
    messages = RenderedMessages([{"role": "user", "content": text}], ref)
    assert isinstance(text, str) and text == "Q: why?" and text.upper() == "Q: WHY?"
    assert isinstance(messages, list) and messages == [{"role": "user", "content": "Q: why?"}]
    for value in (
        text,
        messages,
        pickle.loads(pickle.dumps(text)),
        pickle.loads(pickle.dumps(messages)),
    ):
        assert prompt_of(value if isinstance(value, list) else [{"content": value}]) == ref
    # derived values are new plain objects: no stale lineage travels with them
    assert prompt_of([{"content": text + "!"}]) is None
    assert prompt_of([*messages[:0], {"role": "user", "content": "x"}]) is None
