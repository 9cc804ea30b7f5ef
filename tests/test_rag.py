"""RAG indexes with the real local embedder, a real chromadb and BM25: build, version, diff,
alias, retrieve, answer, atomic failure, embedder mismatch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmops import InputError, NotFoundError
from llmops.config import load_config
from llmops.rag._index import (
    build_index,
    delete_index,
    diff_indexes,
    list_indexes,
    resolve_index,
)
from llmops.rag._retrieve import Retriever, reciprocal_rank_fusion
from llmops.rag._spec import load_pipeline
from llmops.store import Store, alias_history, open_store, set_alias

DOCS = {
    "refunds.md": (
        "# Refunds\n\nRefunds are paid back to the original card within five business days."
    ),
    "shipping.md": "# Shipping\n\nParcels ship from Lyon. Express parcels arrive the next day.",
    "accounts.txt": "To reset your password, open Settings, choose Security, then Reset password.",
    "about.html": "<html><script>alert(1)</script><p>We sell tea and coffee.</p></html>",
}


@pytest.fixture
def corpus(project: Path) -> Path:
    docs = project / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text)
    (docs / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    (docs / "blob.txt").write_bytes(b"\x00\x01\x02 not text")
    (project / "configs" / "rag").mkdir()
    (project / "configs" / "rag" / "help.yaml").write_text(
        "sources:\n  - path: ../../docs\n"
        "splitter: {type: recursive, chunk_size: 200, chunk_overlap: 20}\n"
        "embedder: local/minilm\nretriever: {mode: hybrid, k: 2}\n"
    )
    return project


def _build(project: Path, embedder: Any = None) -> tuple[Any, list[tuple[str, str]]]:
    config = load_config()
    return build_index(
        open_store(config.resolved_store_url),
        load_pipeline("help", project / "configs"),
        config.data_dir,
        embedder=embedder,
    )


def test_build_retrieve_version_diff_alias(corpus: Path) -> None:
    info, skipped = _build(corpus)
    assert (info.ref, info.status, info.doc_count) == ("help@1", "ready", 4)
    assert info.chunk_count >= 4 and len(info.files) == 4 and len(info.corpus_hash) == 64
    assert {Path(p).name for p, _ in skipped} == {"logo.png", "blob.txt"}
    store = open_store()
    retriever = Retriever(info, load_config().data_dir)
    for mode in ("dense", "bm25", "hybrid"):
        top = retriever.retrieve("when are refunds paid back", mode=mode, k=2)  # type: ignore[arg-type]
        assert top[0].metadata["source"] == "refunds.md", mode
    assert "alert" not in " ".join(
        r.text for r in retriever.retrieve("about tea", mode="bm25", k=4)
    )
    assert retriever.retrieve("password", mode="bm25", k=1, where={"source": "accounts.txt"})[0].id

    (corpus / "docs" / "refunds.md").write_text(DOCS["refunds.md"].replace("five", "ten"))
    (corpus / "docs" / "faq.md").write_text("# FAQ\n\nWe answer e-mails within one day.")
    second, _ = _build(corpus)
    assert second.version == 2 and second.corpus_hash != info.corpus_hash
    diff = diff_indexes(store, "help@1", "help@2")
    assert [source for source, _ in diff.added] == ["faq.md"]
    assert [source for source, _ in diff.changed] == ["refunds.md"]
    assert diff.removed == []

    set_alias(store, "index", "help", "staging", 2, reason="new faq", actor="ada")
    set_alias(store, "index", "help", "staging", 1, reason="regression", actor="bob")
    assert resolve_index(store, "help@staging").version == 1
    moves = alias_history(store, "index", "help")
    assert [(m.from_version, m.to_version, m.actor, m.reason) for m in moves] == [
        (2, 1, "bob", "regression"),
        (None, 2, "ada", "new faq"),
    ]
    with pytest.raises(InputError, match="needs a reason"):
        set_alias(store, "index", "help", "staging", 1, reason="")
    assert resolve_index(store, "help").version == 2
    with pytest.raises(InputError, match="aliased as staging"):
        delete_index(store, "help@1", load_config().data_dir)
    delete_index(store, "help@2", load_config().data_dir)
    with pytest.raises(NotFoundError):
        resolve_index(store, "help@2")
    assert [i.version for i in list_indexes(store, "help")] == [1]


class _Failing:
    """An embedder that dies halfway through a build."""

    name = "local/all-minilm-l6-v2-int8"
    dimension = 384

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts: Any) -> Any:
        raise RuntimeError("killed mid-build")


def test_failed_build_leaves_the_previous_version_intact(corpus: Path) -> None:
    first, _ = _build(corpus)
    (corpus / "docs" / "new.md").write_text("brand new text about gardening")
    with pytest.raises(RuntimeError, match="killed mid-build"):
        _build(corpus, embedder=_Failing())
    store: Store = open_store()
    assert resolve_index(store, "help").version == 1
    statuses = {i.version: i.status for i in list_indexes(store, "help")}
    assert statuses == {1: "ready", 2: "failed"}
    results = Retriever(first, load_config().data_dir).retrieve("refund", k=1)
    assert results[0].metadata["source"] == "refunds.md"


def test_query_with_another_embedder_is_refused(corpus: Path) -> None:
    info, _ = _build(corpus)

    class Other:
        name, dimension = "openai/text-embedding-3-small", 1536

        def embed(self, texts: Any) -> Any:
            return np.zeros((len(texts), 1536), dtype="float32")

    with pytest.raises(InputError, match="built with embedder 'local/all-minilm-l6-v2-int8'"):
        Retriever(info, load_config().data_dir, embedder=Other())


def test_rebuild_reuses_cached_embeddings(corpus: Path) -> None:
    from llmops.rag import EmbeddingCache, get_embedder

    _build(corpus)
    cache = EmbeddingCache(load_config().data_dir / "embeddings.sqlite")
    texts = [chunk for chunk in ("x",)]
    cache.embed(get_embedder("local/minilm"), texts)
    assert cache.misses == 1
    _build(corpus)
    again = EmbeddingCache(load_config().data_dir / "embeddings.sqlite")
    from llmops.rag._chunking import split_documents
    from llmops.rag._loaders import load_sources

    loaded = load_pipeline("help", corpus / "configs")
    documents, _ = load_sources(loaded.spec.sources, loaded.base_dir)
    chunks = split_documents(documents, loaded.spec.splitter)
    again.embed(get_embedder("local/minilm"), [c.text for c in chunks])
    assert again.misses == 0 and again.hits == len(chunks)


def test_rrf() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "d"]], k=60)
    assert [doc for doc, _ in fused] == ["b", "a", "d", "c"]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)


def test_cli_build_query_and_answer(corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from _fake_openai import FakeOpenAI
    from conftest import use_fake_model

    from llmops.cli import main

    capsys.readouterr()
    assert main(["rag", "build", "help", "--json"]) == 0
    built = json.loads(capsys.readouterr().out)
    assert built["ref"] == "help@1" and len(built["skipped"]) == 2
    assert (
        main(
            [
                "rag",
                "query",
                "help",
                "reset my password",
                "--no-answer",
                "--json",
                "--mode",
                "dense",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["chunks"][0]["metadata"]["source"] == "accounts.txt" and result["answer"] is None

    def cite(request: dict[str, Any], count: int) -> tuple[int, str]:
        return 200, "Open Settings, then Security [1]. See also [9]."

    with FakeOpenAI(cite) as server:
        use_fake_model(corpus, server)
        assert main(["rag", "query", "help", "reset my password", "--json", "-k", "2"]) == 0
        answered = json.loads(capsys.readouterr().out)
        assert answered["citations"] == [answered["chunks"][0]["id"]]  # [9] is not a passage
        prompt = server.requests[0]["messages"][-1]["content"]
        assert "[1] To reset your password" in prompt and "Question: reset my password" in prompt
    assert (
        main(["rag", "alias", "help", "staging", "1", "--reason", "first release", "--json"]) == 0
    )
    assert json.loads(capsys.readouterr().out)["to_version"] == 1
    assert main(["rag", "history", "help", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["reason"] == "first release"
    assert main(["rag", "list", "--json"]) == 0
    assert [i["ref"] for i in json.loads(capsys.readouterr().out)] == ["help@1"]
    assert main(["rag", "query", "help", "x", "--mode", "fuzzy"]) == 2
    assert main(["rag", "build", "nope"]) == 2
    assert "RAG pipeline 'nope' not found" in capsys.readouterr().err


def test_dataset_and_jsonl_sources_and_token_chunks(tmp_path: Path) -> None:
    from llmops.rag._chunking import split_documents
    from llmops.rag._embed import word_piece_counter
    from llmops.rag._loaders import load_sources
    from llmops.rag._spec import SourceSpec, SplitterSpec

    (tmp_path / "faq.csv").write_text('_id,title,text\nq1,Hours,"We open at nine."\nq2,Phone,\n')
    (tmp_path / "kb.jsonl").write_text('{"_id": "k1", "text": "Alpha"}\n{"other": 1}\n')
    sources = [SourceSpec(dataset="faq.csv"), SourceSpec(jsonl="kb.jsonl", title_field=None)]
    documents, report = load_sources(sources, tmp_path)
    assert [(d.id, d.text) for d in documents] == [
        ("q1", "Hours\nWe open at nine."),
        ("k1", "Alpha"),
    ]
    assert len(report.skipped) == 2 and len(report.files) == 2
    with pytest.raises(InputError, match="unsupported dataset file type"):
        (tmp_path / "x.txt").write_text("x")
        load_sources([SourceSpec(dataset="x.txt")], tmp_path)

    long_text = " ".join(f"word{i} means something unusual" for i in range(400))
    chunks = split_documents(
        [documents[0].__class__("long", long_text)],
        SplitterSpec(type="tokens", chunk_size=64, chunk_overlap=8),
    )
    count = word_piece_counter()
    assert len(chunks) > 5 and all(count(chunk.text) <= 64 for chunk in chunks)
    again = split_documents(
        [documents[0].__class__("long", long_text)],
        SplitterSpec(type="tokens", chunk_size=64, chunk_overlap=8),
    )
    assert [c.id for c in chunks] == [c.id for c in again]  # stable across rebuilds


_KILLED_BUILD = """
import sys, time
from pathlib import Path
from llmops.config import load_config
from llmops.rag import get_embedder
from llmops.rag._index import build_index
from llmops.rag._spec import load_pipeline
from llmops.store import open_store

real = get_embedder("local/minilm")

class Stalls:
    name, dimension = real.name, real.dimension
    def embed(self, texts):
        print("embedding", flush=True)
        time.sleep(600)

config = load_config()
store = open_store(config.resolved_store_url)
build_index(store, load_pipeline("help", Path("configs")), config.data_dir, embedder=Stalls())
"""


def test_sigkill_during_a_build_leaves_the_previous_version_usable(corpus: Path) -> None:
    import subprocess
    import sys

    first, _ = _build(corpus)
    (corpus / "docs" / "new.md").write_text("A new page, so the build has something to embed.")
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_BUILD],
        cwd=corpus,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "embedding"
    child.kill()
    child.communicate(timeout=30)
    store = open_store()
    assert resolve_index(store, "help").version == 1
    assert {i.version: i.status for i in list_indexes(store, "help")} == {1: "ready", 2: "building"}
    assert Retriever(first, load_config().data_dir).retrieve("refunds paid back", k=1)[0].id


def test_llm_reranker_reorders_and_never_scores_garbage_as_zero(corpus: Path) -> None:
    from _fake_openai import FakeOpenAI
    from conftest import use_fake_model

    from llmops.rag import LLMReranker, retrieve

    def judge(request: dict[str, Any], count: int) -> tuple[int, str]:
        passage = request["messages"][-1]["content"]
        if "tea" in passage:
            return 200, "9"
        return 200, "no idea" if "password" in passage else "2"

    _build(corpus)
    with FakeOpenAI(judge) as server:
        use_fake_model(corpus, server)
        reranker = LLMReranker(config=load_config())
        info = resolve_index(open_store(), "help")
        results = Retriever(info, load_config().data_dir).retrieve(
            "refunds paid back", mode="dense", k=3, reranker=reranker, rerank_candidates=10
        )
        assert results[0].metadata["source"] == "about.html" and results[0].score == 0.9
        assert results[-1].metadata["source"] != "about.html"
        assert len(server.requests) >= 3 and server.requests[0]["max_tokens"] == 4
        pipeline = corpus / "configs" / "rag" / "help.yaml"
        pipeline.write_text(
            pipeline.read_text().replace(
                "retriever: {mode: hybrid, k: 2}",
                "retriever: {mode: hybrid, k: 2, rerank: {candidates: 4}}",
            )
        )
        reranked = retrieve("refunds", "help")
        assert reranked[0].metadata["source"] == "about.html"


def test_a_suite_can_evaluate_a_rag_index_with_retrieval_metrics(corpus: Path) -> None:
    from _fake_openai import FakeOpenAI
    from conftest import use_fake_model

    from llmops.evals import run_matrix

    _build(corpus)
    rows = [
        {"question": "How long do refunds take?", "gold": "refunds.md", "expected": "five"},
        {"question": "Where do parcels ship from?", "gold": "shipping.md", "expected": "Lyon"},
    ]
    (corpus / "evals" / "data" / "rag.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (corpus / "evals" / "rag.yaml").write_text(
        "name: rag\ndataset: data/rag.jsonl\nrag: help@1\n"
        "scorers: [contains, {hit_at_k: {k: 2, field: gold, level: document}}]\n"
    )
    with FakeOpenAI() as server:
        use_fake_model(corpus, server)
        [run] = run_matrix(corpus / "evals" / "rag.yaml")
    assert run.n_errors == 0, run.results[0].error
    first = run.results[0]
    assert first.contexts and first.contexts[0].doc_id is not None
    assert "refund" in first.contexts[0].text.lower()
    assert run.summary["hit_at_k"].mean == 1.0


def test_build_reports_a_symlink_out_of_the_source_folder(
    corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from llmops.cli import main

    (corpus / "secret.txt").write_text("the vault code is 1234")
    (corpus / "docs" / "notes.txt").symlink_to(corpus / "secret.txt")
    capsys.readouterr()
    assert main(["rag", "build", "help", "--json"]) == 0
    built = json.loads(capsys.readouterr().out)
    reasons = {Path(path).name: why for path, why in built["skipped"]}
    assert "outside the source root" in reasons["notes.txt"]
    assert str((corpus / "secret.txt").resolve()) in reasons["notes.txt"]
    assert "notes.txt" not in {f["path"] for f in built["files"]}

    (corpus / "configs" / "rag" / "help.yaml").write_text(
        "sources:\n  - path: ../../docs\n    glob: '../*'\n"
    )
    assert main(["rag", "build", "help"]) == 2
    assert "relative pattern below the folder" in capsys.readouterr().err


_SEGMENT = st.sampled_from(["a", "b.md", ".h.md", "c.txt", "sub"])


@settings(max_examples=80, deadline=None, database=None, derandomize=True)
@given(
    st.lists(st.lists(_SEGMENT, min_size=1, max_size=4), min_size=1, max_size=10),
    st.lists(
        st.sampled_from(["**", "*", "*.md", "sub", "s*", "?.md", "[ab]*"]), min_size=1, max_size=4
    ),
)
def test_the_source_walk_selects_what_path_glob_selects(
    files: list[list[str]], pattern: list[str]
) -> None:
    """Without symlinks, the bounded walk takes exactly the files Path.glob would."""
    import tempfile

    from llmops.rag._loaders import LoadReport, _walk
    from llmops.rag._spec import SourceSpec

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder).resolve()
        for parts in files:
            try:
                root.joinpath(*parts).parent.mkdir(parents=True, exist_ok=True)
                root.joinpath(*parts).write_text("x")
            except OSError:  # a file where a folder is wanted, or the reverse
                continue
        glob = "/".join(pattern)
        expected = sorted(p for p in root.glob(glob) if p.is_file())
        assert _walk(root, SourceSpec(path=".", glob=glob), (str(root),), LoadReport()) == expected
