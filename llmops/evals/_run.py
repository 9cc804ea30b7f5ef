"""Running suites: one run per (prompt, model) cell, stored, traced, scored, resumable.

``run_suite`` runs a suite with one cell; ``run_matrix`` runs every cell of a suite with
``prompts:`` and/or ``models:``; ``resume_run`` finishes a run that was killed or
interrupted (Ctrl-C marks a run ``interrupted`` and keeps its finished cases); and
``evaluate`` is the same machinery for a dataset, target and scorers given in Python.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, Unpack

from llmops._aio import run_sync
from llmops._exceptions import InputError, Interrupted, NotFoundError, SuiteError
from llmops.config import Config, load_config
from llmops.evals._datasets import AUTO, Case, Dataset, load_dataset, rows_to_dataset
from llmops.evals._results import finish_run, start_run, stored_results, write_results
from llmops.evals._runner import CaseResult, ScoreSummary, Target, run_cases, summarize
from llmops.evals._scoring import Scorer, ScorerEnv, build_scorer
from llmops.evals._suite import LoadedSuite, load_suite
from llmops.evals._targets import (
    callable_target,
    check_prompt_inputs,
    import_callable,
    prompt_target,
    rag_target,
    variable_map,
)
from llmops.store import Store, open_store
from llmops.store.models import EvalRunRecord

if TYPE_CHECKING:
    from llmops.llm import ResponseCache

__all__ = [
    "EvalRun",
    "RunObserver",
    "RunOptions",
    "evaluate",
    "open_run_store",
    "resume_run",
    "run_matrix",
    "run_suite",
]

_WRITE_BATCH = 64
OFFLINE_BACKEND = "vllm-offline"
_WRITE_INTERVAL_S = 1.0  # a killed run loses at most this much work


class RunObserver(Protocol):
    """Hooks for progress display (the CLI's progress bar is one)."""

    def on_start(self, run_id: str, total: int, model: str, prompt: str) -> None:
        """The run is recorded and about to run ``total`` cases."""

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
    """The outcome of one run: every case result, the summary per scorer, the verdicts."""

    id: str
    suite: str
    model: str
    prompt: str
    status: str
    results: list[CaseResult]
    summary: dict[str, ScoreSummary]
    thresholds: dict[str, float] = field(default_factory=dict)
    group_id: str | None = None
    skipped_rows: list[str] = field(default_factory=list)
    error_budget: float = 0.0
    allow_errors: bool = False

    @property
    def n_errors(self) -> int:
        return sum(1 for result in self.results if result.error is not None)

    @property
    def n_cached(self) -> int:
        return sum(1 for result in self.results if result.cached)

    @property
    def unmeasured_rate(self) -> float:
        """Fraction of (case, scorer) scores that are unmeasured (target or scorer failed)."""
        total = sum(len(result.scores) for result in self.results)
        missing = sum(v is None for result in self.results for v in result.scores.values())
        return missing / total if total else 0.0

    def failed_thresholds(self) -> dict[str, tuple[float | None, float]]:
        """Scorers below their threshold: name -> (mean, threshold)."""
        failed: dict[str, tuple[float | None, float]] = {}
        for name, threshold in self.thresholds.items():
            mean = self.summary[name].mean if name in self.summary else None
            if mean is None or mean < threshold:
                failed[name] = (mean, threshold)
        return failed

    def problems(self, *, allow_errors: bool | None = None) -> list[str]:
        """Why this run should fail a CI step; empty when it passes."""
        problems = []
        failed = self.failed_thresholds()
        if failed:
            detail = ", ".join(
                f"{k} {'-' if m is None else f'{m:.3f}'} < {t:.2f}" for k, (m, t) in failed.items()
            )
            problems.append(f"threshold not met: {detail}")
        allowed = self.allow_errors if allow_errors is None else allow_errors
        if self.n_errors and not allowed:
            first = next(r for r in self.results if r.error is not None)
            problems.append(
                f"{self.n_errors} case(s) failed with errors, e.g. case {first.case.index + 1}: "
                f"{first.error} (see llmops runs show {self.id[:12]})"
            )
        if not allowed and self.unmeasured_rate > self.error_budget:
            problems.append(
                f"{self.unmeasured_rate:.1%} of scores are unmeasured, over the error budget "
                f"of {self.error_budget:.1%}"
            )
        return problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "group_id": self.group_id,
            "suite": self.suite,
            "model": self.model,
            "prompt": self.prompt,
            "status": self.status,
            "cases": len(self.results),
            "errors": self.n_errors,
            "cached": self.n_cached,
            "unmeasured_rate": self.unmeasured_rate,
            "skipped_rows": self.skipped_rows,
            "summary": {name: s.to_dict() for name, s in self.summary.items()},
            "thresholds": self.thresholds,
            "failed_thresholds": {
                k: {"mean": m, "threshold": t} for k, (m, t) in self.failed_thresholds().items()
            },
        }


@dataclass
class _Cell:
    """One run to execute: its target, label and what is recorded about it."""

    target: Target
    model_name: str
    model: str
    prompt_label: str
    prompt_version_id: int | None
    config: dict[str, Any]


def _execute(
    store: Store,
    run_id: str,
    cases: Sequence[Case],
    cell: _Cell,
    scorers: list[Scorer],
    *,
    concurrency: int,
    repeats: int,
    timeout_s: float | None,
    seed: int,
    observer: RunObserver,
    cache: ResponseCache | None,
    skip: set[tuple[int, int]],
    previous: list[CaseResult],
) -> tuple[str, list[CaseResult], dict[str, ScoreSummary]]:
    """Run the cells' cases, writing results in batches; a crash leaves a resumable run."""
    # lazy: keeps import llmops light
    from llmops.tracing import flush

    pending: list[CaseResult] = []
    last_write = time.monotonic()
    written = len(previous)
    # Results arrive on the event loop's thread; after an interrupt the main thread writes
    # what is left while a case that ignored its cancellation may still be finishing.
    lock = threading.Lock()

    def write_pending() -> None:
        nonlocal last_write, written
        with lock:
            if cache is not None:
                cache.flush()
            write_results(store, run_id, pending)
            written += len(pending)
            pending.clear()
            last_write = time.monotonic()

    def on_result(result: CaseResult) -> None:
        with lock:
            pending.append(result)
            due = len(pending) >= _WRITE_BATCH or time.monotonic() - last_write > _WRITE_INTERVAL_S
        if due:
            write_pending()
        observer.on_result(result)

    total = len(cases) * repeats
    observer.on_start(run_id, total - len(skip), cell.model_name, cell.prompt_label)
    try:
        results = run_sync(
            run_cases(
                cases,
                cell.target,
                scorers,
                run_id=run_id,
                concurrency=concurrency,
                repeats=repeats,
                timeout_s=timeout_s,
                skip=skip,
                on_result=on_result,
            )
        )
    except KeyboardInterrupt as exc:
        # Ctrl-C or SIGTERM: the cases done so far are kept, and `eval resume` runs the rest.
        write_pending()
        finish_run(store, run_id, status="interrupted", n_cases=written, n_errors=0, summary={})
        flush(timeout_s=2.0)
        short = run_id[:12]
        raise Interrupted(
            f"{getattr(exc, 'message', 'interrupted')}: run {short} ({written}/{total} cases "
            f"done); resume with llmops eval resume {short}",
            exit_code=getattr(exc, "exit_code", 130),
        ) from None
    except BaseException:
        write_pending()
        finish_run(store, run_id, status="aborted", n_cases=total, n_errors=0, summary={})
        flush()
        raise
    write_pending()
    results = sorted([*previous, *results], key=lambda r: (r.case.index, r.repeat))
    summary = summarize(results, [scorer.name for scorer in scorers], seed=seed)
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
    return status, results, summary


def open_run_store(config: Config, store: Store | None) -> Store:
    """``store`` (default: the project store of ``config``), with tracing sent to it."""
    # lazy: keeps import llmops light
    from llmops.tracing import configure_tracing

    store = store or open_store(config.resolved_store_url)
    configure_tracing(store)
    return store


def _resolve_prompt(store: Store, config: Config, ref: str, suite_name: str) -> Any:
    # lazy: keeps import llmops light
    from llmops.prompts import (
        find_prompt_file,
        get_version,
        load_prompt_file,
        parse_ref,
        register_prompt,
    )

    if "@" in ref:  # a registered version or alias, e.g. qa@production
        name, selector = parse_ref(ref)
        return get_version(store, name, selector)
    spec = load_prompt_file(find_prompt_file(config.path("prompts"), ref))
    return register_prompt(store, spec, message=f"registered by eval suite {suite_name}")


def _cells(
    suite: LoadedSuite,
    dataset: Dataset,
    config: Config,
    store: Store,
    model_override: str | None,
    cache: ResponseCache | None,
    backend: str | None = None,
) -> list[_Cell]:
    # lazy: keeps import llmops light
    from llmops.llm import is_registry_ref, resolve_model

    spec = suite.spec
    model_names = [model_override] if model_override else spec.model_names()
    for name in model_names:
        if name is None or name in config.models or not is_registry_ref(name):
            config.model(name)  # unknown names fail before anything is stored
    if backend not in (None, "litellm", OFFLINE_BACKEND):
        raise SuiteError(f"unknown backend '{backend}': litellm (default) or {OFFLINE_BACKEND}")
    offline = backend == OFFLINE_BACKEND
    if offline and spec.target_kind != "prompt":
        raise SuiteError(
            f"{suite.path}: --backend {OFFLINE_BACKEND} runs prompt suites; this one runs a "
            f"{spec.target_kind} target"
        )
    base = {
        "suite_path": str(suite.path),
        "scorers": [scorer for scorer in spec.scorers],
        "thresholds": spec.all_thresholds(),
        "repeats": spec.repeats,
        "seed": spec.seed,
    }
    cells: list[_Cell] = []
    if spec.target_kind == "python":
        assert spec.python is not None
        function = import_callable(spec.python, suite.root)
        return [
            _Cell(
                callable_target(function),
                "python",
                spec.python,
                spec.python,
                None,
                {**base, "target": {"python": spec.python}},
            )
        ]
    if spec.target_kind == "rag":
        assert spec.rag is not None

        def question_of(case: Case) -> str:
            if case.input is None:
                raise SuiteError(
                    f"a rag suite needs the question: set 'input' (row {case.index + 1} has "
                    "none of input/question/query/prompt)"
                )
            return case.input

        for name in model_names:
            key, model_spec = config.model(name)
            cells.append(
                _Cell(
                    rag_target(spec.rag, question_of, config, store, key),
                    key,
                    model_spec.model,
                    f"rag {spec.rag}",
                    None,
                    {**base, "target": {"rag": spec.rag, "model": key}},
                )
            )
        return cells
    for ref in spec.prompt_refs():
        prompt = _resolve_prompt(store, config, ref, spec.name)
        mapping = variable_map(prompt, spec.inputs)
        check_prompt_inputs(dataset, prompt, mapping)
        for name in model_names:
            resolved = (
                _offline(name or config.model()[0], config, store)
                if offline
                else resolve_model(name, config)
            )
            params = {**prompt.model_params, **spec.params}
            cells.append(
                _Cell(
                    prompt_target(prompt, resolved, mapping, params, spec.retries, cache),
                    resolved.name,
                    resolved.model,
                    prompt.ref,
                    prompt.id,
                    {
                        **base,
                        "target": {"prompt": prompt.ref, "model": resolved.name},
                        "params": params,
                        "prompt": prompt.ref,
                        **({"backend": backend} if offline else {}),
                    },
                )
            )
    return cells


def _offline(name: str, config: Config, store: Store) -> Any:
    """``name`` on vLLM's offline engine, its weights loaded before any case is timed."""
    from llmops.evals._offline import offline_model
    from llmops.llm import offline_engine

    resolved = offline_model(name, config, store)
    assert resolved.offline is not None
    offline_engine(resolved.offline).load()
    return resolved


def _setup_scorers(
    suite: LoadedSuite, config: Config, store: Store, cache: ResponseCache | None = None
) -> list[Scorer]:
    scorers = suite.build_scorers()
    env = ScorerEnv(config=config, store=store, cache=cache)
    for scorer in scorers:
        scorer.setup(env)
    return scorers


def _with_target(suite: LoadedSuite, prompt: str | None, rag: str | None) -> LoadedSuite:
    if prompt is None and rag is None:
        return suite
    kind = suite.spec.target_kind
    if prompt is not None and kind != "prompt":
        raise SuiteError(f"{suite.path}: the suite runs a {kind} target, not a prompt")
    if rag is not None and kind != "rag":
        raise SuiteError(f"{suite.path}: the suite runs a {kind} target, not a RAG index")
    update: dict[str, Any] = {"prompt": prompt, "prompts": None} if prompt else {"rag": rag}
    return LoadedSuite(spec=suite.spec.model_copy(update=update), path=suite.path, doc=suite.doc)


@contextlib.contextmanager
def _engines_closed_after(backend: str | None) -> Iterator[None]:
    """Runs on ``vllm-offline`` shut their engines down at the end, however they end."""
    try:
        yield
    finally:
        if backend == OFFLINE_BACKEND:
            # lazy: keeps import llmops light
            from llmops.llm import close_offline_engines

            close_offline_engines()


def run_matrix(
    suite_path: str | Path,
    *,
    model: str | None = None,
    limit: int | None = None,
    concurrency: int | None = None,
    repeats: int | None = None,
    use_cache: bool | None = None,
    config: Config | None = None,
    store: Store | None = None,
    observer: RunObserver | None = None,
    prompt: str | None = None,
    rag: str | None = None,
    backend: str | None = None,
) -> list[EvalRun]:
    """Run every (prompt, model) cell of a suite; the runs share a ``group_id``.

    ``prompt`` (a ref such as ``qa@3``) or ``rag`` (``docs@4``) replaces what the suite
    runs, so a gate can evaluate a candidate version with the suite's data and scorers.
    ``backend="vllm-offline"`` generates with vLLM's in-process engine in batches instead of
    calling the models through litellm.
    """
    suite_path = Path(suite_path)
    with _engines_closed_after(backend):
        # lazy: keeps import llmops light
        from llmops.llm import ResponseCache

        config = config or load_config(suite_path.parent)
        suite = _with_target(load_suite(suite_path), prompt, rag)
        spec = suite.spec
        store = open_run_store(config, store)
        dataset = suite.load_dataset(store)
        cache = ResponseCache(store) if (spec.cache if use_cache is None else use_cache) else None
        cells = _cells(suite, dataset, config, store, model, cache, backend)
        cases = dataset.cases[:limit] if limit else dataset.cases
        group_id = uuid.uuid4().hex if len(cells) > 1 else None
        runs = []
        for cell in cells:
            scorers = _setup_scorers(suite, config, store, cache)
            runs.append(
                _new_run(
                    store,
                    spec.name,
                    dataset,
                    cases,
                    cell,
                    scorers,
                    thresholds=spec.all_thresholds(),
                    concurrency=concurrency or spec.concurrency,
                    repeats=repeats or spec.repeats,
                    timeout_s=spec.timeout_s,
                    seed=spec.seed,
                    observer=observer or _Silent(),
                    cache=cache,
                    group_id=group_id,
                    extra={"limit": limit, "concurrency": concurrency or spec.concurrency},
                    error_budget=spec.error_budget,
                    allow_errors=spec.allow_errors,
                )
            )
        return runs


def _new_run(
    store: Store,
    suite_name: str,
    dataset: Dataset,
    cases: Sequence[Case],
    cell: _Cell,
    scorers: list[Scorer],
    *,
    thresholds: dict[str, float],
    concurrency: int,
    repeats: int,
    timeout_s: float | None,
    seed: int,
    observer: RunObserver,
    cache: ResponseCache | None,
    group_id: str | None,
    extra: dict[str, Any],
    error_budget: float,
    allow_errors: bool,
) -> EvalRun:
    run_id = uuid.uuid4().hex
    start_run(
        store,
        EvalRunRecord(
            id=run_id,
            suite=suite_name,
            suite_path=str(cell.config.get("suite_path", "")),
            dataset_hash=dataset.content_hash,
            model_name=cell.model_name,
            model=cell.model,
            prompt_version_id=cell.prompt_version_id,
            group_id=group_id,
            target=cell.prompt_label[:400],
            repeats=repeats,
            config={
                **cell.config,
                **extra,
                "scorer_specs": [scorer.describe() for scorer in scorers],
                "thresholds": thresholds,
                "timeout_s": timeout_s,
                "cache": cache is not None,
                "skipped_rows": dataset.skipped,
                "dataset": dataset.ref,
                "error_budget": error_budget,
                "allow_errors": allow_errors,
            },
        ),
    )
    status, results, summary = _execute(
        store,
        run_id,
        cases,
        cell,
        scorers,
        concurrency=concurrency,
        repeats=repeats,
        timeout_s=timeout_s,
        seed=seed,
        observer=observer,
        cache=cache,
        skip=set(),
        previous=[],
    )
    return EvalRun(
        id=run_id,
        suite=suite_name,
        model=cell.model_name,
        prompt=cell.prompt_label,
        status=status,
        results=results,
        summary=summary,
        thresholds=dict(thresholds),
        group_id=group_id,
        skipped_rows=list(dataset.skipped),
        error_budget=error_budget,
        allow_errors=allow_errors,
    )


class RunOptions(TypedDict, total=False):
    """Keyword arguments of :func:`run_suite`, as for :func:`run_matrix`."""

    model: str | None
    limit: int | None
    concurrency: int | None
    repeats: int | None
    use_cache: bool | None
    config: Config | None
    store: Store | None
    observer: RunObserver | None
    prompt: str | None
    rag: str | None
    backend: str | None


def run_suite(suite_path: str | Path, **kwargs: Unpack[RunOptions]) -> EvalRun:
    """Run an eval suite with one (prompt, model) cell end to end; see :func:`run_matrix`."""
    suite_path = Path(suite_path)
    spec = load_suite(suite_path).spec
    n_models = 1 if kwargs.get("model") else len(spec.model_names())
    n_cells = n_models * max(1, len(spec.prompt_refs()))
    if n_cells > 1:
        raise SuiteError(f"{suite_path}: the suite is a matrix of {n_cells} runs; use run_matrix")
    return run_matrix(suite_path, **kwargs)[0]


def resume_run(
    run_id: str,
    *,
    config: Config | None = None,
    store: Store | None = None,
    observer: RunObserver | None = None,
) -> EvalRun:
    """Finish a killed, aborted or interrupted run: only its missing (case, repeat) pairs run."""
    from llmops.evals._results import get_run
    from llmops.llm import ResponseCache

    probe = store or open_store((config or load_config()).resolved_store_url)
    record = get_run(probe, run_id).run
    if record.status in ("completed", "completed_with_errors"):
        raise InputError(f"run {record.id[:12]} is {record.status}; nothing to resume")
    run_config = record.config or {}
    suite_path = Path(str(run_config.get("suite_path") or record.suite_path))
    if not suite_path.is_file():
        raise NotFoundError(f"run {record.id[:12]}: its suite {suite_path} no longer exists")
    config = config or load_config(suite_path.parent)
    store = open_run_store(config, probe)
    suite = load_suite(suite_path)
    dataset = suite.load_dataset(store)
    if dataset.content_hash != record.dataset_hash:
        raise InputError(
            f"run {record.id[:12]}: the dataset changed since the run started; "
            "start a new run instead"
        )
    cache = ResponseCache(store) if run_config.get("cache", True) else None
    target = run_config.get("target", {})
    model_name = target.get("model")
    backend = run_config.get("backend")
    with _engines_closed_after(backend):
        cells = _cells(suite, dataset, config, store, model_name, cache, backend)
        wanted = target.get("prompt")
        cell = next((c for c in cells if wanted is None or c.prompt_label == wanted), None)
        if cell is None:
            raise SuiteError(f"run {record.id[:12]}: its prompt {wanted} is no longer in the suite")
        limit = run_config.get("limit")
        cases = dataset.cases[:limit] if limit else dataset.cases
        previous = stored_results(store, record.id)
        done = {(r.case.index, r.repeat) for r in previous}
        scorers = _setup_scorers(suite, config, store, cache)
        thresholds = dict(run_config.get("thresholds") or {})
        _reopen(store, record.id)
        status, results, summary = _execute(
            store,
            record.id,
            cases,
            cell,
            scorers,
            concurrency=int(run_config.get("concurrency") or suite.spec.concurrency),
            repeats=record.repeats,
            timeout_s=run_config.get("timeout_s"),
            seed=int(run_config.get("seed") or 0),
            observer=observer or _Silent(),
            cache=cache,
            skip=done,
            previous=previous,
        )
        return EvalRun(
            id=record.id,
            suite=record.suite,
            model=record.model_name,
            prompt=cell.prompt_label,
            status=status,
            results=results,
            summary=summary,
            thresholds=thresholds,
            group_id=record.group_id,
            error_budget=float(run_config.get("error_budget") or 0.0),
            allow_errors=bool(run_config.get("allow_errors")),
        )


def _reopen(store: Store, run_id: str) -> None:
    with store.write() as session:
        record = session.get(EvalRunRecord, run_id)
        assert record is not None
        record.status = "running"
        record.ended_at = None
        session.add(record)


def evaluate(
    dataset: str | Path | Iterable[Mapping[str, Any]] | Dataset,
    target: Callable[..., object],
    scorers: Sequence[str | Mapping[str, Any] | Scorer | Callable[..., object]],
    *,
    name: str = "evaluate",
    expected: str | None = AUTO,
    input: str | None = AUTO,
    thresholds: Mapping[str, float] | None = None,
    concurrency: int = 4,
    repeats: int = 1,
    timeout_s: float | None = None,
    seed: int = 0,
    config: Config | None = None,
    store: Store | None = None,
    observer: RunObserver | None = None,
) -> EvalRun:
    """Evaluate ``target(row)`` (sync or async; returns text or a mapping) on a dataset.

    ``dataset`` is a file (JSONL, CSV, JSON, parquet), rows, or a loaded :class:`Dataset`;
    ``scorers`` are scorer names, suite-style entries, :class:`Scorer` objects or functions.
    ``expected`` names the reference column (None: no reference) and ``input`` the question
    column; by default (``"auto"``) they are found by their usual names (expected, answer,
    reference, ground_truth, target, label, output; input, question, query, prompt), and a
    dataset where several could be meant is an ``InputError`` naming them.
    The run is stored and traced like a suite run.
    """
    from llmops.evals._scoring import FunctionScorer

    config = config or load_config()
    if isinstance(dataset, Dataset):
        loaded = dataset
    elif isinstance(dataset, (str, Path)):
        loaded = load_dataset(Path(dataset), expected_field=expected, input_field=input)
    else:
        loaded = rows_to_dataset(
            list(dataset), where="dataset", expected_field=expected, input_field=input
        )
    built: list[Scorer] = []
    for item in scorers:
        if isinstance(item, Scorer):
            built.append(item)
        elif callable(item):
            built.append(FunctionScorer(item))
        else:
            try:
                built.append(build_scorer(item))
            except ValueError as exc:
                raise InputError(str(exc)) from None
    if len({s.name for s in built}) != len(built):
        raise InputError(f"two scorers share a name: {[s.name for s in built]}")
    store = open_run_store(config, store)
    env = ScorerEnv(config=config, store=store)
    for scorer in built:
        scorer.setup(env)
    label = f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', 'target')}"
    cell = _Cell(
        callable_target(target), "python", label, label, None, {"target": {"python": label}}
    )
    return _new_run(
        store,
        name,
        loaded,
        loaded.cases,
        cell,
        built,
        thresholds=dict(thresholds or {}),
        concurrency=concurrency,
        repeats=repeats,
        timeout_s=timeout_s,
        seed=seed,
        observer=observer or _Silent(),
        cache=None,
        group_id=None,
        extra={"concurrency": concurrency},
        error_budget=0.0,
        allow_errors=False,
    )
