"""A store with a model registry, two versions of a real RAG index (chromadb, BM25, the local
embedder) and a promoted bundle: what the registry API and pages are tested on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llmops.config import load_config
from llmops.gates import GateToken, create_bundle, record_decision
from llmops.gates._subjects import Subject, move_alias
from llmops.prompts import PromptSpec, register_prompt
from llmops.rag._index import build_index
from llmops.rag._spec import load_pipeline
from llmops.registry import link_lineage, register_model_version
from llmops.store import Store, set_alias
from llmops.store.models import EvalRunRecord, ServingEndpointRecord
from llmops.tracking import start_run

DOCS = {
    "refunds.md": "# Refunds\n\nRefunds are paid back to the original card within five days.",
    "shipping.md": "# Shipping\n\nParcels ship from Lyon. Express parcels arrive the next day.",
    "accounts.txt": "To reset your password, open Settings, choose Security, then Reset.",
}


@dataclass(frozen=True)
class Seeded:
    training_run: str
    eval_run: str
    decision: int
    endpoint: str


def build_help_index(store: Store, root: Path, data_dir: Path, hostile: str = "") -> None:
    """``help@1`` and ``help@2`` (refunds changed, shipping removed, a hostile file added)."""
    docs, configs = root / "docs", root / "configs" / "rag"
    docs.mkdir(parents=True, exist_ok=True)
    configs.mkdir(parents=True, exist_ok=True)
    for name, text in DOCS.items():
        (docs / name).write_text(text)
    (configs / "help.yaml").write_text(
        f"sources:\n  - path: {docs}\n"
        "splitter: {type: recursive, chunk_size: 200, chunk_overlap: 20}\n"
        "embedder: local/minilm\n"
    )
    loaded = load_pipeline("help", root / "configs")
    build_index(store, loaded, data_dir)
    (docs / "refunds.md").write_text(DOCS["refunds.md"].replace("five", "ten"))
    (docs / "shipping.md").unlink()
    name = f"{hostile.replace('/', '_')[:80]}.md" if hostile else "extra.md"
    (docs / name).write_text(f"# Loyalty points\n\nPoints expire after a year. {hostile}")
    build_index(store, loaded, data_dir)
    set_alias(store, "index", "help", "staging", 1, reason="first")
    set_alias(store, "index", "help", "staging", 2, reason="refunds in ten days")


def seed_registry(store: Store, root: Path, hostile: str = "<b>bold</b>") -> Seeded:
    """Models ``bot`` (2 versions, an adapter, lineage), the index, a bundle and its promotion."""
    with start_run("fine-tune", name="lora-1", store=store) as run:
        run.log_params({"lr": 0.001})
    adapter = root / "adapter.bin"
    adapter.write_bytes(b"adapter weights")
    register_model_version(
        store,
        "bot",
        serve_model="hosted_vllm/bot-ft",
        base_model="qwen",
        adapter_path=adapter,
        source_run_id=run.id,
        description=hostile,
        params={hostile: hostile},
    )
    register_model_version(store, "bot", serve_model=hostile, description="second")
    set_alias(store, "model", "bot", "staging", 1, reason="first")
    set_alias(store, "model", "bot", "staging", 2, reason=hostile)
    eval_run = "e" * 32
    with store.write() as session:
        session.add(
            EvalRunRecord(
                id=eval_run,
                suite="docs-qa",
                model_name="bot@1",
                model="hosted_vllm/bot-ft",
                status="finished",
                summary={"accuracy": 0.9},
            )
        )
        session.add(
            ServingEndpointRecord(
                id="ep1",
                model="bot@1",
                backend="vllm",
                served_model_name="bot",
                api_base="http://127.0.0.1:9/v1",
                port=9,
                status="stopped",
            )
        )
    link_lineage(store, "bot", 1, eval_run_ids=[eval_run], dataset_hashes=["d" * 64])
    build_help_index(store, root, load_config().data_dir, hostile)
    register_prompt(store, PromptSpec(name="qa", template="Answer {{ question }}"))
    create_bundle(store, "release", prompt="qa@1", model="bot@1", index="help@1")
    bundle = create_bundle(store, "release", prompt="qa@1", model="bot@2", index="help@2")
    subject = Subject("bundle", "release", bundle.version, tuple(bundle.components.items()))
    decision = record_decision(
        store, subject, alias="canary", decision="pass", policy=None, evidence={}, reason=hostile
    )
    move_alias(
        store,
        subject,
        "canary",
        reason="release",
        actor="tester",
        gate=GateToken(decision, f"bundle:{bundle.ref}", "canary"),
    )
    return Seeded(run.id, eval_run, decision, "ep1")
