"""The ``Store``: an engine, its schema revision, and sessions for reading and writing."""

from __future__ import annotations

import atexit
import functools
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import DBAPIError, OperationalError

from llmops._exceptions import StoreError
from llmops.store._engine import IMMEDIATE, create_store_engine, display_url

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig
    from sqlmodel import Session

__all__ = ["Store", "head_revision", "open_store"]

_MIGRATIONS = Path(__file__).with_name("migrations")
_PG_INIT_LOCK = 0x6C6C6D6F  # advisory lock id held while a new PostgreSQL store is created


def _alembic_config(connection: Connection | None = None) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


_REVISION_LINE = re.compile(
    r"^(revision|down_revision)\b[^=\n]*=\s*(?:None|[\"']([^\"'\n]+)[\"'])\s*$", re.MULTILINE
)


@functools.cache
def _shipped() -> tuple[str, frozenset[str]] | None:
    """(head, every revision) from the ``revision``/``down_revision`` lines of the migration
    files, or None when they are not one straight line (alembic then decides). Every command
    opens the store, and importing alembic to learn the head costs about a quarter second."""
    parents: dict[str, str | None] = {}
    for path in sorted((_MIGRATIONS / "versions").glob("*.py")):
        found = dict(
            (match[1], match[2] or None)
            for match in _REVISION_LINE.finditer(path.read_text(encoding="utf-8"))
        )
        if "revision" not in found or "down_revision" not in found or found["revision"] is None:
            return None
        parents[found["revision"]] = found["down_revision"]
    heads = set(parents) - {parent for parent in parents.values() if parent is not None}
    if len(heads) != 1 or sum(parent is None for parent in parents.values()) != 1:
        return None
    return heads.pop(), frozenset(parents)


def head_revision() -> str:
    """The newest migration revision shipped with this version of llmops."""
    shipped = _shipped()
    if shipped is not None:
        return shipped[0]
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise StoreError("llmops ships no store migrations; the installation is broken")
    return head


@functools.cache
def _known_revisions() -> frozenset[str]:
    """Every migration revision shipped with this version of llmops."""
    shipped = _shipped()
    if shipped is not None:
        return shipped[1]
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config())
    return frozenset(revision.revision for revision in script.walk_revisions())


def _newer_store(url: str, revision: str) -> StoreError:
    # a revision this llmops does not ship was written by a later one (or by another tool);
    # `llmops store upgrade` cannot help, only a newer llmops can read it
    return StoreError(
        f"store {display_url(url)} was created by a newer llmops (revision {revision}): "
        "upgrade llmops"
    )


def _current_revision(connection: Connection) -> str | None:
    # read directly: alembic's MigrationContext is the same query behind a heavy import
    if not inspect(connection).has_table("alembic_version"):
        return None
    stamped = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(stamped) <= 1:
        return stamped[0] if stamped else None
    from alembic.runtime.migration import MigrationContext  # its error for several heads

    return MigrationContext.configure(connection).get_current_revision()


class Store:
    """A handle on one llmops database; open it with :func:`open_store`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_store_engine(url)
        self._write_engine = self.engine.execution_options(**{IMMEDIATE: True})
        self._active: ContextVar[Session | None] = ContextVar(
            f"llmops-write-{id(self)}", default=None
        )

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def _unreachable(self, exc: Exception) -> StoreError:
        reason = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0]
        return StoreError(f"cannot open store {display_url(self.url)}: {reason}")

    def revision(self) -> str | None:
        """The schema revision of the database, None when it holds no llmops schema."""
        try:
            with self.engine.connect() as connection:
                return _current_revision(connection)
        except (OperationalError, DBAPIError) as exc:
            raise self._unreachable(exc) from None

    def ensure_schema(self) -> None:
        """Create a new database at the head revision; refuse one at another revision."""
        head = head_revision()
        try:
            with self._write_engine.begin() as connection:
                if self.dialect == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_INIT_LOCK}
                    )
                current = _current_revision(connection)
                if current == head:
                    return
                if current is not None and current not in _known_revisions():
                    raise _newer_store(self.url, current)
                if current is None:
                    # lazy: building the models costs every command that only reads
                    from sqlmodel import SQLModel

                    from llmops.store import models

                    _ = models  # the tables must be on SQLModel.metadata before create_all
                    known = set(inspect(connection).get_table_names()) & set(
                        SQLModel.metadata.tables
                    )
                    if known:
                        raise StoreError(
                            f"store {display_url(self.url)} has llmops tables but no schema "
                            "revision; run `llmops store upgrade`"
                        )
                    SQLModel.metadata.create_all(connection)
                    # PostgreSQL: spans by day, as migration 0017 leaves them
                    from llmops.store._partitions import partition_spans

                    partition_spans(connection)
                    from alembic import command

                    command.stamp(_alembic_config(connection), head)
                    return
        except (OperationalError, DBAPIError) as exc:
            raise self._unreachable(exc) from None
        raise StoreError(
            f"store {display_url(self.url)} is at schema revision {current}, this llmops "
            f"expects {head}: run `llmops store upgrade`"
        )

    def upgrade(self) -> tuple[str | None, str]:
        """Migrate the database to the head revision; returns (before, after)."""
        from alembic import command

        head = head_revision()
        try:
            with self._write_engine.begin() as connection:
                before = _current_revision(connection)
                if before is not None and before not in _known_revisions():
                    raise _newer_store(self.url, before)
                command.upgrade(_alembic_config(connection), "head")
        except (OperationalError, DBAPIError) as exc:
            raise self._unreachable(exc) from None
        return before, head

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A Core connection for reads (the hot paths: no ORM is imported), closed on exit."""
        with self.engine.connect() as connection:
            yield connection

    @contextmanager
    def bulk(self) -> Iterator[Connection]:
        """A Core connection whose transaction holds the write lock from its start, committed
        on exit: many rows in one statement (spans, logs), without building ORM objects."""
        with self._write_engine.begin() as connection:
            yield connection

    def session(self) -> Session:
        """A session for reading (and short writes that may share the lock)."""
        from sqlmodel import Session  # lazy: the hot reads (llmops.store._light) use Core

        return Session(self.engine, expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose transaction holds the write lock from its start, committed on exit.

        Nested ``write()`` blocks in the same thread join the outer transaction, so several
        writes (the three alias moves of a bundle) commit together or not at all.
        """
        active = self._active.get()
        if active is not None:
            yield active
            return
        from sqlmodel import Session  # lazy: the hot reads (llmops.store._light) use Core

        with Session(self._write_engine, expire_on_commit=False) as session, session.begin():
            token = self._active.set(session)
            try:
                yield session
            finally:
                self._active.reset(token)

    def close(self) -> None:
        """Release the connections of this store."""
        self.engine.dispose()


_open: dict[str, Store] = {}
_open_lock = threading.Lock()


def open_store(url: str | None = None) -> Store:
    """The store at ``url`` (default: from the project config), created at head if new.

    Stores are cached per URL within the process.
    """
    if url is None:
        # lazy: keeps import llmops light
        from llmops.config import load_config

        url = load_config().resolved_store_url
    with _open_lock:
        store = _open.get(url)
        if store is None:
            store = Store(url)
            try:
                store.ensure_schema()
            except BaseException:
                store.close()  # a refused store keeps no connection open
                raise
            _open[url] = store
        return store


def _forget_stores() -> None:
    """Close every cached store (tests and process exit)."""
    with _open_lock:
        for store in _open.values():
            store.close()
        _open.clear()


# Registered before the exit handlers that write (span flush, runs ended: their modules import
# this one), so it runs after them. Closed here, not whenever the garbage collector frees the
# engine: the CLI skips that last collection (llmops.cli._entry), and SQLite checkpoints and
# removes its -wal file when the last connection closes.
atexit.register(_forget_stores)
