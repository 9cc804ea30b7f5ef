"""Per-trace totals (``trace_totals``): kept by the span sink through replays, duplicates and
hostile attribute values; the same as recomputed from the spans in SQL (one rule in Python and
SQL, on SQLite and PostgreSQL); the dashboards give the same figures with and without them;
the 0016 migration fills them from existing spans and goes down again."""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest
from alembic import command
from sqlalchemy import insert, inspect

from llmops.store import Store, head_revision
from llmops.store.models import SpanRecord, table_of
from llmops.tracing import dashboard_stats
from llmops.tracing._rollup import rebuild_all_totals, sum_totals
from llmops.tracing._sinks import StoreSink

#: values of a token or cost attribute: numbers that count, and every kind that must not
NUMBERS: list[Any] = [
    3,
    250,
    0.5,
    1.25,
    -4,
    0,
    True,
    False,
    "12",
    None,
    [1],
    {"n": 1},
    2**64 - 1,  # past the 64-bit range
    1e300,
    float("nan"),  # stored as JSON null
]
#: values of a model, prompt or route attribute: strings and numbers count, nothing else
TEXTS: list[Any] = ["gpt-b", "gpt-a", "Zed", "ünï", "", 7, 2.5, True, None, ["x"], {"m": 1}]
KEYS = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "llmops.cost_usd",
)
TEXT_KEYS = (
    "gen_ai.request.model",
    "llmops.prompt.name",
    "llmops.prompt.version",
    "llmops.route.version",
)
T0 = 1_700_000_000 * 10**9


def _spans(rng: random.Random, traces: int, per_trace: int) -> list[dict[str, Any]]:
    rows = []
    for t in range(traces):
        start = T0 + t * 10**9
        for s in range(per_trace):
            attributes = {key: rng.choice(NUMBERS) for key in KEYS if rng.random() < 0.8}
            attributes |= {key: rng.choice(TEXTS) for key in TEXT_KEYS if rng.random() < 0.6}
            rows.append(
                {
                    "trace_id": f"{t + 1:032x}",
                    "span_id": f"{s + 1:016x}",
                    "parent_span_id": None if s == 0 else f"{1:016x}",
                    "name": "step",
                    "kind": "llm",
                    "start_ns": start + s * 1000,
                    "end_ns": start + s * 1000 + rng.randrange(1, 10**9),
                    "status_code": rng.choice(["OK", "OK", "ERROR", "UNSET"]),
                    "attributes": attributes,
                }
            )
    return rows


def _stored(store: Store) -> dict[str, tuple[Any, ...]]:
    with store.read() as db:
        rows = db.exec_driver_sql(
            "SELECT trace_id, input_tokens, output_tokens, cost_usd, model, prompt, route, "
            "error_count FROM trace_totals"
        ).all()
    return {row[0]: tuple(row[1:]) for row in rows}


def _expected(rows: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    """What the totals must be: the first copy of each span counts, once."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        seen.setdefault((row["trace_id"], row["span_id"]), row)
    return {trace: tuple(values) for trace, values in sum_totals(seen.values()).items()}


def test_the_sink_keeps_totals_through_replays_and_hostile_values(
    store: Store, rng: random.Random
) -> None:
    rows = _spans(rng, traces=40, per_trace=6)
    sink = StoreSink(store)
    shuffled = rows[:]
    rng.shuffle(shuffled)  # a trace's spans spread over batches
    written: list[dict[str, Any]] = []
    for start in range(0, len(shuffled), 25):
        batch = shuffled[start : start + 25]
        if written and rng.random() < 0.5:  # a replay of spans already stored
            batch = batch + rng.sample(written, min(len(written), 5))
        if rng.random() < 0.3:  # the same span twice in one batch
            batch = [*batch, batch[0]]
        sink.write(batch)
        written += batch
    sink.write(rows[:30])  # a whole replay
    expected = _expected(rows)
    assert _stored(store) == expected
    # the SQL rule (migration backfill, recompute) agrees with the Python one, chunk by chunk
    with store.bulk() as db:
        assert rebuild_all_totals(db, chunk=7) == len(expected)
    assert _stored(store) == expected
    some = next(iter(expected.values()))
    assert some[0] is None or isinstance(some[0], float)
    # booleans never count: a trace of only true/false tokens has no total
    sink.write([{**rows[0], "trace_id": "f" * 32, "attributes": {KEYS[0]: True, KEYS[1]: False}}])
    assert _stored(store)["f" * 32][:3] == (None, None, None)


def test_a_nul_in_an_attribute_is_no_failure_on_replay(store: Store) -> None:
    """A NUL is stored escaped in JSON, which PostgreSQL's JSON operators refuse and SQLite's
    cut text at: the sink and the recompute after a replay both read it as U+FFFD."""
    row = {
        "trace_id": "a" * 32,
        "span_id": "b" * 16,
        "name": "x",
        "kind": "llm",
        "start_ns": T0,
        "end_ns": T0 + 5,
        "status_code": "OK",
        "attributes": {"gen_ai.request.model": "m\x00x", KEYS[0]: 4},
    }
    sink = StoreSink(store)
    sink.write([row])
    first = _stored(store)
    sink.write([row])  # a replay: recomputed from the stored span
    assert _stored(store) == first
    assert first["a" * 32][0] == 4.0 and first["a" * 32][3] == "m\ufffdx"


def test_replays_in_a_row_leave_the_connection_writing_and_quiet(
    store: Store, rng: random.Random, caplog: pytest.LogCaptureFixture
) -> None:
    """Replays one after another on one pooled connection, then new batches: a replay's
    failed round trip (on PostgreSQL the insert that met the stored spans) must not leave the
    driver believing it prepared what the server skipped, nor log a warning each time."""
    rows = _spans(rng, 4, 3)
    sink = StoreSink(store)
    sink.write(rows[:3])
    with caplog.at_level(logging.WARNING):
        for _ in range(12):  # past psycopg's prepare threshold (5 executions), all replays
            sink.write(rows[:3])
        for index in range(1, 4):
            sink.write(rows[index * 3 : index * 3 + 3])
    assert _stored(store) == _expected(rows)
    assert [record.getMessage() for record in caplog.records] == []


def test_a_batch_that_fails_leaves_the_next_ones_stored(store: Store, rng: random.Random) -> None:
    """A batch refused mid-transaction (a start time past 64 bits) rolls back all it did; on
    PostgreSQL that includes the stage table its connection made, so the batches after it, on
    the same pooled connection, make it again instead of failing."""
    rows = _spans(rng, 12, 3)
    sink = StoreSink(store)
    bad = {**rows[0], "trace_id": "e" * 32, "start_ns": 2**70}
    for _ in range(2):
        with pytest.raises(Exception):  # noqa: B017 (the driver's own error, per store)
            sink.write([bad])
    for index in range(12):  # more than the pool's connections
        sink.write(rows[index * 3 : index * 3 + 3])
    with store.read() as db:
        assert db.exec_driver_sql("SELECT count(*) FROM spans").scalar() == len(rows)
    assert _stored(store) == _expected(rows)


def test_dashboards_read_the_same_figures_with_and_without_totals(
    store: Store, rng: random.Random
) -> None:
    """Traces written through the sink read their totals rows; inserted directly (no rows),
    their spans: every grouping gives the same figures."""
    rows = _spans(rng, traces=60, per_trace=4)
    for row in rows:  # groups the JSON fallback reads alike: strings only
        attributes = row["attributes"]
        for key in TEXT_KEYS:
            if key in attributes and not isinstance(attributes[key], str):
                attributes[key] = "v" if rng.random() < 0.5 else "w"
        attributes["llmops.tags"] = rng.sample(["a", "b", "c"], rng.randrange(0, 3))
        row["user_id"] = rng.choice(["ann", "bob", None])
    StoreSink(store).write(rows)
    window = {"since_ns": T0 - 10**9, "until_ns": T0 + 61 * 10**9, "bucket": "15s"}
    with_totals = {by: dashboard_stats(store, by=by, **window).to_dict() for by in _GROUPS}
    with store.bulk() as db:
        db.exec_driver_sql("DELETE FROM trace_totals")
    for by in _GROUPS:
        assert dashboard_stats(store, by=by, **window).to_dict() == with_totals[by], by
    assert any(p["input_tokens"] for s in with_totals[None]["traces"] for p in s["points"])


_GROUPS = (None, "model", "prompt", "route", "user", "tag")


def test_the_0016_migration_goes_up_and_down_with_data(store_url: str, rng: random.Random) -> None:
    from llmops.store._store import _alembic_config

    store = Store(store_url)
    with store.engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0015_annotation")
    assert "trace_totals" not in inspect(store.engine).get_table_names()
    rows = _spans(rng, traces=30, per_trace=3)
    with store.engine.begin() as db:  # spans from before: no totals
        db.execute(insert(table_of(SpanRecord)), rows)
    with store.engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0016_trace_totals")
    assert _stored(store) == _expected(rows)
    columns = {i["name"]: i["column_names"] for i in inspect(store.engine).get_indexes("spans")}
    assert columns["ix_spans_roots"] == ["start_ns", "end_ns", "trace_id"]
    with store.engine.begin() as connection:
        command.downgrade(_alembic_config(connection), "0015_annotation")
    assert "trace_totals" not in inspect(store.engine).get_table_names()
    columns = {i["name"]: i["column_names"] for i in inspect(store.engine).get_indexes("spans")}
    assert columns["ix_spans_roots"] == ["start_ns"]
    with store.engine.connect() as db:
        assert db.exec_driver_sql("SELECT count(*) FROM spans").scalar() == len(rows)
    assert store.upgrade() == ("0015_annotation", head_revision())
    assert _stored(store) == _expected(rows)
    store.close()


def test_span_text_of_any_character_is_stored_as_sent(store: Store, rng: random.Random) -> None:
    """PostgreSQL's COPY (text format) escapes tabs, newlines, backslashes and ``\\N``: a
    span's text and JSON attributes come back as sent (a NUL as U+FFFD there, whose text
    cannot hold it)."""
    from llmops.store import spans

    alphabet = ["\t", "\n", "\r", "\\", "\\N", "\\.", '"', "'", ",", "é", "😀", "\x00", "\x01"]
    sent = {}
    for i in range(60):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))
        sent[f"{i + 1:016x}"] = text
    rows = [
        {
            "trace_id": "c" * 32,
            "span_id": span_id,
            "name": text,
            "kind": "llm",
            "start_ns": T0,
            "end_ns": T0 + 1,
            "status_code": "OK",
            "status_message": text,
            "session_id": text or None,
            "attributes": {"k": text, "gen_ai.request.model": text},
        }
        for span_id, text in sent.items()
    ]
    StoreSink(store).write(rows)
    nul = "\ufffd" if store.dialect == "postgresql" else "\x00"
    with store.read() as db:
        stored = db.execute(
            spans.select().with_only_columns(
                spans.c.span_id,
                spans.c.name,
                spans.c.status_message,
                spans.c.session_id,
                spans.c.attributes,
            )
        ).all()
    assert len(stored) == len(sent)
    for span_id, name, message, session, attributes in stored:
        text = sent[span_id]
        assert (name, message) == (text.replace("\x00", nul),) * 2, span_id
        assert session == (text.replace("\x00", nul) or None), span_id
        assert attributes["k"] == text.replace("\x00", nul), span_id
