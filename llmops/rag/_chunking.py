"""Cutting documents into chunks with LangChain's text splitters; chunk ids are stable."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from llmops.rag._loaders import Document
from llmops.rag._spec import SplitterSpec

__all__ = ["Chunk", "split_documents"]


@dataclass(frozen=True)
class Chunk:
    """A piece of a document. ``id`` depends on source, position and content only."""

    id: str
    doc_id: str
    position: int
    text: str
    content_hash: str
    metadata: dict[str, Any]


def _splitter(spec: SplitterSpec) -> Any:
    if spec.type == "markdown":
        from langchain_text_splitters import MarkdownTextSplitter

        return MarkdownTextSplitter(chunk_size=spec.chunk_size, chunk_overlap=spec.chunk_overlap)
    if spec.type == "tokens":
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        from llmops.rag._embed import word_piece_counter

        # sizes in the local embedder's word pieces, so a chunk fits its 256-piece window
        return RecursiveCharacterTextSplitter(
            chunk_size=spec.chunk_size,
            chunk_overlap=spec.chunk_overlap,
            length_function=word_piece_counter(),
        )
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(
        chunk_size=spec.chunk_size, chunk_overlap=spec.chunk_overlap
    )


def split_documents(documents: list[Document], spec: SplitterSpec) -> list[Chunk]:
    """The chunks of every document, in order."""
    splitter = None if spec.type == "none" else _splitter(spec)
    chunks: list[Chunk] = []
    for document in documents:
        pieces = [document.text] if splitter is None else splitter.split_text(document.text)
        for position, text in enumerate(piece for piece in pieces if piece.strip()):
            content_hash = hashlib.sha256(text.encode()).hexdigest()
            chunk_id = hashlib.sha256(
                f"{document.id}\0{position}\0{content_hash}".encode()
            ).hexdigest()[:32]
            chunks.append(
                Chunk(
                    chunk_id,
                    document.id,
                    position,
                    text,
                    content_hash,
                    {**document.metadata, "doc_id": document.id, "position": position},
                )
            )
    return chunks
