"""Reliability with real processes: SIGTERM loses nothing, SIGKILL leaves a consistent store,
concurrent writers never see "database is locked"."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

_CHILD = """
import os, sys, time
import llmops
from llmops.tracing import flush, span
mode, count = sys.argv[1], int(sys.argv[2])
for i in range(count):
    with span(f"span {i}", kind="chain") as s:
        s.set("i", i)
    if mode == "kill" and i % 1000 == 999:
        flush()
        print(f"flushed {i + 1}", flush=True)
if mode == "term":
    print("submitted", flush=True)
    time.sleep(120)
elif mode == "kill":
    while True:
        with span("more"):
            pass
"""


def _env(tmp_path: Path, url: str) -> dict[str, str]:
    return {**os.environ, "LLMOPS_STORE_URL": url, "LLMOPS_HOME": str(tmp_path / "home")}


def _count(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return int(connection.execute("select count(*) from spans").fetchone()[0])


def test_sigterm_flushes_every_span(tmp_path: Path) -> None:
    db = tmp_path / "term.db"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, "term", "50000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path, f"sqlite:///{db}"),
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "submitted"
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=120)
    assert child.returncode == -signal.SIGTERM, err
    assert _count(db) == 50_000


def test_sigkill_leaves_a_consistent_store(tmp_path: Path) -> None:
    db = tmp_path / "kill.db"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, "kill", "6000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path, f"sqlite:///{db}"),
    )
    assert child.stdout is not None
    flushed = 0
    while flushed < 6000:
        line = child.stdout.readline()
        assert line, child.stderr.read() if child.stderr else ""
        flushed = int(line.split()[1])
    child.kill()
    child.communicate(timeout=30)
    assert _count(db) >= flushed  # everything flushed before the kill survived, intact


@pytest.mark.parametrize("processes", [4])
def test_concurrent_writers_never_see_locked(tmp_path: Path, processes: int) -> None:
    db = tmp_path / "many.db"
    env = _env(tmp_path, f"sqlite:///{db}")
    subprocess.run(
        [sys.executable, "-c", "from llmops.store import open_store; open_store()"],
        env=env,
        check=True,
    )
    code = _CHILD.replace('if mode == "term"', 'if mode == "once"')
    children = [
        subprocess.Popen(
            [sys.executable, "-c", code, "plain", "5000"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(processes)
    ]
    outputs = [child.communicate(timeout=180) for child in children]
    for child, (_, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
        assert "locked" not in err
    assert _count(db) == 5000 * processes
    assert not list((tmp_path / "home").glob("spill/*"))  # nothing had to be spilled
