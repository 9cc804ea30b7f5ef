"""Sparse retrieval with bm25s: build, save beside the vectors, load, search."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import orjson

from llmops.rag._chunking import Chunk

__all__ = ["build_bm25", "load_bm25", "search_bm25"]


def build_bm25(folder: Path, chunks: list[Chunk]) -> None:
    """Index chunk texts with BM25 (English stop words) and save it to ``folder``."""
    import bm25s

    folder.mkdir(parents=True, exist_ok=True)
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize([c.text for c in chunks], stopwords="en", show_progress=False),
        show_progress=False,
    )
    retriever.save(str(folder / "bm25"))
    (folder / "ids.json").write_bytes(orjson.dumps([c.id for c in chunks]))


@functools.lru_cache(maxsize=16)
def load_bm25(folder: Path) -> tuple[Any, list[str]]:
    """The saved retriever and the chunk id of each of its rows (cached per folder)."""
    import bm25s

    retriever = bm25s.BM25.load(str(folder / "bm25"))
    ids: list[str] = orjson.loads((folder / "ids.json").read_bytes())
    return retriever, ids


def search_bm25(folder: Path, query: str, k: int) -> list[tuple[str, float]]:
    """(chunk id, BM25 score) of the best ``k`` chunks."""
    import bm25s

    retriever, ids = load_bm25(folder)
    k = min(k, len(ids))
    tokens = bm25s.tokenize([query], stopwords="en", show_progress=False)
    if not tokens.vocab:
        return []
    results, scores = retriever.retrieve(tokens, k=k, show_progress=False)
    return [
        (ids[int(row)], float(score))
        for row, score in zip(results[0], scores[0], strict=True)
        if score > 0
    ]
