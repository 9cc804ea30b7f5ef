"""The model registry on SQLite and PostgreSQL: numbering, adapter digests, refs, aliases
(``production`` only through a gate token), lineage, and the ``llmops models`` commands."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import llmops
from llmops import InputError, NotFoundError
from llmops.cli import main
from llmops.config import ModelConfig
from llmops.gates import GateRequired, GateToken, Subject, record_decision
from llmops.registry import (
    adapter_digest,
    get_model_version,
    link_lineage,
    list_model_versions,
    list_models,
    model_lineage,
    parse_model_ref,
    register_model_version,
    resolve_registry_model,
)
from llmops.store import Store, alias_history, rollback_alias, set_alias
from llmops.store.models import EvalRunRecord


@pytest.fixture
def bot(store: Store) -> Store:
    """``bot`` with three versions: 1 and 2 on one server, 3 with other parameters."""
    for number, temperature in ((1, 0.0), (2, 0.2), (3, 0.7)):
        register_model_version(
            store,
            "bot",
            serve_model="hosted_vllm/bot-ft",
            base_model="Qwen/Qwen2.5-0.5B-Instruct",
            api_base="http://127.0.0.1:8000/v1",
            params={"temperature": temperature},
            description=f"v{number}",
            author="ada",
        )
    return store


def test_refs() -> None:
    assert parse_model_ref("bot") == ("bot", "latest")
    assert parse_model_ref("bot@latest") == ("bot", "latest")
    assert parse_model_ref("bot@12") == ("bot", 12)
    assert parse_model_ref("bot@staging") == ("bot", "staging")
    for bad in ("@3", "bot@0", "bot@Prod!", "b ot@1"):
        with pytest.raises(InputError):
            parse_model_ref(bad)


def test_versions_are_numbered_from_one_and_immutable(bot: Store) -> None:
    first = get_model_version(bot, "bot", 1)
    assert [v.version for v in list_model_versions(bot, "bot")] == [3, 2, 1]
    assert (first.ref, first.params, first.description, first.author) == (
        "bot@1",
        {"temperature": 0.0},
        "v1",
        "ada",
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.serve_model = "other"  # type: ignore[misc]
    newer = register_model_version(bot, "bot", serve_model="openai/other", author="bob")
    assert newer.version == 4 and get_model_version(bot, "bot", 1) == first
    other = register_model_version(bot, "other-model", serve_model="openai/x")
    assert other.version == 1
    [listed_bot, listed_other] = list_models(bot)
    assert (listed_bot.name, listed_bot.latest, listed_bot.serve_model) == (
        "bot",
        4,
        "openai/other",
    )
    assert (listed_other.name, listed_other.latest) == ("other-model", 1)
    assert first.model_config() == ModelConfig(
        model="hosted_vllm/bot-ft",
        api_base="http://127.0.0.1:8000/v1",
        params={"temperature": 0.0},
    )


def test_concurrent_registrations_get_distinct_numbers(store: Store) -> None:
    def register(i: int) -> int:
        return register_model_version(store, "race", serve_model=f"openai/m{i}").version

    with ThreadPoolExecutor(max_workers=6) as pool:
        numbers = list(pool.map(register, range(6)))
    assert sorted(numbers) == [1, 2, 3, 4, 5, 6]
    assert sorted(v.serve_model for v in list_model_versions(store, "race")) == [
        f"openai/m{i}" for i in range(6)
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"serve_model": " "}, r"serve_model \(the model string to call\) is empty"),
        ({"serve_model": "m" * 401}, "serve_model is longer than 400 characters"),
        ({"serve_model": "m", "params": {"f": object()}}, "params must be JSON-serializable"),
        ({"serve_model": "m", "params": [1]}, "params must be a mapping"),
        ({"serve_model": "m", "adapter_path": "no-such-adapter"}, "does not exist"),
        ({"serve_model": "m", "adapter_path": ""}, "adapter_path is empty"),
        ({"serve_model": "m", "lineage": {"eval_run_ids": "r1"}}, "lineage.eval_run_ids"),
    ],
)
def test_bad_registrations_are_input_errors(
    store: Store, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        register_model_version(store, "bot", **kwargs)
    assert list_models(store) == []


def test_adapter_digest_pins_exact_bytes(store: Store, tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    (adapter / "sub").mkdir(parents=True)
    (adapter / "adapter_config.json").write_text('{"r": 8}')
    (adapter / "sub" / "weights.bin").write_bytes(b"\x00\x01" * 100)

    one = register_model_version(store, "ft", serve_model="m", adapter_path=adapter)
    two = register_model_version(store, "ft", serve_model="m", adapter_path=str(adapter))
    assert one.adapter_digest == two.adapter_digest == adapter_digest(adapter)
    assert one.adapter_path == str(adapter.resolve())
    assert len(one.adapter_digest or "") == 64

    (adapter / "sub" / "weights.bin").write_bytes(b"\x00\x02" * 100)
    changed = register_model_version(store, "ft", serve_model="m", adapter_path=adapter)
    assert changed.adapter_digest != one.adapter_digest
    assert get_model_version(store, "ft", 1).adapter_digest == one.adapter_digest
    (adapter / "sub" / "weights.bin").rename(adapter / "weights.bin")
    assert adapter_digest(adapter) != changed.adapter_digest  # a moved file is a change too

    single = adapter / "adapter_config.json"
    pinned = register_model_version(store, "ft", serve_model="m", adapter_path=single)
    assert pinned.adapter_digest == hashlib.sha256(b'{"r": 8}').hexdigest()
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no files"):
        adapter_digest(tmp_path / "empty")


def test_selectors_refs_and_registry_resolution(bot: Store) -> None:
    set_alias(bot, "model", "bot", "staging", 2, reason="candidate", actor="ada")
    for found in (
        get_model_version(bot, "bot@staging"),
        get_model_version(bot, "bot", "staging"),
        get_model_version(bot, "bot", 2),
        get_model_version(bot, "bot", "2"),
        get_model_version(bot, "bot@2"),
    ):
        assert (found.ref, found.description) == ("bot@2", "v2")
    assert get_model_version(bot, "bot").version == 3
    assert get_model_version(bot, "bot@latest").version == 3
    key, config = resolve_registry_model(bot, "bot@staging")
    assert key == "bot@2"
    assert (config.model, config.params) == ("hosted_vllm/bot-ft", {"temperature": 0.2})

    with pytest.raises(
        NotFoundError, match=r"model 'bot' has no alias 'canary' \(aliases: staging"
    ):
        get_model_version(bot, "bot@canary")
    with pytest.raises(NotFoundError, match="model 'bot' has no version 9"):
        get_model_version(bot, "bot", 9)
    with pytest.raises(NotFoundError, match="model 'nope' not found"):
        resolve_registry_model(bot, "nope@1")
    with pytest.raises(InputError, match="invalid model name"):
        get_model_version(bot, "bot@2", 2)


def test_staging_alias_moves_are_recorded_and_rolled_back(bot: Store) -> None:
    set_alias(bot, "model", "bot", "staging", 1, reason="first", actor="ada")
    moved = set_alias(bot, "model", "bot", "staging", 3, reason="better", actor="bob")
    assert (moved.from_version, moved.to_version, moved.action) == (1, 3, "set")
    assert list_models(bot)[0].aliases == {"staging": 3}

    back = rollback_alias(bot, "model", "bot", "staging", actor="carol")
    assert (back.from_version, back.to_version, back.action) == (3, 1, "rollback")
    assert back.reason == "rollback from version 3"
    assert get_model_version(bot, "bot@staging").version == 1
    history = alias_history(bot, "model", "bot", "staging")
    assert [(e.actor, e.from_version, e.to_version) for e in history] == [
        ("carol", 3, 1),
        ("bob", 1, 3),
        ("ada", None, 1),
    ]
    assert alias_history(bot, "model", "bot", "canary") == []

    with pytest.raises(InputError, match="needs a reason"):
        set_alias(bot, "model", "bot", "staging", 2, reason=" ")
    with pytest.raises(InputError, match="invalid alias 'latest'"):
        set_alias(bot, "model", "bot", "latest", 2, reason="x")
    with pytest.raises(NotFoundError, match="model 'bot' has no version 7"):
        set_alias(bot, "model", "bot", "staging", 7, reason="x")
    with pytest.raises(NotFoundError, match="model 'bot' has no alias 'canary'"):
        rollback_alias(bot, "model", "bot", "canary")
    set_alias(bot, "model", "bot", "canary", 2, reason="try")
    with pytest.raises(InputError, match="no earlier version to roll back to"):
        rollback_alias(bot, "model", "bot", "canary")
    assert len(alias_history(bot, "model", "bot")) == 4  # refused moves leave no trace


def test_production_moves_only_with_a_matching_gate_token(bot: Store) -> None:
    with pytest.raises(GateRequired, match=r"llmops promote model:bot@2 --to production"):
        set_alias(bot, "model", "bot", "production", 2, reason="ship it")

    def decision(version: int, kind: str = "pass") -> int:
        subject = Subject("model", "bot", version)
        return record_decision(
            bot, subject, alias="production", decision=kind, policy=None, evidence=None
        )

    first = decision(2)
    token = GateToken(decision_id=first, subject="model:bot@2", alias="production")
    with pytest.raises(GateRequired, match=f"the gate decision {first} was for model:bot@2"):
        set_alias(bot, "model", "bot", "production", 1, reason="x", gate=token)
    prompt_token = GateToken(decision_id=first, subject="prompt:bot@2", alias="production")
    with pytest.raises(GateRequired):
        set_alias(bot, "model", "bot", "production", 2, reason="x", gate=prompt_token)
    assert alias_history(bot, "model", "bot") == []

    event = set_alias(bot, "model", "bot", "production", 2, reason="gate passed", gate=token)
    assert (event.to_version, event.reason) == (2, "gate passed")
    set_alias(
        bot,
        "model",
        "bot",
        "production",
        3,
        reason="gate passed",
        gate=GateToken(decision_id=decision(3), subject="model:bot@3", alias="production"),
    )
    with pytest.raises(GateRequired, match="model:bot@2 --to production"):
        rollback_alias(bot, "model", "bot", "production", reason="regressed")
    assert get_model_version(bot, "bot@production").version == 3
    undo = GateToken(decision(2, "rollback"), subject="model:bot@2", alias="production")
    back = rollback_alias(bot, "model", "bot", "production", reason="regressed", gate=undo)
    assert (back.from_version, back.to_version) == (3, 2)


def _eval_run(store: Store, run_id: str) -> None:
    from llmops.evals._results import finish_run, start_run

    start_run(store, EvalRunRecord(id=run_id, suite="support", model_name="bot@1", model="m"))
    finish_run(
        store,
        run_id,
        status="completed",
        n_cases=2,
        n_errors=0,
        summary={"exact_match": {"mean": 0.5}},
    )


def test_lineage_is_appended_and_eval_runs_looked_up(bot: Store) -> None:
    trained = register_model_version(
        bot,
        "ft",
        serve_model="hosted_vllm/ft",
        source_run_id="t" * 32,
        lineage={"dataset_hashes": ["d1"], "base_checkpoint": "step-900"},
    )
    assert trained.lineage["training_run_id"] == "t" * 32
    _eval_run(bot, "e" * 32)
    link_lineage(bot, "ft", 1, eval_run_ids=["e" * 32], dataset_hashes=["d2", "d1"])
    updated = link_lineage(bot, "ft", 1, eval_run_ids=["missing", "e" * 32])
    assert updated.lineage["eval_run_ids"] == ["e" * 32, "missing"]
    assert dataclasses.replace(updated, lineage={}) == dataclasses.replace(trained, lineage={})

    lineage = model_lineage(bot, "ft", 1)
    assert (lineage.ref, lineage.training_run_id, lineage.dataset_hashes) == (
        "ft@1",
        "t" * 32,
        ["d1", "d2"],
    )
    assert lineage.extra == {"base_checkpoint": "step-900"}
    found, missing = lineage.eval_runs
    assert (found.found, found.suite, found.status, found.summary) == (
        True,
        "support",
        "completed",
        {"exact_match": {"mean": 0.5}},
    )
    assert (missing.id, missing.found, missing.suite) == ("missing", False, "")

    with pytest.raises(InputError, match="lineage is append-only"):
        link_lineage(bot, "ft", 1, training_run_id="other")
    assert link_lineage(bot, "ft", 1, training_run_id="t" * 32) == updated
    link_lineage(bot, "bot", 1, training_run_id="r1")
    assert model_lineage(bot, "bot", 1).training_run_id == "r1"
    with pytest.raises(NotFoundError, match="model 'ft' has no version 2"):
        link_lineage(bot, "ft", 2, eval_run_ids=["e"])


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> Any:
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_models_cli(
    store_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LLMOPS_STORE_URL", store_url)
    monkeypatch.setenv("LLMOPS_USER", "ada")
    adapter = tmp_path / "lora"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"weights")
    with llmops.start_run(experiment="train") as training:  # --run must name a stored run
        training.log_param("epochs", 1)
    registered = _json(
        capsys,
        [
            *("models", "register", "bot", "--serve", "hosted_vllm/bot", "--base", "Qwen/Q"),
            *("--api-base", "http://127.0.0.1:8000/v1", "--adapter", str(adapter)),
            *("--run", training.id[:10], "-p", "temperature=0.2", "-p", "stop=END"),
            *("-d", "first"),
        ],
    )
    assert (registered["ref"], registered["params"], registered["author"]) == (
        "bot@1",
        {"temperature": 0.2, "stop": "END"},
        "ada",
    )
    assert registered["adapter_digest"] == adapter_digest(adapter)
    assert main(["models", "register", "bot", "--serve", "hosted_vllm/bot2"]) == 0
    assert "registered bot@2 → hosted_vllm/bot2" in capsys.readouterr().out

    assert _json(capsys, ["models", "list"])[0]["latest"] == 2
    moved = _json(capsys, ["models", "alias", "bot", "staging", "1", "--reason", "candidate"])
    assert (moved["from_version"], moved["to_version"], moved["actor"]) == (None, 1, "ada")
    _json(capsys, ["models", "alias", "bot", "staging", "2", "-r", "newer"])

    capsys.readouterr()
    assert main(["models", "alias", "bot", "production", "2", "--reason", "ship"]) == 2
    assert "llmops promote model:bot@2 --to production" in capsys.readouterr().err

    back = _json(capsys, ["models", "rollback", "bot", "staging", "--reason", "regressed"])
    assert (back["from_version"], back["to_version"], back["action"]) == (2, 1, "rollback")
    shown = _json(capsys, ["models", "show", "bot@staging"])
    assert (shown["ref"], shown["aliases"], shown["lineage"]["training_run_id"]) == (
        "bot@1",
        ["staging"],
        training.id,
    )
    assert [e["reason"] for e in shown["alias_events"]] == ["regressed", "newer", "candidate"]
    history = _json(capsys, ["models", "history", "bot", "staging"])
    assert [v["version"] for v in history["versions"]] == [2, 1]
    assert len(history["alias_events"]) == 3

    capsys.readouterr()
    assert main(["models", "show", "bot"]) == 0
    assert "bot@2" in capsys.readouterr().out
    assert main(["models", "list"]) == 0
    assert "staging→1" in capsys.readouterr().out
    for argv, message in (
        (["models", "show", "bot@canary"], "model 'bot' has no alias 'canary'"),
        (["models", "show", "nope"], "model 'nope' not found"),
        (["models", "register", "bot", "--serve", "m", "-p", "novalue"], "expected NAME=VALUE"),
        (["models", "register", "bot", "--serve", "m", "--adapter", "gone"], "does not exist"),
    ):
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err
