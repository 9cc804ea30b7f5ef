"""The prompt registry on SQLite and PostgreSQL: refs, aliases with history, rollback, diff."""

from __future__ import annotations

import pytest

from llmops import InputError, NotFoundError
from llmops.prompts import (
    PromptSpec,
    diff_versions,
    get_version,
    list_prompts,
    list_versions,
    parse_ref,
    register_prompt,
)
from llmops.store import Store, alias_history, rollback_alias, set_alias


def _spec(body: str, **extra: object) -> PromptSpec:
    return PromptSpec.model_validate({"name": "qa", "template": body, **extra})


@pytest.fixture
def three_versions(store: Store) -> Store:
    for body in ("v1 {{ q }}", "v2 {{ q }}", "v3 {{ q }}"):
        register_prompt(
            store, _spec(body, tags=["support"]), author="ada", message=f"add {body[:2]}"
        )
    return store


def test_refs() -> None:
    assert parse_ref("qa") == ("qa", "latest")
    assert parse_ref("qa@latest") == ("qa", "latest")
    assert parse_ref("qa@12") == ("qa", 12)
    assert parse_ref("qa@staging") == ("qa", "staging")
    for bad in ("@3", "qa@0", "qa@Prod!"):
        with pytest.raises(InputError):
            parse_ref(bad)


def test_get_by_number_alias_and_latest(three_versions: Store) -> None:
    store = three_versions
    assert get_version(store, "qa").version == 3
    assert get_version(store, "qa", 1).render(q="x") == "v1 x"
    set_alias(store, "prompt", "qa", "staging", 2, reason="reviewed", actor="bob")
    staging = get_version(store, "qa", "staging")
    assert (staging.version, staging.author, staging.message) == (2, "ada", "add v2")
    [info] = list_prompts(store)
    assert (info.name, info.latest, info.aliases, info.tags) == (
        "qa",
        3,
        {"staging": 2},
        ["support"],
    )
    assert [v.version for v in list_versions(store, "qa")] == [3, 2, 1]


def test_unknown_things_are_named(three_versions: Store) -> None:
    store = three_versions
    with pytest.raises(NotFoundError, match=r"^prompt 'nope' not found$"):
        get_version(store, "nope")
    with pytest.raises(NotFoundError, match=r"^prompt 'qa' has no version 9$"):
        get_version(store, "qa", 9)
    with pytest.raises(
        NotFoundError, match=r"^prompt 'qa' has no alias 'staging' \(aliases: none\)$"
    ):
        get_version(store, "qa", "staging")
    with pytest.raises(NotFoundError, match="has no version 7"):
        set_alias(store, "prompt", "qa", "staging", 7, reason="x")
    with pytest.raises(InputError, match="invalid alias 'latest'"):
        set_alias(store, "prompt", "qa", "latest", 1, reason="x")
    with pytest.raises(InputError, match="needs a reason"):
        set_alias(store, "prompt", "qa", "staging", 1, reason=" ")
    with pytest.raises(InputError, match="invalid prompt name 'bad name'"):
        get_version(store, "bad name")


def test_alias_moves_are_recorded_and_rolled_back(three_versions: Store) -> None:
    store = three_versions
    set_alias(store, "prompt", "qa", "staging", 1, reason="first", actor="ada")
    set_alias(store, "prompt", "qa", "staging", 3, reason="better", actor="bob")
    set_alias(store, "prompt", "qa", "canary", 2, reason="try", actor="bob")
    event = rollback_alias(store, "prompt", "qa", "staging", actor="carol")
    assert (event.from_version, event.to_version, event.action) == (3, 1, "rollback")
    assert get_version(store, "qa", "staging").version == 1
    history = alias_history(store, "prompt", "qa", "staging")
    assert [(e.from_version, e.to_version, e.actor, e.reason) for e in history] == [
        (3, 1, "carol", "rollback from version 3"),
        (1, 3, "bob", "better"),
        (None, 1, "ada", "first"),
    ]
    assert len(alias_history(store, "prompt", "qa")) == 4
    with pytest.raises(InputError, match="no earlier version"):
        rollback_alias(store, "prompt", "qa", "canary")


def test_diff(three_versions: Store) -> None:
    first, third = get_version(three_versions, "qa", 1), get_version(three_versions, "qa", 3)
    text = diff_versions(first, third)
    assert text.startswith("--- qa@1\n+++ qa@3\n")
    assert "-template: v1 {{ q }}\n+template: v3 {{ q }}\n" in text
    assert diff_versions(first, first) == ""


def test_model_params_are_part_of_the_content(store: Store) -> None:
    a = register_prompt(store, _spec("x", model_params={"temperature": 0}))
    b = register_prompt(store, _spec("x", model_params={"temperature": 0.5}))
    assert (a.version, b.version) == (1, 2)
    assert b.model_params == {"temperature": 0.5}
