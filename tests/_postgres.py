"""A throwaway PostgreSQL cluster for the test suite, started from the server binaries.

PostgreSQL refuses to run as root, so as root the cluster runs as ``nobody``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

__all__ = ["PostgresCluster", "find_pg_bin", "require_or_skip_reason"]


def _version(bin_dir: Path) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in bin_dir.parent.name.split("."))
    except ValueError:
        return (-1,)


def find_pg_bin() -> Path | None:
    """``$LLMOPS_PG_BIN`` or the newest ``/usr/lib/postgresql/*/bin`` with initdb and pg_ctl."""
    override = os.environ.get("LLMOPS_PG_BIN")
    candidates = [Path(override)] if override else Path("/usr/lib/postgresql").glob("*/bin")
    for bin_dir in sorted(candidates, key=_version, reverse=True):
        if (bin_dir / "initdb").is_file() and (bin_dir / "pg_ctl").is_file():
            return bin_dir
    return None


def require_or_skip_reason() -> str | None:
    """None when PostgreSQL tests can run, else why to skip; raises if LLMOPS_REQUIRE_POSTGRES=1."""
    reason = None
    if find_pg_bin() is None:
        where = os.environ.get("LLMOPS_PG_BIN") or "/usr/lib/postgresql/*/bin"
        reason = f"no PostgreSQL initdb/pg_ctl in {where} (apt-get install postgresql)"
    elif importlib.util.find_spec("psycopg") is None:
        reason = "psycopg is not installed (pip install 'llmops[postgres]')"
    if reason is not None and os.environ.get("LLMOPS_REQUIRE_POSTGRES") == "1":
        raise RuntimeError(f"LLMOPS_REQUIRE_POSTGRES=1 but {reason}")
    return reason


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.is_file() else "(no server log)"


class PostgresCluster:
    """initdb + pg_ctl in a fresh ``/tmp/llmops-pg-*`` folder, on a free port of 127.0.0.1."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        found = bin_dir or find_pg_bin()
        if found is None:
            raise RuntimeError("no PostgreSQL server binaries found; set LLMOPS_PG_BIN")
        self.bin_dir = found
        self.root: Path | None = None
        self.port = 0
        # PostgreSQL refuses to run as root: run it as nobody, with nobody's group only.
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self._as = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}

    @property
    def data(self) -> Path:
        """The cluster's data directory."""
        if self.root is None:
            raise RuntimeError("the cluster is not started")
        return self.root / "data"

    @property
    def admin_url(self) -> str:
        """SQLAlchemy URL of the ``postgres`` database as superuser ``postgres``."""
        return self._url("postgres")

    def _url(self, database: str) -> str:
        if not self.port:
            raise RuntimeError("the cluster is not started")
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{quote(database, safe='')}"

    def _run(self, tool: str, *args: str, timeout: float = 120) -> None:
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        subprocess.run(
            [str(self.bin_dir / tool), *args],
            check=True,
            capture_output=True,
            text=True,
            cwd=self.root,
            env=env,
            timeout=timeout,
            **self._as,
        )

    def start(self) -> PostgresCluster:
        """initdb and start the server; on failure clean up and raise RuntimeError with the log."""
        # As root the tree must be reachable by nobody: mkdtemp under /tmp, not pytest's 0700 dir.
        self.root = Path(tempfile.mkdtemp(prefix="llmops-pg-", dir="/tmp" if self._as else None))
        log = self.root / "server.log"
        try:
            if self._as:
                os.chmod(self.root, 0o755)
                os.chown(self.root, self._as["user"], self._as["group"])
            flags = "-U postgres --auth=trust -E UTF8 --no-locale --no-sync --no-instructions"
            self._run("initdb", "-D", str(self.data), *flags.split())
            for _ in range(3):  # another process may take the free port before the server binds it
                self.port = _free_port()
                options = (
                    f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
                    " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
                )
                try:
                    start = ["start", "-w", "-t", "60", "-D", str(self.data), "-l", str(log)]
                    self._run("pg_ctl", *start, "-o", options, timeout=90)
                    return self
                except subprocess.CalledProcessError:
                    if "could not create any TCP/IP sockets" not in _tail(log):
                        raise
            raise RuntimeError(
                f"port {self.port} and two others were taken before the server bound them"
            )
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            output = getattr(exc, "stderr", None) or ""
            message = f"PostgreSQL did not start: {exc}\n{output}\n--- server log ---\n{_tail(log)}"
            self.stop()
            raise RuntimeError(message) from exc

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create database ``name``, empty or a copy of database ``template`` (which nobody may
        be connected to); returns its SQLAlchemy URL."""
        import psycopg
        from psycopg import sql

        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(statement)
        return self._url(name)

    def stop(self) -> None:
        """Stop the server (immediate shutdown) and delete its folder; safe to call at any time."""
        if self.root is None:
            return
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            try:
                stop = ["stop", "-w", "-t", "30", "-D", str(self.data), "-m", "immediate"]
                self._run("pg_ctl", *stop, timeout=60)
            except subprocess.SubprocessError:
                with contextlib.suppress(OSError, ValueError, IndexError):
                    os.kill(int(pid_file.read_text().split()[0]), signal.SIGQUIT)
                    time.sleep(1)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root, self.port = None, 0

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
