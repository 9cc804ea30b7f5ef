"""The one alias service, on SQLite and PostgreSQL, for every kind of subject: set, get,
history, rollback; protection by gate decision; the generic CLI; the 0012 migration."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _fake_openai import FakeOpenAI
from conftest import use_fake_model
from sqlalchemy import Connection, insert, text

import llmops.gates
import llmops.rag  # registers kind "index" (prompts and registry are imported below)
from llmops._exceptions import GateRequired, InputError, NotFoundError
from llmops.cli import main
from llmops.gates import Subject, record_decision
from llmops.prompts import PromptSpec, register_prompt
from llmops.registry import register_model_version
from llmops.store import (
    ALIAS_KINDS,
    GateToken,
    Store,
    alias_history,
    aliases_of,
    aliases_of_kind,
    get_alias,
    head_revision,
    open_store,
    register_alias_subject,
    register_gate_verifier,
    rollback_alias,
    set_alias,
)
from llmops.store import _aliases as service
from llmops.store.models import RagIndexRecord, table_of, utcnow

KINDS = ("prompt", "model", "index", "dataset")
DATASET_VERSIONS = {("qa", 1), ("qa", 2), ("qa", 3)}


def _three_versions(store: Store, kind: str, name: str = "qa") -> None:
    """Versions 1, 2 and 3 of ``kind:name`` (a dataset is a kind registered by the test)."""
    if kind == "prompt":
        for body in ("v1 {{ q }}", "v2 {{ q }}", "v3 {{ q }}"):
            spec = PromptSpec.model_validate({"name": name, "template": body})
            register_prompt(store, spec, author="ada")
    elif kind == "model":
        for number in (1, 2, 3):
            register_model_version(store, name, serve_model=f"openai/m{number}")
    elif kind == "index":
        with store.write() as session:
            for number, status in ((1, "ready"), (2, "ready"), (3, "ready"), (4, "failed")):
                session.connection().execute(
                    insert(table_of(RagIndexRecord)).values(
                        pipeline=name,
                        version=number,
                        status=status,
                        collection=f"{name}-v{number}",
                        embedder="hash",
                        splitter={},
                        files=[],
                        created_at=utcnow(),
                    )
                )


def _dataset_version(connection: Connection, name: str, version: int) -> None:
    if (name, version) not in DATASET_VERSIONS:
        raise NotFoundError(f"dataset '{name}' has no version {version}")


@pytest.fixture(autouse=True)
def dataset_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fourth kind, registered as issue #17's datasets will: the service is not changed."""
    monkeypatch.setattr(service, "_subjects", dict(service._subjects))
    register_alias_subject("dataset", check_version=_dataset_version)


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest, store: Store) -> str:
    _three_versions(store, request.param)
    return str(request.param)


def test_set_get_history_and_rollback(store: Store, kind: str) -> None:
    first = set_alias(store, kind, "qa", "staging", 1, reason="first", actor="ada")
    assert (first.kind, first.name, first.from_version, first.to_version) == (kind, "qa", None, 1)
    set_alias(store, kind, "qa", "staging", 3, reason="better", actor="bob")
    set_alias(store, kind, "qa", "canary", 2, reason="try", actor="bob")
    assert get_alias(store, kind, "qa", "staging") == 3
    assert get_alias(store, kind, "qa", "nowhere") is None
    assert aliases_of(store, kind, "qa") == {"canary": 2, "staging": 3}
    assert aliases_of_kind(store, kind) == {"qa": {"canary": 2, "staging": 3}}

    back = rollback_alias(store, kind, "qa", "staging", actor="carol")
    assert (back.from_version, back.to_version, back.action) == (3, 1, "rollback")
    assert get_alias(store, kind, "qa", "staging") == 1
    history = alias_history(store, kind, "qa", "staging")
    assert [(e.from_version, e.to_version, e.actor, e.reason, e.action) for e in history] == [
        (3, 1, "carol", "rollback from version 3", "rollback"),
        (1, 3, "bob", "better", "set"),
        (None, 1, "ada", "first", "set"),
    ]
    assert [e.alias for e in alias_history(store, kind, "qa")] == [
        "staging",
        "canary",
        "staging",
        "staging",
    ]
    assert all(e.gate_decision_id is None for e in history)
    assert history[0].to_dict()["kind"] == kind
    # the same name under every other kind is another subject
    for other in ALIAS_KINDS:
        if other != kind:
            assert aliases_of(store, other, "qa") == {}
            assert alias_history(store, other, "qa") == []


def test_bad_moves_are_refused_and_leave_no_trace(store: Store, kind: str) -> None:
    with pytest.raises(NotFoundError, match=r"qa.*(no version 7|not found)"):
        set_alias(store, kind, "qa", "staging", 7, reason="x")
    with pytest.raises(NotFoundError):
        set_alias(store, kind, "nope", "staging", 1, reason="x")
    for bad in ("latest", "Prod!", "", "-x", "a" * 65):
        with pytest.raises(InputError, match="invalid alias"):
            set_alias(store, kind, "qa", bad, 1, reason="x")
    with pytest.raises(InputError, match="needs a reason"):
        set_alias(store, kind, "qa", "staging", 1, reason=" ")
    with pytest.raises(NotFoundError, match="has no alias 'staging'"):
        rollback_alias(store, kind, "qa", "staging")
    set_alias(store, kind, "qa", "staging", 1, reason="first")
    with pytest.raises(InputError, match="no earlier version to roll back to"):
        rollback_alias(store, kind, "qa", "staging")
    assert len(alias_history(store, kind, "qa")) == 1


def test_concurrent_moves_of_one_alias_keep_a_chained_history(store: Store, kind: str) -> None:
    """Writers racing on one alias (the first insert included): every move is recorded, each
    from where the one before it left the alias, and the alias is where the last one put it."""
    from concurrent.futures import ThreadPoolExecutor

    def mover(worker: int) -> None:
        for step in range(6):
            version = (worker + step) % 3 + 1
            set_alias(store, kind, "qa", "staging", version, reason=f"{worker}.{step}")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(mover, range(4)))
    history = list(reversed(alias_history(store, kind, "qa", "staging")))
    assert len(history) == 24 and history[0].from_version is None
    assert all(a.to_version == b.from_version for a, b in itertools.pairwise(history))
    assert get_alias(store, kind, "qa", "staging") == history[-1].to_version


def test_an_index_alias_points_only_at_a_ready_version(store: Store) -> None:
    _three_versions(store, "index")
    with pytest.raises(NotFoundError, match=r"'qa@4' not found \(no ready version\)"):
        set_alias(store, "index", "qa", "staging", 4, reason="failed build")


def test_unknown_and_unregistered_kinds_are_named(store: Store) -> None:
    with pytest.raises(InputError, match="unknown subject kind 'bot'"):
        set_alias(store, "bot", "qa", "staging", 1, reason="x")
    with pytest.raises(InputError, match="no registry of kind 'bundle' is loaded"):
        set_alias(store, "bundle", "qa", "staging", 1, reason="x")
    with pytest.raises(ValueError, match="unknown alias kind"):
        register_alias_subject("bot", check_version=_dataset_version)


def _decision(store: Store, kind: str, version: int, alias: str, decision: str = "pass") -> int:
    subject = Subject(kind, "qa", version)
    return record_decision(
        store, subject, alias=alias, decision=decision, policy=None, evidence=None, reason="t"
    )


def test_a_protected_alias_moves_only_with_its_own_recorded_decision(
    store: Store, kind: str
) -> None:
    def refused(gate: GateToken | None, version: int = 2, match: str = "") -> None:
        with pytest.raises(GateRequired, match=match):
            set_alias(store, kind, "qa", "production", version, reason="ship", gate=gate)

    refused(None, match=rf"protected: move it with `llmops promote {kind}:qa@2 --to production`")
    decision = _decision(store, kind, 2, "production")
    mine = GateToken(decision, f"{kind}:qa@2", "production")
    refused(GateToken(decision, f"{kind}:qa@2", "canary"), match="was for")  # another alias
    refused(mine, version=3, match=f"not {kind}:qa@3 -> production")  # another version
    refused(GateToken(10_000, f"{kind}:qa@2", "production"), match="10000 is not recorded")
    # a real decision, but for another subject or alias, or one that moves nothing
    other = _decision(store, kind, 1, "production")
    refused(GateToken(other, f"{kind}:qa@2", "production"), match=f"was for {kind}:qa@1")
    staging = _decision(store, kind, 2, "staging")
    refused(GateToken(staging, f"{kind}:qa@2", "production"), match="-> staging")
    failed = _decision(store, kind, 2, "production", decision="fail")
    refused(GateToken(failed, f"{kind}:qa@2", "production"), match="'fail', which moves no")
    assert alias_history(store, kind, "qa") == []

    moved = set_alias(store, kind, "qa", "production", 2, reason="gate passed", gate=mine)
    assert (moved.to_version, moved.gate_decision_id) == (2, decision)
    assert alias_history(store, kind, "qa", "production")[0].gate_decision_id == decision
    refused(mine, match="already moved alias 'production'")  # a decision moves once

    newer = _decision(store, kind, 3, "production")
    set_alias(
        store,
        kind,
        "qa",
        "production",
        3,
        reason="newer",
        gate=GateToken(newer, f"{kind}:qa@3", "production"),
    )
    with pytest.raises(GateRequired, match=f"llmops promote {kind}:qa@2 --to production"):
        rollback_alias(store, kind, "qa", "production", reason="regressed")
    undo = _decision(store, kind, 2, "production", decision="rollback")
    token = GateToken(undo, f"{kind}:qa@2", "production")
    back = rollback_alias(store, kind, "qa", "production", reason="regressed", gate=token)
    assert (back.to_version, back.action, back.gate_decision_id) == (2, "rollback", undo)


def test_without_a_gate_verifier_a_protected_move_is_refused(store: Store) -> None:
    _three_versions(store, "prompt")
    decision = _decision(store, "prompt", 2, "production")
    token = GateToken(decision, "prompt:qa@2", "production")
    previous = register_gate_verifier(None)
    try:
        with pytest.raises(GateRequired, match="no gate verifier is loaded"):
            set_alias(store, "prompt", "qa", "production", 2, reason="x", gate=token)
    finally:
        register_gate_verifier(previous)
    assert previous is llmops.gates.verify_gate_token
    assert set_alias(store, "prompt", "qa", "production", 2, reason="x", gate=token).to_version


def test_aliases_listed_in_gates_yaml_are_protected(project: Path) -> None:
    store = open_store()
    _three_versions(store, "model")
    set_alias(store, "model", "qa", "canary", 1, reason="not protected yet")
    gates = project / "configs" / "gates.yaml"
    gates.write_text(gates.read_text().replace("[production]", "[production, canary]"))
    with pytest.raises(GateRequired, match="alias 'canary' is protected"):
        set_alias(store, "model", "qa", "canary", 2, reason="x")
    assert main(["alias", "set", "model:qa", "canary", "2", "-r", "x"]) == 2


@pytest.fixture
def fake(project: Path) -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        use_fake_model(project, server)
        yield server


def _run_json(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> Any:
    capsys.readouterr()
    assert main(argv) == code
    return json.loads(capsys.readouterr().out)


def test_promote_moves_production_and_records_its_decision(
    project: Path, fake: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["prompts", "sync"]) == 0
    assert main(["alias", "set", "prompt:qa", "production", "1", "-r", "sneaky"]) == 2
    assert "llmops promote prompt:qa@1 --to production" in capsys.readouterr().err
    outcome = _run_json(capsys, ["promote", "prompt:qa", "--to", "production", "--json"])
    assert (outcome["moved"], outcome["decision"]) == (True, "pass")
    history = _run_json(capsys, ["alias", "history", "prompt:qa", "production", "--json"])
    assert [(e["to_version"], e["gate_decision_id"]) for e in history] == [
        (1, outcome["decision_id"])
    ]


def test_generic_cli_sets_lists_and_rolls_back(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = open_store()
    for kind in ("prompt", "model", "index"):
        _three_versions(store, kind)
        subject = f"{kind}:qa"
        moved = _run_json(capsys, ["alias", "set", subject, "staging", "2", "-r", "a", "--json"])
        assert (moved["kind"], moved["to_version"], moved["reason"]) == (kind, 2, "a")
        _run_json(capsys, ["alias", "set", subject, "staging", "3", "-r", "b", "--json"])
        assert _run_json(capsys, ["alias", "list", subject, "--json"]) == {"staging": 3}
        back = _run_json(capsys, ["alias", "rollback", subject, "staging", "--json"])
        assert (back["from_version"], back["to_version"], back["action"]) == (3, 2, "rollback")
        history = _run_json(capsys, ["alias", "history", subject, "--json"])
        assert [e["reason"] for e in history] == ["rollback from version 3", "b", "a"]
        capsys.readouterr()
        assert main(["alias", "history", subject]) == 0
        table = capsys.readouterr().out
        assert f"{subject} · alias moves" in table and "rollback" in table
    for bad in ("qa", "bot:qa", "prompt:", "prompt:qa@2"):
        capsys.readouterr()
        assert main(["alias", "history", bad]) == 2
        err = capsys.readouterr().err
        assert "is not KIND:NAME" in err and len(err.strip().splitlines()) == 1, err
    assert main(["alias", "set", "prompt:qa", "staging", "9", "-r", "x"]) == 2
    assert "prompt 'qa' has no version 9" in capsys.readouterr().err


# --- the 0012 migration: a store at 0011 with aliases and events of all three subjects ---

_OLD_ROWS = (
    "insert into prompts (id, name, description, created_at) values (7, 'qa', '', :t)",
    "insert into registered_models (id, name, description, tags, created_at)"
    " values (5, 'bot', '', '[]', :t)",
    "insert into prompt_aliases (prompt_id, alias, version, updated_at)"
    " values (7, 'staging', 2, :t)",
    "insert into model_aliases (model_id, alias, version, updated_at)"
    " values (5, 'production', 3, :t)",
    "insert into rag_aliases (pipeline, alias, version, updated_at)"
    " values ('docs', 'staging', 1, :t)",
)


def _old_events() -> list[tuple[str, str, str, str, int | None, int, str]]:
    """(table, owner column, owner, alias, from, to, reason) in the order they happened."""
    return [
        ("prompt_alias_events", "prompt_id", "7", "staging", None, 1, "p first"),
        ("model_alias_events", "model_id", "5", "production", None, 2, "m first"),
        ("rag_alias_events", "pipeline", "'docs'", "staging", None, 2, "r first"),
        ("prompt_alias_events", "prompt_id", "7", "staging", 1, 2, "p second"),
        ("model_alias_events", "model_id", "5", "production", 2, 3, "m second"),
        ("rag_alias_events", "pipeline", "'docs'", "staging", 2, 1, "r second"),
    ]


def _at_0011_with_aliases(store_url: str) -> Store:
    from alembic import command

    from llmops.store._store import _alembic_config

    store = Store(store_url)
    with store.engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0011_otlp_logs")
    with store.engine.begin() as connection:
        when = {"t": "2026-12-01 10:00:00"}
        for statement in _OLD_ROWS:
            connection.execute(text(statement), when)
        for table, column, owner, alias, old, new, reason in _old_events():
            action = "" if table.startswith("rag") else ", action"
            connection.execute(
                text(
                    f"insert into {table} ({column}, alias, from_version, to_version, actor,"
                    f" reason{action}, created_at) values ({owner}, :a, :f, :n, 'ann', :r"
                    f"{', :x' if action else ''}, :t)"
                ),
                {"a": alias, "f": old, "n": new, "r": reason, "x": "set", **when},
            )
    return store


def test_the_0012_migration_keeps_every_alias_and_event(store_url: str) -> None:
    store = _at_0011_with_aliases(store_url)
    assert store.upgrade() == ("0011_otlp_logs", head_revision())
    store.ensure_schema()
    assert aliases_of(store, "prompt", "qa") == {"staging": 2}
    assert aliases_of(store, "model", "bot") == {"production": 3}
    assert aliases_of(store, "index", "docs") == {"staging": 1}
    for kind, name, reasons in (
        ("prompt", "qa", ["p second", "p first"]),
        ("model", "bot", ["m second", "m first"]),
        ("index", "docs", ["r second", "r first"]),
    ):
        events = alias_history(store, kind, name)
        assert [e.reason for e in events] == reasons
        assert {(e.actor, e.action, e.gate_decision_id) for e in events} == {("ann", "set", None)}
        assert events[0].created_at.year == 2026
    # and back: 0011's tables hold the same rows again
    from alembic import command

    from llmops.store._store import _alembic_config

    with store.engine.begin() as connection:
        command.downgrade(_alembic_config(connection), "0011_otlp_logs")
    with store.engine.connect() as connection:
        rows = connection.execute(
            text("select prompt_id, alias, version from prompt_aliases")
        ).all()
        reasons = connection.execute(
            text("select reason, action from model_alias_events order by id")
        ).all()
        rag = connection.execute(text("select pipeline, reason from rag_alias_events")).all()
    assert [tuple(r) for r in rows] == [(7, "staging", 2)]
    assert [tuple(r) for r in reasons] == [("m first", "set"), ("m second", "set")]
    assert sorted(tuple(r) for r in rag) == [("docs", "r first"), ("docs", "r second")]
    assert store.upgrade() == ("0011_otlp_logs", head_revision())
    assert len(alias_history(store, "prompt", "qa")) == 2
    store.close()
