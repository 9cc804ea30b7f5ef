"""The suite's store fixtures (tests/conftest.py): a test's ``store`` is a copy of a database
that open_store created at head once a session; ``store_url`` alone is an empty database."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from _postgres import PostgresCluster
from sqlalchemy import create_engine, func, inspect, select, table

from llmops.store import Store, head_revision


def _contents(url: str) -> dict[str, tuple[list[str], int]]:
    """Each table's columns and row count."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            schema = inspect(connection)
            return {
                name: (
                    sorted(column["name"] for column in schema.get_columns(name)),
                    connection.execute(select(func.count()).select_from(table(name))).scalar_one(),
                )
                for name in schema.get_table_names()
            }
    finally:
        engine.dispose()


def test_store_is_a_store_created_at_head_and_its_own(
    store: Store, store_url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if store_url.startswith("sqlite"):
        fresh_url = f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
        fresh_url = cluster.create_database(f"fresh_{uuid.uuid4().hex[:12]}")
    fresh = Store(fresh_url)
    try:
        fresh.ensure_schema()
    finally:
        fresh.close()
    copied = _contents(store_url)
    assert copied == _contents(fresh_url)
    assert copied["alembic_version"][1] == 1 and store.revision() == head_revision()
    assert {name: rows for name, (_, rows) in copied.items() if rows} == {"alembic_version": 1}
    # the test's own database, not the session's template
    if store_url.startswith("sqlite"):
        assert Path(store_url.removeprefix("sqlite:///")).parent == tmp_path
    else:
        assert store_url.rsplit("/", 1)[1].startswith("t_")


def test_store_url_alone_is_an_empty_database(store_url: str) -> None:
    assert _contents(store_url) == {}
