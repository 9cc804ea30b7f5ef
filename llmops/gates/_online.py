"""Online evidence for a gate: scores on live traces that ran the version under decision.

A policy's ``online:`` entry (one, or a list)::

    online: {scorer: helpful, min_mean: 0.7, since: 7d, min_n: 200}

takes the numeric and boolean scores named ``scorer`` (from any source: the app's users,
people in the viewer or a queue, online evaluators) on traces started in the last ``since``
that ran the subject: for a prompt, a span with its ``llmops.prompt.name`` and
``llmops.prompt.version``; for a model, a call whose ``llmops.model.name`` is the version's
``name@N`` (direct calls, aliases and canary routes resolve to it; shadow calls are left out:
their answers never reached the user); for an index, a retrieval of ``llmops.index``; for a
bundle, traces that ran every component. Traces of eval runs and judge calibrations are
offline evidence and are left out, as are scores an eval run wrote.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Float, String, cast, distinct, func, or_
from sqlalchemy import select as sa_select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from llmops.store.models import ScoreRecord, SpanRecord
from llmops.tracing import duration_s

if TYPE_CHECKING:
    from llmops.gates._subjects import Subject
    from llmops.store import Store

__all__ = ["MAX_RECORDED_SCORE_IDS", "OnlineEvidence", "OnlineRequirement", "online_evidence"]

#: A decision records the first this many score ids, and a hash of all of them, so that a
#: gate on a busy app still writes a bounded record.
MAX_RECORDED_SCORE_IDS = 1000


def _window_s(text: str) -> float:
    """A gate's ``since``: a duration (``30s``, ``15m``, ``2h``, ``7d``) in seconds."""
    seconds = duration_s(text)
    if seconds is None:
        raise ValueError(f"'{text}' is not a duration: expected e.g. 30m, 2h or 7d")
    return seconds


class OnlineRequirement(BaseModel):
    """The scores ``scorer`` on live traces of the candidate: at least ``min_n`` of them since
    ``since``, with a mean of at least ``min_mean``."""

    model_config = ConfigDict(extra="forbid")

    scorer: str = Field(min_length=1, max_length=128)
    min_mean: float
    since: str
    min_n: int = Field(ge=1, le=10_000_000)

    @field_validator("min_mean", "min_n", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        # YAML's `min_mean: "0.7"` or `min_n: true` is a mistake, not a number
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("expected a number")
        return value

    @field_validator("min_mean")
    @classmethod
    def _finite(cls, value: float) -> float:
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("expected a finite number")
        return value

    @field_validator("since")
    @classmethod
    def _duration(cls, value: str) -> str:
        if _window_s(value) <= 0:
            raise ValueError("the window must be longer than 0")
        return value


@dataclass(frozen=True)
class OnlineEvidence:
    """What a gate measured online: the scores it used and over which window."""

    scorer: str
    since: str
    since_ns: int
    until_ns: int
    n: int
    mean: float | None
    traces: int
    score_ids: tuple[str, ...]
    score_ids_sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "scorer": self.scorer,
            "since": self.since,
            "since_ns": self.since_ns,
            "until_ns": self.until_ns,
            "n": self.n,
            "mean": self.mean,
            "traces": self.traces,
            "score_ids": list(self.score_ids),
            "score_ids_truncated": self.n > len(self.score_ids),
            "score_ids_sha256": self.score_ids_sha256,
        }


def _attribute(store: Store, key: str) -> ColumnElement[Any]:
    # lazy: keeps import llmops.gates light (tracing loads OpenTelemetry)
    from llmops.tracing import json_text

    return json_text(store, key)


def _ran(store: Store, kind: str, ref: str) -> ColumnElement[bool]:
    """A span that ran ``kind`` version ``ref`` (``name@N``)."""
    # lazy: as in _attribute
    from llmops.tracing import json_number

    name, _, version = ref.rpartition("@")
    if kind == "prompt":
        # the version is an integer from llmops.llm, a string from some OTLP senders
        number = json_number(store, "llmops.prompt.version") == int(version)
        text = cast(_attribute(store, "llmops.prompt.version"), String) == version
        return (_attribute(store, "llmops.prompt.name") == name) & or_(number, text)
    if kind == "model":
        shadow = func.coalesce(cast(_attribute(store, "llmops.route.shadow"), String), "")
        return (_attribute(store, "llmops.model.name") == ref) & shadow.not_in(("1", "true"))
    if kind == "index":
        return _attribute(store, "llmops.index") == ref
    raise ValueError(f"no online evidence for a {kind}")


def _offline(store: Store) -> ColumnElement[bool]:
    """A span of an eval run or a judge calibration."""
    return or_(
        _attribute(store, "llmops.eval.run_id").is_not(None),
        _attribute(store, "llmops.calibration.judge").is_not(None),
    )


def online_evidence(
    store: Store, subject: Subject, requirement: OnlineRequirement, *, now_ns: int | None = None
) -> OnlineEvidence:
    """The scores ``requirement.scorer`` on live traces of ``subject`` in the window."""
    until_ns = now_ns if now_ns is not None else time.time_ns()
    since_ns = until_ns - int(_window_s(requirement.since) * 1e9)
    in_window = (col(SpanRecord.start_ns) >= since_ns) & (col(SpanRecord.start_ns) <= until_ns)
    conditions = [
        col(ScoreRecord.name) == requirement.scorer,
        col(ScoreRecord.value).is_not(None),  # a label has no mean
        col(ScoreRecord.run_id).is_(None),  # an eval run's score is offline evidence
    ]
    for kind, ref in subject.pins.items():
        ran = sa_select(col(SpanRecord.trace_id)).where(in_window, _ran(store, kind, ref))
        conditions.append(col(ScoreRecord.trace_id).in_(ran))
    offline = sa_select(col(SpanRecord.trace_id)).where(in_window, _offline(store))
    conditions.append(col(ScoreRecord.trace_id).not_in(offline))
    totals = sa_select(
        func.count(),
        func.avg(cast(col(ScoreRecord.value), Float)),
        func.count(distinct(col(ScoreRecord.trace_id))),
    ).where(*conditions)
    ids = sa_select(col(ScoreRecord.id)).where(*conditions).order_by(col(ScoreRecord.id))
    digest = hashlib.sha256()
    first: list[str] = []
    with store.read() as connection:
        n, mean, traces = connection.execute(totals).one()
        # streamed: every id goes into the hash, only the first ones are kept
        streamed = connection.execution_options(stream_results=True, yield_per=5000)
        for (score_id,) in streamed.execute(ids):
            digest.update(f"{score_id}\n".encode())
            if len(first) < MAX_RECORDED_SCORE_IDS:
                first.append(score_id)
    return OnlineEvidence(
        scorer=requirement.scorer,
        since=requirement.since,
        since_ns=since_ns,
        until_ns=until_ns,
        n=int(n),
        mean=None if mean is None else float(mean),
        traces=int(traces),
        score_ids=tuple(first),
        score_ids_sha256=digest.hexdigest(),
    )
