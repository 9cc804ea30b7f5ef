"""Experiment tracking: runs with params, tags, batched metrics and content-addressed artifacts.

::

    from llmops.tracking import start_run

    with start_run(experiment="fine-tune", name="lr-0.1") as run:
        run.log_params({"lr": 0.1, "epochs": 3})
        for step in range(100):
            run.log_metric("loss", 1 / (step + 1), step=step)
        run.log_artifact("adapter/adapter_model.safetensors", artifact_path="adapter")

Leaving the block normally marks the run ``finished``; an exception marks it ``failed`` and
Ctrl-C ``killed``. Metric values are written in batches, never one transaction per value.
"""

from llmops.tracking._artifacts import (
    ARTIFACT_ROOT_ENV,
    artifact_bytes,
    artifact_root,
    download_artifact,
)
from llmops.tracking._browse import (
    MAX_HISTORY_POINTS,
    MAX_SCANNED_RUNS,
    ArtifactStream,
    MetricHistory,
    RunsPage,
    artifacts_page,
    experiment_runs,
    latest_metrics,
    metric_history_bounded,
    open_artifact,
)
from llmops.tracking._queries import (
    STATUSES,
    Artifact,
    Experiment,
    MetricPoint,
    TrackingComparison,
    TrackingRun,
    TrackingRunDetail,
    compare_tracking_runs,
    get_tracking_run,
    list_experiments,
    list_tracking_runs,
    metric_history,
)
from llmops.tracking._run import ActiveRun, git_commit, start_run

__all__ = [
    "ARTIFACT_ROOT_ENV",
    "MAX_HISTORY_POINTS",
    "MAX_SCANNED_RUNS",
    "STATUSES",
    "ActiveRun",
    "Artifact",
    "ArtifactStream",
    "Experiment",
    "MetricHistory",
    "MetricPoint",
    "RunsPage",
    "TrackingComparison",
    "TrackingRun",
    "TrackingRunDetail",
    "artifact_bytes",
    "artifact_root",
    "artifacts_page",
    "compare_tracking_runs",
    "download_artifact",
    "experiment_runs",
    "get_tracking_run",
    "git_commit",
    "latest_metrics",
    "list_experiments",
    "list_tracking_runs",
    "metric_history",
    "metric_history_bounded",
    "open_artifact",
    "start_run",
]
