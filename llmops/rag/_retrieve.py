"""Retrieval over an index version: dense (chromadb), BM25, and hybrid by reciprocal-rank fusion.

Every retrieval is traced as a ``retriever`` span with the query, k, index version and the
retrieved ids and scores.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import orjson

from llmops._exceptions import InputError
from llmops.rag._bm25 import search_bm25
from llmops.rag._index import IndexInfo, bm25_dir, chroma_client

if TYPE_CHECKING:
    from llmops.rag._embed import Embedder

__all__ = ["Reranker", "Retrieved", "Retriever", "reciprocal_rank_fusion"]

Mode = Literal["dense", "bm25", "hybrid"]


@dataclass(frozen=True)
class Retrieved:
    """A retrieved chunk with its score under the mode that ranked it."""

    id: str
    text: str
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "score": self.score, "text": self.text, "metadata": self.metadata}


class Reranker(Protocol):
    """Reorders retrieved chunks for a query (``LLMReranker`` is one)."""

    def rerank(self, query: str, chunks: list[Retrieved], k: int) -> list[Retrieved]:
        """The best ``k`` of ``chunks``, best first."""
        ...


def reciprocal_rank_fusion(
    rankings: list[list[str]], k: int = 60, weights: list[float] | None = None
) -> list[tuple[str, float]]:
    """Fuse ranked id lists: score(d) = sum over lists of w / (k + rank of d), rank from 1."""
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights or [1.0] * len(rankings), strict=True):
        for rank, doc_id in enumerate(ranking, start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


class _ExactIndex:
    """The index's vectors in memory for exact cosine search (vectors are L2-normalised)."""

    def __init__(self, vectors: Any, ids: list[str]) -> None:
        self.vectors = vectors
        self.ids = ids

    def search(self, query: Any, k: int) -> tuple[list[str], list[float]]:
        import numpy as np

        scores = self.vectors @ query
        k = min(k, len(self.ids))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [self.ids[i] for i in top], [float(scores[i]) for i in top]


#: Indexes up to this many chunks are searched exactly in numpy; larger ones use chromadb's HNSW.
EXACT_SEARCH_MAX_CHUNKS = 200_000


@functools.lru_cache(maxsize=8)
def _exact_index(folder: Path) -> _ExactIndex | None:
    path = folder / "vectors.npy"
    if not path.is_file():
        return None
    import numpy as np

    vectors = np.load(path)
    if len(vectors) > EXACT_SEARCH_MAX_CHUNKS:
        return None
    ids: list[str] = orjson.loads((folder / "ids.json").read_bytes())
    return _ExactIndex(vectors, ids)


class Retriever:
    """Queries one ready index version with the embedder it was built with."""

    def __init__(
        self, info: IndexInfo, data_dir: Path, *, embedder: Embedder | None = None
    ) -> None:
        from llmops.rag._embed import get_embedder

        self.info = info
        self.embedder = embedder or get_embedder(info.embedder)
        if self.embedder.name != info.embedder:
            raise InputError(
                f"index {info.ref} was built with embedder '{info.embedder}', but the query "
                "path uses "
                f"'{self.embedder.name}': rebuild the index or query with the same embedder"
            )
        self._collection = chroma_client(data_dir).get_collection(
            info.collection, embedding_function=None
        )
        self._bm25 = bm25_dir(data_dir, info.pipeline, info.version)

    def dense(self, query: str, k: int, where: dict[str, Any] | None = None) -> list[Retrieved]:
        vector = self.embedder.embed([query])
        exact = _exact_index(self._bm25) if where is None else None
        if exact is not None:  # exact search in numpy: faster than HNSW at this size, and exact
            ids, scores = exact.search(vector[0], k)
            return self._fetch(list(zip(ids, scores, strict=True)), None)
        result = self._collection.query(
            query_embeddings=vector,
            n_results=min(k, max(1, self.info.chunk_count)),
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        return [
            Retrieved(doc_id, text or "", 1.0 - float(distance), dict(metadata or {}))
            for doc_id, text, metadata, distance in zip(
                result["ids"][0],
                result["documents"][0],
                result["metadatas"][0],
                result["distances"][0],
                strict=True,
            )
        ]

    def _dense_ids(self, query: str, k: int, where: dict[str, Any] | None) -> list[str]:
        """Ranked ids only: fusion needs no texts, which are fetched once for the fused top k."""
        vector = self.embedder.embed([query])
        exact = _exact_index(self._bm25) if where is None else None
        if exact is not None:
            return exact.search(vector[0], k)[0]
        n_results = min(k, max(1, self.info.chunk_count))
        result = self._collection.query(
            query_embeddings=vector, n_results=n_results, where=where, include=[]
        )
        return list(result["ids"][0])

    def _bm25_ids(self, query: str, k: int, where: dict[str, Any] | None) -> list[str]:
        if where is None:
            return [doc_id for doc_id, _ in search_bm25(self._bm25, query, k)]
        return [r.id for r in self.bm25(query, k, where)]  # the filter needs metadata

    def _fetch(
        self, scored: list[tuple[str, float]], where: dict[str, Any] | None
    ) -> list[Retrieved]:
        if not scored:
            return []
        found = self._collection.get(
            ids=[doc_id for doc_id, _ in scored], where=where, include=["documents", "metadatas"]
        )
        by_id = {
            i: (t, m)
            for i, t, m in zip(found["ids"], found["documents"], found["metadatas"], strict=True)
        }
        return [
            Retrieved(i, by_id[i][0] or "", s, dict(by_id[i][1] or {}))
            for i, s in scored
            if i in by_id
        ]

    def bm25(self, query: str, k: int, where: dict[str, Any] | None = None) -> list[Retrieved]:
        depth = k if where is None else k * 5
        return self._fetch(search_bm25(self._bm25, query, depth), where)[:k]

    def hybrid(
        self,
        query: str,
        k: int,
        *,
        candidates: int = 50,
        rrf_k: int = 60,
        where: dict[str, Any] | None = None,
        bm25_weight: float = 1.0,
    ) -> list[Retrieved]:
        depth = max(k, candidates)
        dense, sparse = self._dense_ids(query, depth, where), self._bm25_ids(query, depth, where)
        return self._fetch(
            reciprocal_rank_fusion([dense, sparse], rrf_k, [1.0, bm25_weight])[:k], where
        )

    def retrieve(
        self,
        query: str,
        *,
        mode: Mode = "hybrid",
        k: int = 5,
        candidates: int = 50,
        rrf_k: int = 60,
        where: dict[str, Any] | None = None,
        reranker: Reranker | None = None,
        rerank_candidates: int = 20,
        bm25_weight: float = 1.0,
    ) -> list[Retrieved]:
        """The best ``k`` chunks for ``query`` (reranked when a reranker is given), traced."""
        # lazy: keeps import llmops light
        from llmops.tracing import span

        depth = max(k, rerank_candidates) if reranker is not None else k
        with span(f"retrieve {self.info.ref}", kind="retriever") as traced:
            traced.set(
                {
                    "gen_ai.retrieval.query.text": query,
                    "llmops.retrieval.k": k,
                    "llmops.retrieval.mode": mode,
                    "llmops.index": self.info.ref,
                    "llmops.index.embedder": self.info.embedder,
                }
            )
            if mode == "dense":
                results = self.dense(query, depth, where)
            elif mode == "bm25":
                results = self.bm25(query, depth, where)
            else:
                results = self.hybrid(
                    query,
                    depth,
                    candidates=candidates,
                    rrf_k=rrf_k,
                    where=where,
                    bm25_weight=bm25_weight,
                )
            if reranker is not None:
                results = reranker.rerank(query, results, k)
            traced.set(
                "gen_ai.retrieval.documents",
                orjson.dumps(
                    [
                        {"id": r.id, "score": round(r.score, 6), "content": r.text[:500]}
                        for r in results
                    ]
                ).decode(),
            )
        return results
