"""What a process leaves at exit: what the exit handlers write (spans not yet flushed, a run
still open) is in the store, and the store is closed after them (SQLite's -wal and -shm
files removed), for a script and for the CLI, which skips the last garbage collection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_SCRIPT = """
import llmops
run = llmops.start_run(experiment="exits", name="left-open")  # ended by the exit handler
run.__enter__()
run.log_param("k", 1)
with llmops.span("never-flushed"):
    pass
"""


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(("-wal", "-shm")))


def test_exit_handlers_write_before_the_store_closes_and_the_cli_leaves_it_closed(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "LLMOPS_STORE_URL": f"sqlite:///{tmp_path / 'exit.db'}"}
    env.pop("LLMOPS_CONFIG", None)
    subprocess.run([sys.executable, "-c", _SCRIPT], check=True, env=env, cwd=tmp_path)
    assert _leftovers(tmp_path) == []

    def cli(*argv: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "llmops", *argv],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert _leftovers(tmp_path) == [], argv
        return done.stdout

    traces = json.loads(cli("traces", "list", "--json"))
    assert [t["name"] for t in traces] == ["never-flushed"]
    runs = json.loads(cli("runs", "list", "--json"))
    assert [(r["name"], r["status"]) for r in runs] == [("left-open", "finished")]
    assert "never-flushed" in cli("traces", "list")
    assert "Usage" in cli("--help")
    # an error exits 2 through the same path, and leaves the store closed too
    failed = subprocess.run(
        [sys.executable, "-m", "llmops", "traces", "show", "f" * 32],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert failed.returncode == 2 and "not found" in failed.stderr
    assert _leftovers(tmp_path) == []
