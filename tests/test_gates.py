"""Gates: decisions on eval evidence, promotion, overrides, rollback, sign-off, the audit
trail, and no path that moves a protected alias without a decision."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _fake_openai import FakeOpenAI
from conftest import use_fake_model

from llmops._exceptions import ConfigError, InputError, NotFoundError
from llmops.cli import main
from llmops.config import load_config
from llmops.gates import GateRequired, check_gate, list_decisions, promote, rollback, signoff
from llmops.prompts import get_version, load_prompt_file, register_prompt
from llmops.store import Store, open_store

# a template whose first user line is the question, not the context: the fake model echoes the
# first line, so this version answers worse (a regression of 'contains')
WORSE = "template: '{{ question }}\n\nContext: {{ context }}'\n"


def _store() -> Store:
    return open_store(load_config().resolved_store_url)


def _json(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> Any:
    capsys.readouterr()
    assert main(argv) == code
    return json.loads(capsys.readouterr().out)


def _register_worse(project: Path) -> int:
    path = project / "prompts" / "qa_worse.yaml"
    path.write_text(WORSE)
    spec = load_prompt_file(path).model_copy(update={"name": "qa"})
    return register_prompt(_store(), spec, message="worse").version


@pytest.fixture
def fake(project: Path) -> Any:
    with FakeOpenAI() as server:
        use_fake_model(project, server)
        yield server


def test_promotion_passes_fails_overrides_and_rolls_back(
    project: Path, fake: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _json(capsys, ["promote", "prompt:qa", "--to", "production", "--json"])
    assert (first["moved"], first["decision"], first["subject"]) == (True, "pass", "prompt:qa@1")
    rows = first["gate"]["evidence"]
    assert rows[0]["requirement"] == "contains mean >= 0.40" and rows[0]["passed"]
    assert get_version(_store(), "qa", "production").version == 1
    calls = len(fake.requests)

    # the same candidate again: its evidence run is reused, no model call
    again = _json(capsys, ["gate", "check", "prompt:qa@1", "--json"])
    assert again["decision"] == "pass" and len(fake.requests) == calls
    assert any("reused" in note for note in again["notes"])

    worse = _register_worse(project)
    failed = _json(capsys, ["gate", "check", f"prompt:qa@{worse}", "--json"], code=1)
    assert failed["decision"] == "fail" and failed["current"] == "prompt:qa@1"
    regression = [row for row in failed["evidence"] if "vs prompt:qa@1" in row["requirement"]]
    assert regression and not regression[0]["passed"] and "CI" in regression[0]["measured"]
    assert main(["promote", f"prompt:qa@{worse}"]) == 1
    assert get_version(_store(), "qa", "production").version == 1  # nothing moved

    assert main(["promote", f"prompt:qa@{worse}", "--force"]) == 2  # an override needs a reason
    forced = _json(
        capsys,
        ["promote", f"prompt:qa@{worse}", "--force", "-r", "hotfix for a demo", "--json"],
    )
    assert (forced["moved"], forced["decision"]) == (True, "override")
    assert get_version(_store(), "qa", "production").version == worse

    assert main(["gate", "rollback", "prompt:qa", "-r", "override regretted"]) == 0
    assert get_version(_store(), "qa", "production").version == 1

    trail = _json(capsys, ["gate", "history", "prompt:qa", "--json"])
    decisions = [(d["decision"], d["subject"]) for d in trail]
    assert decisions[:3] == [
        ("rollback", "qa@1"),
        ("override", f"qa@{worse}"),
        ("fail", f"qa@{worse}"),
    ]
    assert all(d["actor"] and d["created_at"] for d in trail)
    override = trail[1]
    assert override["reason"] == "hotfix for a demo" and override["policy"] == "qa-prompt"
    assert override["policy_hash"] and override["evidence"]["runs"]


def test_no_path_moves_production_without_a_decision(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from llmops import prompts
    from llmops.store import set_alias

    assert main(["prompts", "sync"]) == 0
    assert main(["prompts", "alias", "qa", "staging", "1", "-r", "try"]) == 0
    assert main(["prompts", "alias", "qa", "production", "1", "-r", "sneaky"]) == 2
    assert "llmops promote prompt:qa@1" in capsys.readouterr().err
    assert main(["prompts", "rollback", "qa", "production", "-r", "x"]) == 2
    with pytest.raises(GateRequired):
        prompts.set_alias("qa", "production", 1, reason="sneaky")
    with pytest.raises(GateRequired):
        set_alias(_store(), "prompt", "qa", "production", 1, reason="sneaky")
    with pytest.raises(NotFoundError):
        get_version(_store(), "qa", "production")
    with pytest.raises(GateRequired, match="llmops promote index:docs@1"):
        set_alias(_store(), "index", "docs", "production", 1, reason="sneaky")
    assert main(["rag", "alias", "docs", "production", "1", "-r", "sneaky"]) == 2
    from llmops.registry import register_model_version

    register_model_version(_store(), "bot", serve_model="openai/bot")
    with pytest.raises(GateRequired, match="llmops promote model:bot@1"):
        set_alias(_store(), "model", "bot", "production", 1, reason="sneaky")
    assert main(["models", "alias", "bot", "production", "1", "-r", "sneaky"]) == 2
    (project / "configs" / "gates.yaml").write_text(
        (project / "configs" / "gates.yaml")
        .read_text()
        .replace("[production]", "[production, canary]")
    )
    assert (
        main(["prompts", "alias", "qa", "canary", "1", "-r", "x"]) == 2
    )  # configured as protected
    assert list_decisions(_store()) == []


def test_human_signoff_and_calibrated_judge_requirements(project: Path, fake: FakeOpenAI) -> None:
    gates = project / "configs" / "gates.yaml"
    gates.write_text(
        gates.read_text().replace(
            "non_regression: {contains: 0.1}",
            "non_regression: {contains: 0.1}\n    human_signoff: true\n"
            "    calibrated_judges: {faithfulness: 0.3}",
        )
    )
    result = check_gate("prompt:qa@latest")
    failing = {row.requirement: row.measured for row in result.rows if not row.passed}
    assert failing == {
        "human sign-off": "none",
        "judge faithfulness calibrated, kappa >= 0.30": "never calibrated",
    }
    signoff("prompt:qa@1", reason="read 20 answers")
    result = check_gate("prompt:qa@1")
    assert [row.measured for row in result.rows if row.requirement == "human sign-off"] == [
        f"{result.rows[-1].measured}"
    ]
    assert result.rows[-1].passed and not result.passed  # the judge is still uncalibrated


def test_policy_mistakes_are_clear_errors(project: Path, fake: FakeOpenAI) -> None:
    gates = project / "configs" / "gates.yaml"
    original = gates.read_text()
    gates.write_text(original.replace("thresholds: {contains: 0.4}", "thresholds: {bleu: 0.4}"))
    with pytest.raises(
        ConfigError, match=r"gates.yaml:\d+: policy 'qa-prompt' names scorer 'bleu'"
    ):
        check_gate("prompt:qa@latest")
    gates.write_text(original.replace("evals/llmops_docs.yaml", "evals/missing.yaml"))
    with pytest.raises(ConfigError, match=r"gates.yaml:\d+: suite 'evals/missing.yaml' not found"):
        check_gate("prompt:qa@latest")
    gates.write_text(original.replace("subject: prompt", "subject: prompts"))
    with pytest.raises(ConfigError, match=r"gates.yaml:\d+: key 'policies.0.subject'"):
        check_gate("prompt:qa@latest")
    gates.write_text(original)
    with pytest.raises(NotFoundError, match="no policy covers index:docs"):
        promote("index:docs@1", config=load_config())
    with pytest.raises(Exception, match="is not a subject"):
        check_gate("qa@1")
    with pytest.raises(Exception, match="a rollback needs a reason"):
        rollback("prompt:qa", reason=" ")


def test_stale_evidence_is_not_reused(project: Path, fake: FakeOpenAI) -> None:
    check_gate("prompt:qa@latest")
    calls = len(fake.requests)
    data = project / "evals" / "data" / "llmops_docs.jsonl"
    data.write_text(data.read_text().splitlines()[0] + "\n")  # the dataset changed
    with pytest.raises(
        InputError, match=r"no evidence for prompt:qa@1: stale: run \w+ used another"
    ):
        check_gate("prompt:qa@1", reuse_only=True)
    assert main(["gate", "check", "prompt:qa@1", "--reuse-only"]) == 2
    result = check_gate("prompt:qa@1")
    assert any("ran now" in note for note in result.notes)  # the old run was not reused
    assert len(fake.requests) == calls  # (its one case was answered from the response cache)


def test_a_registered_model_version_is_gated_on_the_suite(
    project: Path, fake: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    from llmops.registry import get_model_version, register_model_version

    gates = project / "configs" / "gates.yaml"
    gates.write_text(
        gates.read_text()
        + "  - name: bots\n    subject: model\n    suites: [evals/llmops_docs.yaml]\n"
        "    thresholds: {contains: 0.4}\n"
    )
    register_model_version(_store(), "bot", serve_model="openai/bot-v1", api_base=fake.api_base)
    outcome = _json(capsys, ["promote", "model:bot@1", "--json"])
    assert (outcome["moved"], outcome["decision"]) == (True, "pass")
    assert {request["model"] for request in fake.requests} == {"bot-v1"}  # the version served
    assert get_model_version(_store(), "bot", "production").version == 1
    [decision] = list_decisions(_store(), kind="model")
    assert (decision.subject, decision.decision, decision.policy) == ("bot@1", "pass", "bots")
    from llmops.registry import model_lineage

    lineage = model_lineage(_store(), "bot", 1)
    assert [run.id for run in lineage.eval_runs] == decision.evidence["runs"]


def test_a_bundle_moves_all_its_aliases_or_none(
    project: Path,
    fake: FakeOpenAI,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llmops.registry import get_model_version, register_model_version

    gates = project / "configs" / "gates.yaml"
    gates.write_text(
        gates.read_text()
        + "  - name: release\n    subject: bundle\n    suites: [evals/llmops_docs.yaml]\n"
        "    thresholds: {contains: 0.4}\n    non_regression: {contains: 0.1}\n"
    )
    assert main(["prompts", "sync"]) == 0
    register_model_version(_store(), "bot", serve_model="openai/bot-v1", api_base=fake.api_base)
    created = _json(
        capsys, ["bundles", "create", "support", "--prompt", "qa", "--model", "bot@1", "--json"]
    )
    assert created["components"] == {"prompt": "qa@1", "model": "bot@1"}

    from llmops.gates import _subjects
    from llmops.store import AliasEvent

    real = _subjects.set_alias

    def broken(store: Store, kind: str, *args: Any, **kwargs: Any) -> AliasEvent:
        if kind == "prompt":  # the model's alias (first, by kind) has moved by then
            raise RuntimeError("disk full")
        return real(store, kind, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(_subjects, "set_alias", broken)  # where the bundle's move calls it
        with pytest.raises(RuntimeError, match="disk full"):
            promote("bundle:support@1")
    with pytest.raises(NotFoundError):  # the model's move was rolled back with the prompt's
        get_model_version(_store(), "bot", "production")

    outcome = _json(capsys, ["promote", "bundle:support@1", "--json"])
    assert (outcome["moved"], outcome["decision"]) == (True, "pass")
    assert {r["model"] for r in fake.requests} == {"bot-v1"}
    assert get_model_version(_store(), "bot", "production").version == 1
    assert get_version(_store(), "qa", "production").version == 1
    decision = list_decisions(_store(), kind="bundle")[0]
    assert decision.versions == {"model": "bot@1", "prompt": "qa@1"}


def test_decisions_of_a_name_are_that_name_only(store: Store) -> None:
    """``list_decisions(name=...)`` matches the name as written: ``_`` and ``%`` (LIKE's
    wildcards, ``_`` allowed in names) and a longer name sharing the prefix never match."""
    from llmops.gates import Subject, record_decision

    names = ["qa_v", "qaxv", "qa_v2", "q%", "qz"]
    for name in names:
        record_decision(
            store,
            Subject("prompt", name, 1),
            alias="production",
            decision="pass",
            policy=None,
            evidence=None,
        )
    for name in names:
        found = [d.subject for d in list_decisions(store, kind="prompt", name=name)]
        assert found == [f"{name}@1"], (name, found)
