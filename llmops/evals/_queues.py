"""Annotation queues: items (traces matching a filter, or a dataset's rows) for people to label
with score configs, one at a time, in a fixed order.

An item is labelled by one annotator (another one gets a ``ConflictError``; the same one may
redo it). Labels on items taken from traces are also stored as the trace's scores
(``source="human"``, the annotator as author) in the same transaction as the item, so they
show on the trace page and in score filters, and a labelled item never lacks its scores.
A queue's done items become a dataset version with :func:`create_dataset_from_queue`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError

from llmops._exceptions import ConflictError, InputError, NotFoundError
from llmops._identity import current_actor
from llmops._suggest import did_you_mean
from llmops.evals._dataset_registry import (
    DatasetRow,
    DatasetVersion,
    create_dataset,
    dataset_rows,
    get_dataset_version,
    parse_dataset_ref,
)
from llmops.evals._dataset_sources import trace_data
from llmops.evals._online import _documents, _spans_of_kind
from llmops.store import Store, named_row
from llmops.store.models import AnnotationQueueRecord, QueueItemRecord, table_of, utcnow
from llmops.tracing import (
    Redactor,
    ScoreConfig,
    TraceScore,
    add_scores,
    current_redactor,
    delete_score,
    get_score_config,
    list_traces,
    make_score,
    to_genai,
)

if TYPE_CHECKING:
    from llmops.tracing import TraceFilter

__all__ = [
    "ITEM_STATUSES",
    "MAX_QUEUE_ITEMS",
    "AnnotationQueue",
    "QueueItem",
    "complete_queue_item",
    "create_dataset_from_queue",
    "create_queue",
    "export_queue",
    "get_queue",
    "get_queue_item",
    "labelled_items",
    "list_queues",
    "next_queue_item",
    "queue_items",
]

#: Items of one queue: what a team labels by hand in weeks, and what one request may build.
MAX_QUEUE_ITEMS = 10_000
ITEM_STATUSES = ("pending", "done", "skipped")
_MAX_ANNOTATOR = 200
_MAX_COMMENT = 4096
_MAX_DESCRIPTION = 2000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_INSERT_CHUNK = 1000
_Q = table_of(AnnotationQueueRecord)
_I = table_of(QueueItemRecord)


@dataclass(frozen=True)
class AnnotationQueue:
    """A queue and its progress: how many items in all, labelled (``done``) and skipped."""

    name: str
    description: str
    score_configs: tuple[str, ...]
    source: dict[str, Any]
    total: int
    done: int
    skipped: int
    created_by: str
    created_at: datetime | None

    @property
    def pending(self) -> int:
        return self.total - self.done - self.skipped

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "score_configs": list(self.score_configs),
            "source": self.source,
            "total": self.total,
            "done": self.done,
            "skipped": self.skipped,
            "pending": self.pending,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }


@dataclass(frozen=True)
class QueueItem:
    """One item: what the annotator judges (``data``: input, output, expected?, contexts?),
    its place in the queue, and once labelled, who did it, when, and the labels (score name ->
    ``{"value", "comment"}``)."""

    id: int
    queue: str
    position: int
    trace_id: str | None
    data: dict[str, Any]
    status: str
    annotator: str | None
    completed_at: datetime | None
    labels: dict[str, dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "queue": self.queue,
            "position": self.position,
            "trace_id": self.trace_id,
            "data": self.data,
            "status": self.status,
            "annotator": self.annotator,
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
            "labels": self.labels,
        }


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InputError(
            f"invalid queue name {str(name)[:80]!r}: use letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (at most 200)"
        )
    return name


def _text(where: str, value: object, limit: int, *, multiline: bool = False) -> str:
    if not isinstance(value, str):
        raise InputError(f"{where}: expected text, got {type(value).__name__}")
    if len(value) > limit:
        raise InputError(f"{where}: over {limit} characters ({len(value)})")
    if (_CONTROL_IN_TEXT if multiline else _CONTROL).search(value):
        raise InputError(f"{where}: control characters are not allowed")
    return value


def _counts(connection: Connection, queue_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = {}
    if not queue_ids:
        return counts
    for queue_id, status, n in connection.execute(
        select(_I.c.queue_id, _I.c.status, func.count())
        .where(_I.c.queue_id.in_(list(queue_ids)))
        .group_by(_I.c.queue_id, _I.c.status)
    ).all():
        counts.setdefault(queue_id, {})[status] = int(n)
    return counts


def _queue_of(row: Any, counts: Mapping[str, int]) -> AnnotationQueue:
    return AnnotationQueue(
        name=row.name,
        description=row.description,
        score_configs=tuple(row.score_configs or ()),
        source=dict(row.source or {}),
        total=sum(counts.values()),
        done=counts.get("done", 0),
        skipped=counts.get("skipped", 0),
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _item_of(queue: str, row: Any) -> QueueItem:
    labels = {
        str(name): {"value": label.get("value"), "comment": label.get("comment")}
        for name, label in (row.labels or {}).items()
    }
    return QueueItem(
        id=row.id,
        queue=queue,
        position=row.position,
        trace_id=row.trace_id,
        data=dict(row.data or {}),
        status=row.status,
        annotator=row.annotator,
        completed_at=row.completed_at,
        labels=labels,
    )


# ---- building a queue ----------------------------------------------------------------------------


def _contexts(store: Store, trace_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The documents retriever spans of these traces returned, as the online evaluators read
    them: ``[{"id", "text", "score"}]`` per trace, in retrieval order."""
    found: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(trace_ids), 500):  # bounded IN lists
        for span in _spans_of_kind(store, trace_ids[start : start + 500], "retriever"):
            attributes = to_genai(span.attributes if isinstance(span.attributes, dict) else {})
            for document in _documents(attributes):
                found.setdefault(span.trace_id, []).append(
                    {"id": document.id, "text": document.text, "score": document.score}
                )
    return found


def _items_from_traces(
    store: Store, where: TraceFilter, limit: int, sample: int | None, seed: int
) -> list[tuple[str | None, dict[str, Any]]]:
    traces = list_traces(store, limit=limit, where=where)
    if sample is not None and sample < len(traces):
        # drawn from the newest `limit` matches, then kept in time order: the same seed and
        # the same stored traces give the same items
        chosen = set(random.Random(seed).sample(range(len(traces)), sample))
        traces = [trace for i, trace in enumerate(traces) if i in chosen]
    traces.reverse()  # oldest first
    contexts = _contexts(store, [trace.trace_id for trace in traces])
    items: list[tuple[str | None, dict[str, Any]]] = []
    for trace, data, _metadata in trace_data(store, traces):
        if trace.trace_id in contexts:
            data["contexts"] = contexts[trace.trace_id]
        items.append((trace.trace_id, data))
    return items


def _items_from_dataset(
    store: Store, ref: str, limit: int, sample: int | None, seed: int
) -> tuple[str, list[tuple[str | None, dict[str, Any]]]]:
    found = parse_dataset_ref(ref) if "@" in ref else (ref, "latest")
    if found is None:
        raise InputError(f"invalid dataset reference {ref[:200]!r}: expected NAME[@VERSION|@ALIAS]")
    version = get_dataset_version(store, *found)
    if version.row_count > limit and sample is None:
        raise InputError(
            f"dataset {version.ref} has {version.row_count:,} rows, over the queue limit "
            f"{limit:,}: pass a sample size or a larger limit (at most {MAX_QUEUE_ITEMS:,})"
        )
    rows = dataset_rows(store, version.name, version.version)
    if sample is not None and sample < len(rows):
        chosen = set(random.Random(seed).sample(range(len(rows)), sample))
        rows = [row for i, row in enumerate(rows) if i in chosen]
    items: list[tuple[str | None, dict[str, Any]]] = []
    for row in rows:
        data = dict(row.data)
        if row.expected is not None:
            data["expected"] = row.expected
        items.append((row.trace_id, data))
    return version.ref, items


def create_queue(
    store: Store,
    name: str,
    *,
    where: TraceFilter | None = None,
    dataset: str | None = None,
    sample: int | None = None,
    seed: int = 0,
    limit: int = 1000,
    score_configs: Sequence[str],
    description: str = "",
    created_by: str | None = None,
) -> AnnotationQueue:
    """A new queue of the traces matching ``where`` (the newest ``limit``; ``sample``: that
    many of them drawn with ``random.Random(seed)``), or of a dataset version's rows
    (``"qa@3"``), to be labelled with ``score_configs`` (each must exist)."""
    _check_name(name)
    if (where is None) == (dataset is None):
        raise InputError(f"queue '{name}': give a trace filter or a dataset (one of them)")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_QUEUE_ITEMS:
        raise InputError(f"queue '{name}': limit must be 1 to {MAX_QUEUE_ITEMS:,}, got {limit!r}")
    if sample is not None and (
        isinstance(sample, bool) or not isinstance(sample, int) or not 1 <= sample <= limit
    ):
        raise InputError(f"queue '{name}': sample must be 1 to the limit {limit:,}, got {sample!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InputError(f"queue '{name}': seed must be an integer, got {seed!r:.60}")
    _text(f"queue '{name}': description", description, _MAX_DESCRIPTION, multiline=True)
    if isinstance(score_configs, str) or not score_configs:
        raise InputError(f"queue '{name}': name at least one score config to label with")
    configs = list(dict.fromkeys(score_configs))
    for config in configs:
        get_score_config(store, config)  # NotFoundError naming it
    with store.read() as connection:
        if connection.execute(select(_Q.c.id).where(_Q.c.name == name)).first() is not None:
            raise InputError(f"queue '{name}' already exists")
    source: dict[str, Any]
    if where is not None:
        items = _items_from_traces(store, where, limit, sample, seed)
        filter_ = {key: value for key, value in vars(where).items() if value not in (None, ())}
        source = {"traces": filter_, "limit": limit}
        what = "no traces match the filter"
    else:
        ref, items = _items_from_dataset(store, str(dataset), limit, sample, seed)
        source = {"dataset": ref}
        what = f"dataset {ref} has no rows"
    if sample is not None:
        source.update(sample=sample, seed=seed)
    source = orjson.loads(orjson.dumps(source, default=str))  # conditions as text
    if not items:
        raise InputError(f"queue '{name}': {what}")
    created_by = (created_by if created_by is not None else current_actor())[:_MAX_ANNOTATOR]
    now = utcnow()
    try:
        with store.write() as session:
            connection = session.connection()
            queue_id = connection.execute(
                _Q.insert().values(
                    name=name,
                    description=description,
                    score_configs=configs,
                    source=source,
                    created_by=created_by,
                    created_at=now,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            # bulk Core inserts: one ORM object per item costs seconds at the item limit
            for start in range(0, len(items), _INSERT_CHUNK):
                connection.execute(
                    _I.insert(),
                    [
                        {
                            "queue_id": queue_id,
                            "position": start + offset,
                            "trace_id": trace_id,
                            "data": data,
                            "status": "pending",
                        }
                        for offset, (trace_id, data) in enumerate(
                            items[start : start + _INSERT_CHUNK]
                        )
                    ],
                )
    except IntegrityError:  # a concurrent writer took the name
        raise InputError(f"queue '{name}' already exists") from None
    return AnnotationQueue(
        name, description, tuple(configs), source, len(items), 0, 0, created_by, now
    )


# ---- reading -------------------------------------------------------------------------------------


def list_queues(store: Store) -> list[AnnotationQueue]:
    """Every queue with its progress, by name."""
    with store.read() as connection:
        rows = connection.execute(select(_Q).order_by(_Q.c.name)).all()
        counts = _counts(connection, [row.id for row in rows])
    return [_queue_of(row, counts.get(row.id, {})) for row in rows]


def get_queue(store: Store, name: str) -> AnnotationQueue:
    """A queue with its progress; ``NotFoundError`` when there is none."""
    with store.read() as connection:
        row = named_row(connection, _Q, name, "queue")
        counts = _counts(connection, [row.id])
    return _queue_of(row, counts.get(row.id, {}))


def queue_items(
    store: Store, name: str, *, status: str | None = None, limit: int = 100, offset: int = 0
) -> list[QueueItem]:
    """A page of a queue's items in queue order, of one status when given."""
    if status is not None and status not in ITEM_STATUSES:
        raise InputError(f"status {status!r:.40}: expected one of {', '.join(ITEM_STATUSES)}")
    if not 1 <= limit <= MAX_QUEUE_ITEMS or offset < 0:
        raise InputError(f"limit must be 1 to {MAX_QUEUE_ITEMS:,} and offset at least 0")
    with store.read() as connection:
        queue = named_row(connection, _Q, name, "queue")
        query = select(_I).where(_I.c.queue_id == queue.id)
        if status is not None:
            query = query.where(_I.c.status == status)
        rows = connection.execute(query.order_by(_I.c.position).limit(limit).offset(offset)).all()
    return [_item_of(name, row) for row in rows]


def _item_row(connection: Connection, queue: Any, item_id: int, *, lock: bool = False) -> Any:
    query = select(_I).where(_I.c.queue_id == queue.id, _I.c.id == item_id)
    if lock:  # PostgreSQL: serialize two annotators on one item (SQLite's write lock does)
        query = query.with_for_update()
    row = connection.execute(query).first()
    if row is None:
        raise NotFoundError(f"queue '{queue.name}' has no item {item_id}")
    return row


def get_queue_item(store: Store, name: str, item_id: int) -> QueueItem:
    """One item of a queue; ``NotFoundError`` when the queue has no such item."""
    with store.read() as connection:
        row = _item_row(connection, named_row(connection, _Q, name, "queue"), item_id)
    return _item_of(name, row)


def next_queue_item(store: Store, name: str, *, after: int | None = None) -> QueueItem | None:
    """The first pending item after item ``after`` in queue order (from the start when None);
    when none is pending after it, the first pending one before it, so an item left behind is
    offered again. None when no item other than ``after`` is pending."""
    with store.read() as connection:
        queue = named_row(connection, _Q, name, "queue")
        pending = select(_I).where(_I.c.queue_id == queue.id, _I.c.status == "pending")
        position = -1
        if after is not None:
            position = _item_row(connection, queue, after).position
        row = connection.execute(
            pending.where(_I.c.position > position).order_by(_I.c.position).limit(1)
        ).first()
        if row is None and position >= 0:
            row = connection.execute(
                pending.where(_I.c.position < position).order_by(_I.c.position).limit(1)
            ).first()
    return None if row is None else _item_of(name, row)


def export_queue(store: Store, name: str) -> Iterator[dict[str, Any]]:
    """Every item as a JSON-ready dict (one JSONL line), in queue order, read in pages."""
    with store.read() as connection:
        queue = named_row(connection, _Q, name, "queue")
    last = -1
    while True:
        with store.read() as connection:
            rows = connection.execute(
                select(_I)
                .where(_I.c.queue_id == queue.id, _I.c.position > last)
                .order_by(_I.c.position)
                .limit(500)
            ).all()
        if not rows:
            return
        for row in rows:
            item = _item_of(name, row)
            yield {
                "item": item.id,
                "position": item.position,
                "trace_id": item.trace_id,
                "status": item.status,
                "annotator": item.annotator,
                "completed_at": item.completed_at.isoformat() if item.completed_at else None,
                "data": item.data,
                "labels": item.labels,
            }
        last = rows[-1].position


def labelled_items(store: Store, name: str) -> list[QueueItem]:
    """The done items of a queue, in queue order: their data and labels."""
    return queue_items(store, name, status="done", limit=MAX_QUEUE_ITEMS)


# ---- labelling -----------------------------------------------------------------------------------


def _checked_labels(
    queue: Any,
    configs: Mapping[str, ScoreConfig],
    labels: Mapping[str, object],
    comments: Mapping[str, str] | None,
) -> dict[str, dict[str, Any]]:
    if not isinstance(labels, Mapping):
        raise InputError(f"labels: expected an object (score name -> value), got {labels!r:.60}")
    if comments is not None and not isinstance(comments, Mapping):
        raise InputError(f"comments: expected an object (score name -> text), got {comments!r:.60}")
    checked: dict[str, dict[str, Any]] = {}
    for name, value in labels.items():
        config = configs.get(name) if isinstance(name, str) else None
        if config is None:
            allowed = ", ".join(configs)
            raise InputError(
                f"labels.{str(name)[:128]}: not a score config of queue '{queue.name}' "
                f"({allowed}){did_you_mean(str(name), configs)}"
            )
        checked[name] = {"value": config.check(value, f"labels.{name}"), "comment": None}
    for name, text in (comments or {}).items():
        if name not in checked:
            raise InputError(f"comments.{str(name)[:128]}: a comment needs a label of that name")
        checked[name]["comment"] = _text(f"comments.{name}", text, _MAX_COMMENT, multiline=True)
    return checked


def complete_queue_item(
    store: Store,
    name: str,
    item_id: int,
    *,
    annotator: str,
    labels: Mapping[str, object],
    comments: Mapping[str, str] | None = None,
    status: str = "done",
    redactor: Redactor | None = None,
) -> QueueItem:
    """Label an item (``status="done"``) or skip it (``"skipped"``, no labels).

    Labels are checked against the queue's score configs. An item another annotator labelled
    is a ``ConflictError``; the same annotator may redo it, replacing their labels. Items from
    traces also get each label as a trace score (``source="human"``), comments masked with
    ``redactor`` (default: the project's), in the transaction that updates the item.
    """
    if status not in ("done", "skipped"):
        raise InputError(f"status {status!r:.40}: expected done or skipped")
    annotator = _text("annotator", annotator, _MAX_ANNOTATOR)
    if not annotator.strip():
        raise InputError("annotator: must not be empty")
    with store.read() as connection:
        queue = named_row(connection, _Q, name, "queue")
    configs = {config: get_score_config(store, config) for config in queue.score_configs or ()}
    if status == "skipped":
        if labels or comments:
            raise InputError("a skipped item takes no labels or comments")
        checked: dict[str, dict[str, Any]] = {}
    else:
        checked = _checked_labels(queue, configs, labels, comments)
        if not checked:
            raise InputError(
                f"labels: give at least one of {', '.join(configs)} (or skip the item)"
            )
    masker = redactor if redactor is not None else current_redactor()
    for label in checked.values():  # comments may carry what span text would: masked alike
        if label["comment"] is not None:
            label["comment"] = masker.text(label["comment"])
    now = utcnow()
    with store.write() as session:
        connection = session.connection()
        row = _item_row(connection, queue, item_id, lock=True)
        if row.status == "done" and row.annotator != annotator:
            raise ConflictError(
                f"queue '{name}' item {item_id} was labelled by {row.annotator}; "
                "one annotator's labels per item"
            )
        # a redo replaces the annotator's earlier scores rather than adding a second set
        for old in (row.labels or {}).values():
            if isinstance(old, dict) and old.get("score_id"):
                delete_score(store, str(old["score_id"]))
        scores: list[TraceScore] = []
        if row.trace_id is not None and checked:
            scores = [
                make_score(
                    row.trace_id,
                    label_name,
                    label["value"],
                    comment=label["comment"],
                    source="human",
                    author=annotator,
                    data_type=configs[label_name].data_type,
                    where=f"labels.{label_name}",
                )
                for label_name, label in checked.items()
            ]
            # store.write() blocks nest: the scores commit with the item or not at all
            for score, stored in zip(scores, add_scores(store, scores, masker), strict=True):
                checked[score.name]["score_id"] = stored.id
        connection.execute(
            _I.update()
            .where(_I.c.id == row.id)
            .values(
                status=status,
                annotator=annotator,
                completed_at=now,
                labels=checked or None,
            )
        )
        updated = _item_row(connection, queue, item_id)
    return _item_of(name, updated)


# ---- datasets from a queue -----------------------------------------------------------------------


def create_dataset_from_queue(
    store: Store,
    dataset_name: str,
    queue_name: str,
    *,
    expected_from: str | None = None,
    description: str = "",
    note: str = "",
    created_by: str | None = None,
) -> DatasetVersion:
    """A version of ``dataset_name`` from the queue's labelled items: each row is the item's
    data (input, output, contexts), ``expected`` its label ``expected_from`` (items without
    that label are left out); metadata names the trace, queue, item, annotator and labels."""
    queue = get_queue(store, queue_name)
    if expected_from is not None and expected_from not in queue.score_configs:
        raise InputError(
            f"--expected-from {expected_from[:128]!r}: not a score config of queue "
            f"'{queue_name}' ({', '.join(queue.score_configs)})"
        )
    rows: list[DatasetRow] = []
    for item in labelled_items(store, queue_name):
        data = dict(item.data)
        if expected_from is not None:
            label = item.labels.get(expected_from)
            if label is None:
                continue
            data["expected"] = label["value"]
        metadata = {
            "trace_id": item.trace_id,
            "queue": queue_name,
            "item": item.id,
            "annotator": item.annotator,
            "labels": {key: value["value"] for key, value in item.labels.items()},
        }
        rows.append(DatasetRow(len(rows), data, data.get("expected"), metadata, item.trace_id))
    if not rows:
        why = f" with a label '{expected_from}'" if expected_from else ""
        raise InputError(f"queue '{queue_name}' has no labelled items{why}")
    return create_dataset(
        store,
        dataset_name,
        rows,
        source={"queue": queue_name, "expected_from": expected_from},
        description=description,
        note=note,
        created_by=created_by,
        where=f"dataset '{dataset_name}' from queue '{queue_name}'",
    )
