"""Scores on traces: one model for feedback from people (``human``), from the app's end users
(``app``) and from automatic scorers (``judge``, ``scorer``), numeric, boolean or categorical.

A score names its trace (and optionally a span) by id only, not by a foreign key: feedback may
arrive before the batch writer has stored the trace's spans, and it is kept all the same.

Eval runs keep their results in their own tables; :func:`eval_run_scores` reads a run's
measured values on traced cases as ``TraceScore`` objects (``source="scorer"``, ``run_id``
set), which :func:`add_scores` can store next to the feedback.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Float, Row, Subquery, Table, case, cast, delete, func, insert, select
from sqlalchemy.sql.elements import ColumnElement

from llmops._exceptions import InputError
from llmops.store import Store
from llmops.store import scores as _SC
from llmops.tracing._redact import Redactor
from llmops.tracing._span_table import span_table

__all__ = [
    "DATA_TYPES",
    "MAX_SCORES_PER_REQUEST",
    "SCORE_SOURCES",
    "ScoreCondition",
    "ScoreSort",
    "TraceScore",
    "add_scores",
    "delete_score",
    "eval_run_scores",
    "list_scores",
    "make_score",
    "parse_score_filter",
    "parse_score_sort",
    "parse_score_value",
    "score_matches",
    "score_order",
    "score_summaries",
]

#: Who gave a score: a person in the viewer, the app's end user, a judge model, a scorer.
SCORE_SOURCES = ("human", "app", "judge", "scorer")
#: What its value is, as Langfuse's score data types: a number, 0/1, or a label.
DATA_TYPES = ("NUMERIC", "BOOLEAN", "CATEGORICAL")
#: One request (or one ``add_scores`` call) writes at most this many, in one transaction.
MAX_SCORES_PER_REQUEST = 1000
MAX_NAME = 128
MAX_LABEL = 200
MAX_AUTHOR = 200
MAX_COMMENT = 4096

_HEX32 = re.compile(r"[0-9a-fA-F]{32}")
_HEX16 = re.compile(r"[0-9a-fA-F]{16}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # comments keep \t \n \r
_random = random.Random()


_last_ns = 0
_id_lock = threading.Lock()


def _new_id() -> str:
    """32 hex digits: nanoseconds since the epoch (strictly increasing in this process), then
    64 random bits; ids sort as created, so the latest score of a name is the largest id."""
    global _last_ns
    with _id_lock:
        _last_ns = max(time.time_ns(), _last_ns + 1)
        stamp = _last_ns
    return f"{stamp:016x}{_random.getrandbits(64):016x}"


@dataclass(frozen=True)
class TraceScore:
    """A score on a trace (``span_id``: on one of its spans). ``value`` is set for NUMERIC
    and BOOLEAN (0 or 1) scores, ``label`` for CATEGORICAL ones."""

    trace_id: str
    name: str
    data_type: str
    value: float | None = None
    label: str | None = None
    source: str = "app"
    comment: str | None = None
    author: str | None = None
    span_id: str | None = None
    id: str = ""
    created_at: datetime | None = None
    evaluator: str | None = None
    run_id: str | None = None

    @property
    def shown(self) -> float | bool | str | None:
        """The value as given: a number, True/False, or the label."""
        if self.data_type == "CATEGORICAL":
            return self.label
        if self.data_type == "BOOLEAN" and self.value is not None:
            return self.value >= 0.5
        return self.value

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "name": self.name,
            "source": self.source,
            "data_type": self.data_type,
            "value": self.value,
            "label": self.label,
            "comment": self.comment,
            "author": self.author,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "evaluator": self.evaluator,
            "run_id": self.run_id,
        }


def _text(where: str, value: Any, limit: int, *, required: bool, multiline: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise InputError(f"{where}: expected a string, got {type(value).__name__}")
    if required and not value.strip():
        raise InputError(f"{where}: must not be empty")
    if len(value) > limit:
        raise InputError(f"{where}: over {limit} characters ({len(value)})")
    if (_CONTROL_IN_TEXT if multiline else _CONTROL).search(value):
        raise InputError(f"{where}: control characters are not allowed")
    return value


def _id(where: str, value: Any, pattern: re.Pattern[str], digits: int) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value) or not value.strip("0"):
        shown = repr(value)[:60]
        raise InputError(f"{where}: expected {digits} hex digits (not all zero), got {shown}")
    return value.lower()


def _value(where: str, value: Any, data_type: object) -> tuple[str, float | None, str | None]:
    """(data_type, value, label) of a given value, checked against a given data type."""
    if data_type is not None and data_type not in DATA_TYPES:
        raise InputError(f"{where}.data_type: expected one of {', '.join(DATA_TYPES)}")
    given = data_type if isinstance(data_type, str) else None
    if isinstance(value, bool):
        if given not in (None, "BOOLEAN", "NUMERIC"):
            raise InputError(f"{where}.value: a boolean is not a {given} value")
        return given or "BOOLEAN", float(value), None
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an int past the float range
            number = math.inf
        if not math.isfinite(number) or abs(number) > 1e300:
            raise InputError(f"{where}.value: must be a finite number")
        if given == "BOOLEAN" and number not in (0.0, 1.0):
            raise InputError(f"{where}.value: a BOOLEAN score is true/false or 0/1")
        if given == "CATEGORICAL":
            raise InputError(f"{where}.value: a CATEGORICAL score's value is a label (a string)")
        return given or "NUMERIC", number, None
    if isinstance(value, str):
        if given not in (None, "CATEGORICAL"):
            raise InputError(f"{where}.value: a {given} score's value is a number")
        label = _text(f"{where}.value", value, MAX_LABEL, required=True, multiline=False)
        return "CATEGORICAL", None, label
    shown = type(value).__name__
    raise InputError(f"{where}.value: expected a number, true/false or a label, got {shown}")


def make_score(
    trace_id: object,
    name: object,
    value: object,
    *,
    comment: object = None,
    source: object = "app",
    author: object = None,
    span_id: object = None,
    data_type: object = None,
    evaluator: str | None = None,
    run_id: str | None = None,
    where: str = "score",
) -> TraceScore:
    """A checked, new score; bad input is an ``InputError`` naming ``where`` and the field.

    ``value``: True/False (BOOLEAN, stored as 1/0), a number (NUMERIC) or a string label
    (CATEGORICAL); ``data_type`` may say which, and must then agree.
    """
    if source not in SCORE_SOURCES:
        expected = ", ".join(SCORE_SOURCES)
        raise InputError(f"{where}.source: expected one of {expected}, got {source!r:.60}")
    kind, number, label = _value(where, value, data_type)
    return TraceScore(
        trace_id=_id(f"{where}.trace_id", trace_id, _HEX32, 32),
        span_id=None if span_id is None else _id(f"{where}.span_id", span_id, _HEX16, 16),
        name=_text(f"{where}.name", name, MAX_NAME, required=True, multiline=False) or "",
        data_type=kind,
        value=number,
        label=label,
        source=str(source),
        comment=_text(f"{where}.comment", comment, MAX_COMMENT, required=False, multiline=True),
        author=_text(f"{where}.author", author, MAX_AUTHOR, required=False, multiline=False),
        id=_new_id(),
        created_at=datetime.now(UTC),
        evaluator=evaluator,
        run_id=run_id,
    )


def parse_score_value(text: str) -> bool | float | str:
    """A value typed on a command line: true/false, a number, else a label."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def _row(score: TraceScore, redactor: Redactor | None) -> dict[str, Any]:
    row = score.to_dict()
    row["created_at"] = score.created_at or datetime.now(UTC)
    if redactor is not None:  # free text may carry what spans' text would: masked alike
        row["comment"] = None if score.comment is None else redactor.text(score.comment)
        row["label"] = None if score.label is None else redactor.label(score.label, MAX_LABEL)
    row["id"] = score.id or _new_id()
    return row


def add_scores(
    store: Store, scores: Sequence[TraceScore], redactor: Redactor | None = None
) -> list[TraceScore]:
    """Store ``scores`` in one transaction (all or none), comments and labels masked with
    ``redactor``; returns them as stored."""
    if len(scores) > MAX_SCORES_PER_REQUEST:
        raise InputError(f"{len(scores)} scores at once: at most {MAX_SCORES_PER_REQUEST} per call")
    rows = [_row(score, redactor) for score in scores]
    if rows:
        with store.write() as session:
            session.connection().execute(insert(_SC), rows)
    return [
        replace(s, id=r["id"], created_at=r["created_at"], comment=r["comment"], label=r["label"])
        for s, r in zip(scores, rows, strict=True)
    ]


def _from_record(record: Row[Any]) -> TraceScore:
    return TraceScore(
        id=record.id,
        trace_id=record.trace_id,
        span_id=record.span_id,
        name=record.name,
        source=record.source,
        data_type=record.data_type,
        value=record.value,
        label=record.label,
        comment=record.comment,
        author=record.author,
        created_at=record.created_at,
        evaluator=record.evaluator,
        run_id=record.run_id,
    )


def list_scores(
    store: Store,
    trace_id: str | None = None,
    *,
    name: str | None = None,
    after: str | None = None,
    limit: int = 1000,
) -> list[TraceScore]:
    """Scores oldest first: of one trace, of one name, after the score id ``after``."""
    query = select(_SC)
    if trace_id is not None:
        query = query.where(_SC.c.trace_id == trace_id.lower())
    if name is not None:
        query = query.where(_SC.c.name == name)
    if after is not None:
        query = query.where(_SC.c.id > after)
    query = query.order_by(_SC.c.id).limit(limit)
    with store.read() as connection:
        return [_from_record(record) for record in connection.execute(query).all()]


def delete_score(store: Store, score_id: str) -> bool:
    """Delete one score; False when there is none with that id."""
    with store.write() as session:
        result = session.connection().execute(delete(_SC).where(_SC.c.id == score_id))
    return bool(result.rowcount)


def score_summaries(store: Store, trace_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per trace, per score name: ``{value, mean, n}``: the latest value (number, true/false
    or label), the mean of the numeric ones (None when there are none) and how many."""
    ids = list(trace_ids)
    if not ids:
        return {}
    grouped = (
        select(
            _SC.c.trace_id,
            _SC.c.name,
            func.count().label("n"),
            func.avg(cast(_SC.c.value, Float)).label("mean"),
            func.max(_SC.c.id).label("latest"),
        )
        .where(_SC.c.trace_id.in_(ids))
        .group_by(_SC.c.trace_id, _SC.c.name)
    )
    summaries: dict[str, dict[str, Any]] = {}
    with store.read() as connection:
        groups = connection.execute(grouped).all()
        latest_ids = [group.latest for group in groups]
        latest = {
            record.id: _from_record(record)
            for record in connection.execute(select(_SC).where(_SC.c.id.in_(latest_ids))).all()
        }
    for group in groups:
        last = latest.get(group.latest)
        summaries.setdefault(group.trace_id, {})[group.name] = {
            "value": last.shown if last is not None else None,
            "mean": None if group.mean is None else float(group.mean),
            "n": int(group.n),
        }
    for names in summaries.values():  # stable order for display
        ordered = dict(sorted(names.items()))
        names.clear()
        names.update(ordered)
    return summaries


# ---- filters and sorting of the trace list ------------------------------------------------------

_FILTER = re.compile(r"\s*(?:score\.)?([^\s<>=!]{1,128})\s*(<=|>=|!=|==|<|>|=)\s*(.*?)\s*")
Operator = Literal["<", "<=", ">", ">=", "=", "!="]


@dataclass(frozen=True)
class ScoreCondition:
    """``NAME OP VALUE`` on the trace list. A trace's value for a numeric or boolean name is
    the mean of its scores of that name; a label matches with ``=`` when the trace has a score
    of that name with that label, with ``!=`` when it has scores of that name but none with
    it. Traces without a score of that name never match: unmeasured is not a value."""

    name: str
    op: Operator
    value: float | str


def parse_score_filter(text: str) -> ScoreCondition:
    """``helpful<0.5``, ``score.helpful >= 1``, ``tone=polite``, ``ok=true``; a bad expression
    is an ``InputError`` that names it."""
    found = _FILTER.fullmatch(text) if len(text) <= 400 else None
    if found is None or not found.group(3) or _CONTROL.search(text):
        raise InputError(
            f"invalid score filter {text[:100]!r}: expected NAME OP VALUE, OP one of "
            "< <= > >= = != (e.g. helpful<0.5 or tone=polite)"
        )
    name, op, raw = found.groups()
    op = "=" if op == "==" else op
    quoted = len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\""
    value = raw[1:-1] if quoted else parse_score_value(raw)
    if isinstance(value, bool):
        value = float(value)
    if isinstance(value, str) and op not in ("=", "!="):
        raise InputError(
            f"invalid score filter {text[:100]!r}: {op} needs a number; labels compare with = or !="
        )
    return ScoreCondition(name=name, op=op, value=value)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ScoreSort:
    """Order of the trace list by a score's mean: ascending, or descending with ``-``;
    traces without that score come last."""

    name: str
    descending: bool = False


def parse_score_sort(text: str) -> ScoreSort:
    """``score.helpful`` (lowest first) or ``-score.helpful`` (highest first)."""
    found = re.fullmatch(r"(-?)score\.([^\s<>=!]{1,128})", text.strip())
    if found is None or _CONTROL.search(text):
        raise InputError(
            f"invalid sort {text[:100]!r}: expected score.NAME or -score.NAME (highest first)"
        )
    return ScoreSort(name=found.group(2), descending=bool(found.group(1)))


def _compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    comparisons: dict[str, Any] = {
        "<": column < value,
        "<=": column <= value,
        ">": column > value,
        ">=": column >= value,
        "=": column == value,
        "!=": column != value,
    }
    result: ColumnElement[bool] = comparisons[op]
    return result


def score_matches(condition: ScoreCondition, spans: Table | None = None) -> ColumnElement[bool]:
    """A condition on a span row (of ``spans``, default the ``SpanRecord`` model's table): its
    trace meets ``condition`` (see :class:`ScoreCondition`)."""
    named = select(_SC.c.trace_id).where(_SC.c.name == condition.name)
    if isinstance(condition.value, str):
        if condition.op == "=":
            traces = named.where(_SC.c.label == condition.value)
        else:
            with_label = case((_SC.c.label == condition.value, 1), else_=0)
            traces = named.group_by(_SC.c.trace_id).having(func.sum(with_label) == 0)
    else:
        mean = func.avg(cast(_SC.c.value, Float))
        traces = named.group_by(_SC.c.trace_id).having(
            _compare(mean, condition.op, condition.value)
        )
    return span_table(spans).c.trace_id.in_(traces)


def score_order(
    sort: ScoreSort,
) -> tuple[Subquery, tuple[ColumnElement[int], ColumnElement[float]]]:
    """(subquery, order columns) to sort root spans by a score's mean: join the subquery on
    ``trace_id`` (outer), then order by the columns (traces without the score last)."""
    means = (
        select(
            _SC.c.trace_id.label("trace_id"),
            func.avg(cast(_SC.c.value, Float)).label("mean"),
        )
        .where(_SC.c.name == sort.name)
        .group_by(_SC.c.trace_id)
        .subquery()
    )
    mean = means.c.mean
    return means, (case((mean.is_(None), 1), else_=0), mean.desc() if sort.descending else mean)


# ---- eval runs -----------------------------------------------------------------------------------


def eval_run_scores(store: Store, run_id: str) -> list[TraceScore]:
    """An eval run's measured scores on cases that have a trace, as ``TraceScore`` objects
    (``source="scorer"``, ``run_id`` set, named after the scorer); unmeasured values are left
    out. Nothing is stored: pass them to :func:`add_scores` to list them with the trace."""
    # lazy: the models (sqlmodel, the ORM) would cost every command importing llmops.tracing,
    # `llmops traces list` among them; eval results are read here only
    from sqlmodel import col
    from sqlmodel import select as orm_select

    from llmops.store.models import EvalCaseRecord, EvalScoreRecord

    query = (
        orm_select(EvalScoreRecord, EvalCaseRecord.trace_id)
        .join(
            EvalCaseRecord,
            (col(EvalCaseRecord.run_id) == col(EvalScoreRecord.run_id))
            & (col(EvalCaseRecord.case_index) == col(EvalScoreRecord.case_index))
            & (col(EvalCaseRecord.repeat) == col(EvalScoreRecord.repeat)),
        )
        .where(EvalScoreRecord.run_id == run_id)
        .where(col(EvalScoreRecord.value).is_not(None))
        .where(col(EvalCaseRecord.trace_id).is_not(None))
        .order_by(col(EvalScoreRecord.case_index), col(EvalScoreRecord.repeat))
    )
    with store.session() as session:
        rows = session.exec(query).all()
    scores = []
    for record, trace_id in rows:
        if record.value is None or trace_id is None or not math.isfinite(record.value):
            continue
        scores.append(
            TraceScore(
                trace_id=trace_id,
                name=record.scorer,
                data_type="NUMERIC",
                value=float(record.value),
                source="scorer",
                comment=record.reason,
                run_id=run_id,
            )
        )
    return scores
