"""Dashboard figures over a time range, computed in the store: per time bucket, the trace
count, root-span latency p50/p95/p99, error rate, tokens, cost, mean trace scores per name and
mean eval-run scores per scorer, optionally per model, prompt, route version, user or tag.

The traces are read from the partial index ``ix_spans_roots`` alone (root spans' start, end
and trace id), and each trace's tokens, cost, errors and model, prompt and route from its
``trace_totals`` row (kept by the span sink: no span's JSON is parsed); a trace without one
(its spans written around the sink) reads its spans through ``ix_spans_tree``. Percentiles
are ``percentile_cont`` on PostgreSQL; SQLite has none, so each (bucket, group)'s durations
come back as one ``group_concat`` and are interpolated the same way here, so both stores give
the same figures.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, Float, String, case, cast, func, literal, select, true
from sqlalchemy.sql.elements import ColumnElement

from llmops._digits import ascii_digits, ascii_int
from llmops._exceptions import InputError
from llmops.store import Store
from llmops.store import scores as _SC
from llmops.store import spans as _S
from llmops.store import trace_totals as _TT
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
    number = ascii_int(text, 9)
    seconds = float(number) if number is not None else duration_s(value)
    if seconds is None:
        raise InputError(f"{name}={value!r}: expected a duration such as 1h, 24h, 7d or 30d")
    if int(seconds) <= 0:
        raise InputError(f"{name}={value!r}: must be longer than 0")
    return int(seconds)


def _moment(value: str, name: str) -> int:
    """Nanoseconds since the epoch, from an integer of them or an ISO time (UTC if naive)."""
    from datetime import UTC, datetime

    text = value.strip()
    if ascii_digits(text):
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
    """The numeric attribute ``key`` of a span (:func:`json_number`: a JSON true/false is no
    number on either store, as in ``trace_totals``). Only traces without a totals row read
    it (spans written around the sink), so its second JSON parse on SQLite costs little."""
    return json_number(store, key, _S)


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


def _per_trace(
    store: Store,
    range_: tuple[int, int, int],
    by: str | None,
    *,
    totals: bool = True,
    scored: bool = False,
) -> Any:
    """One row per trace of the range (per tag, ``by="tag"``): bucket ``b``, group ``k``
    ('' for none), ``duration``, ``failed`` (a span failed) and with ``totals``, tokens and
    cost over its spans (``tin``, ``tout``, ``cost``); ``scored``: a row per numeric score of
    the trace (``score_name``, ``score_value``), none for a trace without. Roots come from
    ``ix_spans_roots`` alone, the rest from each trace's ``trace_totals`` row; a trace without
    one (spans written around the span sink) reads its spans instead, through
    ``ix_spans_tree`` and ``ix_spans_errors``."""
    since, until, width = range_
    root = _S.alias("root")
    missing = _TT.c.trace_id.is_(None)

    def of_spans(value: Any) -> Any:  # over the trace's spans (CASE runs it only if missing)
        return select(value).where(_S.c.trace_id == root.c.trace_id).scalar_subquery()

    failed = select(_S.c.trace_id).where(
        _S.c.trace_id == root.c.trace_id, _S.c.status_code == "ERROR"
    )
    columns: list[Any] = [
        root.c.trace_id,
        (root.c.end_ns - root.c.start_ns).label("duration"),
        # floor division of BIGINTs (never negative here): the bucket's index
        ((root.c.start_ns - literal(since, BigInteger)) // literal(width, BigInteger)).label("b"),
        case(
            (missing, case((failed.exists(), 1), else_=0)),
            (_TT.c.error_count > 0, 1),
            else_=0,
        ).label("failed"),
    ]
    if totals:
        columns += [
            case(
                (missing, of_spans(func.sum(cast(_number(store, key), Float)))),
                else_=_TT.c[column],
            ).label(name)
            for name, key, column in _TOTALS
        ]
    if by == "user":  # the root span's user (trace_context puts it on every span)
        key: Any = root.c.user_id
    elif by in ("model", "prompt", "route"):  # trace_totals names its columns after them
        key = case((missing, of_spans(_group_key(store, by))), else_=_TT.c[by])
    else:
        key = None
    columns.append(literal("").label("k") if key is None else func.coalesce(key, "").label("k"))
    source: Any = root
    if scored:  # through ix_scores_trace: a row per numeric score
        source = root.join(_SC, (_SC.c.trace_id == root.c.trace_id) & _SC.c.value.is_not(None))
        columns += [_SC.c.name.label("score_name"), _SC.c.value.label("score_value")]
    roots_of = (
        select(*columns)
        .select_from(source.outerjoin(_TT, _TT.c.trace_id == root.c.trace_id))
        .where(
            root.c.parent_span_id.is_(None),
            root.c.start_ns >= since,
            root.c.start_ns < until,
        )
    )
    roots = roots_of.cte("roots")
    if by != "tag":
        return roots
    # a trace counts once under each of its root span's tags
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


#: Per total: its name here, its span attribute and its trace_totals column.
_TOTALS = (
    ("tin", "gen_ai.usage.input_tokens", "input_tokens"),
    ("tout", "gen_ai.usage.output_tokens", "output_tokens"),
    ("cost", COST, "cost_usd"),
)


def _trace_figures(
    store: Store, db: Any, range_: tuple[int, int, int], by: str | None, max_groups: int
) -> tuple[list[dict[str, Any]], int]:
    """Per (bucket, group) of the ``max_groups`` busiest groups: count, errors, tokens, cost
    and the duration percentiles; and how many groups were left out."""
    per_trace = _per_trace(store, range_, by)
    if store.dialect != "postgresql":
        return _sqlite_figures(db, per_trace, max_groups)
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
    c = rows_of.c
    statement = select(
        c.b,
        c.k,
        *_sums(c),
        *(
            func.percentile_cont(p).within_group(c.duration).label(f"p{i}")
            for i, p in enumerate(PERCENTILES)
        ),
    ).group_by(c.b, c.k)
    figures = []
    groups = 0
    for row in db.execute(statement):
        groups = int(row.groups)
        errors = int(row.errors or 0)
        figures.append(
            {
                "rank": int(row.rank),
                **_figure(
                    int(row.b), row.k, int(row.traces), errors, (row.tin, row.tout, row.cost)
                ),
                **{
                    f"p{round(p * 100)}_ms": float(row._mapping[f"p{i}"]) / 1e6
                    for i, p in enumerate(PERCENTILES)
                },
            }
        )
    shown = len({f["k"] for f in figures})
    return figures, max(0, groups - shown)


def _figure(b: int, k: str, traces: int, errors: int, totals: tuple[Any, Any, Any]) -> Any:
    tin, tout, cost = totals
    return {
        "b": b,
        "k": k,
        "traces": traces,
        "errors": errors,
        "error_rate": errors / traces,
        "input_tokens": count(tin),
        "output_tokens": count(tout),
        "cost_usd": None if cost is None else float(cost),
    }


def _sums(c: Any) -> list[Any]:
    return [
        func.count().label("traces"),
        func.sum(c.failed).label("errors"),
        *(func.sum(c[name]).label(name) for name, _, _ in _TOTALS),
        func.max(c.groups).label("groups"),
        func.min(c.rank).label("rank"),
    ]


def _sqlite_figures(db: Any, per_trace: Any, max_groups: int) -> tuple[list[dict[str, Any]], int]:
    """:func:`_trace_figures` on SQLite, which has no ``percentile_cont``: per (bucket,
    group) the sums in SQL and the durations as one ``group_concat`` text, sorted here and
    interpolated as PostgreSQL does (``lo + (hi - lo) * fraction`` at ``p * (n - 1)``).
    Memory: one group's durations at a time. (Numbering the durations with window functions
    in SQL cost SQLite three times as much.)"""
    c = per_trace.c
    query = select(
        c.b,
        c.k,
        func.sum(c.failed).label("errors"),
        *(func.sum(c[name]).label(name) for name, _, _ in _TOTALS),
        func.group_concat(c.duration).label("durations"),
    ).group_by(c.b, c.k)
    figures = []
    per_group: dict[str, int] = {}
    for row in db.execute(query):
        durations = sorted(map(int, row.durations.split(",")))
        n = len(durations)
        figure = _figure(int(row.b), row.k, n, int(row.errors or 0), (row.tin, row.tout, row.cost))
        for p in PERCENTILES:
            at = p * (n - 1)
            low = int(at)
            first, second = durations[low], durations[min(low + 1, n - 1)]
            figure[f"p{round(p * 100)}_ms"] = (first + (second - first) * (at - low)) / 1e6
        figures.append(figure)
        per_group[row.k] = per_group.get(row.k, 0) + n
    # the busiest groups first, ties by name (as row_number() over (count desc, k))
    ranked = sorted(per_group, key=lambda k: (-per_group[k], k))
    ranks = {k: i + 1 for i, k in enumerate(ranked[:max_groups])}
    shown = [{"rank": ranks[f["k"]], **f} for f in figures if f["k"] in ranks]
    return shown, max(0, len(per_group) - max_groups)


def _score_means(
    store: Store, db: Any, range_: tuple[int, int, int], by: str | None, groups: list[str] | None
) -> list[Any]:
    """Mean numeric trace score per (bucket, group, name), for ``groups`` (None: all)."""
    per_trace = _per_trace(store, range_, by, totals=False, scored=True)
    c = per_trace.c
    query = select(
        c.b,
        c.k,
        c.score_name.label("name"),
        func.avg(c.score_value).label("mean"),
        func.count(c.score_value).label("n"),
    ).group_by(c.b, c.k, c.score_name)
    if groups is not None:
        query = query.where(c.k.in_(groups))
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
