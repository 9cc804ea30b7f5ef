"""Dashboard figures over a time range, computed in the store: per time bucket, the trace
count, root-span latency p50/p95/p99, error rate, tokens, cost, mean trace scores per name and
mean eval-run scores per scorer, optionally per model, prompt, route version, user or tag.

The traces are read through the partial index ``ix_spans_roots`` (root spans by start time),
their spans through ``ix_spans_tree`` (trace id first): a request costs the spans of the
range, never a scan of every span (a covering index of the roots, tried, saved nothing
measurable: the spans' attributes are read anyway). Percentiles are ``percentile_cont`` on
PostgreSQL; SQLite has none, so each (bucket, group) numbers its durations in a window and
only the two rows around each percentile's position come back (the same linear
interpolation, so both stores give the same figures).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sqlalchemy import BigInteger, Float, Integer, String, case, cast, func, literal, select, true
from sqlalchemy.sql.elements import ColumnElement

from llmops._exceptions import InputError
from llmops.store import Store
from llmops.store import scores as _SC
from llmops.store import spans as _S
from llmops.tracing._cost import COST
from llmops.tracing._queries import (
    PROMPT_NAME,
    PROMPT_VERSION,
    ROUTE_VERSION,
    count,
    json_number,
    json_text,
)
from llmops.tracing._time import duration_s

__all__ = [
    "GROUP_BY",
    "RANGES",
    "DashboardStats",
    "dashboard_stats",
    "parse_duration",
    "parse_range",
]

#: What figures can be grouped by, and the span attribute (or column) each reads.
GROUP_BY = ("model", "prompt", "route", "user", "tag")
#: The ranges the dashboard offers, in seconds.
RANGES = {"1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
PERCENTILES = (0.5, 0.95, 0.99)
#: Bucket widths ``auto`` picks from: the smallest giving at most 100 buckets.
_AUTO_BUCKETS = (60, 300, 900, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400)
MAX_BUCKETS = 1000
#: Groups shown at most (the busiest); the rest are counted in ``groups_omitted``.
MAX_GROUPS = 50


@dataclass(frozen=True)
class DashboardStats:
    """Figures per bucket (``buckets``: their starts, ns) and group (None: ungrouped, or the
    traces without the grouped attribute)."""

    since_ns: int
    until_ns: int
    bucket_s: int
    by: str | None
    buckets: list[int]
    #: per group: ``{group, points: [{start_ns, traces, errors, error_rate, p50_ms, p95_ms,
    #: p99_ms, input_tokens, output_tokens, cost_usd}]}`` (buckets without traces left out)
    traces: list[dict[str, Any]] = field(default_factory=list)
    #: per score name and group: ``{name, group, points: [{start_ns, mean, n}]}``
    trace_scores: list[dict[str, Any]] = field(default_factory=list)
    #: per scorer and group: ``{scorer, group, points: [{start_ns, mean, n}]}``
    eval_scores: list[dict[str, Any]] = field(default_factory=list)
    groups_omitted: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "since_ns": self.since_ns,
            "until_ns": self.until_ns,
            "bucket_s": self.bucket_s,
            "by": self.by,
            "buckets": self.buckets,
            "traces": self.traces,
            "trace_scores": self.trace_scores,
            "eval_scores": self.eval_scores,
            "groups_omitted": self.groups_omitted,
        }


def parse_duration(value: str, name: str) -> int:
    """``90s``, ``15m``, ``24h``, ``7d``, ``2w`` (or plain seconds) as whole seconds > 0."""
    text = value.strip()
    seconds = float(text) if text.isdigit() and len(text) <= 9 else duration_s(value)
    if seconds is None:
        raise InputError(f"{name}={value!r}: expected a duration such as 1h, 24h, 7d or 30d")
    if int(seconds) <= 0:
        raise InputError(f"{name}={value!r}: must be longer than 0")
    return int(seconds)


def _moment(value: str, name: str) -> int:
    """Nanoseconds since the epoch, from an integer of them or an ISO time (UTC if naive)."""
    from datetime import UTC, datetime

    text = value.strip()
    if text.isdigit():
        if len(text) > 19 or int(text) >= 2**63:
            raise InputError(f"{name}={value!r}: out of range (nanoseconds, 64 bits)")
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"{name}={value!r}: expected a duration (7d), nanoseconds since the epoch or an "
            "ISO time (2026-11-29T10:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    ns = int(moment.timestamp() * 1e9)
    if not 0 <= ns < 2**63:  # what a BIGINT span time can hold
        raise InputError(f"{name}={value!r}: out of range (1970 to 2262)")
    return ns


def parse_range(since: str | None, until: str | None) -> tuple[int, int]:
    """``(since_ns, until_ns)`` from text: ``until`` is a time (default now); ``since`` a
    duration before it (``7d``, the default) or a time."""
    end = time.time_ns() if until is None or not until.strip() else _moment(until, "until")
    if since is None or not since.strip():
        return end - RANGES["7d"] * 10**9, end
    if duration_s(since) is not None:
        return end - parse_duration(since, "since") * 10**9, end
    return _moment(since, "since"), end


def _bucket_seconds(span_s: float, bucket: str | int | None) -> int:
    if bucket is None or bucket == "auto":
        return next((b for b in _AUTO_BUCKETS if span_s / b <= 100), _AUTO_BUCKETS[-1])
    seconds = bucket if isinstance(bucket, int) else parse_duration(bucket, "bucket")
    if not 0 < seconds <= _AUTO_BUCKETS[-1] * 12:  # a year at most: ns stay in a BIGINT
        raise InputError(f"bucket={bucket!r}: expected 1 second to 360 days")
    if span_s / seconds > MAX_BUCKETS:
        raise InputError(
            f"bucket={bucket!r}: the range would have more than {MAX_BUCKETS} buckets; "
            "choose a wider bucket or 'auto'"
        )
    return seconds


def _group_key(store: Store, by: str | None) -> ColumnElement[Any]:
    """A trace's group when it is a span attribute: one value over its spans (the least, so
    a trace with two models counts once, under the first by name)."""
    if by == "model":
        return func.min(json_text(store, "gen_ai.request.model", _S))
    if by == "route":
        return func.min(json_text(store, ROUTE_VERSION, _S))
    # the trace list's prompt= and route= filters read the same keys
    name = cast(json_text(store, PROMPT_NAME, _S), String)
    version = cast(json_text(store, PROMPT_VERSION, _S), String)
    return func.min(name + literal("@") + func.coalesce(version, literal("?")))


def _number(store: Store, key: str) -> ColumnElement[Any]:
    """The numeric attribute ``key`` of a span, as :func:`json_number` but with one JSON
    lookup on SQLite: its ``json_type`` check parses the attributes again per key, which
    tripled the time of a dashboard. (A JSON true/false reads as 1/0 there.)"""
    if store.dialect == "postgresql":
        return json_number(store, key, _S)
    value = func.json_extract(_S.c.attributes, f'$."{key}"')
    limit = float(2**63)
    return case((func.typeof(value).in_(("integer", "real")) & value.between(-limit, limit), value))


def _tags(store: Store, attributes: ColumnElement[Any]) -> Any:
    """The root span's tags (``llmops.tags``) as a lateral table of ``value``: an array's
    strings, or one string, as the trace list's ``tag=`` filter reads them (an object's
    values are not tags)."""
    if store.dialect == "postgresql":
        value = attributes.op("->")("llmops.tags")
        kind = func.json_typeof(value)
        array = case(
            (kind == "array", value),
            (kind == "string", func.json_build_array(attributes.op("->>")("llmops.tags"))),
            else_=cast(literal("[]"), attributes.type),
        )
        return func.json_array_elements_text(array).table_valued("value").lateral()
    path = '$."llmops.tags"'
    kind = func.json_type(attributes, path)
    found = func.json_extract(attributes, path)
    array = case(
        (kind == "array", found),
        (kind == "text", func.json_array(found)),
        else_=literal("[]"),
    )
    return func.json_each(array).table_valued("value")


def dashboard_stats(
    store: Store,
    *,
    since_ns: int | None = None,
    until_ns: int | None = None,
    bucket: str | int | None = "auto",
    by: str | None = None,
    max_groups: int = MAX_GROUPS,
) -> DashboardStats:
    """The dashboard's figures for traces whose root span started in ``[since_ns, until_ns)``
    (default: the last 7 days up to now; ``since_ns`` moved back to the start of its bucket),
    in buckets of ``bucket`` (seconds, ``15m``, or ``auto``), grouped ``by`` one of
    :data:`GROUP_BY` (the ``max_groups`` busiest)."""
    if by is not None and by not in GROUP_BY:
        raise InputError(f"by={by!r}: expected one of {', '.join(GROUP_BY)}")
    until = time.time_ns() if until_ns is None else until_ns
    since = until - RANGES["7d"] * 10**9 if since_ns is None else since_ns
    if since >= until:
        raise InputError("since must be before until")
    if since < 0:
        raise InputError("since: the range starts before 1970")
    bucket_s = _bucket_seconds((until - since) / 1e9, bucket)
    width = bucket_s * 10**9
    # buckets on whole multiples of their width (the range starts at the one holding
    # ``since``): their starts then read back exactly from JSON in a browser (a double holds
    # multiples of 1e9 exactly up to 2^61 ns, the year 2043) and match across requests
    since = since // width * width
    n_buckets = math.ceil((until - since) / width)
    range_ = (since, until, width)
    with store.read() as db:
        trace_rows, omitted = _trace_figures(store, db, range_, by, max(1, max_groups))
        ranked = sorted(trace_rows, key=lambda r: r.pop("rank"))
        groups = list(dict.fromkeys(row["k"] for row in ranked))
        score_rows = _score_means(store, db, range_, by, groups if omitted else None)
    # '' stands for "no value" in SQL (so that groups compare with IN and =): None here
    order = {g: i for i, g in enumerate(groups)}
    series: dict[str, list[dict[str, Any]]] = {g: [] for g in groups}
    for row in sorted(trace_rows, key=lambda r: (order[r["k"]], r["b"])):
        key = row.pop("k")
        row["start_ns"] = since + row.pop("b") * width
        series[key].append(row)
    score_series: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in sorted(score_rows, key=lambda r: (r.name, order.get(r.k, 0), r.b)):
        point = {"start_ns": since + row.b * width, "mean": float(row.mean), "n": int(row.n)}
        score_series.setdefault((row.name, row.k), []).append(point)
    return DashboardStats(
        since_ns=since,
        until_ns=until,
        bucket_s=bucket_s,
        by=by,
        buckets=[since + i * width for i in range(n_buckets)],
        traces=[{"group": g or None, "points": series[g]} for g in groups],
        trace_scores=[
            {"name": name, "group": g or None, "points": points}
            for (name, g), points in score_series.items()
        ],
        eval_scores=_eval_scores(store, since, until, width, by),
        groups_omitted=omitted,
    )


#: Groupings read from the root span alone: their traces' figures need no per-trace pass
#: over the spans (tokens and cost are then summed per bucket and group directly).
_ROOT_KEYED = (None, "user", "tag")


def _per_trace(
    store: Store,
    range_: tuple[int, int, int],
    by: str | None,
    *,
    totals: bool = True,
    scored: bool = False,
) -> Any:
    """One row per trace of the range (per tag, ``by="tag"``): bucket ``b``, group ``k``
    ('' for none), ``duration`` and ``failed`` (a span failed: from ``ix_spans_errors``);
    grouped by a span attribute (model, prompt, route) and with ``totals``, also tokens and
    cost over its spans (``tin``, ``tout``, ``cost``); ``scored``: only the traces with a
    numeric score."""
    since, until, width = range_
    root = _S.alias("root")
    failed = select(_S.c.trace_id).where(
        _S.c.trace_id == root.c.trace_id, _S.c.status_code == "ERROR"
    )
    columns: list[Any] = [
        root.c.trace_id,
        (root.c.end_ns - root.c.start_ns).label("duration"),
        # floor division of BIGINTs (never negative here): the bucket's index
        ((root.c.start_ns - literal(since, BigInteger)) // literal(width, BigInteger)).label("b"),
        case((failed.exists(), 1), else_=0).label("failed"),
    ]
    if by == "user":  # the root span's user (trace_context puts it on every span)
        columns.append(func.coalesce(root.c.user_id, literal("")).label("k"))
    else:
        columns.append(literal("").label("k"))
    roots_of = select(*columns).where(
        root.c.parent_span_id.is_(None),
        root.c.start_ns >= since,
        root.c.start_ns < until,
    )
    if scored:
        # through ix_scores_trace: grouped by a span attribute, only these traces' spans are
        # read for their group, not every span of the range a second time
        roots_of = roots_of.where(
            select(_SC.c.trace_id)
            .where(_SC.c.trace_id == root.c.trace_id, _SC.c.value.is_not(None))
            .exists()
        )
    roots = roots_of.cte("roots")
    if by == "tag":  # a trace counts once under each of its root span's tags
        tagged = _S.alias("tagged")
        tags = _tags(store, tagged.c.attributes)
        source = roots.join(
            tagged, (tagged.c.trace_id == roots.c.trace_id) & tagged.c.parent_span_id.is_(None)
        ).outerjoin(tags, true())
        tag = func.coalesce(cast(tags.c.value, String), literal(""))
        return (
            select(*(c for c in roots.c if c.name != "k"), tag.label("k"))
            .select_from(source)
            .cte("per_trace")
        )
    if by in _ROOT_KEYED:
        return roots
    key = _group_key(store, by)
    group_columns: list[Any] = [roots.c.trace_id, roots.c.b, roots.c.duration, roots.c.failed]
    if totals:
        group_columns += _totals(store)
    # each trace's spans through ix_spans_tree (trace_id first), never a scan
    return (
        select(*group_columns, func.coalesce(key, literal("")).label("k"))
        .select_from(roots.join(_S, _S.c.trace_id == roots.c.trace_id))
        .group_by(*group_columns[:4])
        .cte("per_trace")
    )


def _totals(store: Store) -> list[Any]:
    """Tokens and cost summed over spans (``_S``), as floats: SQLite's integer sum() fails on
    overflow (as the trace list does)."""
    return [
        func.sum(cast(_number(store, key), Float)).label(name)
        for name, key in (
            ("tin", "gen_ai.usage.input_tokens"),
            ("tout", "gen_ai.usage.output_tokens"),
            ("cost", COST),
        )
    ]


def _trace_figures(
    store: Store, db: Any, range_: tuple[int, int, int], by: str | None, max_groups: int
) -> tuple[list[dict[str, Any]], int]:
    """Per (bucket, group) of the ``max_groups`` busiest groups: count, errors, tokens, cost
    and the duration percentiles; and how many groups were left out."""
    per_trace = _per_trace(store, range_, by)
    if by is not None:
        # read twice (ranking, figures): SQLite and PostgreSQL materialize such a CTE, so
        # each trace's spans are read once
        n = func.count()
        ranked = (
            select(
                per_trace.c.k,
                func.row_number().over(order_by=(n.desc(), per_trace.c.k)).label("rank"),
                func.count().over().label("groups"),
            )
            .group_by(per_trace.c.k)
            .cte("ranked")
        )
        rows_of = (
            select(per_trace, ranked.c.groups, ranked.c.rank)
            .select_from(per_trace.join(ranked, ranked.c.k == per_trace.c.k))
            .where(ranked.c.rank <= max_groups)
            .subquery("chosen")
        )
    else:
        rows_of = select(per_trace, literal(1).label("groups"), literal(1).label("rank")).subquery(
            "chosen"
        )
    if store.dialect == "postgresql":
        c = rows_of.c
        rows = [
            (row, [row._mapping[f"p{i}"] for i in range(len(PERCENTILES))])
            for row in db.execute(
                select(
                    c.b,
                    c.k,
                    *_sums(c),
                    *(
                        func.percentile_cont(p).within_group(c.duration).label(f"p{i}")
                        for i, p in enumerate(PERCENTILES)
                    ),
                ).group_by(c.b, c.k)
            )
        ]
    else:
        rows = _sqlite_percentiles(db, rows_of)
    sums: dict[tuple[int, str], Any] = {}
    if by in _ROOT_KEYED:
        # tokens and cost per (bucket, group) straight over the chosen traces' spans: no
        # per-trace grouping (a sort of every span of the range by trace id)
        c = rows_of.c
        statement = (
            select(c.b, c.k, *_totals(store))
            .select_from(rows_of.join(_S, _S.c.trace_id == c.trace_id))
            .group_by(c.b, c.k)
        )
        sums = {(int(row.b), row.k): row for row in db.execute(statement)}
    figures = []
    groups = 0
    for row, values in rows:
        total = sums.get((int(row.b), row.k), _NO_TOTALS) if by in _ROOT_KEYED else row
        traces = int(row.traces)
        groups = int(row.groups)
        figures.append(
            {
                "rank": int(row.rank),
                "b": int(row.b),
                "k": row.k,
                "traces": traces,
                "errors": int(row.errors or 0),
                "error_rate": int(row.errors or 0) / traces,
                **{
                    f"p{round(p * 100)}_ms": float(v) / 1e6
                    for p, v in zip(PERCENTILES, values, strict=True)
                },
                "input_tokens": count(total.tin),
                "output_tokens": count(total.tout),
                "cost_usd": None if total.cost is None else float(total.cost),
            }
        )
    shown = len({f["k"] for f in figures})
    return figures, max(0, groups - shown)


_NO_TOTALS = SimpleNamespace(tin=None, tout=None, cost=None)


def _sums(c: Any) -> list[Any]:
    names = ("tin", "tout", "cost") if "tin" in c else ()
    totals = [func.sum(getattr(c, name)).label(name) for name in names]
    return [
        func.count().label("traces"),
        func.sum(c.failed).label("errors"),
        *totals,
        func.max(c.groups).label("groups"),
        func.min(c.rank).label("rank"),
    ]


def _sqlite_percentiles(db: Any, rows_of: Any) -> list[tuple[Any, list[float]]]:
    """``percentile_cont`` without it: the durations of each (bucket, group) numbered in a
    window, and per percentile only the two rows around its position kept, interpolated here
    as PostgreSQL does (``lo + (hi - lo) * fraction``)."""
    bucket_group = (rows_of.c.b, rows_of.c.k)
    numbered = select(
        rows_of,
        (func.row_number().over(partition_by=bucket_group, order_by=rows_of.c.duration) - 1).label(
            "rn"
        ),
        func.count().over(partition_by=bucket_group).label("n"),
    ).subquery("numbered")
    c = numbered.c
    picks: list[Any] = []
    for i, p in enumerate(PERCENTILES):
        position = literal(p) * (c.n - 1)
        low = cast(position, Integer)  # truncation: position is never negative
        high = func.min(low + 1, c.n - 1)
        picks += [
            func.max(case((c.rn == low, c.duration))).label(f"lo{i}"),
            func.max(case((c.rn == high, c.duration))).label(f"hi{i}"),
        ]
    statement = select(c.b, c.k, *_sums(c), func.max(c.n).label("size"), *picks)
    rows = []
    for row in db.execute(statement.group_by(c.b, c.k)):
        m = row._mapping
        values = []
        for i, p in enumerate(PERCENTILES):
            at = p * (int(m["size"]) - 1)
            first, second = float(m[f"lo{i}"]), float(m[f"hi{i}"])
            values.append(first + (second - first) * (at - math.floor(at)))
        rows.append((row, values))
    return rows


def _score_means(
    store: Store, db: Any, range_: tuple[int, int, int], by: str | None, groups: list[str] | None
) -> list[Any]:
    """Mean numeric trace score per (bucket, group, name), for ``groups`` (None: all)."""
    per_trace = _per_trace(store, range_, by, totals=False, scored=True)
    query = (
        select(
            per_trace.c.b,
            per_trace.c.k,
            _SC.c.name,
            func.avg(_SC.c.value).label("mean"),
            func.count(_SC.c.value).label("n"),
        )
        .select_from(per_trace.join(_SC, _SC.c.trace_id == per_trace.c.trace_id))
        .where(_SC.c.value.is_not(None))
        .group_by(per_trace.c.b, per_trace.c.k, _SC.c.name)
    )
    if groups is not None:
        query = query.where(per_trace.c.k.in_(groups))
    return list(db.execute(query).all())


def _eval_scores(
    store: Store, since: int, until: int, width: int, by: str | None
) -> list[dict[str, Any]]:
    """Mean eval scores per scorer, per bucket of the runs' start (``started_at``, indexed):
    summed per run and scorer in SQL, then merged per bucket (a weighted mean, exact)."""
    from datetime import UTC, datetime

    # lazy: the ORM models (the trace listing never needs them)
    from llmops.store.models import (
        EvalRunRecord,
        EvalScoreRecord,
        PromptRecord,
        PromptVersionRecord,
        table_of,
    )

    runs, scored = table_of(EvalRunRecord), table_of(EvalScoreRecord)
    versions, prompts = table_of(PromptVersionRecord), table_of(PromptRecord)
    start = datetime.fromtimestamp(since / 1e9, UTC)
    end = datetime.fromtimestamp(until / 1e9, UTC)
    if by == "model":
        key: Any = runs.c.model_name
    elif by == "prompt":
        key = prompts.c.name + literal("@") + cast(versions.c.version, String)
    else:  # user, route and tag are not properties of an eval run
        key = literal(None, String)
    source = runs.join(scored, scored.c.run_id == runs.c.id)
    if by == "prompt":
        source = source.outerjoin(versions, versions.c.id == runs.c.prompt_version_id).outerjoin(
            prompts, prompts.c.id == versions.c.prompt_id
        )
    query = (
        select(
            runs.c.id,
            runs.c.started_at,
            key.label("k"),
            scored.c.scorer,
            func.sum(scored.c.value).label("total"),
            func.count(scored.c.value).label("n"),
        )
        .select_from(source)
        .where(runs.c.started_at >= start, runs.c.started_at < end, scored.c.value.is_not(None))
        .group_by(runs.c.id, runs.c.started_at, key, scored.c.scorer)
        .limit(100_000)  # bounded: runs x scorers in the range
    )
    merged: dict[tuple[str, Any], dict[int, list[float]]] = {}
    with store.read() as db:
        for row in db.execute(query):
            started = row.started_at
            if started.tzinfo is None:
                started = started.replace(tzinfo=UTC)
            b = (int(started.timestamp() * 1e9) - since) // width
            cell = merged.setdefault((row.scorer, row.k), {}).setdefault(b, [0.0, 0])
            cell[0] += float(row.total)
            cell[1] += int(row.n)
    return [
        {
            "scorer": scorer,
            "group": group,
            "points": [
                {"start_ns": since + b * width, "mean": total / n, "n": int(n)}
                for b, (total, n) in sorted(buckets.items())
            ],
        }
        for (scorer, group), buckets in sorted(
            merged.items(), key=lambda i: (i[0][0], str(i[0][1]))
        )
    ]
