"""An example llmops plugin: what each ``llmops.*`` entry point of its pyproject names."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any, ClassVar

from llmops.evals import Sample, Scorer, ScorerParams

__all__ = ["Echo", "WordOverlap", "integration", "read_tsv", "shouting"]

_WORD = re.compile(r"[^\W_]+")


def shouting(output: str, expected: str | None) -> float:
    """1 when the output has letters and all of them are capitals, else 0."""
    return 1.0 if output.isupper() else 0.0


class WordOverlapParams(ScorerParams):
    """Only words of at least ``min_length`` characters count."""

    min_length: int = 1


class WordOverlap(Scorer):
    """The share of the expected answer's words that the output contains (any case)."""

    type_name: ClassVar[str] = "word_overlap"
    Params = WordOverlapParams

    def score(self, sample: Sample) -> float:
        assert isinstance(self.params, WordOverlapParams)
        size = self.params.min_length
        wanted = {w for w in _WORD.findall((sample.expected or "").lower()) if len(w) >= size}
        found = set(_WORD.findall(sample.output.lower()))
        return len(wanted & found) / len(wanted) if wanted else 0.0


def read_tsv(path: Path) -> str:
    """A tab-separated file as text: one ``column: value`` line per cell, rows apart."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return "\n\n".join("\n".join(f"{k}: {v}" for k, v in row.items()) for row in rows)


instrumented = False


def integration() -> tuple[Any, Any]:
    """``(instrument, uninstrument)`` of the library this plugin traces (here: a flag)."""

    def instrument() -> None:
        global instrumented
        instrumented = True

    def uninstrument() -> None:
        global instrumented
        instrumented = False

    return instrument, uninstrument


def _echo_response(kwargs: dict[str, Any]) -> Any:
    import litellm  # the provider runs inside litellm, which llmops has imported already

    messages = kwargs.get("messages") or []
    text = str(messages[-1]["content"]) if messages else ""
    response = litellm.ModelResponse()
    response.choices[0].message.content = text.upper()
    response.model = str(kwargs.get("model", "echo"))
    return response


def _custom_llm() -> type:
    from litellm.llms.custom_llm import CustomLLM

    class Echo(CustomLLM):
        """Answers with the last message, shouted: a model for offline tests."""

        def completion(self, *args: Any, **kwargs: Any) -> Any:
            return _echo_response(kwargs)

        async def acompletion(self, *args: Any, **kwargs: Any) -> Any:
            return _echo_response(kwargs)

    return Echo


def __getattr__(name: str) -> Any:
    # litellm is imported only when llmops asks for the provider, not with the scorers
    if name == "Echo":
        return _custom_llm()
    raise AttributeError(name)
