"""Evaluation: suites in ``evals/``, datasets, scorers, a concurrent runner, stored results.

Names imported ``as`` themselves and left out of ``__all__`` are for the layers above (gates,
server, CLI), not the public API.
"""

from llmops.evals import _catalog  # noqa: F401 - registers the scorer types
from llmops.evals._calibrate import Calibration as Calibration
from llmops.evals._calibrate import calibrate as calibrate
from llmops.evals._calibrate import latest_calibration as latest_calibration
from llmops.evals._calibrate_sources import calibrate_from_dataset as calibrate_from_dataset
from llmops.evals._calibrate_sources import calibrate_from_queue as calibrate_from_queue
from llmops.evals._compare import CaseChange as CaseChange
from llmops.evals._compare import RunComparison, compare_runs
from llmops.evals._compare import run_info as run_info
from llmops.evals._dataset_registry import (
    MAX_ROW_BYTES,
    MAX_ROWS,
    DatasetDiff,
    DatasetInfo,
    DatasetRow,
    DatasetVersion,
    create_dataset,
    dataset_rows,
    diff_dataset_versions,
    get_dataset_version,
    list_dataset_versions,
    list_datasets,
    load_registered_dataset,
)
from llmops.evals._dataset_registry import parse_dataset_ref as parse_dataset_ref
from llmops.evals._dataset_sources import create_dataset_from_file, create_dataset_from_traces
from llmops.evals._datasets import Case, Dataset, DatasetSpec, load_dataset
from llmops.evals._grid import MAX_GRID_RUNS as MAX_GRID_RUNS
from llmops.evals._grid import EvalGrid as EvalGrid
from llmops.evals._grid import eval_grid as eval_grid
from llmops.evals._online import (
    EvaluationSummary,
    Evaluator,
    EvaluatorSpec,
    evaluate_traces,
    evaluator_claim,
    load_evaluators,
)
from llmops.evals._queues import (
    MAX_QUEUE_ITEMS,
    AnnotationQueue,
    QueueItem,
    complete_queue_item,
    create_dataset_from_queue,
    create_queue,
    export_queue,
    get_queue,
    get_queue_item,
    labelled_items,
    list_queues,
    next_queue_item,
    queue_items,
)
from llmops.evals._report import render_report
from llmops.evals._results import RunDetail, get_run, list_runs
from llmops.evals._results import resolve_run_id as resolve_run_id
from llmops.evals._run import (
    EvalRun,
    RunObserver,
    RunOptions,
    evaluate,
    resume_run,
    run_matrix,
    run_suite,
)
from llmops.evals._run import open_run_store as open_run_store
from llmops.evals._runner import (
    CaseResult,
    ScoreSummary,
    Target,
    TargetOutput,
    run_cases,
    summarize,
)
from llmops.evals._scorers import contains, exact_match, normalize_answer, token_f1
from llmops.evals._scoring import (
    SCORER_TYPES,
    Context,
    FunctionScorer,
    Sample,
    Score,
    Scorer,
    ScorerEnv,
    ScorerParams,
    ScorerUnmeasured,
    build_scorer,
    register_scorer,
    scorer,
)
from llmops.evals._stats import PairedStats, Stats, paired_comparison, summarize_values
from llmops.evals._suite import LoadedSuite, SuiteSpec, load_suite

__all__ = [
    "MAX_QUEUE_ITEMS",
    "MAX_ROWS",
    "MAX_ROW_BYTES",
    "SCORER_TYPES",
    "AnnotationQueue",
    "Case",
    "CaseResult",
    "Context",
    "Dataset",
    "DatasetDiff",
    "DatasetInfo",
    "DatasetRow",
    "DatasetSpec",
    "DatasetVersion",
    "EvalRun",
    "EvaluationSummary",
    "Evaluator",
    "EvaluatorSpec",
    "FunctionScorer",
    "LoadedSuite",
    "PairedStats",
    "QueueItem",
    "RunComparison",
    "RunDetail",
    "RunObserver",
    "RunOptions",
    "Sample",
    "Score",
    "ScoreSummary",
    "Scorer",
    "ScorerEnv",
    "ScorerParams",
    "ScorerUnmeasured",
    "Stats",
    "SuiteSpec",
    "Target",
    "TargetOutput",
    "build_scorer",
    "compare_runs",
    "complete_queue_item",
    "contains",
    "create_dataset",
    "create_dataset_from_file",
    "create_dataset_from_queue",
    "create_dataset_from_traces",
    "create_queue",
    "dataset_rows",
    "diff_dataset_versions",
    "evaluate",
    "evaluate_traces",
    "evaluator_claim",
    "exact_match",
    "export_queue",
    "get_dataset_version",
    "get_queue",
    "get_queue_item",
    "get_run",
    "labelled_items",
    "list_dataset_versions",
    "list_datasets",
    "list_queues",
    "list_runs",
    "load_dataset",
    "load_evaluators",
    "load_registered_dataset",
    "load_suite",
    "next_queue_item",
    "normalize_answer",
    "paired_comparison",
    "queue_items",
    "register_scorer",
    "render_report",
    "resume_run",
    "run_cases",
    "run_matrix",
    "run_suite",
    "scorer",
    "summarize",
    "summarize_values",
    "token_f1",
]
