"""``llmops runs metrics`` and ``llmops runs artifacts``: a tracking run's metric history and its
files (registered on ``runs_app`` in ``_runs.py``)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from llmops.cli._output import console, fmt_time, print_json
from llmops.cli._table import WIDE, Col, print_table

__all__ = ["artifacts", "metrics"]

_POINT_COLUMNS = (Col("step", 0, justify="right"), Col("time", 1), Col("value", 0, justify="right"))
# the path is what `--download` takes: it never drops; the digest and time give way first
_ARTIFACT_COLUMNS = (
    Col("path", 0),
    Col("size", 1, justify="right"),
    Col("sha256", 3),
    Col("logged", 2),
)


def metrics(
    run_id: str = typer.Argument(..., help="Tracking run id (or a unique prefix)."),
    key: list[str] = typer.Option(
        [], "--key", "-k", help="Metric to print (repeatable); default: every metric of the run."
    ),
    wide: bool = WIDE,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Print the history of a tracking run's metrics: step, time, value.

    Past 10,000 values a metric is downsampled (each bucket's first, lowest and highest value);
    the output says so.
    """
    from rich.markup import escape

    from llmops.store import open_store
    from llmops.tracking import get_tracking_run, metric_history_bounded

    store = open_store()
    detail = get_tracking_run(store, run_id)
    keys = key or list(detail.metrics)
    histories = [metric_history_bounded(store, detail.run.id, k) for k in keys]
    if as_json:
        print_json(
            {
                "run_id": detail.run.id,
                "metrics": {
                    h.key: {
                        "total": h.total,
                        "downsampled": h.downsampled,
                        "points": [
                            {"step": p.step, "timestamp_ms": p.timestamp_ms, "value": p.value}
                            for p in h.points
                        ],
                    }
                    for h in histories
                },
            }
        )
        return
    if not histories:
        console.print(f"run {detail.run.id[:12]} has no metrics")
        return
    for history in histories:
        note = (
            f" (downsampled: {len(history.points):,} of {history.total:,} values)"
            if history.downsampled
            else f" ({history.total:,} values)"
        )
        rows = [
            (
                str(point.step),
                fmt_time(datetime.fromtimestamp(point.timestamp_ms / 1000)),
                repr(point.value) if wide else f"{point.value:.6g}",
            )
            for point in history.points
        ]
        print_table(_POINT_COLUMNS, rows, wide=wide, title=f"{escape(history.key)}{note}")


def artifacts(
    run_id: str = typer.Argument(..., help="Tracking run id (or a unique prefix)."),
    download: str | None = typer.Option(
        None, "--download", "-d", help="Fetch this artifact (or folder; '.' for all)."
    ),
    dest: Path = typer.Option(Path("."), "--output", "-o", help="Folder to download into."),
    wide: bool = WIDE,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List a tracking run's artifacts with sizes, or fetch one with --download."""
    from rich.markup import escape

    from llmops.store import open_store
    from llmops.tracking import download_artifact, get_tracking_run

    store = open_store()
    if download is not None:
        local = download_artifact(store, run_id, download, dest)
        if as_json:
            print_json({"run_id": run_id, "path": download, "saved_to": str(local)})
        else:
            console.print(f"saved {escape(download)} to {escape(str(local))}")
        return
    detail = get_tracking_run(store, run_id)
    if as_json:
        print_json(
            [
                {"path": a.path, "size": a.size, "digest": a.digest, "created_at": a.created_at}
                for a in detail.artifacts
            ]
        )
        return
    if not detail.artifacts:
        console.print(f"run {detail.run.id[:12]} has no artifacts")
        return
    rows = [
        (
            escape(a.path),
            f"{a.size:,} B",
            a.digest if wide else a.digest[:12],
            fmt_time(a.created_at),
        )
        for a in detail.artifacts
    ]
    print_table(_ARTIFACT_COLUMNS, rows, wide=wide)
