"""Answers with citations: retrieve, render the generator prompt, call the model, map [n] to ids."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from llmops.rag._retrieve import Retrieved

__all__ = ["Answer", "cited_ids", "format_context"]

_CITATION = re.compile(r"\[(\d{1,3})\]")


@dataclass(frozen=True)
class Answer:
    """The model's answer, the chunks it was given, and the ones it cited."""

    text: str
    citations: list[str]
    chunks: list[Retrieved] = field(default_factory=list)
    index: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "citations": self.citations,
            "index": self.index,
            "chunks": [chunk.to_dict() for chunk in self.chunks],
        }


def format_context(chunks: list[Retrieved]) -> str:
    """Numbered passages: ``[1] text`` ..., the numbers the model cites."""
    return "\n\n".join(f"[{number}] {chunk.text}" for number, chunk in enumerate(chunks, start=1))


def cited_ids(text: str, chunks: list[Retrieved]) -> list[str]:
    """Chunk ids of the valid ``[n]`` citations in ``text``, in order of first citation."""
    ids: list[str] = []
    for found in _CITATION.finditer(text):
        number = int(found.group(1))
        if 1 <= number <= len(chunks) and chunks[number - 1].id not in ids:
            ids.append(chunks[number - 1].id)
    return ids
