"""Human labels for judge calibration from the store: an annotation queue's done items, or
a dataset version's rows (the hand-made labels file is read in :mod:`._calibrate`).

A label is positive (the judge should score this high) when it is ``true``; a number at or
above 0.5 (or above ``positive`` when given, a threshold); a category equal to ``positive``
(or, without it, one of the yes/no words of :func:`parse_label`). Items or rows without the
label are left out and counted, never guessed.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from llmops._exceptions import InputError
from llmops.config import Config
from llmops.evals._calibrate import (
    Calibration,
    LabelSet,
    _sample,
    calibrate_labelled,
    parse_label,
)
from llmops.evals._dataset_registry import (
    check_dataset_name,
    dataset_rows,
    get_dataset_version,
    parse_dataset_ref,
)
from llmops.evals._scoring import Sample, Scorer
from llmops.store import Store

__all__ = [
    "calibrate_from_dataset",
    "calibrate_from_queue",
    "dataset_labels",
    "human_label",
    "queue_labels",
]


def human_label(value: object, positive: str | None, where: str) -> bool:
    """``value`` (a boolean, number or category) as positive or negative; ``InputError``
    naming ``where`` when it cannot be read that way."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        threshold = 0.5
        if positive is not None:
            try:
                threshold = float(positive)
            except ValueError:
                raise InputError(
                    f"{where}: the label is a number ({value:g}); --positive must be a number "
                    f"threshold, not {positive!r}"
                ) from None
        if not math.isfinite(value):
            raise InputError(f"{where}: the label is not a finite number")
        return value >= threshold
    if isinstance(value, str):
        if positive is not None:
            return value == positive
        try:
            return parse_label(value)
        except ValueError as exc:
            raise InputError(f"{where}: {exc}; name the positive one with --positive") from None
    raise InputError(
        f"{where}: the label is a {type(value).__name__}; expected true/false, a number or "
        "a category"
    )


def _sample_of(data: Mapping[str, Any], where: str) -> Sample:
    try:
        return _sample(data)
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from None


def _digest(parts: Iterable[object]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(orjson.dumps(part, option=orjson.OPT_SORT_KEYS, default=str))
        digest.update(b"\n")
    return digest.hexdigest()


def dataset_labels(
    store: Store,
    ref: str,
    *,
    label_column: str | None = None,
    positive: str | None = None,
    limit: int | None = None,
) -> LabelSet:
    """The labelled rows of a dataset version (``qa@3``, ``qa@production``; ``qa``: the
    newest): the label is the row's ``expected`` or its column ``label_column``."""
    parsed = parse_dataset_ref(ref)
    name, selector = parsed if parsed is not None else (check_dataset_name(ref.strip()), "latest")
    version = get_dataset_version(store, name, selector)
    labels: list[bool] = []
    samples: list[Sample] = []
    used: list[int] = []
    missing = 0
    for row in dataset_rows(store, name, version.version):
        if limit is not None and len(samples) >= limit:
            break
        where = f"dataset {version.ref} row {row.idx + 1}"
        data = dict(row.data)
        if label_column is None:  # the label is the reference answer: not shown to the judge
            value = row.expected
            data.pop("expected", None)
        else:
            value = data.pop(label_column, None)
            data["expected"] = row.expected
        if value is None:
            missing += 1
            continue
        labels.append(human_label(value, positive, where))
        samples.append(_sample_of(data, where))
        used.append(row.idx)
    source = {
        "kind": "dataset",
        "dataset": version.ref,
        "content_hash": version.content_hash,
        "label_column": label_column or "expected",
        "positive": positive,
        "rows": version.row_count,
        "used": len(used),
    }
    return LabelSet(
        labels, samples, f"dataset:{version.ref}", version.content_hash, source, missing
    )


def queue_labels(
    store: Store,
    queue: str,
    *,
    label: str,
    positive: str | None = None,
    limit: int | None = None,
) -> LabelSet:
    """The done items of annotation queue ``queue`` that carry the label ``label``."""
    # lazy: the queues module loads only for this source
    from llmops.evals._queues import labelled_items

    items = labelled_items(store, queue)
    labels: list[bool] = []
    samples: list[Sample] = []
    hashed: list[object] = []
    missing = 0
    for item in items:
        if limit is not None and len(samples) >= limit:
            break
        entry = item.labels.get(label)
        value = entry.get("value") if isinstance(entry, Mapping) else None
        if value is None:
            missing += 1
            continue
        where = f"queue {queue} item {item.id}"
        labels.append(human_label(value, positive, where))
        samples.append(_sample_of(item.data, where))
        hashed.append([item.id, item.data, value])
    source = {
        "kind": "queue",
        "queue": queue,
        "label": label,
        "positive": positive,
        "done": len(items),
        "items": len(samples),
    }
    return LabelSet(labels, samples, f"queue:{queue}", _digest(hashed), source, missing)


def _check_limit(limit: int | None) -> None:
    if limit is not None and limit < 1:
        raise InputError("limit must be at least 1")


def calibrate_from_dataset(
    judge: Scorer,
    ref: str,
    *,
    store: Store,
    config: Config,
    label_column: str | None = None,
    positive: str | None = None,
    positive_threshold: float = 0.5,
    limit: int | None = None,
    concurrency: int = 4,
) -> Calibration:
    """Calibrate ``judge`` on a dataset version's labelled rows (see :func:`dataset_labels`)."""
    _check_limit(limit)
    labelled = dataset_labels(store, ref, label_column=label_column, positive=positive, limit=limit)
    column = label_column or "expected"
    return calibrate_labelled(
        judge,
        labelled,
        store=store,
        config=config,
        positive_threshold=positive_threshold,
        concurrency=concurrency,
        detail={"label_field": column, "limit": limit},
        what=f"rows with a label in '{column}'",
    )


def calibrate_from_queue(
    judge: Scorer,
    queue: str,
    *,
    store: Store,
    config: Config,
    label: str,
    positive: str | None = None,
    positive_threshold: float = 0.5,
    limit: int | None = None,
    concurrency: int = 4,
) -> Calibration:
    """Calibrate ``judge`` on an annotation queue's done items labelled ``label``."""
    _check_limit(limit)
    labelled = queue_labels(store, queue, label=label, positive=positive, limit=limit)
    return calibrate_labelled(
        judge,
        labelled,
        store=store,
        config=config,
        positive_threshold=positive_threshold,
        concurrency=concurrency,
        detail={"label_field": label, "limit": limit},
        what=f"done items with the label '{label}'",
    )
