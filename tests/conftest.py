"""Shared fixtures: isolated projects, stores on SQLite and PostgreSQL, a fake model server."""

from __future__ import annotations

import gc
import os
import random
import shutil
import sqlite3
import sys
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _conformance_report import pytest_configure as _conformance_configure
from _conformance_report import pytest_terminal_summary as _conformance_summary
from _fake_openai import FakeOpenAI
from _postgres import PostgresCluster, find_pg_bin, require_or_skip_reason
from _reliability_report import pytest_configure as _reliability_configure
from _reliability_report import (  # noqa: F401 (the reliability table: hooks and fixture)
    pytest_runtest_makereport,
    reliability,
)
from _reliability_report import pytest_terminal_summary as _reliability_summary

from llmops.store import Store
from llmops.store._store import _forget_stores
from llmops.tracing import shutdown_tracing

REPO = Path(__file__).resolve().parent.parent

#: Replays a session's randomness (kill points, orders): the seed is in the report header
#: and in the failure message of every test that drew from it.
SEED_ENV = "LLMOPS_TEST_SEED"
#: The seed the controlling process chose when none was given; xdist workers inherit it.
_CHOSEN_SEED_ENV = "_LLMOPS_CHOSEN_TEST_SEED"


def _session_seed() -> int:
    value = os.environ.get(SEED_ENV) or os.environ.get(_CHOSEN_SEED_ENV)
    if value is None:  # pragma: no cover - pytest_configure sets it first
        raise RuntimeError("the session seed is chosen in pytest_configure")
    try:
        return int(value)
    except ValueError:
        raise pytest.UsageError(f"{SEED_ENV}={value!r}: expected an integer") from None


def pytest_configure(config: pytest.Config) -> None:
    _reliability_configure(config)
    _conformance_configure(config)
    # xdist workers inherit the controller's choice; a session started from inside a worker
    # (a test running pytest) has none of its own and chooses too
    if not os.environ.get(SEED_ENV) and not os.environ.get(_CHOSEN_SEED_ENV):
        os.environ[_CHOSEN_SEED_ENV] = str(random.SystemRandom().randrange(1 << 32))
    _session_seed()  # an invalid LLMOPS_TEST_SEED stops the session here


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    _reliability_summary(terminalreporter)
    _conformance_summary(terminalreporter)


def pytest_report_header(config: pytest.Config) -> str:
    seed = _session_seed()
    return f"{SEED_ENV}={seed} (set it to replay this session's random choices)"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> object:
    """A failure of a test that drew from the seed says which seed replays it."""
    try:
        return (yield)
    except BaseException as exc:
        if "test_seed" in getattr(item, "fixturenames", ()) and isinstance(exc, Exception):
            exc.add_note(f"replay with {SEED_ENV}={_session_seed()}")
        raise


@pytest.fixture(scope="session")
def test_seed() -> int:
    """This session's seed: ``LLMOPS_TEST_SEED``, or one chosen at random and printed."""
    return _session_seed()


@pytest.fixture
def rng(request: pytest.FixtureRequest, test_seed: int) -> random.Random:
    """A random generator for this test, from the session seed and the test's id (so xdist
    workers and any test order draw the same values)."""
    return random.Random(f"{test_seed}:{request.node.nodeid}")


#: The test module whose objects are frozen out of the per-test collection (see _collect).
_frozen_module: list[str] = [""]


def _collect(module: str) -> None:
    """Collect this test's garbage, so that a leaked connection warns in the test that leaked it.

    A full collection walks every live object: about 230,000 once litellm, FastAPI and
    SQLAlchemy are loaded, 0.1-0.2 s a test, 3-4 minutes of CI. What survived the previous
    collection is frozen out of the next, so a test pays for what it allocated. The first test
    of each module collects everything again, which frees what earlier modules' fixtures
    dropped (as the full collection did, in the next test) and keeps frozen memory bounded.
    """
    if module != _frozen_module[0]:
        gc.unfreeze()
        _frozen_module[0] = module
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _isolated(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[None]:
    """No test sees the developer's environment, home store or another test's state."""
    for name in (
        "LLMOPS_CONFIG",
        "LLMOPS_STORE_URL",
        "LLMOPS_DEFAULT_MODEL",
        "LLMOPS_DEBUG",
        "LLMOPS_VLLM_PYTHON",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLMOPS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)  # never the repository's own project and store
    yield
    shutdown_tracing()
    _forget_stores()
    _collect(request.node.nodeid.split("::")[0])


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    reason = require_or_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    bin_dir = find_pg_bin()
    assert bin_dir is not None
    with PostgresCluster(bin_dir) as cluster:
        yield cluster


# Creating the schema costs each test of `store` 40-150 ms on SQLite and about 200 ms on
# PostgreSQL; copying a database that open_store created at head once a session costs under
# 5 ms and about 70 ms. open_store finds the copy at head, as it finds any store in use.


@pytest.fixture(scope="session")
def _sqlite_at_head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("head") / "store.db"
    head = Store(f"sqlite:///{path}")
    try:
        head.ensure_schema()
    finally:
        head.close()
    return path


@pytest.fixture(scope="session")
def _postgres_at_head(pg_cluster: PostgresCluster) -> str:
    """The name of a database at head, the template of the tests' stores."""
    name = "llmops_at_head"
    head = Store(pg_cluster.create_database(name))
    try:
        head.ensure_schema()
    finally:
        head.close()  # CREATE DATABASE ... TEMPLATE refuses a template with connections
    return name


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty database, on each backend; already at head for a test of ``store``."""
    at_head = "store" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "store.db"
        if at_head:
            template: Path = request.getfixturevalue("_sqlite_at_head")
            # the backup API, not a file copy: the template is in WAL mode
            with closing(sqlite3.connect(template)) as source, closing(sqlite3.connect(path)) as to:
                source.backup(to)
        return f"sqlite:///{path}"
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    name = f"t_{uuid.uuid4().hex[:12]}"
    if at_head:
        return cluster.create_database(name, template=request.getfixturevalue("_postgres_at_head"))
    return cluster.create_database(name)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A store created at head on each backend."""
    from llmops.store import open_store

    yield open_store(store_url)


@pytest.fixture
def fake_model() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the repo's project files (configs, prompts, evals) as the working directory."""
    root = tmp_path / "project"
    for folder in ("configs", "prompts", "evals"):
        shutil.copytree(REPO / folder, root / folder)
    monkeypatch.chdir(root)
    return root


def use_fake_model(project: Path, fake: FakeOpenAI, **params: object) -> None:
    """Point the project's default model at the fake server."""
    import yaml

    config_path = project / "configs" / "llmops.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["models"]["fake"] = {
        "model": "openai/fake",
        "api_base": fake.api_base,
        "params": dict(params),
    }
    config["default_model"] = "fake"
    config_path.write_text(yaml.safe_dump(config))
    suite = project / "evals" / "llmops_docs.yaml"
    suite.write_text(suite.read_text().replace("model: local", "model: fake"))
