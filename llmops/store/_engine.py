"""Engines from one URL: SQLite tuned for concurrent writers, PostgreSQL for teams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from llmops._exceptions import StoreError

__all__ = ["IMMEDIATE", "create_store_engine", "display_url"]

#: Execution option asking SQLite for ``BEGIN IMMEDIATE``: the write lock is taken at the
#: start of the transaction, so a writer waits (busy timeout) instead of failing on upgrade.
IMMEDIATE = "llmops_immediate"

_BUSY_TIMEOUT_MS = 30_000


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


_JSON = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}


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


def create_store_engine(url: str) -> Engine:
    """An engine for ``url``; unknown schemes and missing drivers are ``StoreError``."""
    parsed = _parse(url)
    backend = parsed.get_backend_name()
    try:
        if backend == "sqlite":
            return _sqlite_engine(parsed)
        if backend == "postgresql":
            return create_engine(parsed, pool_pre_ping=True, **_JSON)
    except NoSuchModuleError as exc:
        raise StoreError(f"no driver for store {display_url(parsed)}: {exc}") from None
    except ModuleNotFoundError as exc:
        hint = " (install llmops[postgres])" if backend == "postgresql" else ""
        raise StoreError(f"no driver for store {display_url(parsed)}: {exc}{hint}") from None
    raise StoreError(
        f"unsupported store URL {display_url(parsed)}: use sqlite:///PATH or postgresql+psycopg://..."
    )
