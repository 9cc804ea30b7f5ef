"""``llmops eval calibrate``: measure a judge's agreement with human labels and store it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from llmops._exceptions import CheckFailed, InputError, YamlError
from llmops.cli._eval import eval_app
from llmops.cli._output import console, fmt_score, print_json

if TYPE_CHECKING:
    from llmops.evals import Calibration

__all__: list[str] = []


def _params(values: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; each value is read as YAML (``5``, ``true``, ``{min: 1, max: 3}``)."""
    # lazy: keeps import llmops light
    from llmops._yaml import parse_yaml

    params: dict[str, Any] = {}
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--param {value!r}: expected KEY=VALUE")
        try:  # the one YAML loader: aliases and nesting are bounded here too
            params[key.strip()] = parse_yaml(raw, "--param").data if raw.strip() else raw
        except YamlError:
            raise InputError(f"--param {value!r}: the value is not valid YAML") from None
    return params


def _print(result: Calibration) -> None:
    from rich.table import Table

    table = Table(title=f"calibration of {result.judge}", title_justify="left")
    for column in ("model", "measured", "unmeasured", "accuracy", "bal. acc.", "kappa"):
        table.add_column(column, justify="left" if column == "model" else "right")
    swap = result.swap_consistency
    if swap is not None:
        table.add_column("swap agree", justify="right")
    table.add_row(
        result.model or "-",
        str(result.n),
        str(result.n_unmeasured),
        fmt_score(result.accuracy),
        fmt_score(result.balanced_accuracy),
        fmt_score(result.kappa),
        *([fmt_score(swap)] if swap is not None else []),
    )
    console.print(table)
    c = result.confusion
    matrix = Table(
        title=f"judge positive at >= {result.positive_threshold:g}", title_justify="left"
    )
    matrix.add_column("human \\ judge")
    matrix.add_column("positive", justify="right")
    matrix.add_column("negative", justify="right")
    matrix.add_row("positive", str(c["tp"]), str(c["fn"]))
    matrix.add_row("negative", str(c["fp"]), str(c["tn"]))
    console.print(matrix)
    left_out = (
        f" · {result.n_left_out} left out without the label"
        if result.source.get("kind") != "file"
        else ""
    )
    console.print(
        f"labels from {result.labels_path}{left_out}\n"
        "chance floor: balanced accuracy 0.500, kappa 0.000 · "
        f"stored as calibration {result.id} · labels sha256 {result.labels_hash[:12]}"
    )


@eval_app.command("calibrate")
def calibrate(
    judge: str = typer.Argument(..., help="Scorer type: llm_rubric, faithfulness, pairwise..."),
    labels: Path | None = typer.Option(
        None, "--labels", help="JSONL, JSON or CSV file of labelled rows."
    ),
    from_queue: str | None = typer.Option(
        None, "--from-queue", help="Annotation queue whose done items carry the labels."
    ),
    from_dataset: str | None = typer.Option(
        None,
        "--from-dataset",
        help="Dataset version (NAME@VERSION or NAME@ALIAS) of labelled rows.",
    ),
    label: str | None = typer.Option(
        None, "--label", help="With --from-queue: the score config of the human label."
    ),
    label_column: str | None = typer.Option(
        None, "--label-column", help="With --from-dataset: the label column (default: expected)."
    ),
    positive: str | None = typer.Option(
        None,
        "--positive",
        help="The positive category of a categorical label, or the threshold of a numeric one.",
    ),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Configured judge model (default: the default model)."
    ),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="Judge parameter KEY=VALUE (value read as YAML); repeatable."
    ),
    label_field: str = typer.Option("label", "--label-field", help="Column of the human label."),
    threshold: float = typer.Option(
        0.5, "--threshold", min=0.0, max=1.0, help="Judge scores >= this count as positive."
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Use only the first N rows."),
    concurrency: int = typer.Option(4, "--concurrency", "-j", min=1, help="Rows in flight."),
    min_kappa: float | None = typer.Option(
        None, "--min-kappa", help="Exit 1 when Cohen's kappa is below this."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Run a judge on human-labelled rows; print and store accuracy, balanced accuracy, kappa.

    The labels come from a file (--labels), an annotation queue's done items (--from-queue
    with --label) or a dataset version's rows (--from-dataset).
    """
    # lazy: keeps import llmops light
    from llmops.config import load_config
    from llmops.evals import build_scorer, calibrate_from_dataset, calibrate_from_queue
    from llmops.evals import calibrate as run_calibration
    from llmops.store import open_store

    sources = [given for given in (labels, from_queue, from_dataset) if given is not None]
    if len(sources) != 1:
        raise InputError("give one of --labels FILE, --from-queue NAME or --from-dataset REF")
    if from_queue is not None and label is None:
        raise InputError("--from-queue needs --label NAME (the score config of the human label)")
    if (label is not None and from_queue is None) or (
        label_column is not None and from_dataset is None
    ):
        raise InputError("--label goes with --from-queue, --label-column with --from-dataset")
    if positive is not None and labels is not None:
        raise InputError("--positive goes with --from-queue or --from-dataset")
    params = _params(param)
    if model is not None:
        params["model"] = model
    try:
        scorer = build_scorer({judge: params})
    except ValueError as exc:
        raise InputError(str(exc)) from None
    config = load_config()
    store = open_store(config.resolved_store_url)
    common: dict[str, Any] = {
        "store": store,
        "config": config,
        "positive_threshold": threshold,
        "limit": limit,
        "concurrency": concurrency,
    }
    if from_queue is not None and label is not None:
        result = calibrate_from_queue(scorer, from_queue, label=label, positive=positive, **common)
    elif from_dataset is not None:
        result = calibrate_from_dataset(
            scorer, from_dataset, label_column=label_column, positive=positive, **common
        )
    else:
        assert labels is not None
        result = run_calibration(scorer, labels, label_field=label_field, **common)
    if as_json:
        print_json(result.to_dict())
    else:
        _print(result)
    if min_kappa is not None and result.kappa < min_kappa:
        raise CheckFailed(f"judge '{result.judge}' kappa {result.kappa:.3f} < {min_kappa:g}")
