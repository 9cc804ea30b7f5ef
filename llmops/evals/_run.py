"""``run_suite``: the main job. Suite + dataset + prompt + model -> stored, traced, scored run."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from llmops._aio import run_sync
from llmops._exceptions import SuiteError
from llmops.config import Config, load_config
from llmops.evals._results import finish_run, start_run, write_results
from llmops.evals._runner import CaseResult, ScoreSummary, TargetOutput, run_cases, summarize
from llmops.evals._scorers import SCORERS
from llmops.evals._suite import Case, Dataset, LoadedSuite, load_dataset, load_suite
from llmops.llm import ResolvedModel, acomplete, resolve_model
from llmops.prompts import (
    PromptVersion,
    find_prompt_file,
    get_version,
    load_prompt_file,
    parse_ref,
    register_prompt,
)
from llmops.store import Store, open_store
from llmops.store.models import EvalRunRecord

__all__ = ["EvalRun", "RunObserver", "run_suite"]

_WRITE_BATCH = 32


class RunObserver(Protocol):
    """Hooks for progress display (the CLI's progress bar is one)."""

    def on_start(self, run_id: str, total: int, model: str, prompt: str) -> None:
        """The run is recorded and about to call the model ``total`` times."""

    def on_result(self, result: CaseResult) -> None:
        """One case finished (in completion order)."""


class _Silent:
    """The observer used when none is given."""

    def on_start(self, run_id: str, total: int, model: str, prompt: str) -> None:
        return None

    def on_result(self, result: CaseResult) -> None:
        return None


@dataclass
class EvalRun:
    """The outcome of ``run_suite``."""

    id: str
    suite: str
    model: str
    prompt: str
    status: str
    results: list[CaseResult]
    summary: dict[str, ScoreSummary]
    thresholds: dict[str, float] = field(default_factory=dict)

    @property
    def n_errors(self) -> int:
        return sum(1 for result in self.results if result.error is not None)

    def failed_thresholds(self) -> dict[str, tuple[float | None, float]]:
        """Scorers below their threshold: name -> (mean, threshold)."""
        failed: dict[str, tuple[float | None, float]] = {}
        for name, threshold in self.thresholds.items():
            mean = self.summary[name].mean if name in self.summary else None
            if mean is None or mean < threshold:
                failed[name] = (mean, threshold)
        return failed


def _variable_map(suite: LoadedSuite, prompt: PromptVersion) -> dict[str, str]:
    mapping = dict(suite.spec.inputs or {})
    for name in prompt.variables:
        mapping.setdefault(name, name)
    return mapping


def _check_inputs(
    suite: LoadedSuite, dataset: Dataset, prompt: PromptVersion, mapping: dict[str, str]
) -> None:
    for variable in prompt.variables:
        column = mapping[variable]
        for case in dataset.cases:
            if column not in case.row:
                raise SuiteError(
                    f"{dataset.path}: row {case.index + 1} has no column '{column}' for the "
                    f"missing template variable '{variable}' of prompt {prompt.ref}"
                )


def _prompt_target(
    prompt: PromptVersion,
    model: ResolvedModel,
    mapping: dict[str, str],
    params: dict[str, Any],
    retries: int,
) -> Callable[[Case], Any]:
    async def target(case: Case) -> TargetOutput:
        variables = {variable: case.row[column] for variable, column in mapping.items()}
        messages = prompt.messages(**variables)
        completion = await acomplete(messages, model, prompt=prompt, retries=retries, **params)
        return TargetOutput(completion.text, completion.input_tokens, completion.output_tokens)

    return target


def run_suite(
    suite_path: Path,
    *,
    model: str | None = None,
    limit: int | None = None,
    concurrency: int | None = None,
    config: Config | None = None,
    store: Store | None = None,
    observer: RunObserver | None = None,
) -> EvalRun:
    """Run an eval suite end to end and record everything in the store."""
    from llmops.tracing import configure_tracing, flush

    config = config or load_config(suite_path.parent)
    suite = load_suite(suite_path)
    spec = suite.spec
    dataset = load_dataset(suite.dataset_path, spec.expected)
    model_name = model or spec.model
    config.model(model_name)  # unknown names fail before anything is stored
    store = store or open_store(config.resolved_store_url)
    configure_tracing(store)
    if "@" in spec.prompt:  # a registered version or alias, e.g. qa@production
        name, selector = parse_ref(spec.prompt)
        prompt = get_version(store, name, selector)
    else:  # a file in prompts/, registered (idempotently) as a version
        prompt_spec = load_prompt_file(find_prompt_file(config.path("prompts"), spec.prompt))
        prompt = register_prompt(
            store, prompt_spec, message=f"registered by eval suite {spec.name}"
        )
    mapping = _variable_map(suite, prompt)
    _check_inputs(suite, dataset, prompt, mapping)
    resolved = resolve_model(model_name, config)
    params = {**prompt.model_params, **spec.params}
    cases = dataset.cases[:limit] if limit else dataset.cases
    observer = observer or _Silent()

    run_id = uuid.uuid4().hex
    start_run(
        store,
        EvalRunRecord(
            id=run_id,
            suite=spec.name,
            suite_path=str(suite.path),
            dataset_hash=dataset.content_hash,
            model_name=resolved.name,
            model=resolved.model,
            prompt_version_id=prompt.id,
            config={
                "params": params,
                "scorers": spec.scorers,
                "thresholds": spec.thresholds,
                "limit": limit,
                "concurrency": concurrency or spec.concurrency,
                "prompt": prompt.ref,
            },
        ),
    )
    observer.on_start(run_id, len(cases), resolved.name, prompt.ref)

    pending: list[CaseResult] = []

    def on_result(result: CaseResult) -> None:
        pending.append(result)
        if len(pending) >= _WRITE_BATCH:
            write_results(store, run_id, pending)
            pending.clear()
        observer.on_result(result)

    scorers = {name: SCORERS[name] for name in spec.scorers}
    target = _prompt_target(prompt, resolved, mapping, params, spec.retries)
    try:
        results = run_sync(
            run_cases(
                cases,
                target,
                scorers,
                run_id=run_id,
                concurrency=concurrency or spec.concurrency,
                on_result=on_result,
            )
        )
    except BaseException:
        write_results(store, run_id, pending)
        finish_run(store, run_id, status="aborted", n_cases=len(cases), n_errors=0, summary={})
        raise
    write_results(store, run_id, pending)
    summary = summarize(results, spec.scorers)
    n_errors = sum(1 for result in results if result.error is not None)
    status = "completed" if n_errors == 0 else "completed_with_errors"
    finish_run(
        store,
        run_id,
        status=status,
        n_cases=len(results),
        n_errors=n_errors,
        summary={name: s.to_dict() for name, s in summary.items()},
    )
    flush()
    return EvalRun(
        id=run_id,
        suite=spec.name,
        model=resolved.name,
        prompt=prompt.ref,
        status=status,
        results=results,
        summary=summary,
        thresholds=dict(spec.thresholds),
    )
