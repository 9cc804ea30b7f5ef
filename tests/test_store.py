"""The store on SQLite and PostgreSQL: schema at head, migrations, prompt versions, runs, spans."""

from __future__ import annotations

import re
import threading
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from _reliability_report import ReliabilityLog
from sqlalchemy import text
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import SQLModel

from llmops import NotFoundError, StoreError
from llmops.prompts import PromptSpec, register_prompt
from llmops.store import Store, head_revision, open_store
from llmops.store.models import EvalRunRecord, SpanRecord


def test_new_store_is_created_at_head(store: Store) -> None:
    assert store.revision() == head_revision()
    with store.session() as session:
        tables = set(SQLModel.metadata.tables)
        if store.dialect == "sqlite":
            rows = session.connection().execute(
                text("select name from sqlite_master where type='table'")
            )
        else:
            rows = session.connection().execute(
                text("select tablename from pg_tables where schemaname='public'")
            )
        assert tables <= {row[0] for row in rows}


def test_migrations_build_the_same_schema_as_the_models(store_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from llmops.store._partitions import is_span_partition

    store = Store(store_url)
    before, after = store.upgrade()
    assert (before, after) == (None, head_revision())
    with store.engine.connect() as connection:
        # PostgreSQL's day partitions of spans are not in the models
        skip = {"include_name": lambda name, kind, _: not is_span_partition(name)}
        context = MigrationContext.configure(connection, opts=skip)
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []
    store.ensure_schema()  # a migrated store is accepted as it is
    store.close()


def _stored(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    """The type a column stores: the implementation behind a ``TypeDecorator``."""
    return type_.impl_instance if isinstance(type_, TypeDecorator) else type_


def test_core_tables_match_the_models() -> None:
    """The Core tables of the hot paths describe the models' tables: the same names, types,
    lengths, nullability and keys; the tables written or read whole have every column."""
    from llmops.store import _tables

    whole = {
        _tables.aliases,
        _tables.alias_events,
        _tables.tracking_runs,
        _tables.scores,
        _tables.score_configs,
        _tables.trace_totals,
    }
    for light in [getattr(_tables, name) for name in _tables.__all__]:
        model = SQLModel.metadata.tables[light.name]
        if light in whole:
            assert set(light.columns.keys()) == set(model.columns.keys()), light.name
        for column in light.columns:
            other = model.columns[column.name]
            where = f"{light.name}.{column.name}"
            # sqlmodel's AutoString is a String; _tables' own _UTCDateTime is its UTCDateTime
            light_type = type(column.type).__name__.lstrip("_")
            assert light_type == type(other.type).__name__.replace("AutoString", "String"), where
            for attribute in ("length", "timezone"):
                assert getattr(_stored(other.type), attribute, None) == getattr(
                    _stored(column.type), attribute, None
                ), where
            assert (other.nullable, other.primary_key) == (column.nullable, column.primary_key), (
                where
            )


def test_prompt_listing_reads_versions_and_aliases(store: Store) -> None:
    from llmops.store import alias_history, prompt_listing, set_alias

    assert prompt_listing(store) == []
    for name, bodies in (("zeta", ["A {{ a }}"]), ("alpha", ["B {{ b }}", "C {{ c }}"])):
        for body in bodies:
            register_prompt(
                store, PromptSpec(name=name, template=body, description=f"{name} d", tags=["t"])
            )
    set_alias(store, "prompt", "alpha", "canary", 1, reason="first")
    set_alias(store, "prompt", "alpha", "staging", 2, reason="next")
    listed = prompt_listing(store)
    assert [(p.name, p.latest, p.aliases, p.tags) for p in listed] == [
        ("alpha", 2, {"canary": 1, "staging": 2}, ["t"]),
        ("zeta", 1, {}, ["t"]),
    ]
    assert listed[0].description == "alpha d"
    assert listed[0].created_at is not None and listed[0].created_at.tzinfo == UTC
    events = alias_history(store, "prompt", "alpha")  # written and read through the Core tables
    assert [(e.alias, e.to_version) for e in events] == [("staging", 2), ("canary", 1)]
    assert all(e.created_at.tzinfo == UTC for e in events)


@pytest.mark.parametrize(
    "name",
    ["alpah", "x' OR '1'='1", "a" * 100_000, "\u00e9\t\n"],
    ids=["typo", "sql-quote", "oversized", "control-chars"],
)
def test_named_row_finds_an_owner_or_names_it_bounded(store: Store, name: str) -> None:
    from llmops.store import named_row
    from llmops.store.models import PromptRecord, table_of

    register_prompt(store, PromptSpec(name="alpha", template="A {{ a }}"))
    prompts = table_of(PromptRecord)
    with store.read() as connection:
        assert named_row(connection, prompts, "alpha", "prompt").name == "alpha"
        with pytest.raises(NotFoundError) as caught:
            named_row(connection, prompts, name, "prompt")
    message = str(caught.value)
    assert message.startswith(f"prompt '{name[:200]}' not found")
    assert len(message) < 300  # the name is echoed clipped, whatever its size
    assert ("did you mean 'alpha'" in message) == (name == "alpah")


def test_bulk_commits_on_exit_rolls_back_on_error(store: Store) -> None:
    insert = text("INSERT INTO logs (time_ns, attributes) VALUES (:t, CAST(:a AS JSON))")
    with store.bulk() as connection:
        connection.execute(insert, [{"t": 7, "a": "{}"}, {"t": 8, "a": "{}"}])
    with pytest.raises(RuntimeError), store.bulk() as connection:
        connection.execute(insert, {"t": 9, "a": "{}"})
        raise RuntimeError("a failed batch")
    with store.read() as connection:
        stored = connection.execute(text("SELECT time_ns FROM logs ORDER BY time_ns"))
        assert stored.scalars().all() == [7, 8]


def test_list_commands_on_the_hot_path_build_no_models(tmp_path: Path) -> None:
    """``prompts list``, ``runs list`` and ``traces list`` (with its score filter and sort)
    read through Core: no SQLModel classes, ORM,
    PostgreSQL dialect, templates, evals or gates are imported for them (each costs the
    command tens of milliseconds)."""
    import os
    import subprocess
    import sys

    heavy = [
        "sqlmodel",
        "sqlalchemy.orm",
        "sqlalchemy.dialects.postgresql",
        "llmops.store.models",
        "llmops.prompts",
        "llmops.evals",
        "llmops.tracking",
        "llmops.gates",
        "jinja2",
        "litellm",
    ]
    seed = (
        "import llmops\n"
        "from llmops.prompts import PromptSpec, register_prompt\n"
        "register_prompt(llmops.open_store(), PromptSpec(name='qa', template='Q {{ q }}'))\n"
        "with llmops.start_run(experiment='exp', name='first') as run:\n"
        "    run.log_param('lr', 0.1)\n"
        "with llmops.span('ask-once'):\n"
        "    trace_id = llmops.current_trace_id()\n"
        "llmops.flush()\n"
        "llmops.feedback(trace_id, 'helpful', 0.75)\n"
    )
    env = {**os.environ, "LLMOPS_STORE_URL": f"sqlite:///{tmp_path / 'hot.db'}"}
    subprocess.run([sys.executable, "-c", seed], check=True, env=env, cwd=tmp_path)
    for command, shown in (
        (["prompts", "list", "--json"], '"name": "qa"'),
        (["runs", "list", "--json"], '"experiment": "exp"'),
        (["runs", "list"], "lr=0.1"),
        (["traces", "list", "--score", "helpful>0.5", "--sort", "-score.helpful"], "ask-once"),
        (["traces", "list", "--json", "--status", "UNSET", "--search", "ask"], '"mean": 0.75'),
    ):
        probe = (
            "import sys\n"
            "from llmops.cli import main\n"
            f"code = main({command!r})\n"
            f"print(code, [m for m in {heavy!r} if m in sys.modules])\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", probe], check=True, env=env, cwd=tmp_path, capture_output=True
        )
        out = done.stdout.decode()
        assert shown in out, command
        assert out.splitlines()[-1] == "0 []", command


def test_sqlite_pragmas(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'p.db'}")
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_older_revision_is_refused(store: Store) -> None:
    with store.write() as session:
        session.connection().execute(text("update alembic_version set version_num = '0001'"))
    other = Store(store.url)
    with pytest.raises(
        StoreError, match=r"at schema revision 0001, this llmops expects .*llmops store upgrade"
    ):
        other.ensure_schema()
    other.close()


@pytest.mark.parametrize("revision", ["0010", "9999_from_the_future", "zz"])
def test_a_store_from_a_newer_llmops_says_to_upgrade_llmops(
    store: Store,
    revision: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    reliability: ReliabilityLog,
) -> None:
    """Any revision this llmops does not ship: every way of opening the store, `store
    upgrade` included, says so in one line and exits 2, and leaves the store as it was."""
    from llmops.cli import main
    from llmops.store._store import _forget_stores

    with store.write() as session:
        session.connection().execute(
            text("update alembic_version set version_num = :r"), {"r": revision}
        )
    _forget_stores()
    expected = rf"was created by a newer llmops \(revision {revision}\): upgrade llmops$"
    for attempt in (lambda s: s.ensure_schema(), lambda s: s.upgrade()):
        other = Store(store.url)
        with pytest.raises(StoreError, match=expected):
            attempt(other)
        other.close()
    with pytest.raises(StoreError, match=expected):
        open_store(store.url)

    monkeypatch.setenv("LLMOPS_STORE_URL", store.url)
    for command in (["store", "upgrade"], ["runs", "list"], ["traces", "list"]):
        capsys.readouterr()
        assert main(command) == 2, command
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "llmops store upgrade" not in err, err
        assert re.search(expected, err), err
    other = Store(store.url)
    assert other.revision() == revision
    other.close()
    reliability.record(f"store: a newer schema revision is named ({store.dialect})", runs=6)


def test_unreachable_postgres_is_one_clear_error() -> None:
    with pytest.raises(
        StoreError, match=r"^cannot open store postgresql\+psycopg://u:\*\*\*@127\.0\.0\.1:1/db: "
    ):
        Store("postgresql+psycopg://u:secret@127.0.0.1:1/db").ensure_schema()


def test_sqlite_in_unwritable_place_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot create the folder of store"):
        Store(f"sqlite:///{blocker / 'sub' / 'x.db'}")


def test_unsupported_url() -> None:
    with pytest.raises(StoreError, match="unsupported store URL mysql://"):
        Store("mysql://h/db")
    with pytest.raises(StoreError, match="invalid store URL"):
        Store("not a url")


def _spec(body: str) -> PromptSpec:
    return PromptSpec(name="qa", template=body, model_params={"temperature": 0})


def test_prompt_versions_are_content_hashed(store: Store) -> None:
    first = register_prompt(store, _spec("Q: {{ q }}"), author="ada")
    again = register_prompt(store, _spec("Q: {{ q }}"), author="bob")
    second = register_prompt(store, _spec("Question: {{ q }}"), author="ada")
    assert (first.version, again.version, second.version) == (1, 1, 2)
    assert first.id == again.id != second.id
    assert first.content_hash != second.content_hash
    assert first.variables == ["q"]
    assert second.render(q="x") == "Question: x"


def test_concurrent_registration_makes_no_duplicates(store: Store) -> None:
    errors: list[BaseException] = []
    versions: list[int] = []

    def push(body: str) -> None:
        try:
            versions.append(register_prompt(store, _spec(body)).version)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=push, args=(f"v{i % 4} {{{{ q }}}}",)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(set(versions)) == [1, 2, 3, 4]


def test_eval_run_round_trip(store: Store) -> None:
    from llmops.evals import Case, CaseResult, get_run, list_runs
    from llmops.evals._results import finish_run, start_run, write_results

    start_run(store, EvalRunRecord(id="a" * 32, suite="s", model_name="m", model="openai/m"))
    results = [
        CaseResult(
            case=Case(index=i, row={"q": i}, expected="x"),
            output="x" if i else None,
            error=None if i else "boom",
            scores={"exact_match": 1.0 if i else None},
            score_errors={} if i else {"exact_match": "target failed"},
        )
        for i in range(3)
    ]
    write_results(store, "a" * 32, results)
    finish_run(
        store,
        "a" * 32,
        status="completed_with_errors",
        n_cases=3,
        n_errors=1,
        summary={"exact_match": {"mean": 1.0}},
    )
    detail = get_run(store, "aaaa")
    assert detail.run.status == "completed_with_errors"
    assert [case.output for case in detail.cases] == [None, "x", "x"]
    assert detail.scores[0, 0]["exact_match"].error == "target failed"
    assert detail.scores[2, 0]["exact_match"].value == 1.0
    assert [run.id for run in list_runs(store)] == ["a" * 32]


def test_spans_are_written_in_bulk_and_read_as_traces(store: Store) -> None:
    from llmops.tracing import configure_tracing, flush, get_trace, list_traces, span

    configure_tracing(store)
    with span("root", kind="chain"), span("child 0", kind="llm") as child:
        child.set("gen_ai.usage.input_tokens", 0)
    with span("root 2"):
        pass
    assert flush()
    newest, oldest = list_traces(store)
    assert (newest.name, oldest.name, oldest.span_count) == ("root 2", "root", 2)
    spans = get_trace(store, oldest.trace_id[-10:])
    assert [s.name for s in spans] == ["root", "child 0"]
    assert spans[0].kind == "chain" and spans[0].parent_span_id is None
    assert spans[1].parent_span_id == spans[0].span_id
    assert spans[1].attributes["gen_ai.usage.input_tokens"] == 0


def test_upgrade_from_the_first_revision_keeps_data(store_url: str) -> None:
    from alembic import command

    from llmops.store._store import _alembic_config

    store = Store(store_url)
    with store.engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0001")
        connection.execute(
            text("insert into prompts (name, description, created_at) values ('old', 'kept', :t)"),
            {"t": "2026-01-01 00:00:00"},
        )
    with pytest.raises(StoreError, match=r"is at schema revision 0001.*run `llmops store upgrade`"):
        store.ensure_schema()
    assert store.upgrade() == ("0001", head_revision())
    with store.engine.connect() as connection:
        row = connection.execute(text("select name, description, tags from prompts")).one()
    assert tuple(row) == ("old", "kept", None)
    store.close()


def test_a_store_at_0009_with_spans_upgrades_and_reads(store_url: str) -> None:
    """0010 adds the OTel kind, links, scope and trace state to ``spans`` of a store that
    already holds spans: old rows read with those empty, new ones with them, and the error
    index serves the trace list's status."""
    from alembic import command

    from llmops.store._store import _alembic_config
    from llmops.tracing import TraceFilter, list_traces
    from llmops.tracing._sinks import StoreSink

    store = Store(store_url)
    with store.engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0009")
    with store.engine.begin() as connection:
        for span_id, parent, status in (("01" * 8, None, "OK"), ("02" * 8, "01" * 8, "ERROR")):
            connection.execute(
                text(
                    "insert into spans (trace_id, span_id, parent_span_id, name, kind, start_ns,"
                    " end_ns, status_code, attributes) values (:t, :s, :p, 'old', 'llm', 1, 2,"
                    " :c, :a)"
                ),
                {"t": "ab" * 16, "s": span_id, "p": parent, "c": status, "a": '{"k": 1}'},
            )
    assert store.revision() == "0009"
    before, after = store.upgrade()
    assert (before, after) == ("0009", head_revision())
    store.ensure_schema()
    link = {"trace_id": "ab" * 16, "span_id": "01" * 8, "trace_state": None, "attributes": {}}
    StoreSink(store).write(
        [
            {
                "trace_id": "cd" * 16,
                "span_id": "03" * 8,
                "name": "new",
                "kind": "llm",
                "otel_kind": "CLIENT",
                "start_ns": 5,
                "end_ns": 6,
                "status_code": "OK",
                "attributes": {},
                "links": [link],
                "scope": {"name": "lib", "version": "1"},
                "trace_state": "k=v",
            }
        ]
    )
    with store.session() as session:
        old = session.get(SpanRecord, ("ab" * 16, "01" * 8))
        new = session.get(SpanRecord, ("cd" * 16, "03" * 8))
    assert old is not None and new is not None
    assert (old.attributes, old.otel_kind, old.links, old.scope, old.trace_state) == (
        {"k": 1},
        None,
        None,
        None,
        None,
    )
    assert (new.otel_kind, new.links, new.scope, new.trace_state) == (
        "CLIENT",
        [link],
        {"name": "lib", "version": "1"},
        "k=v",
    )
    [failed] = list_traces(store, where=TraceFilter(status="ERROR"))
    assert (failed.trace_id, failed.status, failed.error_count) == ("ab" * 16, "ERROR", 1)
    store.close()
