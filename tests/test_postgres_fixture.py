"""The throwaway PostgreSQL cluster helper itself (tests/_postgres.py)."""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import _postgres
import pytest
from _postgres import PostgresCluster, find_pg_bin, require_or_skip_reason
from sqlalchemy import create_engine, text


def _bin_or_skip() -> Path:
    try:
        reason = require_or_skip_reason()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    if reason is not None:
        pytest.skip(reason)
    bin_dir = find_pg_bin()
    assert bin_dir is not None
    return bin_dir


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    with PostgresCluster(_bin_or_skip()) as started:
        yield started


def _scalar(url: str, sql: str) -> object:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            return connection.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.postgres
def test_admin_url_answers(cluster: PostgresCluster) -> None:
    assert cluster.admin_url == f"postgresql+psycopg://postgres@127.0.0.1:{cluster.port}/postgres"
    assert _scalar(cluster.admin_url, "select 1") == 1


@pytest.mark.postgres
def test_databases_are_empty_and_separate(cluster: PostgresCluster) -> None:
    first, second = cluster.create_database("first_db"), cluster.create_database("Second-DB")
    assert first.endswith("/first_db") and second.endswith("/Second-DB")
    for url in (first, second):
        assert _scalar(url, "select count(*) from pg_tables where schemaname = 'public'") == 0
        assert _scalar(url, "select current_database()") == url.rsplit("/", 1)[1]

    engine = create_engine(first)
    try:
        with engine.begin() as connection:
            connection.execute(text("create table item (id int primary key, name text)"))
            connection.execute(text("insert into item values (1, 'one'), (2, 'two')"))
        with engine.connect() as connection:
            rows = connection.execute(text("select id, name from item order by id")).all()
        assert [tuple(row) for row in rows] == [(1, "one"), (2, "two")]
    finally:
        engine.dispose()
    assert _scalar(second, "select to_regclass('public.item')::text") is None


@pytest.mark.postgres
def test_stop_removes_the_folder_and_frees_the_port() -> None:
    cluster = PostgresCluster(_bin_or_skip()).start()
    root, data, port = cluster.root, cluster.data, cluster.port
    assert root is not None and (data / "PG_VERSION").is_file()
    assert _scalar(cluster.create_database("gone"), "select 1") == 1
    cluster.stop()
    assert not root.exists()
    assert _port_is_free(port)
    cluster.stop()  # idempotent


@pytest.mark.postgres
def test_failed_start_cleans_up_and_shows_the_log(monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = _bin_or_skip()
    made: list[str] = []
    mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(**kwargs: str | None) -> str:
        made.append(mkdtemp(**kwargs))
        return made[-1]

    monkeypatch.setattr(tempfile, "mkdtemp", recording_mkdtemp)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setattr(_postgres, "_free_port", lambda: taken.getsockname()[1])
        cluster = PostgresCluster(bin_dir)
        with pytest.raises(RuntimeError, match="could not create any TCP/IP sockets"):
            cluster.start()
    assert cluster.root is None and len(made) == 1 and not Path(made[0]).exists()


def test_missing_binaries_skip_or_fail(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LLMOPS_PG_BIN", str(tmp_path / "nowhere"))
    monkeypatch.delenv("LLMOPS_REQUIRE_POSTGRES", raising=False)
    assert find_pg_bin() is None
    reason = require_or_skip_reason()
    assert reason is not None and "nowhere" in reason
    monkeypatch.setenv("LLMOPS_REQUIRE_POSTGRES", "1")
    with pytest.raises(RuntimeError, match="LLMOPS_REQUIRE_POSTGRES=1"):
        require_or_skip_reason()
