"""Retrieval quality and speed on a BEIR-format dataset (default: SciFact from ../shared/data).

Run: .venv/bin/python benchmarks/rag_beir.py [FOLDER] [--split test] [--quick] [--json PATH]
FOLDER holds corpus.jsonl(.gz), queries(.test).jsonl and qrels/test.tsv. Each document is one
chunk (title + text), as in BEIR. Reports nDCG@10 and recall@100 for BM25, dense and hybrid
(RRF), with build time, query p50/p95 and index size. Anchors (BEIR paper and the model card,
not measured here): BM25 nDCG@10 0.665 on SciFact, all-MiniLM-L6-v2 about 0.64; target: hybrid
>= 0.69, dense p50 <= 1.5 ms on 10k chunks. Peers: the same vectors in chromadb (HNSW, in
this venv: llmops uses it) and in faiss (exact and HNSW, peers venv). --quick skips choosing
the fusion settings on the train split (the defaults are used). Latency: each round times every
query in llmops (exact dense, chromadb HNSW, BM25, hybrid) and then in faiss (a peers-venv
process), the order alternating between rounds (5, quick 3) so load drift hits both; a p50
row says "not resolved" where the 95% CI of the paired ratio of per-round medians includes 1.
Skips with a message where the folder is absent.
"""

from __future__ import annotations

import gzip
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from _bench import (
    Measurement,
    Report,
    ci_note,
    figure,
    interleave,
    paired_ci,
    peer_or_reason,
    resolved,
    target,
)
from _bench import parser as make_parser

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "beir-scifact"


def _read_jsonl(folder: Path, *names: str) -> list[dict[str, object]]:
    for name in names:
        path = folder / name
        if path.is_file():
            raw = path.read_bytes()
            if path.suffix == ".gz":
                raw = gzip.decompress(raw)
            return [orjson.loads(line) for line in raw.splitlines() if line.strip()]
    raise SystemExit(f"none of {names} in {folder}")


def _qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for line in path.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or parts[0] == "query-id":
            continue
        qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return qrels


def ndcg_at(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(gain / math.log2(i + 2) for i, gain in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    hits = len({doc for doc in ranked[:k] if relevant.get(doc, 0) > 0})
    return hits / max(1, sum(1 for gain in relevant.values() if gain > 0))


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--split", default="test")
    parser.add_argument(
        "--tune-split",
        default="train",
        help="split used to choose the hybrid fusion settings (never the reported one)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path.home() / ".cache" / "llmops-bench" / "embeddings.sqlite",
        help="embedding cache, so reruns skip embedding the corpus",
    )
    parser.add_argument(
        "--chunk-size",
        type=int,
        default=0,
        help="split documents into chunks of about N characters (0: one chunk per document)",
    )
    parser.add_argument(
        "--rerank-queries",
        type=int,
        default=0,
        help="also rerank the hybrid top 20 of the first N queries with the local model",
    )
    args = parser.parse_args()
    report = Report.start(__file__, args)
    if not args.folder.is_dir():
        report.skip(f"no BEIR folder at {args.folder} (see ../shared/data/beir-scifact/SOURCE.txt)")
    if args.quick and args.tune_split == "train":
        args.tune_split = ""
    from llmops.rag import EmbeddingCache, get_embedder
    from llmops.rag._chunking import Chunk, split_documents
    from llmops.rag._loaders import Document
    from llmops.rag._retrieve import reciprocal_rank_fusion
    from llmops.rag._spec import SplitterSpec

    corpus = _read_jsonl(args.folder, "corpus.jsonl.gz", "corpus.jsonl")
    queries = {
        str(q["_id"]): str(q["text"])
        for q in _read_jsonl(args.folder, f"queries.{args.split}.jsonl", "queries.jsonl")
    }
    qrels = _qrels(args.folder / "qrels" / f"{args.split}.tsv")
    queries = {qid: text for qid, text in queries.items() if qid in qrels}
    documents = [Document(str(d["_id"]), f"{d.get('title', '')}\n{d['text']}") for d in corpus]
    if args.chunk_size:  # many chunks per document; rankings are scored per document (max-p)
        chunks = split_documents(
            documents, SplitterSpec(chunk_size=args.chunk_size, chunk_overlap=0)
        )
    else:  # one chunk per document, as BEIR does
        chunks = [Chunk(d.id, d.id, 0, d.text, "", {}) for d in documents]
    doc_of = {c.id: c.doc_id for c in chunks}

    def docs(ranked_chunks: list[str]) -> list[str]:
        return list(dict.fromkeys(doc_of[c] for c in ranked_chunks))

    import chromadb
    from chromadb.config import Settings

    from llmops.rag._bm25 import build_bm25, search_bm25

    folder = Path(tempfile.mkdtemp(prefix="llmops-beir-"))
    embedder = get_embedder("local/minilm")
    cache = EmbeddingCache(args.cache)
    started = time.perf_counter()
    vectors = cache.embed(embedder, [c.text for c in chunks])
    embed_seconds = time.perf_counter() - started
    cached = f"{cache.hits} of {len(chunks)} from the cache" if cache.hits else "none cached"
    client = chromadb.PersistentClient(
        path=str(folder / "chroma"), settings=Settings(anonymized_telemetry=False)
    )
    collection = client.create_collection(
        "beir", embedding_function=None, metadata={"hnsw:space": "cosine"}
    )
    started = time.perf_counter()
    for start in range(0, len(chunks), 4096):
        batch = chunks[start : start + 4096]
        collection.add(ids=[c.id for c in batch], embeddings=vectors[start : start + len(batch)])
    build_bm25(folder / "bm25", chunks)
    index_seconds = time.perf_counter() - started
    size_mb = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6

    from llmops.rag._retrieve import _ExactIndex

    exact = _ExactIndex(vectors, [c.id for c in chunks])
    hnsw_mode = "dense (chromadb HNSW)"

    def rank(
        split_queries: dict[str, str], query_vectors: Any = None
    ) -> tuple[dict[str, dict[str, list[str]]], dict[str, list[float]]]:
        runs: dict[str, dict[str, list[str]]] = {"bm25": {}, "dense": {}, hnsw_mode: {}}
        latency: dict[str, list[float]] = {"bm25": [], "dense": [], hnsw_mode: []}
        if query_vectors is None:
            query_vectors = embedder.embed(list(split_queries.values()))
        for (qid, text), vector in zip(split_queries.items(), query_vectors, strict=True):
            t = time.perf_counter()
            runs["dense"][qid] = docs(exact.search(vector, 200)[0])
            latency["dense"].append(time.perf_counter() - t)
            t = time.perf_counter()
            runs[hnsw_mode][qid] = docs(
                collection.query(query_embeddings=vector[None, :], n_results=200, include=[])[
                    "ids"
                ][0]
            )
            latency[hnsw_mode].append(time.perf_counter() - t)
            t = time.perf_counter()
            runs["bm25"][qid] = docs([doc for doc, _ in search_bm25(folder / "bm25", text, 200)])
            latency["bm25"].append(time.perf_counter() - t)
        return runs, latency

    def fuse(
        runs: dict[str, dict[str, list[str]]], qid: str, depth: int, rrf_k: int, bm25_weight: float
    ) -> list[str]:
        rankings = [runs["dense"][qid][:depth], runs["bm25"][qid][:depth]]
        return [doc for doc, _ in reciprocal_rank_fusion(rankings, rrf_k, [1.0, bm25_weight])][:100]

    def mean_ndcg(ranked: dict[str, list[str]], split_qrels: dict[str, dict[str, int]]) -> float:
        return statistics.mean(ndcg_at(ranked[q], split_qrels[q], 10) for q in ranked)

    settings = (50, 60, 1.0)
    tune_path = args.folder / "qrels" / f"{args.tune_split}.tsv"
    if args.tune_split and tune_path.is_file():
        tune_qrels = _qrels(tune_path)
        tune_queries = {
            str(q["_id"]): str(q["text"])
            for q in _read_jsonl(args.folder, f"queries.{args.tune_split}.jsonl")
            if str(q["_id"]) in tune_qrels
        }
        tune_runs, _ = rank(tune_queries)
        grid = [
            (d, k, w) for d in (50, 100, 200) for k in (10, 30, 60) for w in (0.5, 0.75, 1.0, 1.5)
        ]
        settings = max(
            grid,
            key=lambda g: mean_ndcg({q: fuse(tune_runs, q, *g) for q in tune_queries}, tune_qrels),
        )
    ids = [c.id for c in chunks]
    query_list = list(queries)
    # embedded once, untimed: every round and faiss search the very same query vectors
    query_vectors = embedder.embed(list(queries.values()))
    _save_vectors(folder, vectors, query_vectors)
    runs: dict[str, dict[str, list[str]]] = {}
    latency: dict[str, list[float]] = {}  # seconds per query, every round
    per_round: dict[str, list[float]] = {}  # the median of each round, paired across sides
    unavailable = ""

    def keep(times: dict[str, list[float]]) -> None:
        for mode, seconds in times.items():
            latency.setdefault(mode, []).extend(seconds)
            per_round.setdefault(mode, []).append(statistics.median(seconds))

    def ours() -> None:
        found, times = rank(queries, query_vectors)
        hybrid: dict[str, list[str]] = {}
        times["hybrid"] = []
        for i, qid in enumerate(queries):
            t = time.perf_counter()
            hybrid[qid] = fuse(found, qid, *settings)
            times["hybrid"].append(time.perf_counter() - t + times["dense"][i] + times["bm25"][i])
        found["hybrid"] = hybrid
        for mode, ranked in found.items():
            runs.setdefault(mode, ranked)  # rankings are the same every round
        keep(times)

    def theirs() -> None:
        nonlocal unavailable
        if unavailable:
            return
        peer = _faiss_run(folder, query_list)
        if isinstance(peer, str):
            unavailable = peer
            return
        for name, ranked in peer["runs"].items():
            runs.setdefault(name, {q: docs([ids[i] for i in rows]) for q, rows in ranked.items()})
        keep(peer["seconds"])

    interleave([ours, theirs], 3 if args.quick else 5)

    report.title = (
        f"BEIR {args.folder.name} ({args.split}): {len(documents)} documents in "
        f"{len(chunks)} chunks, {len(queries)} queries"
    )
    chosen = f"chosen on {args.tune_split}" if args.tune_split else "defaults (--quick)"
    report.note(
        f"build: embed {embed_seconds:.1f} s ({cached}), index {index_seconds:.1f} s, "
        f"size {size_mb:.1f} MB; hybrid settings {chosen}: depth {settings[0]}, "
        f"rrf_k {settings[1]}, bm25 weight {settings[2]}"
    )

    def quality(mode: str, k: int) -> float | None:
        if mode not in runs:
            return None
        score = ndcg_at if k == 10 else recall_at
        return statistics.mean(score(runs[mode][q], qrels[q], k) for q in queries)

    def p50(mode: str) -> Measurement | None:
        if mode not in latency:
            return None
        times = sorted(latency[mode])
        return Measurement(
            times[len(times) // 2], times[len(times) // 4], times[len(times) * 3 // 4], len(times)
        )

    def add(name: str, mode: str, peer_mode: str, peer: str, what: str, note: str = "") -> None:
        if what == "p50":
            made = figure(
                name, "ms", p50(mode), peer=peer, peer_value=p50(peer_mode), scale=1e3, note=note
            )
            made.spread_kind = f"p25-p75 of {len(queries)} queries x {len(per_round[mode])} rounds"
            if peer_mode in per_round:
                ci = paired_ci(per_round[mode], per_round[peer_mode])
                made.resolved = resolved(ci)
                made.note = "; ".join(filter(None, [note, ci_note(ci)]))
        else:
            k = 10 if what == "ndcg" else 100
            made = figure(
                name,
                "",
                quality(mode, k),
                higher_is_better=True,
                peer=peer,
                peer_value=quality(peer_mode, k),
                note=note,
            )
        if peer_mode.startswith("faiss") and peer_mode not in runs:
            made.peer_note = unavailable
        report.add(made)

    report.add(
        figure(
            "rag/beir: BM25 nDCG@10",
            "",
            quality("bm25", 10),
            higher_is_better=True,
            note="BEIR paper: 0.665 (not measured here)",
        ),
        figure(
            "rag/beir: hybrid nDCG@10",
            "",
            quality("hybrid", 10),
            higher_is_better=True,
            peer="llmops dense alone",
            peer_value=quality("dense", 10),
            note=target(quality("hybrid", 10) or 0.0, 0.69, at_most=False, text=">= 0.69"),
        ),
    )
    add("rag/beir: dense nDCG@10", "dense", "faiss flat", "faiss exact (IndexFlatIP)", "ndcg")
    add(
        "rag/beir: dense nDCG@10",
        "dense",
        hnsw_mode,
        "chromadb HNSW",
        "ndcg",
    )
    add("rag/beir: dense nDCG@10", "dense", "faiss hnsw", "faiss HNSW (M=32)", "ndcg")
    add("rag/beir: hybrid recall@100", "hybrid", "dense", "llmops dense alone", "recall")
    dense_p50 = (p50("dense") or Measurement(0, 0, 0, 0)).median
    add(
        "rag/beir: dense query p50",
        "dense",
        hnsw_mode,
        "chromadb HNSW",
        "p50",
        target(dense_p50, 1.5e-3, at_most=True, text="<= 1.5 ms on 10k chunks"),
    )
    add("rag/beir: dense query p50", "dense", "faiss flat", "faiss exact (IndexFlatIP)", "p50")
    add("rag/beir: dense query p50", "dense", "faiss hnsw", "faiss HNSW (M=32)", "p50")
    add("rag/beir: BM25 query p50", "bm25", "", "", "p50", "bm25s")
    add("rag/beir: hybrid query p50", "hybrid", "", "", "p50")
    if args.rerank_queries <= 0:
        report.note(
            "hybrid+rerank: not measured (pass --rerank-queries N; "
            "no offline cross-encoder exists on PyPI)"
        )
        report.finish()
        return
    from llmops.config import Config
    from llmops.rag import LLMReranker
    from llmops.rag._retrieve import Retrieved

    texts = {d.id: d.text for d in documents}
    reranker = LLMReranker(config=Config())
    subset = list(queries)[: args.rerank_queries]
    started = time.perf_counter()
    reranked = {}
    for qid in subset:
        top = [Retrieved(doc, texts[doc], 0.0) for doc in runs["hybrid"][qid][:20]]
        reranked[qid] = [r.id for r in reranker.rerank(queries[qid], top, 20)] + runs["hybrid"][
            qid
        ][20:]
    seconds = (time.perf_counter() - started) / len(subset)
    base = statistics.mean(ndcg_at(runs["hybrid"][q], qrels[q], 10) for q in subset)
    after = statistics.mean(ndcg_at(reranked[q], qrels[q], 10) for q in subset)
    report.add(
        figure(
            f"rag/beir: hybrid+rerank nDCG@10, {len(subset)} queries",
            "",
            after,
            higher_is_better=True,
            peer="hybrid alone, same queries",
            peer_value=base,
            note=f"local model, top 20, {seconds:.1f} s/query",
        )
    )
    report.finish()


def _save_vectors(folder: Path, vectors: Any, query_vectors: Any) -> None:
    """The corpus and query vectors as .npy files, for the faiss peer (another venv)."""
    import numpy as np

    np.save(folder / "vectors.npy", np.asarray(vectors, dtype="float32"))
    np.save(folder / "queries.npy", np.asarray(query_vectors, dtype="float32"))


def _faiss_run(folder: Path, qids: list[str]) -> dict[str, Any] | str:
    """One run of faiss (peers venv) on the saved vectors: {"runs": {mode: {qid: rows}},
    "seconds": {mode: per-query seconds}}, or why it is unavailable."""
    out = folder / "faiss.json"
    peer = peer_or_reason(
        "faiss-cpu",
        "faiss_search.py",
        str(folder / "vectors.npy"),
        str(folder / "queries.npy"),
        "200",
        str(out),
    )
    if isinstance(peer, str):
        return peer
    found = orjson.loads(out.read_bytes())
    return {
        "runs": {
            f"faiss {kind}": dict(zip(qids, found[kind]["ranked"], strict=True))
            for kind in ("flat", "hnsw")
        },
        "seconds": {f"faiss {kind}": found[kind]["seconds"] for kind in ("flat", "hnsw")},
    }


if __name__ == "__main__":
    main()
