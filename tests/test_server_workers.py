"""``llmops server --workers N`` on SQLite: concurrent OTLP through the workers stores every span
once, Ctrl-C stops every worker (exit 130), a killed supervisor leaves no worker behind, and
what several workers cannot do is refused in one line (exit 2). PostgreSQL replicas, worker
restarts and SIGTERM: tests/test_replicas.py."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from _live_server import free_port
from _server_procs import Server, otlp_protobuf, seeded_traces, start_server, wait_healthy

pytestmark = pytest.mark.xdist_group("server_workers")


def _gone(pid: int, within_s: float) -> bool:
    """Whether process ``pid`` ends within ``within_s`` (not our child: polled)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def _server(tmp_path: Path, workers: int = 2) -> Server:
    server = start_server(
        tmp_path, f"sqlite:///{tmp_path / 'store.db'}", "w", "--workers", str(workers)
    )
    wait_healthy(server)
    return server


def test_sqlite_workers_store_every_span_once_and_ctrl_c_stops_them(
    tmp_path: Path, test_seed: int
) -> None:
    traces = seeded_traces(random.Random(test_seed))
    server = _server(tmp_path, workers=3)
    try:
        failures: list[str] = []

        def send(part: int) -> None:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                for trace in traces[part::4]:  # one connection each: spread over the workers
                    answer = client.post(
                        "/v1/traces",
                        content=otlp_protobuf(trace),
                        headers={"Content-Type": "application/x-protobuf"},
                    )
                    if answer.status_code != 200:
                        failures.append(f"{answer.status_code} {answer.text[:200]}")

        threads = [threading.Thread(target=send, args=(part,)) for part in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not failures, f"seed {test_seed}: {failures}"
        workers = server.workers()
        assert sorted(workers) == [0, 1, 2]
        server.process.send_signal(signal.SIGINT)  # what a terminal's Ctrl-C sends
        assert server.process.wait(60) == 130, server.err.read_text()
        assert all(_gone(pid, 5) for pid in workers.values())
    finally:
        server.stop()
    with sqlite3.connect(tmp_path / "store.db") as connection:
        rows = connection.execute("SELECT trace_id, span_id FROM spans").fetchall()
    expected = {(f"{s.trace_id:032x}", f"{s.span_id:016x}") for t in traces for s in t}
    assert len(rows) == len(expected) and set(rows) == expected


def test_workers_end_when_their_supervisor_is_killed(tmp_path: Path) -> None:
    server = _server(tmp_path)
    try:
        workers = server.workers()
        server.process.kill()
        server.process.wait(30)
        assert all(_gone(pid, 30) for pid in workers.values()), workers
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "2", "--evaluators"], "--evaluators with --workers needs a PostgreSQL"),
        (["--workers", "0"], "--workers"),
        (["--workers", "many"], "--workers"),
        (["--workers", "65"], "--workers"),
    ],
)
def test_what_workers_cannot_do_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "evaluators.yaml").write_text(
        "evaluators:\n  - {name: live, scorers: [{length: {max_chars: 10}}]}\n"
    )
    argv = ["server", "--port", str(free_port()), "--otlp-grpc-port", "0", *args]
    done = subprocess.run(
        [sys.executable, "-m", "llmops", *argv, "--otlp-http-port", "0"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "LLMOPS_STORE_URL": f"sqlite:///{tmp_path / 'store.db'}"},
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_ui_serves_like_server(tmp_path: Path) -> None:
    port = free_port()
    argv = ["ui", "--no-open", "--port", str(port), "--otlp-grpc-port", "0"]
    err = tmp_path / "ui.err"
    with err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "llmops", *argv, "--otlp-http-port", "0"],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            cwd=tmp_path,
            env={**os.environ, "LLMOPS_STORE_URL": f"sqlite:///{tmp_path / 'store.db'}"},
        )
    server = Server(process, port, err)
    try:
        wait_healthy(server)
        assert httpx.get(f"{server.url}/api/v1/traces").json()["items"] == []
    finally:
        server.stop()
