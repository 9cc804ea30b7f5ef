"""Evaluation: suites in ``evals/``, scorers, a concurrent runner and stored results."""

from llmops.evals._results import RunDetail, get_run, list_runs
from llmops.evals._run import EvalRun, RunObserver, run_suite
from llmops.evals._runner import CaseResult, ScoreSummary, TargetOutput, run_cases, summarize
from llmops.evals._scorers import SCORERS, Scorer, ScorerUnmeasured, normalize_answer, scorer
from llmops.evals._suite import Case, Dataset, SuiteSpec, load_dataset, load_suite

__all__ = [
    "SCORERS",
    "Case",
    "CaseResult",
    "Dataset",
    "EvalRun",
    "RunDetail",
    "RunObserver",
    "ScoreSummary",
    "Scorer",
    "ScorerUnmeasured",
    "SuiteSpec",
    "TargetOutput",
    "get_run",
    "list_runs",
    "load_dataset",
    "load_suite",
    "normalize_answer",
    "run_cases",
    "run_suite",
    "scorer",
    "summarize",
]
