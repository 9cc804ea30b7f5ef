"""A throwaway PostgreSQL server for the benchmarks, from the binaries in
``$LLMOPS_PG_BIN`` or the newest ``/usr/lib/postgresql/*/bin`` (as tests/_postgres.py starts
one; the benchmarks do not import the tests). As root it runs as ``nobody``, which
PostgreSQL requires.

Durability as SQLite's in llmops (WAL, ``synchronous=NORMAL``): ``synchronous_commit=off``
(a crash may lose the last commits, never corrupt), ``fsync`` left on.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["conninfo", "create_database", "pg_bin", "throwaway_postgres"]


def pg_bin() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, or None."""
    override = os.environ.get("LLMOPS_PG_BIN")
    candidates = [Path(override)] if override else Path("/usr/lib/postgresql").glob("*/bin")

    def version(path: Path) -> tuple[int, ...]:
        name = path.parent.name
        return tuple(int(part) for part in name.split(".")) if name[:1].isdigit() else (-1,)

    for path in sorted(candidates, key=version, reverse=True):
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
    return None


@contextlib.contextmanager
def throwaway_postgres(database: str = "bench") -> Iterator[str]:
    """Start a fresh cluster on a free port of 127.0.0.1 with an empty ``database``; yields
    its SQLAlchemy URL and deletes the cluster on exit. RuntimeError when it cannot start."""
    bin_dir = pg_bin()
    if bin_dir is None:
        raise RuntimeError("no PostgreSQL initdb/pg_ctl (set LLMOPS_PG_BIN)")
    as_user: dict[str, Any] = {}
    root = Path(tempfile.mkdtemp(prefix="llmops-bench-pg-", dir="/tmp"))
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        as_user = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
        os.chmod(root, 0o755)
        os.chown(root, nobody.pw_uid, nobody.pw_gid)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}

    def run(*argv: str) -> None:
        subprocess.run(argv, check=True, capture_output=True, cwd=root, env=env, **as_user)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data, log = root / "data", root / "server.log"
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c synchronous_commit=off"
        " -c max_connections=100 -c shared_buffers=256MB"
    )
    started = False
    try:
        flags = ["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale"]
        run(str(bin_dir / "initdb"), "-D", str(data), *flags)
        start = ["start", "-w", "-t", "60", "-D", str(data), "-l", str(log), "-o", options]
        run(str(bin_dir / "pg_ctl"), *start)
        started = True
        run(
            str(bin_dir / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "postgres",
            database,
        )
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/{database}"
    except subprocess.CalledProcessError as exc:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {exc.stderr!r}\n{tail}") from None
    finally:
        if started:
            with contextlib.suppress(subprocess.CalledProcessError):
                run(str(bin_dir / "pg_ctl"), "stop", "-w", "-D", str(data), "-m", "immediate")
        shutil.rmtree(root, ignore_errors=True)


def conninfo(url: str) -> str:
    """psycopg's connection string for a ``postgresql+psycopg://`` URL."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def create_database(url: str, name: str) -> str:
    """Create the empty database ``name`` on ``url``'s server; returns its URL."""
    import psycopg

    with psycopg.connect(conninfo(url), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + f"/{name}"
