"""Online gate evidence: scores on live traces that ran the candidate (a prompt version, a
model version through a canary route), written through the SDK against a fake model, on both
store backends; bad `online:` entries named by file:line; a bounded decision record."""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _fake_openai import FakeOpenAI

import llmops.registry
from llmops._exceptions import ConfigError
from llmops.cli import main
from llmops.config import Config, ModelConfig, load_config
from llmops.gates import (
    GateResult,
    OnlineRequirement,
    check_gate,
    list_decisions,
    online_evidence,
    parse_subject,
)
from llmops.llm import Route, Router, complete, resolve_model
from llmops.prompts import PromptVersion, load_prompt_file, register_prompt
from llmops.store import Store, open_store
from llmops.tracing import (
    add_scores,
    configure_tracing,
    feedback,
    flush,
    get_trace,
    make_score,
    span,
)

POLICY = """\
protected_aliases: [production]
policies:
  - name: qa-online
    subject: prompt
    names: [qa]
    online: {{scorer: helpful, min_mean: 0.7, since: 7d, min_n: {min_n}}}
  - name: bot-online
    subject: model
    online:
      - {{scorer: helpful, min_mean: 0.5, since: 1d, min_n: {min_n}}}
"""


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def _policy(project: Path, min_n: int) -> None:
    (project / "configs" / "gates.yaml").write_text(POLICY.format(min_n=min_n))


def _prompts(project: Path, store: Store) -> tuple[PromptVersion, PromptVersion]:
    spec = load_prompt_file(project / "prompts" / "qa.yaml")
    first = register_prompt(store, spec)
    second = register_prompt(store, spec.model_copy(update={"model_params": {"seed": 2}}))
    return first, second


def _answer(version: PromptVersion, fake: FakeOpenAI, **attributes: Any) -> str:
    """One traced request answered with the rendered prompt; returns its trace id."""
    model = resolve_model("fake", _config(fake))
    with span("answer", kind="chain", attributes=attributes or None) as root:
        messages = version.render(question="Who?", context="Ada.")
        assert isinstance(messages, list)
        complete(messages, model, retries=0)
        return root.trace_id_hex


def _config(fake: FakeOpenAI) -> Config:
    config = load_config()
    config.models["fake"] = ModelConfig(model="openai/fake", api_base=fake.api_base)
    return config


def _row(result: GateResult) -> dict[str, Any]:
    [row] = [row for row in result.to_dict()["evidence"] if row["suite"] == "online"]
    return dict(row)


def test_prompt_gate_on_live_scores(project: Path, store: Store, fake: FakeOpenAI) -> None:
    config = _config(fake)
    configure_tracing(store, config)
    first, second = _prompts(project, store)
    scores = []
    for value in (1.0, True, 0.5, 1.0):  # numeric and boolean scores mix: mean 0.875
        scores.append(feedback(_answer(second, fake), "helpful", value, store=store))
    feedback(_answer(second, fake), "helpful", "great", store=store)  # a label has no mean
    feedback(_answer(second, fake), "tone", 0.0, store=store)  # another score name
    feedback(_answer(first, fake), "helpful", 0.0, store=store)  # another version
    offline = _answer(second, fake, **{"llmops.eval.run_id": "r" * 32})
    feedback(offline, "helpful", 0.0, store=store)  # an eval run's trace: offline evidence
    flush()

    _policy(project, min_n=4)
    result = check_gate(f"prompt:qa@{second.version}", config=config, store=store)
    row = _row(result)
    assert result.passed and row["passed"], row
    assert row["measured"] == "mean 0.875 (n=4, 4 traces, since 7d)"
    online = row["online"]
    assert (online["n"], online["traces"], online["mean"]) == (4, 4, 0.875)
    assert online["score_ids"] == sorted(score.id for score in scores)
    assert not online["score_ids_truncated"]
    assert 0 < online["until_ns"] - online["since_ns"] == 7 * 86400 * 10**9
    [decision] = list_decisions(store)
    assert decision.decision == "pass"
    assert decision.evidence["evidence"][0]["online"]["score_ids"] == online["score_ids"]

    failed = check_gate(f"prompt:qa@{first.version}", config=config, store=store)
    assert not failed.passed
    assert _row(failed)["measured"] == "1 of 4 scores since 7d (mean 0.000)"

    _policy(project, min_n=200)  # too few scores: a failure that says how few, never a pass
    few = check_gate(f"prompt:qa@{second.version}", config=config, store=store)
    assert not few.passed
    assert _row(few)["measured"] == "4 of 200 scores since 7d (mean 0.875)"
    assert "4 of 200 scores since 7d" in list_decisions(store)[0].reason

    # the window: eight days on, none of these traces is within 7d
    subject = parse_subject(store, f"prompt:qa@{second.version}")
    wanted = OnlineRequirement(scorer="helpful", min_mean=0.7, since="7d", min_n=1)
    later = online_evidence(store, subject, wanted, now_ns=time.time_ns() + 8 * 86400 * 10**9)
    assert (later.n, later.mean, later.score_ids) == (0, None, ())


def test_model_gate_counts_canary_traffic_not_shadow_calls(
    project: Path, store: Store, fake: FakeOpenAI
) -> None:
    config = _config(fake)
    configure_tracing(store, config)
    for _ in range(2):
        llmops.registry.register_model_version(
            store, "bot", serve_model="openai/fake", api_base=fake.api_base
        )
    canary = Route(name="canary", weights={"bot@1": 1, "bot@2": 1})
    shadow = Route(name="mirror", primary="bot@1", shadow="bot@2")
    router = Router([canary, shadow], store=store, config=config, rng=random.Random(7))
    answered: dict[str, list[str]] = {"bot@1": [], "bot@2": []}
    for value in (1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0):
        with span("request", kind="chain") as root:
            completion = router.complete("canary", [{"role": "user", "content": "hi"}])
        assert completion.version is not None
        score = feedback(root.trace_id_hex, "helpful", value, store=store)
        answered[completion.version].append(score.id)
    mirrored = []
    for _ in range(3):  # bot@2 only shadows these: its answers never reached the user
        with span("request", kind="chain") as root:
            router.complete("mirror", [{"role": "user", "content": "hi"}])
        feedback(root.trace_id_hex, "helpful", 0.0, store=store)
        mirrored.append(root.trace_id_hex)
    router.drain()
    flush()
    shadowed = [
        s.attributes
        for trace_id in mirrored
        for s in get_trace(store, trace_id)
        if s.attributes.get("llmops.route.shadow")
    ]
    assert [a["llmops.model.name"] for a in shadowed] == ["bot@2"] * 3  # they are stored
    assert answered["bot@1"] and answered["bot@2"]  # the seeded canary sent traffic to both

    _policy(project, min_n=1)
    result = check_gate("model:bot@2", config=config, store=store)
    online = _row(result)["online"]
    assert online["score_ids"] == sorted(answered["bot@2"])
    assert online["n"] == len(answered["bot@2"])
    baseline = check_gate("model:bot@1", config=config, store=store)
    assert _row(baseline)["online"]["n"] == len(answered["bot@1"]) + 3


def test_the_recorded_evidence_stays_bounded(project: Path, store: Store, fake: FakeOpenAI) -> None:
    config = _config(fake)
    configure_tracing(store, config)
    _, second = _prompts(project, store)
    trace_id = _answer(second, fake)
    flush()
    stored = []
    for _ in range(2):  # 1,100 scores on one trace, in two calls (1,000 at most per call)
        batch = [make_score(trace_id, "helpful", 1.0) for _ in range(550)]
        stored += add_scores(store, batch)
    _policy(project, min_n=1000)
    result = check_gate(f"prompt:qa@{second.version}", config=config, store=store)
    online = _row(result)["online"]
    ids = sorted(score.id for score in stored)
    assert online["n"] == 1100 and online["traces"] == 1 and result.passed
    assert online["score_ids"] == ids[:1000] and online["score_ids_truncated"]
    assert (
        online["score_ids_sha256"]
        == hashlib.sha256("".join(f"{i}\n" for i in ids).encode()).hexdigest()
    )
    recorded = list_decisions(store)[0].evidence
    assert len(json.dumps(recorded)) < 60_000  # about 35 bytes per id, whatever n is


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{scorer: helpful, min_mean: 0.7, since: 7x, min_n: 2}", "'7x' is not a duration"),
        ("{scorer: helpful, min_mean: 0.7, since: 0d, min_n: 2}", "longer than 0"),
        ("{scorer: helpful, min_mean: 0.7, since: 7d, min_n: 0}", "greater than or equal to 1"),
        ("{scorer: helpful, min_mean: 0.7, since: 7d, min_n: true}", "expected a number"),
        ("{scorer: helpful, min_mean: '0.7', since: 7d, min_n: 2}", "expected a number"),
        ("{scorer: helpful, min_mean: .nan, since: 7d, min_n: 2}", "finite"),
        ("{scorer: helpful, since: 7d, min_n: 2}", "min_mean"),
        ("{scorer: helpful, min_mean: 0.7, since: 7d, min_n: 2, minmean: 1}", "unknown key"),
        ("[{scorer: '', min_mean: 0.7, since: 7d, min_n: 2}]", "scorer"),
        ("helpful", "online"),
    ],
)
def test_bad_online_entries_are_named_by_file_and_line(
    project: Path, entry: str, message: str
) -> None:
    gates = project / "configs" / "gates.yaml"
    gates.write_text("policies:\n  - name: p\n    subject: prompt\n\n    online: " + entry + "\n")
    with pytest.raises(ConfigError, match=message) as raised:
        check_gate("prompt:qa@1")
    text = str(raised.value)
    assert text.startswith(f"{gates}:5: ") and "'policies.0.online" in text and "\n" not in text


def test_a_policy_needs_suites_or_online_evidence(project: Path) -> None:
    gates = project / "configs" / "gates.yaml"
    gates.write_text("policies:\n  - name: p\n    subject: prompt\n")
    with pytest.raises(ConfigError, match="needs suites, online evidence or both"):
        check_gate("prompt:qa@1")


def test_cli_gate_check_shows_the_online_row(
    project: Path, fake: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    store = open_store(load_config().resolved_store_url)
    configure_tracing(store, _config(fake))
    first, _ = _prompts(project, store)
    feedback(_answer(first, fake), "helpful", 1.0, store=store)
    flush()
    _policy(project, min_n=2)
    capsys.readouterr()
    assert main(["gate", "check", "prompt:qa@1"]) == 1
    out = capsys.readouterr().out
    assert "online" in out and "1 of 2 scores since 7d" in out
    feedback(_answer(first, fake), "helpful", True, store=store)
    flush()
    assert main(["gate", "check", "prompt:qa@1", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["evidence"][0]["online"]["n"] == 2
