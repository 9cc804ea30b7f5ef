"""Engines from one URL: SQLite tuned for concurrent writers, PostgreSQL for teams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from llmops._exceptions import StoreError

__all__ = ["IMMEDIATE", "create_store_engine", "display_url", "postgres_json"]

#: Execution option asking SQLite for ``BEGIN IMMEDIATE``: the write lock is taken at the
#: start of the transaction, so a writer waits (busy timeout) instead of failing on upgrade.
IMMEDIATE = "llmops_immediate"

_BUSY_TIMEOUT_MS = 30_000


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


_JSON = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    return value


def postgres_json(document: str) -> str:
    """The JSON text ``document`` with every NUL in its strings and keys made U+FFFD, for a
    PostgreSQL ``json`` column: it stores the ``\\u0000`` escape, but its ``->>`` and casts
    then fail on the row, so one such span would break every query over it. The one rule for
    NUL on PostgreSQL, as for its text columns; SQLite keeps NUL as sent."""
    if "\\u0000" not in document:  # the common case: one C scan
        return document
    return orjson.dumps(_without_nul(orjson.loads(document))).decode()


def _postgres_json_dumps(value: Any) -> str:
    return postgres_json(_json_dumps(value))


def display_url(url: str | URL) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return str(url)


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError:
        raise StoreError(
            f"invalid store URL '{url}': expected sqlite:///PATH or "
            "postgresql+psycopg://USER@HOST:PORT/DB"
        ) from None


def _sqlite_engine(parsed: URL) -> Engine:
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        try:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the folder of store {display_url(parsed)}: {exc}"
            ) from None
    engine = create_engine(parsed, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000}, **_JSON)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # transactions are begun below, explicitly
        cursor = dbapi_conn.cursor()
        # before WAL, or a new file never takes it: space freed by pruning can then be given
        # back (PRAGMA incremental_vacuum); an older store takes it at its next VACUUM
        cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _may_hold_nul(parameters: Any) -> bool:
    try:
        return b"\\u0000" in orjson.dumps(parameters, default=str)
    except (TypeError, orjson.JSONEncodeError):  # an integer beyond 64 bits, say
        return True


def _without_nul_params(parameters: Any) -> Any:
    if isinstance(parameters, str):
        return parameters.replace("\x00", "\ufffd")
    if isinstance(parameters, dict):
        return {key: _without_nul_params(value) for key, value in parameters.items()}
    if isinstance(parameters, list | tuple):
        return type(parameters)(_without_nul_params(value) for value in parameters)
    return parameters


def _postgres_engine(parsed: URL) -> Engine:
    engine = create_engine(
        parsed,
        pool_pre_ping=True,
        json_serializer=_postgres_json_dumps,
        json_deserializer=orjson.loads,
    )

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _no_nul(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
    ) -> tuple[str, Any]:
        # PostgreSQL text cannot hold NUL (the driver refuses the whole statement): every
        # write becomes U+FFFD there, as JSON documents do (postgres_json), so a model's NUL
        # in an eval output or a name fails nothing. One C scan finds the rare case.
        if parameters and _may_hold_nul(parameters):
            parameters = _without_nul_params(parameters)
        return statement, parameters

    return engine


def create_store_engine(url: str) -> Engine:
    """An engine for ``url``; unknown schemes and missing drivers are ``StoreError``."""
    parsed = _parse(url)
    backend = parsed.get_backend_name()
    try:
        if backend == "sqlite":
            return _sqlite_engine(parsed)
        if backend == "postgresql":
            return _postgres_engine(parsed)
    except NoSuchModuleError as exc:
        raise StoreError(f"no driver for store {display_url(parsed)}: {exc}") from None
    except ModuleNotFoundError as exc:
        hint = " (install llmops[postgres])" if backend == "postgresql" else ""
        raise StoreError(f"no driver for store {display_url(parsed)}: {exc}{hint}") from None
    raise StoreError(
        f"unsupported store URL {display_url(parsed)}: use sqlite:///PATH or postgresql+psycopg://..."
    )
