"""Ctrl-C and SIGTERM on the long commands, with real processes and real signals.

Each test starts ``llmops`` in a subprocess, waits until its work is visibly under way (a case
row in the store, a reserved index version, a generation on the local model server), sends
the signal and checks: exit 130 (143 for SIGTERM) instead of a hang, one line saying what was
kept, the store consistent, and the interrupted work resumable or its earlier versions intact.
The spec is an exit within 5 s of the signal; the waits below allow 30 s so that a loaded
machine does not fail them, and a watchdog in the process (``FORCE_EXIT_AFTER_S``) is what
bounds it. Nothing here is random.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from llmops._aio import FORCE_EXIT_AFTER_S
from reliability.conftest import ReliabilityLog

HANG_S = 30  # no interrupted command may take this long to exit


class Child:
    """``llmops ARGS`` in the project, its stderr read line by line as it comes."""

    def __init__(self, project: Path, *args: str, **env: str) -> None:
        self.db = project / "store.db"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "llmops", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=project,
            env={
                **os.environ,
                "LLMOPS_STORE_URL": f"sqlite:///{self.db}",
                "LLMOPS_HOME": str(project / "home"),
                **env,
            },
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.err: list[str] = []
        self.out = ""
        self.readers = [
            threading.Thread(target=self._read_stderr, daemon=True),
            threading.Thread(target=self._read_stdout, daemon=True),
        ]
        for reader in self.readers:
            reader.start()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.err.append(line)
            self.lines.put(line)

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        self.out = self.process.stdout.read()

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        if not self.db.exists():
            return []
        with sqlite3.connect(self.db, timeout=30) as connection:
            try:
                return list(connection.execute(sql).fetchall())
            except sqlite3.OperationalError:  # the schema is not there yet
                return []

    def wait_until(self, what: str, ready: Callable[[], bool], timeout_s: float = 240) -> None:
        """Poll ``ready`` until it holds; fail if the process ends first."""
        deadline = time.monotonic() + timeout_s
        while not ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                self.process.wait(30)
                self._close()
                raise AssertionError(
                    f"never saw {what}; exit {self.process.returncode}: {''.join(self.err)[-3000:]}"
                )
            time.sleep(0.05)

    def wait_for_line(self, prefix: str) -> None:
        deadline = time.monotonic() + HANG_S
        while time.monotonic() < deadline:
            try:
                if self.lines.get(timeout=0.5).startswith(prefix):
                    return
            except queue.Empty:
                pass
        raise AssertionError(f"no '{prefix}' line: {''.join(self.err)[-3000:]}")

    def signal(self, signum: int) -> float:
        self.process.send_signal(signum)
        return time.monotonic()

    def exit_code(self, timeout_s: float = HANG_S) -> tuple[int | None, float]:
        """The exit code (None: it hung and was killed) and when it exited."""
        try:
            code = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(30)
            self._close()
            return None, time.monotonic()
        ended = time.monotonic()
        self._close()
        return code, ended

    def _close(self) -> None:
        for reader in self.readers:  # they end at EOF: the process and its children are gone
            reader.join(30)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    @property
    def stderr(self) -> str:
        return "".join(self.err)


def _run_status(child: Child, run_id: str) -> str:
    return str(child.rows(f"SELECT status FROM eval_runs WHERE id = '{run_id}'")[0][0])


def _stored_cases(child: Child, run_id: str) -> dict[int, int]:
    """case_index -> how many rows it has (every case once, with all its scores, is the rule)."""
    rows = child.rows(
        "SELECT c.case_index, count(DISTINCT c.id), count(s.id) FROM eval_cases c "
        f"LEFT JOIN eval_scores s ON s.run_id = c.run_id AND s.case_index = c.case_index "
        f"WHERE c.run_id = '{run_id}' GROUP BY c.case_index"
    )
    return {int(index): int(copies) * 100 + int(scores) for index, copies, scores in rows}


def _running_run(child: Child, min_cases: int) -> Callable[[], bool]:
    def ready() -> bool:
        rows = child.rows(
            "SELECT count(c.id) FROM eval_runs r LEFT JOIN eval_cases c ON c.run_id = r.id "
            "WHERE r.status = 'running' GROUP BY r.id"
        )
        return bool(rows) and int(rows[0][0]) >= min_cases

    return ready


def _only_run(child: Child) -> str:
    (run_id,) = child.rows("SELECT id FROM eval_runs")[0]
    return str(run_id)


# -- projects ----------------------------------------------------------------------------------
def _local_model_project(project: Path, cases: int, max_tokens: int) -> None:
    """The repo's suite on the real local model, ``cases`` rows, every answer ``max_tokens``
    long (``ignore_eos``), so that generation is still going when the signal comes."""
    config_path = project / "configs" / "llmops.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["models"]["local"]["params"] = {
        "temperature": 0.0,
        "seed": 7,
        "max_tokens": max_tokens,
        "extra_body": {"ignore_eos": True},
    }
    config_path.write_text(yaml.safe_dump(config))
    data = project / "evals" / "data" / "llmops_docs.jsonl"
    data.write_text("".join(data.read_text().splitlines(keepends=True)[:cases]))
    suite = project / "evals" / "llmops_docs.yaml"  # padded answers are not what is measured
    suite.write_text(suite.read_text().replace("thresholds:\n  contains: 0.4\n", ""))


AGENT = """
import os, time

def answer(row):
    with open(os.environ["INTERRUPT_LOG"], "a") as log:
        log.write(f"{os.getpid()} {row['i']}\\n")
    time.sleep(0.1)
    return row["answer"]
"""
AGENT_CASES = 60


def _agent_project(project: Path) -> Path:
    """A suite whose target is Python code: 60 cases of 0.1 s, two at a time."""
    (project / "evals" / "slow_agent.py").write_text(AGENT)
    rows = [{"i": i, "question": f"q{i}", "answer": f"a{i}"} for i in range(AGENT_CASES)]
    (project / "evals" / "data" / "slow.jsonl").write_text(
        "".join(json.dumps(row) + "\n" for row in rows)
    )
    suite = project / "evals" / "slow.yaml"
    suite.write_text(
        "name: slow\ndataset: data/slow.jsonl\nexpected: answer\n"
        "python: slow_agent:answer\nscorers: [contains, exact_match]\nconcurrency: 2\n"
    )
    return suite


def _executions(log: Path, pid: int) -> list[int]:
    lines = log.read_text().splitlines() if log.exists() else []
    return [int(i) for p, _, i in (line.partition(" ") for line in lines) if p == str(pid)]


def _resume(project: Path, run_id: str, **env: str) -> tuple[Child, dict[str, object]]:
    child = Child(project, "eval", "resume", run_id[:12], "--json", "--no-cases", **env)
    code, _ = child.exit_code(timeout_s=600)  # it does the rest of the work
    assert code == 0, child.stderr[-3000:]
    return child, json.loads(child.out)


LINE = re.compile(
    r"^(interrupted|terminated \(SIGTERM\)): run (\w{12}) \((\d+)/(\d+) cases done\); "
    r"resume with llmops eval resume (\w{12})$",
    re.MULTILINE,
)


# -- eval run on the local model -----------------------------------------------------------------
@pytest.mark.e2e
def test_ctrl_c_during_eval_run_on_the_local_model_then_resume(
    project: Path, reliability: ReliabilityLog
) -> None:
    """The hang of issue #15: Ctrl-C while cases are generating on llama.cpp. Now: exit 130,
    the run ``interrupted`` with the finished cases kept, and ``eval resume`` runs the rest,
    each case exactly once."""
    cases, problems = 6, []
    _local_model_project(project, cases=cases, max_tokens=64)
    child = Child(project, "eval", "run", "evals/llmops_docs.yaml", "--no-cache")
    child.wait_until("a stored case", _running_run(child, 1))
    sent = child.signal(signal.SIGINT)
    code, ended = child.exit_code()
    run_id = _only_run(child)
    line = LINE.search(child.stderr)
    if code != 130 or line is None:
        problems.append(f"exit {code} after {ended - sent:.1f} s: {child.stderr[-2000:]}")
    status, stored = _run_status(child, run_id), _stored_cases(child, run_id)
    if status != "interrupted" or not 1 <= len(stored) < cases:
        problems.append(f"run {status} with cases {stored}")
    if any(n != 103 for n in stored.values()):  # one row and 3 scores per case
        problems.append(f"cases stored twice or without their scores: {stored}")
    if line is not None and (int(line[3]), int(line[4]), line[2]) != (
        len(stored),
        cases,
        run_id[:12],
    ):
        problems.append(f"the message says {line[0]}, the store has {len(stored)} cases")

    resumed, result = _resume(project, run_id)
    if f"resuming: {len(stored)} of {cases} cases already done" not in resumed.stderr:
        problems.append(f"resume did not say what was done: {resumed.stderr[-1000:]}")
    final = _stored_cases(resumed, run_id)
    if (result["status"], result["cases"]) != ("completed", cases) or final != dict.fromkeys(
        range(cases), 103
    ):
        problems.append(f"resume ended {result['status']} with cases {final}")
    reliability.record(
        "Ctrl-C: eval run (local model) -> interrupted, resumable",
        runs=1,
        failures=len(problems),
        data_lost=cases - len(final),
    )
    assert not problems, "\n".join(problems)


# -- SIGTERM, a locked store, a second Ctrl-C: a Python target, no model -------------------------
def test_sigterm_during_eval_run_is_a_clean_interrupt(
    project: Path, reliability: ReliabilityLog
) -> None:
    """SIGTERM behaves like the first Ctrl-C, with exit 143; resume runs only the cases that
    were not stored."""
    suite, log, problems = _agent_project(project), project / "runs.log", []
    child = Child(project, "eval", "run", str(suite), "--json", INTERRUPT_LOG=str(log))
    child.wait_until("3 stored cases", _running_run(child, 3))
    child.signal(signal.SIGTERM)
    code, _ = child.exit_code()
    run_id = _only_run(child)
    line = LINE.search(child.stderr)
    if code != 143 or line is None or line[1] != "terminated (SIGTERM)":
        problems.append(f"exit {code}: {child.stderr[-2000:]}")
    status, stored = _run_status(child, run_id), _stored_cases(child, run_id)
    if status != "interrupted" or any(n != 102 for n in stored.values()):
        problems.append(f"run {status} with cases {stored}")
    resumed, result = _resume(project, run_id, INTERRUPT_LOG=str(log))
    ran = sorted(_executions(log, resumed.process.pid))
    if ran != sorted(set(range(AGENT_CASES)) - set(stored)):
        problems.append(f"resume ran {ran} after {sorted(stored)}")
    final = _stored_cases(resumed, run_id)
    if result["status"] != "completed" or final != dict.fromkeys(range(AGENT_CASES), 102):
        problems.append(f"resume ended {result['status']} with {final}")
    reliability.record(
        "SIGTERM: eval run -> interrupted (exit 143), resumable",
        runs=1,
        failures=len(problems),
        data_lost=AGENT_CASES - len(final),
    )
    assert not problems, "\n".join(problems)


def _locked(db: Path) -> sqlite3.Connection:
    """Another process's write transaction on the store: every write in the child waits."""
    connection = sqlite3.connect(db, timeout=30, isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    return connection


@pytest.mark.parametrize("signals", [1, 2])
def test_ctrl_c_while_cleanup_is_blocked(
    project: Path, reliability: ReliabilityLog, signals: int
) -> None:
    """Cleanup that cannot finish (the store is locked by another process for 30 s): one
    Ctrl-C ends the process when the watchdog runs out, a second ends it at once, even with
    the main thread blocked in SQLite. Either way exit 130, and the run (left ``running``,
    like a killed one) resumes."""
    suite, log, problems = _agent_project(project), project / "runs.log", []
    child = Child(project, "eval", "run", str(suite), "--json", INTERRUPT_LOG=str(log))
    child.wait_until("3 stored cases", _running_run(child, 3))
    run_id = _only_run(child)
    lock = _locked(child.db)
    try:
        child.signal(signal.SIGINT)
        if signals == 2:
            child.wait_for_line("interrupting")
            second = child.signal(signal.SIGINT)
        code, ended = child.exit_code()
    finally:
        lock.rollback()
        lock.close()
    expected = "interrupted again" if signals == 2 else "cleanup took over"
    if code != 130 or expected not in child.stderr:
        problems.append(f"exit {code}: {child.stderr[-2000:]}")
    if signals == 2 and ended - second > FORCE_EXIT_AFTER_S:
        problems.append(f"the second Ctrl-C took {ended - second:.1f} s")
    stored = _stored_cases(child, run_id)
    if _run_status(child, run_id) != "running" or any(n != 102 for n in stored.values()):
        problems.append(f"run {_run_status(child, run_id)} with cases {stored}")
    resumed, result = _resume(project, run_id, INTERRUPT_LOG=str(log))
    final = _stored_cases(resumed, run_id)
    if result["status"] != "completed" or final != dict.fromkeys(range(AGENT_CASES), 102):
        problems.append(f"resume ended {result['status']} with {final}")
    reliability.record(
        "Ctrl-C twice: immediate exit"
        if signals == 2
        else "Ctrl-C, cleanup blocked (store locked): watchdog exit",
        runs=1,
        failures=len(problems),
        data_lost=AGENT_CASES - len(final),
    )
    assert not problems, "\n".join(problems)


# -- gate check ------------------------------------------------------------------------------------
@pytest.mark.e2e
def test_ctrl_c_during_gate_check(project: Path, reliability: ReliabilityLog) -> None:
    """The gate's evidence run is interrupted like any run; no decision is recorded."""
    cases, problems = 6, []
    _local_model_project(project, cases=cases, max_tokens=64)
    child = Child(project, "gate", "check", "prompt:qa")
    child.wait_until("a stored case", _running_run(child, 1))
    child.signal(signal.SIGINT)
    code, _ = child.exit_code()
    run_id = _only_run(child)
    if code != 130 or LINE.search(child.stderr) is None:
        problems.append(f"exit {code}: {child.stderr[-2000:]}")
    if _run_status(child, run_id) != "interrupted":
        problems.append(f"the evidence run is {_run_status(child, run_id)}")
    decisions = child.rows("SELECT count(*) FROM gate_decisions")[0][0]
    if decisions:
        problems.append(f"{decisions} gate decision(s) recorded for an interrupted check")
    reliability.record("Ctrl-C: gate check", runs=1, failures=len(problems))
    assert not problems, "\n".join(problems)


# -- RAG ---------------------------------------------------------------------------------------
TOPICS = ["refunds", "shipping", "passwords", "invoices", "returns", "warranty", "accounts"]


def _rag_project(project: Path, docs: int, paragraphs: int, edition: int) -> None:
    """``docs`` files of ``paragraphs`` paragraphs under docs/, all new in each ``edition``
    (so a build embeds every chunk), and the pipeline ``docs`` over them with real MiniLM."""
    pipelines = project / "configs" / "rag"
    pipelines.mkdir(exist_ok=True)
    (pipelines / "docs.yaml").write_text(
        "sources:\n  - path: ../../docs\n"
        "splitter: {type: recursive, chunk_size: 180, chunk_overlap: 20}\n"
        "embedder: local/minilm\nretriever: {mode: hybrid, k: 3}\n"
    )
    folder = project / "docs"
    if folder.exists():
        for old in folder.iterdir():
            old.unlink()
    folder.mkdir(exist_ok=True)
    for d in range(docs):
        topic = TOPICS[d % len(TOPICS)]
        text = "\n\n".join(
            f"Edition {edition}, note {d}.{p}: how {topic} are handled, step {p}. "
            f"Refunds are paid back to the card; {topic} questions go to desk {d % 5}."
            for p in range(paragraphs)
        )
        (folder / f"doc{d:03d}.md").write_text(f"# {topic} {d}\n\n{text}")


def _build(project: Path) -> dict[str, object]:
    child = Child(project, "rag", "build", "docs", "--json")
    code, _ = child.exit_code(timeout_s=600)
    assert code == 0, child.stderr[-3000:]
    return dict(json.loads(child.out))


def _ready_versions(child: Child) -> dict[int, tuple[int, int]]:
    """Ready versions: (chunk_count, chunk rows)."""
    rows = child.rows(
        "SELECT i.version, i.chunk_count, (SELECT count(*) FROM rag_chunks c "
        "WHERE c.index_id = i.id) FROM rag_indexes i WHERE i.status = 'ready'"
    )
    return {int(v): (int(n), int(c)) for v, n, c in rows}


def test_ctrl_c_during_rag_build(project: Path, reliability: ReliabilityLog) -> None:
    """Ctrl-C while a new version embeds: exit 130, the version is not made ready (``failed``,
    error ``interrupted``), the earlier version is unchanged and queryable, and the next build
    succeeds."""
    problems: list[str] = []
    _rag_project(project, docs=3, paragraphs=3, edition=0)
    first = _build(project)
    _rag_project(project, docs=60, paragraphs=20, edition=1)  # about 1,200 chunks to embed
    child = Child(project, "rag", "build", "docs")
    before = _ready_versions(child)
    child.wait_until(
        "version 2 reserved",
        lambda: bool(child.rows("SELECT 1 FROM rag_indexes WHERE version = 2")),
    )
    child.signal(signal.SIGINT)
    code, _ = child.exit_code()
    if code != 130 or "interrupted: rag build docs stopped" not in child.stderr:
        problems.append(f"exit {code}: {child.stderr[-2000:]}")
    statuses = dict(
        child.rows("SELECT version, status || ' ' || coalesce(error, '') FROM rag_indexes")
    )
    if statuses.get(2) != "failed interrupted":
        problems.append(f"the interrupted version is {statuses.get(2)!r}")
    if _ready_versions(child) != before or before != {1: (first["chunk_count"],) * 2}:
        problems.append(f"earlier versions changed: {before} -> {_ready_versions(child)}")
    query = Child(
        project, "rag", "query", "docs@1", "how are refunds paid", "--no-answer", "--json"
    )
    code, _ = query.exit_code()
    if code != 0 or not json.loads(query.out or "{}").get("chunks"):
        problems.append(f"version 1 does not answer: {query.stderr[-1000:]}")
    _rag_project(project, docs=3, paragraphs=3, edition=2)
    if _build(project)["version"] != 3:
        problems.append("the next build did not make version 3")
    reliability.record("Ctrl-C: rag build", runs=1, failures=len(problems))
    assert not problems, "\n".join(problems)


def _generating(pid: int) -> bool:
    """Whether the process's in-process llama.cpp server is generating: its listening socket
    found through /proc, then the server's own metrics."""
    try:
        inodes = {
            os.readlink(f"/proc/{pid}/fd/{fd}")[len("socket:[") : -1]
            for fd in os.listdir(f"/proc/{pid}/fd")
        }
        with open("/proc/net/tcp") as table:
            rows = [line.split() for line in table.readlines()[1:]]
    except OSError:
        return False
    ports = [int(row[1].split(":")[1], 16) for row in rows if row[3] == "0A" and row[9] in inodes]
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for port in ports:
        try:
            with direct.open(f"http://127.0.0.1:{port}/metrics", timeout=1) as response:
                text = response.read().decode()
        except (OSError, ValueError):
            continue
        if re.search(r"^llamacpp:requests_processing [1-9]", text, re.MULTILINE):
            return True
    return False


@pytest.mark.e2e
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="finds the server through /proc")
def test_ctrl_c_during_rag_query(project: Path, reliability: ReliabilityLog) -> None:
    """Ctrl-C while the local model writes the answer: exit 130 without a hang."""
    problems: list[str] = []
    _rag_project(project, docs=3, paragraphs=3, edition=0)
    _build(project)
    _local_model_project(project, cases=1, max_tokens=2000)
    child = Child(project, "rag", "query", "docs", "how are refunds paid?")
    child.wait_until("the answer generating", lambda: _generating(child.process.pid))
    sent = child.signal(signal.SIGINT)
    code, ended = child.exit_code()
    if code != 130 or not child.stderr.rstrip().endswith("interrupted"):
        problems.append(f"exit {code} after {ended - sent:.1f} s: {child.stderr[-2000:]}")
    reliability.record("Ctrl-C: rag query (local model)", runs=1, failures=len(problems))
    assert not problems, "\n".join(problems)
