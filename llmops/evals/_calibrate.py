"""Judge calibration: how often a judge agrees with human labels, stored for gates to check.

A labels file (JSONL, a JSON list, or CSV) holds one case per row: the :class:`Sample`
fields by name (``output``, ``input``, ``expected``, ``contexts``: a list of strings, or
``baseline``... which stay readable in ``row``) and a human label in ``label_field``. Labels
are binary, positive meaning "the judge should score this high":

* positive: ``true``, ``1``, and the words yes, y, true, pass, passed, positive, good,
  correct, consistent, supported, faithful, relevant, better, win
* negative: ``false``, ``0``, and no, n, false, fail, failed, negative, bad, incorrect,
  inconsistent, unsupported, unfaithful, hallucinated, irrelevant, worse, loss

The judge's score is positive when ``>= positive_threshold``. Rows the judge cannot
measure are counted apart (``n_unmeasured``), never guessed; ``n`` counts measured rows.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from llmops._aio import run_sync
from llmops._exceptions import CheckFailed, InputError, NotFoundError
from llmops._identity import current_actor
from llmops.config import Config
from llmops.evals._judges import JudgeScorer
from llmops.evals._scoring import Context, Sample, Score, Scorer, ScorerEnv, ScorerUnmeasured
from llmops.store import Store
from llmops.store.models import JudgeCalibrationRecord

__all__ = [
    "Calibration",
    "CalibrationRow",
    "LabelSet",
    "binary_agreement",
    "calibrate",
    "calibrate_labelled",
    "latest_calibration",
    "parse_label",
    "read_labels",
]

_POSITIVE = frozenset(
    {"1", "true", "yes", "y", "pass", "passed", "positive", "good", "correct", "consistent"}
    | {"supported", "faithful", "relevant", "better", "win"}
)
_NEGATIVE = frozenset(
    {"0", "false", "no", "n", "fail", "failed", "negative", "bad", "incorrect", "inconsistent"}
    | {"unsupported", "unfaithful", "hallucinated", "irrelevant", "worse", "loss"}
)


def parse_label(value: Any) -> bool:
    """A human label as a bool (see the module docstring); ``ValueError`` if unrecognized."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _POSITIVE:
            return True
        if word in _NEGATIVE:
            return False
    raise ValueError(f"label {value!r} is neither positive (yes, 1, ...) nor negative (no, 0, ...)")


def read_labels(path: Path) -> list[dict[str, Any]]:
    """Rows of a ``.jsonl``, ``.json`` (a list, or JSON lines) or ``.csv`` labels file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"labels file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read labels file {path}: {exc}") from None
    if path.suffix.lower() == ".csv":
        return [dict(row) for row in csv.DictReader(io.StringIO(text))]
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
        rows = data if isinstance(data, list) else _json_lines(path, text)
    else:
        rows = _json_lines(path, text)
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise InputError(f"{path}: row {number} is not a JSON object")
    return rows


def _json_lines(path: Path, text: str) -> list[Any]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{number}: invalid JSON: {exc.msg}") from None
    return rows


def _contexts(value: Any) -> tuple[Context, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):  # a JSON list in a CSV cell
            value = json.loads(stripped)
        else:
            return (Context(id="0", text=value),)
    if not isinstance(value, list):
        raise ValueError("contexts must be a list of strings")
    contexts = []
    for i, item in enumerate(value):
        if isinstance(item, Mapping):
            contexts.append(Context(id=str(item.get("id", i)), text=str(item.get("text", ""))))
        else:
            contexts.append(Context(id=str(i), text=str(item)))
    return tuple(contexts)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _sample(row: Mapping[str, Any]) -> Sample:
    if row.get("output") is None:
        raise ValueError("it has no 'output'")
    return Sample(
        output=str(row["output"]),
        expected=_text(row.get("expected")),
        input=_text(row.get("input")),
        row=row,
        contexts=_contexts(row.get("contexts")),
    )


def binary_agreement(labels: Sequence[bool], predictions: Sequence[bool]) -> dict[str, Any]:
    """Accuracy, balanced accuracy, Cohen's kappa and the confusion counts.

    Balanced accuracy averages recall over the label classes present. Kappa is
    (p_o - p_e) / (1 - p_e), taken as 0 when chance agreement p_e is 1 (one class only).
    """
    pairs = list(zip(labels, predictions, strict=True))
    n = len(pairs)
    if not n:
        raise ValueError("no labelled predictions")
    tp = sum(1 for label, predicted in pairs if label and predicted)
    fn = sum(1 for label, predicted in pairs if label and not predicted)
    fp = sum(1 for label, predicted in pairs if not label and predicted)
    tn = n - tp - fn - fp
    recalls = [hits / total for hits, total in ((tp, tp + fn), (tn, tn + fp)) if total]
    observed = (tp + tn) / n
    chance = ((tp + fn) * (tp + fp) + (tn + fp) * (tn + fn)) / n**2
    kappa = (observed - chance) / (1 - chance) if chance < 1 else 0.0
    return {
        "accuracy": observed,
        "balanced_accuracy": sum(recalls) / len(recalls),
        "kappa": kappa,
        "confusion": {"tp": tp, "fn": fn, "fp": fp, "tn": tn},
    }


@dataclass(frozen=True)
class CalibrationRow:
    """One labelled row: the human label and the judge's score, or why it is unmeasured."""

    index: int
    label: bool
    value: float | None
    reason: str | None = None
    detail: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Calibration:
    """Agreement of a judge with human labels; ``id`` is the stored record's."""

    id: int
    judge: str
    judge_hash: str
    model: str
    labels_path: str
    labels_hash: str
    n: int
    n_unmeasured: int
    accuracy: float
    balanced_accuracy: float
    kappa: float
    confusion: dict[str, int]
    positive_threshold: float
    swap_consistency: float | None = None
    rows: tuple[CalibrationRow, ...] = field(default=(), repr=False)
    #: where the labels came from: ``{"kind": "file" | "queue" | "dataset", ...}``
    source: dict[str, Any] = field(default_factory=dict)
    #: labelled items or rows left out for lacking the label
    n_left_out: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "judge": self.judge,
            "judge_hash": self.judge_hash,
            "model": self.model,
            "labels_path": self.labels_path,
            "labels_hash": self.labels_hash,
            "n": self.n,
            "n_unmeasured": self.n_unmeasured,
            "accuracy": self.accuracy,
            "balanced_accuracy": self.balanced_accuracy,
            "kappa": self.kappa,
            "confusion": self.confusion,
            "positive_threshold": self.positive_threshold,
            "swap_consistency": self.swap_consistency,
            "source": self.source,
            "n_left_out": self.n_left_out,
        }


def judge_hash(judge: Scorer) -> str:
    """sha256 of the judge's type and parameters (its ``describe()`` as canonical JSON)."""
    text = json.dumps(judge.describe(), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


async def _score_all(
    judge: Scorer, samples: Sequence[Sample], labels: Sequence[bool], concurrency: int
) -> list[CalibrationRow]:
    # lazy: keeps import llmops light
    from llmops.tracing import span

    semaphore = asyncio.Semaphore(concurrency)

    async def one(index: int) -> CalibrationRow:
        label = labels[index]
        attributes = {"llmops.calibration.judge": judge.name, "llmops.calibration.row": index}
        async with semaphore:
            with span(f"calibrate {judge.name} row {index}", "evaluator", attributes):
                try:
                    score: Score = await judge.ascore(samples[index])
                except ScorerUnmeasured as exc:
                    return CalibrationRow(index, label, None, str(exc), exc.detail)
        if not 0.0 <= score.value <= 1.0:  # also NaN
            return CalibrationRow(index, label, None, f"score {score.value} outside [0, 1]")
        return CalibrationRow(index, label, score.value, score.reason, score.detail)

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(index)) for index in range(len(samples))]
    except ExceptionGroup as errors:  # a model or store failure: not an unmeasured row
        raise errors.exceptions[0] from None
    return [task.result() for task in tasks]


def _swap_consistency(rows: Sequence[CalibrationRow]) -> float | None:
    flags = [
        row.detail["consistent"]
        for row in rows
        if row.value is not None and row.detail and isinstance(row.detail.get("consistent"), bool)
    ]
    return sum(flags) / len(flags) if flags else None


@dataclass(frozen=True)
class LabelSet:
    """Labelled cases ready for a judge, and where their labels came from.

    ``path`` and ``digest`` are stored as the calibration's ``labels_path`` and
    ``labels_hash``; ``source`` goes to its ``detail`` (kind, name, counts).
    """

    labels: list[bool]
    samples: list[Sample]
    path: str
    digest: str
    source: dict[str, Any]
    left_out: int = 0


def _check_options(positive_threshold: float, limit: int | None, concurrency: int) -> None:
    if not 0.0 <= positive_threshold <= 1.0:
        raise InputError("the positive threshold must be between 0 and 1")
    if concurrency < 1 or (limit is not None and limit < 1):
        raise InputError("concurrency and limit must be at least 1")


def calibrate(
    judge: Scorer,
    labels_path: str | Path,
    *,
    store: Store,
    config: Config,
    label_field: str = "label",
    positive_threshold: float = 0.5,
    limit: int | None = None,
    concurrency: int = 4,
) -> Calibration:
    """Run ``judge`` on every labelled row, measure its agreement, store and return it.

    Raises ``InputError`` for a bad labels file, ``CheckFailed`` when no row is measured.
    """
    path = Path(labels_path)
    _check_options(positive_threshold, limit, concurrency)
    rows = read_labels(path)[:limit]
    if not rows:
        raise InputError(f"labels file {path} has no rows")
    labels: list[bool] = []
    samples: list[Sample] = []
    for number, row in enumerate(rows, 1):
        if label_field not in row:
            raise InputError(f"{path}: row {number} has no label field '{label_field}'")
        try:
            labels.append(parse_label(row[label_field]))
            samples.append(_sample(row))
        except ValueError as exc:
            raise InputError(f"{path}: row {number}: {exc}") from None
    labelled = LabelSet(
        labels,
        samples,
        str(path),
        hashlib.sha256(path.read_bytes()).hexdigest(),
        {"kind": "file", "path": str(path), "label_field": label_field, "rows": len(rows)},
    )
    return calibrate_labelled(
        judge,
        labelled,
        store=store,
        config=config,
        positive_threshold=positive_threshold,
        concurrency=concurrency,
        detail={"label_field": label_field, "limit": limit},
    )


def calibrate_labelled(
    judge: Scorer,
    labelled: LabelSet,
    *,
    store: Store,
    config: Config,
    positive_threshold: float = 0.5,
    concurrency: int = 4,
    detail: Mapping[str, Any] | None = None,
    what: str = "labelled cases",
) -> Calibration:
    """Run ``judge`` on ``labelled``'s cases, measure its agreement, store and return it.

    ``InputError`` when there is no case (``what`` names what was looked for), ``CheckFailed``
    when no case is measured; ``detail`` is added to the stored detail.
    """
    # lazy: keeps import llmops light
    from llmops.tracing import configure_tracing, flush

    _check_options(positive_threshold, None, concurrency)
    labels, samples = labelled.labels, labelled.samples
    if not samples:
        raise InputError(
            f"{labelled.path}: no {what} to calibrate on ({labelled.left_out} left out without it)"
        )
    configure_tracing(store, config)
    judge.setup(ScorerEnv(config=config, store=store))
    try:
        results = run_sync(_score_all(judge, samples, labels, concurrency))
    finally:
        flush()
    measured = [row for row in results if row.value is not None]
    unmeasured = Counter(str(row.reason) for row in results if row.value is None)
    if not measured:
        reason, count = unmeasured.most_common(1)[0]
        raise CheckFailed(
            f"judge '{judge.name}' measured none of the {len(samples)} rows ({count}: {reason})"
        )
    agreement = binary_agreement(
        [row.label for row in measured],
        [row.value >= positive_threshold for row in measured if row.value is not None],
    )
    swap = _swap_consistency(measured)
    model = judge.model if isinstance(judge, JudgeScorer) else None
    source = {**labelled.source, "left_out": labelled.left_out}
    record = JudgeCalibrationRecord(
        judge=judge.name,
        judge_hash=judge_hash(judge),
        model=model.name if model is not None else "",
        labels_path=labelled.path,
        labels_hash=labelled.digest,
        n=len(measured),
        n_unmeasured=len(results) - len(measured),
        accuracy=agreement["accuracy"],
        balanced_accuracy=agreement["balanced_accuracy"],
        kappa=agreement["kappa"],
        confusion=agreement["confusion"],
        detail={
            "judge": judge.describe(),
            "model_string": model.model if model is not None else None,
            **(detail or {}),
            "positive_threshold": positive_threshold,
            "labels": {"positive": sum(labels), "negative": len(labels) - sum(labels)},
            "source": source,
            "swap_consistency": swap,
            "unmeasured_reasons": dict(unmeasured.most_common(10)),
        },
        actor=current_actor(),
    )
    with store.write() as session:
        session.add(record)
        session.flush()
        record_id = record.id
    assert record_id is not None
    return Calibration(
        id=record_id,
        judge=record.judge,
        judge_hash=record.judge_hash,
        model=record.model,
        labels_path=record.labels_path,
        labels_hash=record.labels_hash,
        n=record.n,
        n_unmeasured=record.n_unmeasured,
        accuracy=record.accuracy,
        balanced_accuracy=record.balanced_accuracy,
        kappa=record.kappa,
        confusion=dict(agreement["confusion"]),
        positive_threshold=positive_threshold,
        swap_consistency=swap,
        rows=tuple(results),
        source=source,
        n_left_out=labelled.left_out,
    )


def latest_calibration(store: Store, judge_name: str) -> JudgeCalibrationRecord | None:
    """The newest stored calibration of the judge named ``judge_name``, if any."""
    statement = (
        select(JudgeCalibrationRecord)
        .where(JudgeCalibrationRecord.judge == judge_name)
        .order_by(
            col(JudgeCalibrationRecord.created_at).desc(), col(JudgeCalibrationRecord.id).desc()
        )
        .limit(1)
    )
    with store.session() as session:
        return session.exec(statement).first()
