"""Online gate evidence for a RAG index and a bundle: scores (through ``feedback``) on live
traces that retrieved from a real index (chromadb, BM25, the local embedder) through
``llmops.rag`` and called a registered model version, on both store backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _fake_openai import FakeOpenAI
from _registry_seed import build_help_index

from llmops.config import Config, load_config
from llmops.gates import GateResult, check_gate, create_bundle
from llmops.llm import complete, resolve_version_model
from llmops.prompts import PromptSpec, PromptVersion, register_prompt
from llmops.rag import retrieve
from llmops.registry import register_model_version
from llmops.store import Store
from llmops.tracing import configure_tracing, feedback, flush, span

POLICY = """\
policies:
  - name: help-online
    subject: index
    names: [help]
    online: {{scorer: helpful, min_mean: 0.7, since: 7d, min_n: {min_n}}}
  - name: release-online
    subject: bundle
    online: {{scorer: helpful, min_mean: 0.7, since: 7d, min_n: {min_n}}}
"""


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def _policy(project: Path, min_n: int) -> None:
    (project / "configs" / "gates.yaml").write_text(POLICY.format(min_n=min_n))


def _row(result: GateResult) -> dict[str, Any]:
    [row] = [row for row in result.to_dict()["evidence"] if row["suite"] == "online"]
    return dict(row)


def _request(
    store: Store,
    config: Config,
    *,
    index: str | None = None,
    prompt: PromptVersion | None = None,
    model: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> str:
    """One traced request that ran what it is given; returns its trace id."""
    with span("request", kind="chain", attributes=attributes) as root:
        if index is not None:
            assert retrieve("How are refunds paid?", index, k=2, config=config, store=store)
        if model is not None:
            messages = [{"role": "user", "content": "How are refunds paid?"}]
            if prompt is not None:
                messages = prompt.messages(question="How are refunds paid?")
            complete(messages, resolve_version_model(store, model), retries=0, prompt=prompt)
        return root.trace_id_hex


def test_index_gate_on_live_scores(project: Path, store: Store) -> None:
    config = load_config()
    build_help_index(store, project, config.data_dir)
    configure_tracing(store, config)
    for value in (1.0, True, 0.5, 1.0):  # mean 0.875
        feedback(_request(store, config, index="help@2"), "helpful", value, store=store)
    feedback(_request(store, config, index="help@1"), "helpful", 0.0, store=store)  # v1
    feedback(_request(store, config), "helpful", 0.0, store=store)  # retrieved nothing
    feedback(_request(store, config, index="help@2"), "tone", 0.0, store=store)
    offline = _request(store, config, index="help@2", attributes={"llmops.eval.run_id": "r" * 32})
    feedback(offline, "helpful", 0.0, store=store)  # an eval run's trace: offline evidence
    flush()

    _policy(project, min_n=4)
    result = check_gate("index:help@2", config=config, store=store)
    row = _row(result)
    assert result.passed and row["passed"], row
    assert row["measured"] == "mean 0.875 (n=4, 4 traces, since 7d)"
    failed = check_gate("index:help@1", config=config, store=store)
    assert not failed.passed
    assert _row(failed)["measured"] == "1 of 4 scores since 7d (mean 0.000)"
    _policy(project, min_n=200)
    few = check_gate("index:help@2", config=config, store=store)
    assert not few.passed
    assert _row(few)["measured"] == "4 of 200 scores since 7d (mean 0.875)"


def test_bundle_gate_counts_traces_that_ran_every_component(
    project: Path, store: Store, fake: FakeOpenAI
) -> None:
    config = load_config()
    build_help_index(store, project, config.data_dir)
    configure_tracing(store, config)
    for _ in range(2):
        register_model_version(store, "bot", serve_model="openai/fake", api_base=fake.api_base)
    spec = PromptSpec(name="qa", template="Answer {{ question }}")
    register_prompt(store, spec)
    qa = register_prompt(store, spec.model_copy(update={"model_params": {"seed": 2}}))
    assert qa.version == 2
    release = create_bundle(store, "release", prompt="qa@2", model="bot@2", index="help@2")
    other = create_bundle(store, "release", prompt="qa@2", model="bot@1", index="help@2")
    assert release.components == {"prompt": "qa@2", "model": "bot@2", "index": "help@2"}

    scores = []
    for value in (1.0, True, 0.5, 1.0):  # every component ran: mean 0.875
        trace = _request(store, config, index="help@2", prompt=qa, model="bot@2")
        scores.append(feedback(trace, "helpful", value, store=store).id)
    # each of these misses one component of release@1: none counts for it
    feedback(_request(store, config, prompt=qa, model="bot@2"), "helpful", 0.0, store=store)
    feedback(_request(store, config, index="help@2", model="bot@2"), "helpful", 0.0, store=store)
    feedback(
        _request(store, config, index="help@1", prompt=qa, model="bot@2"),
        "helpful",
        0.0,
        store=store,
    )
    # another bundle version: bot@1 instead of bot@2
    feedback(
        _request(store, config, index="help@2", prompt=qa, model="bot@1"),
        "helpful",
        0.0,
        store=store,
    )
    flush()

    _policy(project, min_n=4)
    result = check_gate(f"bundle:{release.ref}", config=config, store=store)
    row = _row(result)
    assert result.passed and row["passed"], row
    assert row["measured"] == "mean 0.875 (n=4, 4 traces, since 7d)"
    assert row["online"]["score_ids"] == sorted(scores)
    failed = check_gate(f"bundle:{other.ref}", config=config, store=store)
    assert not failed.passed
    assert _row(failed)["measured"] == "1 of 4 scores since 7d (mean 0.000)"
    _policy(project, min_n=200)
    few = check_gate(f"bundle:{release.ref}", config=config, store=store)
    assert not few.passed
    assert _row(few)["measured"] == "4 of 200 scores since 7d (mean 0.875)"
