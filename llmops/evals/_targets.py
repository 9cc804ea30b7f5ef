"""What an eval runs per case: a prompt on a model, a RAG index, or a Python callable."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops._exceptions import SuiteError
from llmops.evals._datasets import Case, Dataset
from llmops.evals._runner import Target, TargetOutput
from llmops.evals._scoring import Context

if TYPE_CHECKING:
    from llmops.config import Config
    from llmops.llm import ResolvedModel, ResponseCache
    from llmops.prompts import PromptVersion
    from llmops.store import Store

__all__ = [
    "callable_target",
    "check_prompt_inputs",
    "import_callable",
    "prompt_target",
    "rag_target",
    "variable_map",
]


def variable_map(prompt: PromptVersion, inputs: Mapping[str, str] | None) -> dict[str, str]:
    """Template variable -> dataset column (same name unless the suite maps it)."""
    mapping = dict(inputs or {})
    for name in prompt.variables:
        mapping.setdefault(name, name)
    return mapping


def check_prompt_inputs(dataset: Dataset, prompt: PromptVersion, mapping: dict[str, str]) -> None:
    """Every row has a column for every template variable, before any model call."""
    for variable in prompt.variables:
        column = mapping[variable]
        for case in dataset.cases:
            if column not in case.row:
                where = dataset.path or "dataset"
                raise SuiteError(
                    f"{where}: row {case.index + 1} has no column '{column}' for the "
                    f"missing template variable '{variable}' of prompt {prompt.ref}"
                )


def prompt_target(
    prompt: PromptVersion,
    model: ResolvedModel,
    mapping: dict[str, str],
    params: dict[str, Any],
    retries: int,
    cache: ResponseCache | None,
) -> Target:
    """Render the prompt with the row and call the model (through the response cache)."""
    # lazy: keeps import llmops light
    from llmops.llm import acomplete

    async def target(case: Case, repeat: int) -> TargetOutput:
        variables = {variable: case.row[column] for variable, column in mapping.items()}
        messages = prompt.messages(**variables)
        completion = await acomplete(
            messages,
            model,
            prompt=prompt,
            retries=retries,
            cache=cache,
            cache_salt=f"repeat={repeat}",
            **params,
        )
        return TargetOutput(
            completion.text,
            completion.input_tokens,
            completion.output_tokens,
            cost_usd=completion.cost_usd,
            tool_calls=completion.tool_calls,
            cached=completion.cached,
        )

    return target


def rag_target(
    index: str, question_of: Callable[[Case], str], config: Config, store: Store, model: str | None
) -> Target:
    """Answer the case's question from a RAG index; the retrieved chunks become contexts."""
    # lazy: keeps import llmops light
    from llmops.rag import answer

    async def target(case: Case, repeat: int) -> TargetOutput:
        result = await asyncio.to_thread(
            answer, question_of(case), index, model=model, config=config, store=store
        )
        contexts = tuple(Context(c.id, c.text, c.score, _doc_id(c.metadata)) for c in result.chunks)
        return TargetOutput(result.text, contexts=contexts)

    return target


def _doc_id(metadata: Mapping[str, Any]) -> str | None:
    value = metadata.get("doc_id")
    return None if value is None else str(value)


def import_callable(path: str, root: Path | None) -> Callable[..., Any]:
    """``module:function`` imported with the suite's folder on the path."""
    from llmops.evals._scoring import _import_function

    try:
        return _import_function(path, root)
    except ValueError as exc:
        raise SuiteError(f"python target: {exc}") from None


def _output_of(value: Any) -> TargetOutput:
    if isinstance(value, TargetOutput):
        return value
    if isinstance(value, str):
        return TargetOutput(value)
    if isinstance(value, Mapping):
        text = value.get("output", value.get("text"))
        if not isinstance(text, str):
            raise TypeError("a target's mapping needs an 'output' string")
        contexts = tuple(
            item
            if isinstance(item, Context)
            else Context(str(item.get("id", n)), str(item.get("text", "")), item.get("score"))
            if isinstance(item, Mapping)
            else Context(str(n), str(item))
            for n, item in enumerate(value.get("contexts") or ())
        )
        return TargetOutput(
            text,
            value.get("input_tokens"),
            value.get("output_tokens"),
            cost_usd=value.get("cost_usd"),
            contexts=contexts,
            tool_calls=tuple(value.get("tool_calls") or ()),
        )
    raise TypeError(f"a target returned {type(value).__name__}; expected str or mapping")


def callable_target(function: Callable[..., Any]) -> Target:
    """Call ``function(row)`` (sync in a thread, or async) and read str or mapping output."""
    awaits = inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        getattr(function, "__call__", None)  # noqa: B004 - async callable objects
    )

    async def target(case: Case, repeat: int) -> TargetOutput:
        if awaits:
            value = await function(case.row)
        else:
            value = await asyncio.to_thread(function, case.row)
            if inspect.isawaitable(value):
                value = await value
        return _output_of(value)

    return target
