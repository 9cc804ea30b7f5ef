"""``llmops store export`` / ``import``: a store filled through the real APIs goes from SQLite to
PostgreSQL and back with the same rows and ids, and stays usable (trace pages, aliases, fresh
ids); damaged or hostile exports are refused with one line, exit 2, and nothing imported."""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from _live_server import LiveServer
from _postgres import PostgresCluster
from _registry_seed import seed_registry
from sqlalchemy import Text, cast, select
from sqlmodel import SQLModel

import llmops
from llmops.cli import main
from llmops.evals import complete_queue_item, create_dataset, create_queue, queue_items
from llmops.prompts import PromptSpec, get_version, register_prompt
from llmops.server import create_app
from llmops.store import Store, export_store, get_alias, import_store, open_store, set_alias
from llmops.store import models as _models
from llmops.tracing import (
    StoreSink,
    TraceFilter,
    add_scores,
    configure_tracing,
    create_score_config,
    flush,
    list_traces,
    make_score,
    shutdown_tracing,
)
from llmops.tracking import start_run

HOSTILE = '<b>ü 😀 "q"</b>'
_ = _models  # the tables on SQLModel.metadata
TABLES = list(SQLModel.metadata.sorted_tables)


def _fill(store: Store, root: Path, server: LiveServer) -> tuple[str, str]:
    """Every kind of row, written through the APIs; returns (a trace id, the NUL trace id)."""
    seed_registry(store, root, HOSTILE)  # models, RAG index, bundle, gate decision, a run
    set_prompt = register_prompt(store, PromptSpec(name="qa", template="Again {{ question }}"))
    set_alias(store, "prompt", "qa", "staging", set_prompt.version, reason="go")
    configure_tracing(store)
    with llmops.span("answer", kind="chain", attributes={"q": HOSTILE, "n": 1.5}) as top:
        with llmops.span("retrieve", kind="retriever") as child:
            child.set("docs", [{"id": "ab", "score": 0.25}])
        trace_id = top.trace_id_hex
    # NUL in text and in JSON (both become U+FFFD on PostgreSQL)
    with llmops.span("nul\x00name", kind="chain", attributes={"x": "a\x00b"}) as other:
        nul_trace = other.trace_id_hex
    run = llmops.evaluate(
        [{"input": "2+2", "expected": "4"}, {"input": "capital of France", "expected": "Paris"}],
        lambda row: "4",
        ["exact_match"],
        store=store,
    )
    assert flush()
    shutdown_tracing()
    assert run.id
    add_scores(
        store,
        [
            make_score(trace_id, "helpful", 1, source="human", comment=HOSTILE),
            make_score(trace_id, "tone", "good", source="app"),
        ],
    )
    create_dataset(store, "capitals", [{"question": "Capital of Peru?", "answer": "Lima"}])
    create_score_config(store, "tone", "CATEGORICAL", categories=["good", "bad"])
    queue = create_queue(store, "review", where=TraceFilter(), score_configs=["tone"])
    first = queue_items(store, queue.name)[0]
    complete_queue_item(store, queue.name, first.id, annotator="ann", labels={"tone": "bad"})
    artifact = root / "notes.txt"
    artifact.write_text("notes ü")
    with start_run("exp", name="r", store=store) as tracked:
        tracked.log_params({"lr": 0.1})
        for step in range(3):
            tracked.log_metric("loss", 1.0 / (step + 1), step=step)
        tracked.log_metric("odd", -math.inf, step=9)  # non-finite, as stored
        tracked.log_artifact(artifact)
    logs = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": "1700000000000000001",
                                "traceId": trace_id,
                                "body": {"stringValue": f"log {HOSTILE}"},
                            }
                        ]
                    }
                ]
            }
        ]
    }
    response = httpx.post(f"{server.url}/v1/logs", json=logs)
    assert response.status_code == 200, response.text
    return trace_id, nul_trace


_JSON_NULL = object()  # a JSON null, apart from SQL NULL (None)


def _rows(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table in primary key order; JSON columns as their parsed text."""
    found = {}
    with store.read() as connection:
        for table in TABLES:
            json_columns = {c.name for c in table.columns if c.type.__class__.__name__ == "JSON"}
            columns = [
                cast(c, Text).label(c.name) if c.name in json_columns else c for c in table.columns
            ]
            rows = []
            statement = select(*columns).order_by(*table.primary_key.columns)
            for row in connection.execute(statement):
                rows.append(
                    tuple(
                        (_JSON_NULL if value == "null" else orjson.loads(value))
                        if name in json_columns and value is not None
                        else value
                        for name, value in zip(row._fields, row, strict=True)
                    )
                )
            found[table.name] = rows
    return found


def _as_postgres_keeps(rows: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    """What PostgreSQL keeps of rows: NUL in text and in JSON documents becomes U+FFFD;
    NaN compares equal to itself."""

    def same(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("\x00", "\ufffd")
        if isinstance(value, dict):
            return {same(key): same(item) for key, item in value.items()}
        if isinstance(value, list):
            return [same(item) for item in value]
        if isinstance(value, float) and math.isnan(value):
            return "NaN"
        return value

    return {name: [tuple(map(same, row)) for row in table] for name, table in rows.items()}


def before_columns(name: str) -> list[str]:
    return [c.name for c in SQLModel.metadata.tables[name].columns]


def _api(server: LiveServer, trace_id: str) -> list[Any]:
    paths = [
        f"/api/v1/traces/{trace_id}",
        f"/api/v1/traces/{trace_id}/spans?parent=ROOT",
        f"/api/v1/traces/{trace_id}/timeline",
        f"/api/v1/traces/{trace_id}/scores",
    ]
    answers = []
    for path in paths:
        response = httpx.get(server.url + path)
        assert response.status_code == 200, (path, response.text)
        answers.append(response.json())
    spans = answers[1]["items"] if isinstance(answers[1], dict) else answers[1]
    for span in spans:
        response = httpx.get(f"{server.url}/api/v1/traces/{trace_id}/spans/{span['span_id']}")
        assert response.status_code == 200, response.text
        answers.append(response.json())
    return answers


def test_sqlite_to_postgresql_and_back_keeps_rows_ids_and_links(
    project: Path, tmp_path: Path, pg_cluster: PostgresCluster
) -> None:
    source = open_store(f"sqlite:///{tmp_path / 'source.db'}")
    with LiveServer(create_app(source)) as server:
        trace_id, nul_trace = _fill(source, project, server)
        before_api = _api(server, trace_id)
    before = _rows(source)
    assert all(before[name] for name in ("spans", "logs", "rag_chunks", "metrics", "artifacts"))
    assert all(before[name] for name in ("eval_scores", "queue_items", "gate_decisions"))

    # what is hard to keep is there: SQL NULL and JSON null, NUL, a non-finite float
    flat = [value for rows in before.values() for row in rows for value in row]
    assert _JSON_NULL in flat and -math.inf in flat
    assert any(isinstance(v, str) and "\x00" in v for v in flat)
    assert any(row[before_columns("spans").index("events")] is None for row in before["spans"])

    exported = export_store(source, tmp_path / "one")
    assert exported.tables == {name: len(rows) for name, rows in before.items()}

    postgres = open_store(pg_cluster.create_database("transfer_target"))
    imported = import_store(postgres, tmp_path / "one")
    assert imported.tables == exported.tables
    on_postgres = _rows(postgres)
    expected = _as_postgres_keeps(before)
    assert set(on_postgres) == set(expected)
    for name in expected:  # table by table, for a readable failure
        assert _as_postgres_keeps({name: on_postgres[name]})[name] == expected[name], name
    nul_name = next(row for row in on_postgres["spans"] if row[0] == nul_trace)
    assert "nul\ufffdname" in nul_name

    with LiveServer(create_app(postgres)) as server:
        assert _api(server, trace_id) == before_api
    assert get_version(postgres, "qa", "staging").template == "Again {{ question }}"
    assert get_alias(postgres, "model", "bot", "staging") == 2

    # back to SQLite: exactly what PostgreSQL holds
    export_store(postgres, tmp_path / "two")
    back = open_store(f"sqlite:///{tmp_path / 'back.db'}")
    import_store(back, tmp_path / "two")
    assert _rows(back) == on_postgres
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert manifest["source"] == "postgresql" and manifest["revision"] == imported.revision

    # new rows after the import get fresh ids: the sequences moved past the imported ones
    for store in (postgres, back):
        top = max(row[0] for row in _rows(store)["prompts"])
        new = register_prompt(store, PromptSpec(name="fresh", template="hi"))
        with store.read() as connection:
            prompts = _models.table_of(_models.PromptRecord)
            fresh_id = connection.execute(
                select(prompts.c.id).where(prompts.c.name == "fresh")
            ).scalar_one()
        assert (new.version, fresh_id) == (1, top + 1)


# --- refusals ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_export(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An export of a few prompts with versions and aliases (parents before children)."""
    root = tmp_path_factory.mktemp("small")
    store = Store(f"sqlite:///{root / 'store.db'}")
    try:
        store.ensure_schema()
        for n in range(3):
            register_prompt(store, PromptSpec(name=f"p{n}", template=f"v1 {n}"))
            register_prompt(store, PromptSpec(name=f"p{n}", template=f"v2 {n} ü"))
        set_alias(store, "prompt", "p0", "staging", 2, reason="r")
        with store.bulk() as connection:  # JSON as another writer may leave it: on many lines
            connection.exec_driver_sql("UPDATE prompts SET tags = '{\n  \"a\": 1\n}' WHERE id = 3")
        export_store(store, root / "export")
    finally:
        store.close()
    yield root / "export"


def _edit_line(name: str, number: int, change: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        path = folder / f"{name}.jsonl"
        lines = path.read_bytes().splitlines(keepends=True)
        lines[number - 1] = change(lines[number - 1])
        path.write_bytes(b"".join(lines))

    return damage


def _edit_manifest(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        manifest = json.loads((folder / "manifest.json").read_text())
        change(manifest)
        (folder / "manifest.json").write_text(json.dumps(manifest))

    return damage


def _write(path: str, content: bytes) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        (folder / path).write_bytes(content)

    return damage


def _truncate(folder: Path) -> None:
    path = folder / "prompt_versions.jsonl"
    path.write_bytes(path.read_bytes()[:-25])


def _row_of(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(t for t in manifest["tables"] if t["name"] == name)
    return found


DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    # prompt_versions comes after prompts and aliases: those were inserted, then rolled back
    "truncated file": (_truncate, r"prompt_versions\.jsonl:6: line without its newline"),
    "bad JSON": (
        _edit_line("prompt_versions", 4, lambda line: line[:30] + b"\n"),
        r"prompt_versions\.jsonl:4: invalid JSON",
    ),
    "not an object": (
        _edit_line("prompt_versions", 2, lambda line: b"[1, 2]\n"),
        r"prompt_versions\.jsonl:2: expected a JSON object",
    ),
    "wrong type": (
        _edit_line(
            "prompt_versions", 3, lambda line: line.replace(b'"version":1', b'"version":"1"')
        ),
        r"prompt_versions\.jsonl:3: column version: expected an integer",
    ),
    "unknown column": (
        _edit_line("prompts", 1, lambda line: line.replace(b'{"id"', b'{"evil":1,"id"')),
        r"prompts\.jsonl:1: unknown column 'evil'",
    ),
    "missing column": (
        _edit_line("prompts", 2, lambda line: line.replace(b'"description":"",', b"")),
        r"prompts\.jsonl:2: missing column description",
    ),
    "null in a required column": (
        _edit_line("prompts", 2, lambda line: line.replace(b'"name":"p1"', b'"name":null')),
        r"prompts\.jsonl:2: column name: null in a column that requires a value",
    ),
    "bad time": (
        _edit_line("prompts", 3, lambda line: line.replace(b'"created_at":"', b'"created_at":"x')),
        r"prompts\.jsonl:3: column created_at: expected an ISO 8601 time",
    ),
    "edited value": (
        _edit_line("prompts", 1, lambda line: line.replace(b'"p0"', b'"q0"')),
        r"prompts\.jsonl: its sha256 differs from the manifest's",
    ),
    "row removed": (
        _edit_line("prompts", 3, lambda line: b""),
        r"prompts\.jsonl: 2 rows, the manifest says 3",
    ),
    "link to nothing": (
        _edit_line(
            "prompt_versions", 1, lambda line: line.replace(b'"prompt_id":1', b'"prompt_id":99')
        ),
        r"prompt_versions\.jsonl:1-6: the store refused these rows",
    ),
    "missing file": (
        lambda folder: (folder / "aliases.jsonl").unlink(),
        r"aliases\.jsonl: missing",
    ),
    "wrong revision": (
        _edit_manifest(lambda m: m.update(revision="0015_annotation")),
        r"exported at schema revision 0015_annotation.*run `llmops store upgrade`",
    ),
    "newer revision": (
        _edit_manifest(lambda m: m.update(revision="0999_future")),
        r"'0999_future', which this llmops does not know .*upgrade llmops",
    ),
    "unknown table": (
        _edit_manifest(lambda m: _row_of(m, "prompts").update(name="../../etc/passwd")),
        r"manifest\.json: unknown table '\.\./\.\./etc/passwd'",
    ),
    "no manifest": (
        lambda folder: (folder / "manifest.json").unlink(),
        r"manifest\.json: missing: not an llmops store export",
    ),
    "manifest not JSON": (
        _write("manifest.json", b"\x00\xff{"),
        r"manifest\.json: invalid JSON",
    ),
}


def _counts(url: str) -> dict[str, int]:
    store = open_store(url)
    with store.read() as connection:
        return {
            table.name: len(connection.execute(select(*table.primary_key.columns)).all())
            for table in TABLES
        }


@pytest.mark.parametrize("damage", list(DAMAGES), ids=list(DAMAGES))
def test_a_damaged_export_is_refused_with_one_line_and_nothing_imported(
    damage: str,
    small_export: Path,
    store_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = tmp_path / "export"
    shutil.copytree(small_export, folder)
    change, message = DAMAGES[damage]
    change(folder)
    monkeypatch.setenv("LLMOPS_STORE_URL", store_url)
    assert main(["store", "import", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ")
    assert re.search(message, err), err
    assert set(_counts(store_url).values()) == {0}


def test_an_oversized_line_is_refused_before_it_is_read_whole(
    small_export: Path, store: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    shutil.copytree(small_export, folder)
    path = folder / "prompts.jsonl"
    path.write_bytes(b'{"id": 1, "name": "' + b"x" * 5000 + b'"}\n' + path.read_bytes())
    with pytest.raises(llmops.InputError, match=r"prompts\.jsonl:1: line over 4,096 bytes"):
        import_store(store, folder, max_line_bytes=4096)
    assert set(_counts(store.url).values()) == {0}


def test_cli_round_trip_dry_run_tables_and_a_store_that_is_not_empty(
    small_export: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = f"sqlite:///{tmp_path / 'target.db'}"
    monkeypatch.setenv("LLMOPS_STORE_URL", target)
    assert main(["store", "import", str(small_export), "--dry-run"]) == 0
    assert "(dry run: nothing written)" in capsys.readouterr().out
    assert set(_counts(target).values()) == {0}

    assert main(["store", "import", str(small_export), "--tables", "prompts", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tables"] == {"prompts": 3} and report["dry_run"] is False
    assert main(["store", "import", str(small_export), "--tables", "prompts"]) == 2
    assert "is not empty (table prompts has rows)" in capsys.readouterr().err
    assert main(["store", "import", str(small_export), "--tables", "nope"]) == 2
    assert "--tables: unknown table 'nope'" in capsys.readouterr().err
    assert (
        main(
            [
                "store",
                "import",
                str(small_export),
                "--tables",
                "prompt_versions,aliases,alias_events",
            ]
        )
        == 0
    )
    assert get_version(open_store(target), "p0", "staging").template == "v2 0 ü"
    lines = (small_export / "prompts.jsonl").read_bytes().splitlines()
    assert len(lines) == 3 and json.loads(lines[2])["tags"] == {"a": 1}

    # export the imported store: the same files, byte for byte
    again = tmp_path / "again"
    assert main(["store", "export", str(again)]) == 0
    assert "exported 11 rows of" in capsys.readouterr().out
    for path in sorted(small_export.glob("*.jsonl")):
        assert (again / path.name).read_bytes() == path.read_bytes(), path.name
    assert main(["store", "export", str(again)]) == 2
    assert "not an empty folder" in capsys.readouterr().err


def test_many_batches_import_whole_or_not_at_all(store: Store, tmp_path: Path) -> None:
    source = Store(f"sqlite:///{tmp_path / 'source.db'}")
    try:
        source.ensure_schema()
        with start_run("exp", store=source) as run:
            for step in range(2500):  # more rows than one insert batch holds
                run.log_metric("loss", 1 / (step + 1), step=step)
        export_store(source, tmp_path / "good")
    finally:
        source.close()
    shutil.copytree(tmp_path / "good", tmp_path / "bad")
    _edit_line("metrics", 2345, lambda line: line.replace(b'"step":', b'"step":"x",'))(
        tmp_path / "bad"
    )
    with pytest.raises(llmops.InputError, match=r"metrics\.jsonl:2345: invalid JSON"):
        import_store(store, tmp_path / "bad")
    assert set(_counts(store.url).values()) == {0}

    assert import_store(store, tmp_path / "good").tables["metrics"] == 2500
    with store.read() as connection:
        metrics = _models.table_of(_models.MetricRecord)
        ids = connection.execute(select(metrics.c.id).order_by(metrics.c.id)).scalars().all()
    assert ids == list(range(1, 2501))


def test_an_export_is_one_snapshot_of_a_store_being_written(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmops.store import _transfer

    register_prompt(store, PromptSpec(name="before", template="one"))
    export_table = _transfer._export_table

    def write_between_tables(connection: Any, table: Any, path: Path) -> tuple[int, str]:
        done = export_table(connection, table, path)
        if table.name == "prompts":  # a prompt and its version committed mid-export
            register_prompt(store, PromptSpec(name="during", template="two"))
        return done

    monkeypatch.setattr(_transfer, "_export_table", write_between_tables)
    exported = export_store(store, tmp_path / "export")
    assert (exported.tables["prompts"], exported.tables["prompt_versions"]) == (1, 1)
    target = open_store(f"sqlite:///{tmp_path / 'target.db'}")
    import_store(target, tmp_path / "export")  # links hold: no version without its prompt
    assert get_version(target, "before", 1).template == "one"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("a" * 300, r"cannot write the export there: File name too long"),
        ("file.txt/sub", r"cannot write the export there: Not a directory"),
        ("file.txt", r"not an empty folder"),
    ],
    ids=["name-too-long", "under-a-file", "a-file"],
)
def test_an_export_target_that_cannot_be_written_is_one_line(
    target: str,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LLMOPS_STORE_URL", f"sqlite:///{tmp_path / 'source.db'}")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file.txt").write_text("x")
    for command in (["store", "export", target], ["store", "import", target]):
        assert main(command) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and len(err) < 400, err
        if command[1] == "export":
            assert re.search(message, err), err


@pytest.mark.parametrize("tables", [",", "", " , "])
def test_tables_naming_no_table_is_refused(
    tables: str,
    small_export: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LLMOPS_STORE_URL", f"sqlite:///{tmp_path / 'target.db'}")
    assert main(["store", "export", str(tmp_path / "out"), "--tables", tables]) == 2
    assert "--tables: no table named" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert main(["store", "import", str(small_export), "--tables", tables]) == 2
    assert "--tables: no table named" in capsys.readouterr().err


def test_an_interrupted_export_leaves_the_folder_as_it_found_it(
    small_export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (or a full disk) part-way: the files written so far go, so a rerun starts clean;
    a folder left by a killed export says so."""
    from llmops.store import _transfer

    store = open_store(f"sqlite:///{tmp_path / 'source.db'}")
    import_store(store, small_export)
    written: list[str] = []
    real = _transfer._export_table

    def stop_after_two(connection: Any, table: Any, path: Path) -> tuple[int, str]:
        if len(written) == 2:
            raise KeyboardInterrupt
        written.append(path.name)
        return real(connection, table, path)

    monkeypatch.setattr(_transfer, "_export_table", stop_after_two)
    for folder, existed in ((tmp_path / "new", False), (tmp_path / "empty", True)):
        written.clear()
        if existed:
            folder.mkdir()
        with pytest.raises(KeyboardInterrupt):
            export_store(store, folder)
        assert len(written) == 2
        assert folder.exists() == existed and (not existed or not any(folder.iterdir()))
    monkeypatch.undo()

    killed = tmp_path / "killed"
    killed.mkdir()
    (killed / "prompts.jsonl").write_text("{}\n")  # what SIGKILL would leave: no manifest
    with pytest.raises(llmops.InputError, match="an export that did not finish: delete it"):
        export_store(store, killed)
    assert export_store(store, tmp_path / "new").tables["prompts"] == 3


@pytest.mark.postgres
def test_nul_in_json_reaches_postgresql_as_the_span_writer_stores_it(
    tmp_path: Path, pg_cluster: PostgresCluster
) -> None:
    """An export from SQLite keeps NUL (as the \\u0000 escape); PostgreSQL's JSON operators
    fail on that, so the import stores U+FFFD as every other writer there does."""
    source = open_store(f"sqlite:///{tmp_path / 'source.db'}")
    row = {
        "trace_id": "7" * 32, "span_id": "8" * 16, "name": "n", "kind": "llm",
        "start_ns": 1_700_000_000 * 10**9, "end_ns": 1_700_000_001 * 10**9, "status_code": "OK",
        "attributes": {"k\x00": "a\x00b", "gen_ai.request.model": "m\x00"},
    }  # fmt: skip
    StoreSink(source).write([row])
    export_store(source, tmp_path / "export")
    target = open_store(pg_cluster.create_database("nul_import"))
    import_store(target, tmp_path / "export")
    with target.read() as connection:
        attributes = connection.execute(
            select(cast(_models.SpanRecord.__table__.c.attributes, Text))  # type: ignore[attr-defined]
        ).scalar_one()
    assert orjson.loads(attributes) == {"k\ufffd": "a\ufffdb", "gen_ai.request.model": "m\ufffd"}
    # the model filter reads the JSON document: PostgreSQL failed on the escape
    found = list_traces(target, where=TraceFilter(model="m\ufffd"))
    assert [summary.trace_id for summary in found] == ["7" * 32]
