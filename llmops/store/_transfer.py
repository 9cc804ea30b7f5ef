"""Export a store to a folder of JSONL files and import such a folder into an empty store:
backups, and the move from SQLite to PostgreSQL (or back).

One ``TABLE.jsonl`` per table, one row per line as a JSON object of its columns, and a
``manifest.json`` written last (llmops version, schema revision, tables with their columns,
row counts and sha256), so a folder without one is an export that did not finish. Values:
datetimes as ISO 8601 with their offset, non-finite floats as ``"NaN"``/``"Infinity"``/
``"-Infinity"``, bytes as base64, JSON columns as their JSON value; ``"$sqlnull"`` lists the
JSON columns of a row that hold SQL NULL (a JSON ``null`` is a value: both occur in a store).

Both directions stream: the export reads each table through a server-side cursor in primary
key order, in one read transaction (one snapshot of a store being written to); the import
reads line by line and inserts in batches, all tables in one transaction, so a failed import
leaves the target as it was. Ids are kept, and PostgreSQL sequences are moved past them.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson
from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Table,
    Text,
    bindparam,
    cast,
    func,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeDecorator, TypeEngine

from llmops._exceptions import InputError
from llmops._version import __version__
from llmops.store._engine import display_url, postgres_json
from llmops.store._partitions import ensure_span_partitions
from llmops.store._store import _known_revisions, head_revision

if TYPE_CHECKING:
    from llmops.store._store import Store

__all__ = ["MAX_LINE_BYTES", "TransferReport", "export_store", "import_store"]

FORMAT = "llmops-store-export"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: The longest line an import reads (a row with its JSON); longer ones are refused, so a
#: damaged or hostile file cannot make the import hold it in memory.
MAX_LINE_BYTES = 64 * 1024 * 1024
SQL_NULL = "$sqlnull"

_READ_ROWS = 1000  # rows fetched per round trip of the export's cursor
_BATCH_ROWS = 1000  # rows per INSERT of the import...
_BATCH_BYTES = 8 * 1024 * 1024  # ...or fewer, so a batch of big rows stays small in memory
_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


@dataclass(frozen=True)
class TransferReport:
    """What an export or import did: the folder, the schema revision, rows per table."""

    directory: Path
    revision: str
    tables: dict[str, int]
    dry_run: bool = False


def _kind(column_type: TypeEngine[Any]) -> str:
    """How a column's values are written: json, datetime, bool, float, int, bytes, str."""
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    for sql_type, kind in (
        (JSON, "json"),
        (DateTime, "datetime"),
        (Boolean, "bool"),
        (Float, "float"),
        (Numeric, "float"),
        (Integer, "int"),
        (LargeBinary, "bytes"),
        (String, "str"),
    ):
        if isinstance(column_type, sql_type):
            return kind
    return "any"


def _tables(names: Sequence[str] | None, where: str) -> list[Table]:
    """The store's tables in foreign-key order (parents first), or those of ``names``."""
    # lazy: building the models costs every command that only reads
    from sqlmodel import SQLModel

    from llmops.store import models

    # the metadata is shared with any SQLModel table of the process: keep llmops' own
    own = {
        model.__tablename__
        for model in vars(models).values()
        if isinstance(model, type) and issubclass(model, SQLModel) and hasattr(model, "__table__")
    }
    ordered = [table for table in SQLModel.metadata.sorted_tables if table.name in own]
    if names is None:
        return ordered
    known = {table.name for table in ordered}
    if not names:
        raise InputError(f"{where}: no table named (tables: {', '.join(sorted(known))})")
    unknown = [name for name in names if name not in known]
    if unknown:
        raise InputError(
            f"{where}: unknown table '{unknown[0]:.100}' (tables: {', '.join(sorted(known))})"
        )
    return [table for table in ordered if table.name in set(names)]


# --- export ------------------------------------------------------------------------------


def _float_out(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _writer(kind: str) -> Callable[[Any], Any]:
    if kind == "datetime":
        # a naive value (SQLite keeps no offset) is UTC, as the store's datetime type reads it
        return lambda value: (
            value.replace(tzinfo=UTC) if value.utcoffset() is None else value.astimezone(UTC)
        ).isoformat()
    if kind == "float":
        return _float_out
    if kind == "bytes":
        return lambda value: base64.b64encode(value).decode("ascii")
    return lambda value: value


def _export_table(connection: Connection, table: Table, path: Path) -> tuple[int, str]:
    kinds = [_kind(column.type) for column in table.columns]
    # JSON columns are read as their text: it goes into the line as it is (no parse and dump),
    # and SQL NULL (None) stays apart from a JSON null ('null')
    selected = [
        cast(column, Text).label(column.name) if kind == "json" else column
        for column, kind in zip(table.columns, kinds, strict=True)
    ]
    writers = [_writer(kind) for kind in kinds]
    names = [str(column.name) for column in table.columns]  # a quoted_name is no orjson key
    statement = select(*selected).order_by(*table.primary_key.columns)
    digest = hashlib.sha256()
    rows = 0
    with path.open("wb") as out:
        result = connection.execute(statement.execution_options(yield_per=_READ_ROWS))
        for row in result:
            line: dict[str, Any] = {}
            sql_null: list[str] = []
            for name, kind, write, value in zip(names, kinds, writers, row, strict=True):
                if value is None:
                    line[name] = None
                    if kind == "json":
                        sql_null.append(name)
                elif kind == "json":
                    if "\n" in value or "\r" in value:  # pretty-printed: one line it must be
                        value = orjson.dumps(orjson.loads(value))
                    line[name] = orjson.Fragment(value)
                else:
                    line[name] = write(value)
            if sql_null:
                line[SQL_NULL] = sql_null
            data = orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE)
            if len(data) > MAX_LINE_BYTES:
                raise InputError(
                    f"table {table.name}: a row of {len(data):,} bytes is over the import's "
                    f"line limit of {MAX_LINE_BYTES:,}"
                )
            digest.update(data)
            out.write(data)
            rows += 1
    return rows, digest.hexdigest()


def export_store(
    store: Store, directory: str | Path, *, tables: Sequence[str] | None = None
) -> TransferReport:
    """Write every table of ``store`` (or ``tables``) to ``directory``, a new or empty folder,
    from one snapshot; returns the rows written per table."""
    folder = Path(directory)
    chosen = _tables(tables, "--tables")
    revision = store.revision()
    if revision != head_revision():  # open_store refuses such a store already
        raise InputError(
            f"store {display_url(store.url)} is at revision {revision}: run `llmops store upgrade`"
        )
    try:
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise InputError(
                f"{_shown(folder)}: not an empty folder: export writes into a new or empty one"
                + (
                    " (it holds an export that did not finish: delete it)"
                    if _unfinished(folder)
                    else ""
                )
            )
        created = not folder.exists()
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"{_shown(folder)}: cannot write the export there: {exc.strerror}"
        ) from None
    try:
        return _export(store, folder, chosen, revision)
    except BaseException as exc:
        # an export stopped part-way (Ctrl-C, a full disk) leaves the folder as it found it
        for name in [f"{table.name}.jsonl" for table in chosen] + [f".{MANIFEST}.partial"]:
            (folder / name).unlink(missing_ok=True)
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()
        if isinstance(exc, OSError):
            raise InputError(
                f"{_shown(folder)}: cannot write the export there: {exc.strerror}"
            ) from None
        raise


def _shown(folder: Path) -> str:
    """A folder for a message: bounded, whatever the user typed."""
    text = str(folder)
    return text if len(text) <= 200 else f"{text[:100]}...{text[-60:]}"


def _unfinished(folder: Path) -> bool:
    try:
        names = {path.name for path in folder.iterdir()}
    except OSError:
        return False
    return MANIFEST not in names and any(name.endswith(".jsonl") for name in names)


def _export(store: Store, folder: Path, chosen: list[Table], revision: str) -> TransferReport:
    entries = []
    counts: dict[str, int] = {}
    with store.read() as connection:
        if store.dialect == "postgresql":
            # every table from one snapshot, while the server goes on writing
            connection.execution_options(isolation_level="REPEATABLE READ")
        # SQLite: the read transaction begun by the first SELECT is one snapshot (WAL)
        for table in chosen:
            rows, sha256 = _export_table(connection, table, folder / f"{table.name}.jsonl")
            counts[str(table.name)] = rows  # str: a quoted_name is no JSON key for orjson
            entries.append(
                {
                    "name": str(table.name),
                    "file": f"{table.name}.jsonl",
                    "rows": rows,
                    "sha256": sha256,
                    "columns": [str(column.name) for column in table.columns],
                }
            )
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "llmops_version": __version__,
        "revision": revision,
        "source": store.dialect,
        "exported_at": datetime.now(UTC).isoformat(),
        "tables": entries,
    }
    # written last, and whole: a folder without it is an export that did not finish
    partial = folder / f".{MANIFEST}.partial"
    partial.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    os.replace(partial, folder / MANIFEST)
    return TransferReport(folder, revision, counts)


# --- import ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    table: Table
    rows: int
    sha256: str


def _read_manifest(folder: Path) -> tuple[str, list[_Entry]]:
    path = folder / MANIFEST
    if not folder.is_dir():
        raise InputError(f"{_shown(folder)}: no such folder")
    if not path.is_file():
        raise InputError(f"{path}: missing: not an llmops store export, or one that did not finish")
    if path.stat().st_size > MAX_LINE_BYTES:
        raise InputError(f"{path}: over {MAX_LINE_BYTES:,} bytes: not an llmops manifest")
    try:
        manifest = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{path}: invalid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError(f"{path}: not an llmops store export manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise InputError(
            f"{path}: export format {manifest.get('format_version')!r:.40}, this llmops reads "
            f"{FORMAT_VERSION}: upgrade llmops"
        )
    revision = manifest.get("revision")
    head = head_revision()
    if revision != head:
        if isinstance(revision, str) and revision in _known_revisions():
            raise InputError(
                f"{path}: exported at schema revision {revision}, this llmops imports {head}: "
                "run `llmops store upgrade` on the source store, then export it again"
            )
        raise InputError(
            f"{path}: exported at schema revision {revision!r:.80}, which this llmops does not "
            "know (a newer llmops): upgrade llmops"
        )
    listed = manifest.get("tables")
    if not isinstance(listed, list):
        raise InputError(f"{path}: 'tables' must be a list")
    entries: list[_Entry] = []
    by_name = {table.name: table for table in _tables(None, str(path))}
    for item in listed:
        name = item.get("name") if isinstance(item, dict) else None
        table = by_name.get(name) if isinstance(name, str) else None
        if table is None:
            raise InputError(f"{path}: unknown table {name!r:.100}")
        if item.get("columns") != [column.name for column in table.columns]:
            raise InputError(f"{path}: table {name}: its columns differ from revision {head}'s")
        rows, sha256 = item.get("rows"), item.get("sha256")
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
            raise InputError(f"{path}: table {name}: 'rows' must be a count")
        if not isinstance(sha256, str) or len(sha256) != 64:
            raise InputError(f"{path}: table {name}: 'sha256' must be 64 hex digits")
        if any(entry.table is table for entry in entries):
            raise InputError(f"{path}: table {name} is listed twice")
        entries.append(_Entry(table, rows, sha256))
    return revision, entries


class _Reader:
    """Converts one column's JSON value into the value to bind, or says what is wrong."""

    def __init__(self, column: Any, postgres: bool) -> None:
        self.name = str(column.name)
        self.kind = _kind(column.type)
        self.nullable: bool = bool(column.nullable)
        length = getattr(column.type, "length", None)
        # SQLite does not enforce VARCHAR lengths; PostgreSQL would refuse the batch
        self.length: int | None = length if postgres and self.kind == "str" else None
        self.postgres = postgres

    def __call__(self, value: Any, sql_null: bool) -> Any:
        kind = self.kind
        if kind == "json":
            if sql_null:
                return None
            # the store's own serializer: the text imported is the text the store writes
            document = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
            return postgres_json(document) if self.postgres else document
        if value is None:
            if not self.nullable:
                raise ValueError("null in a column that requires a value")
            return None
        if kind == "str":
            if not isinstance(value, str):
                raise ValueError(f"expected a string, got {type(value).__name__}")
            if self.length is not None and len(value) > self.length:
                raise ValueError(f"longer than {self.length} characters")
            return value
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"expected an integer, got {value!r:.40}")
            return value
        if kind == "float":
            if isinstance(value, str) and value in _FLOATS:
                return _FLOATS[value]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"expected a number, got {value!r:.40}")
            return float(value)
        if kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"expected true or false, got {value!r:.40}")
            return value
        if kind == "datetime":
            try:
                parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
            except ValueError:
                parsed = None
            if parsed is None or parsed.utcoffset() is None:
                raise ValueError(f"expected an ISO 8601 time with its offset, got {value!r:.40}")
            return parsed
        if kind == "bytes":
            try:
                return base64.b64decode(value, validate=True)
            except (TypeError, ValueError):
                raise ValueError("expected base64") from None
        return value


def _lines(path: Path, handle: IO[bytes], max_line_bytes: int) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of a file, each line checked for its size and its newline."""
    number = 0
    while True:
        line = handle.readline(max_line_bytes + 1)
        if not line:
            return
        number += 1
        if len(line) > max_line_bytes:
            raise InputError(f"{path}:{number}: line over {max_line_bytes:,} bytes")
        if not line.endswith(b"\n"):
            raise InputError(f"{path}:{number}: line without its newline: the file is truncated")
        yield number, line


def _insert_statement(table: Table, postgres: bool) -> Any:
    """An INSERT of every column from parameters p0, p1...; JSON columns bound as their text
    (cast to json on PostgreSQL) so that SQL NULL and JSON null stay apart."""
    values: dict[str, Any] = {}
    for index, column in enumerate(table.columns):
        if _kind(column.type) == "json":
            parameter = bindparam(f"p{index}", type_=Text())
            values[column.name] = cast(parameter, column.type) if postgres else parameter
        else:
            values[column.name] = bindparam(f"p{index}", type_=column.type)
    return table.insert().values(values)


def _import_table(
    connection: Connection,
    folder: Path,
    entry: _Entry,
    postgres: bool,
    max_line_bytes: int,
) -> int:
    table = entry.table
    path = folder / f"{table.name}.jsonl"
    if not path.is_file():
        raise InputError(f"{path}: missing (the manifest lists table {table.name})")
    readers = [_Reader(column, postgres) for column in table.columns]
    columns = {reader.name for reader in readers}
    statement = _insert_statement(table, postgres)
    digest = hashlib.sha256()
    batch: list[dict[str, Any]] = []
    batch_bytes = 0
    first_line = 1
    rows = 0

    # PostgreSQL partitions spans by day: each day's partition must exist before its rows go in
    start_ns = next(
        (f"p{i}" for i, column in enumerate(table.columns) if column.name == "start_ns"), ""
    )
    partitioned = table.name == "spans" and bool(start_ns)

    def flush(last_line: int) -> None:
        if partitioned:
            ensure_span_partitions(connection, [row[start_ns] for row in batch])
        try:
            connection.execute(statement, batch)
        except DBAPIError as exc:
            reason = str(exc.orig or exc).strip().splitlines()[0]
            raise InputError(
                f"{path}:{first_line}-{last_line}: the store refused these rows: {reason:.300}"
            ) from None

    with path.open("rb") as handle:
        for number, line in _lines(path, handle, max_line_bytes):
            digest.update(line)
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise InputError(f"{path}:{number}: invalid JSON: {exc}") from None
            if not isinstance(row, dict):
                raise InputError(f"{path}:{number}: expected a JSON object (one row)")
            sql_null = row.pop(SQL_NULL, [])
            if not isinstance(sql_null, list) or not all(isinstance(n, str) for n in sql_null):
                raise InputError(f"{path}:{number}: '{SQL_NULL}' must be a list of column names")
            if row.keys() != columns:
                missing = sorted(columns - row.keys())
                extra = sorted(row.keys() - columns)
                problem = (
                    f"missing column {missing[0]}"
                    if missing
                    else f"unknown column {extra[0]!r:.100}"
                )
                raise InputError(f"{path}:{number}: {problem}")
            parameters = {}
            for index, reader in enumerate(readers):
                try:
                    parameters[f"p{index}"] = reader(row[reader.name], reader.name in sql_null)
                except ValueError as exc:
                    raise InputError(f"{path}:{number}: column {reader.name}: {exc}") from None
            batch.append(parameters)
            batch_bytes += len(line)
            rows += 1
            if len(batch) >= _BATCH_ROWS or batch_bytes >= _BATCH_BYTES:
                flush(number)
                batch, batch_bytes, first_line = [], 0, number + 1
        if batch:
            flush(rows)
    if rows != entry.rows:
        raise InputError(f"{path}: {rows:,} rows, the manifest says {entry.rows:,} (truncated?)")
    if digest.hexdigest() != entry.sha256:
        raise InputError(f"{path}: its sha256 differs from the manifest's: the file was changed")
    return rows


def _move_sequences(connection: Connection, tables: Sequence[Table]) -> None:
    """PostgreSQL: the next id of each table with a serial id comes after the imported ones
    (inserting explicit ids does not advance a sequence)."""
    for table in tables:
        column = table.autoincrement_column
        if column is None:
            continue
        top = connection.execute(select(func.max(column))).scalar()
        connection.execute(
            text("SELECT setval(pg_get_serial_sequence(:table, :column), :next, false)"),
            {"table": table.name, "column": column.name, "next": (top or 0) + 1},
        )


class _DryRun(Exception):
    """Rolls back a dry run's transaction."""


def import_store(
    store: Store,
    directory: str | Path,
    *,
    tables: Sequence[str] | None = None,
    dry_run: bool = False,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> TransferReport:
    """Import an export folder into ``store``, whose tables it fills must be empty: all tables
    (or ``tables``) in one transaction, ids kept. ``dry_run`` imports and rolls back: every
    check, the store's constraints included, and nothing written."""
    folder = Path(directory)
    try:
        return _import(store, folder, tables, dry_run, max_line_bytes)
    except OSError as exc:
        where = _shown(Path(exc.filename)) if isinstance(exc.filename, str) else _shown(folder)
        raise InputError(f"{where}: cannot read the export: {exc.strerror}") from None


def _import(
    store: Store,
    folder: Path,
    tables: Sequence[str] | None,
    dry_run: bool,
    max_line_bytes: int,
) -> TransferReport:
    revision, entries = _read_manifest(folder)
    if tables is not None:
        chosen = {table.name for table in _tables(tables, "--tables")}
        missing = sorted(chosen - {entry.table.name for entry in entries})
        if missing:
            raise InputError(f"{folder / MANIFEST}: the export has no table {missing[0]}")
        entries = [entry for entry in entries if entry.table.name in chosen]
    order = {table.name: index for index, table in enumerate(_tables(None, str(folder)))}
    entries.sort(key=lambda entry: order[entry.table.name])  # parents before children
    postgres = store.dialect == "postgresql"
    counts: dict[str, int] = {}
    try:
        with store.bulk() as connection:
            for entry in entries:
                if connection.execute(select(1).select_from(entry.table).limit(1)).first():
                    raise InputError(
                        f"store {display_url(store.url)} is not empty (table {entry.table.name} "
                        "has rows): import into a new store"
                    )
            for entry in entries:
                counts[str(entry.table.name)] = _import_table(
                    connection, folder, entry, postgres, max_line_bytes
                )
            if postgres:
                _move_sequences(connection, [entry.table for entry in entries])
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return TransferReport(folder, revision, counts, dry_run=dry_run)
