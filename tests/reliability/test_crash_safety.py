"""Real processes killed with SIGKILL at a random point of their work: the store stays
consistent, earlier work stays intact, and resumable work resumes.

Span ingest (SDK pipeline and OTLP receiver), eval runs (then ``llmops eval resume``), RAG
index builds (real MiniLM, chromadb, BM25) and prompt pushes, on SQLite and PostgreSQL where
the work can use either. Each kill lands after the work has visibly started (read from the
store or the worker's output), at a randomized point drawn from the session seed (the
``rng`` fixture): a failure names the seed, and ``LLMOPS_TEST_SEED=N`` replays its choices.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from llmops.prompts import content_hash, list_versions
from llmops.store import Store, open_store
from reliability.conftest import ReliabilityLog

WORKERS = Path(__file__).with_name("_workers.py")
# no fixed OTLP ports (4317, 4318): servers of parallel tests would collide
_NO_OTLP_PORTS = ("--otlp-grpc-port", "0", "--otlp-http-port", "0")


def _backend(url: str) -> str:
    return make_url(url).get_backend_name()


def _env(tmp_path: Path, url: str, **extra: str) -> dict[str, str]:
    home = str(tmp_path / "home")
    return {**os.environ, "LLMOPS_STORE_URL": url, "LLMOPS_HOME": home, **extra}


def _worker(env: dict[str, str], *args: object, cwd: Path | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKERS), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
    )


def _read_until(child: subprocess.Popen[str], done: Callable[[str], bool]) -> str:
    """The first line of the child's output for which ``done`` holds."""
    assert child.stdout is not None
    while True:
        line = child.stdout.readline()
        if not line:
            child.wait(30)
            err = child.stderr.read() if child.stderr else ""
            raise AssertionError(f"worker exited {child.returncode} early: {err[-3000:]}")
        if done(line.strip()):
            return line.strip()


def _kill(child: subprocess.Popen[str], rng: random.Random, max_delay_s: float) -> list[str]:
    """SIGKILL after a random delay; the lines the child printed that were not read yet."""
    time.sleep(rng.uniform(0, max_delay_s))
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    rest = child.stdout.read() if child.stdout else ""  # with what readline() buffered
    for stream in (child.stdout, child.stderr):
        if stream is not None:
            stream.close()
    return rest.splitlines()


def _last_count(line: str, rest: list[str]) -> int:
    """N of the last ``word N`` line the child printed before it died."""
    return max(int(entry.split()[1]) for entry in [line, *rest] if entry.strip())


def _rows(store: Store, sql: str, **params: Any) -> list[Any]:
    with store.engine.connect() as connection:
        return list(connection.execute(text(sql), params).all())


def _consistent(store: Store) -> list[str]:
    """Problems of the database as a whole: SQLite's integrity and foreign key checks."""
    if store.dialect != "sqlite":
        return []  # PostgreSQL enforces foreign keys itself and rolls back a dead client
    path = make_url(store.url).database
    assert path is not None
    with sqlite3.connect(path) as connection:
        problems = [
            f"integrity: {row[0]}"
            for row in connection.execute("PRAGMA integrity_check").fetchall()
            if row[0] != "ok"
        ]
        problems += [
            f"foreign key: {row}" for row in connection.execute("PRAGMA foreign_key_check")
        ]
    return problems


def _finish(
    reliability: ReliabilityLog, scenario: str, runs: int, problems: list[str], lost: int
) -> None:
    """Record the scenario, then fail the test on any problem."""
    reliability.record(scenario, runs=runs, failures=len(problems), data_lost=lost)
    assert not problems, "\n".join(problems)
    assert lost == 0


# -- spans from the SDK ----------------------------------------------------------------------
def test_sigkill_during_sdk_span_ingest(
    store_url: str, tmp_path: Path, reliability: ReliabilityLog, rng: random.Random
) -> None:
    """Every span flushed before the kill is stored; what is stored is a gapless prefix of
    what was emitted (batches are whole transactions, written in order), each row whole."""
    kills, problems, lost = 3, [], 0
    store = open_store(store_url)
    for attempt in range(kills):
        prefix = f"k{attempt}-"
        child = _worker(_env(tmp_path, store_url), "spans", prefix, 250)
        target = rng.randrange(1, 12) * 250
        line = _read_until(child, lambda out, t=target: int(out.split()[1]) >= t)
        flushed = _last_count(line, _kill(child, rng, 0.05))
        problems += _consistent(store)
        rows = _rows(store, "SELECT name, attributes FROM spans WHERE name LIKE :p", p=f"{prefix}%")
        numbers = sorted(int(name[len(prefix) :]) for name, _ in rows)
        if numbers != list(range(len(numbers))):
            problems.append(f"kill {attempt}: stored spans are not a gapless prefix")
        for name, attributes in rows:
            value = json.loads(attributes) if isinstance(attributes, str) else attributes
            if value.get("i") != int(name[len(prefix) :]):
                problems.append(f"kill {attempt}: span {name} has attributes {value}")
        lost += max(0, flushed - len(set(numbers)))
    _finish(
        reliability,
        f"SIGKILL during span ingest: SDK ({_backend(store_url)})",
        kills,
        problems,
        lost,
    )


def test_sigterm_during_sdk_span_ingest_flushes_every_span(
    tmp_path: Path, reliability: ReliabilityLog
) -> None:
    """SIGTERM with 20,000 spans still queued: the exit handler writes every one."""
    db = tmp_path / "term.db"
    code = (
        "import time\nfrom llmops.tracing import span\n"
        "for i in range(20000):\n    with span(f's{i}'):\n        pass\n"
        "print('submitted', flush=True)\ntime.sleep(120)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path, f"sqlite:///{db}"),
    )
    _read_until(child, lambda out: out == "submitted")
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=300)  # generous: CI runs tests on both cores
    problems = [] if child.returncode == -signal.SIGTERM else [f"exit {child.returncode}: {err}"]
    store = open_store(f"sqlite:///{db}")
    problems += _consistent(store)
    stored = _rows(store, "SELECT count(DISTINCT name) FROM spans")[0][0]
    _finish(reliability, "SIGTERM during span ingest: SDK (sqlite)", 1, problems, 20_000 - stored)


# -- spans through the OTLP receiver ---------------------------------------------------------
SPANS_PER_REQUEST = 200


def _otlp_request(trace_id: str) -> bytes:
    start = time.time_ns()
    spans = [
        {
            "traceId": trace_id,
            "spanId": f"{i + 1:016x}",
            "parentSpanId": "" if i == 0 else f"{1:016x}",
            "name": f"otlp {i}",
            "kind": 1,
            "startTimeUnixNano": str(start + i),
            "endTimeUnixNano": str(start + i + 1000),
            "attributes": [{"key": "i", "value": {"intValue": str(i)}}],
        }
        for i in range(SPANS_PER_REQUEST)
    ]
    scope = {"scope": {"name": "crash-test"}, "spans": spans}
    return json.dumps({"resourceSpans": [{"resource": {}, "scopeSpans": [scope]}]}).encode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _send_otlp(base: str, stop: threading.Event, sent: list[str], ids: random.Random) -> None:
    """Post requests of one trace each until told to stop or the server is gone."""
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            trace_id = f"{ids.getrandbits(128):032x}"
            try:
                response = client.post(
                    f"{base}/v1/traces",
                    content=_otlp_request(trace_id),
                    headers={"Content-Type": "application/json"},
                )
            except httpx.HTTPError:
                return
            if response.status_code == 200:
                sent.append(trace_id)


def test_sigkill_during_otlp_ingest(
    store_url: str, tmp_path: Path, reliability: ReliabilityLog, rng: random.Random
) -> None:
    """Requests answered 200 are stored whole; a request cut by the kill is all or nothing."""
    kills, problems, lost = 2, [], 0
    store = open_store(store_url)
    acked: list[str] = []
    for attempt in range(kills):
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "llmops", "server", "--port", str(port), *_NO_OTLP_PORTS],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(tmp_path, store_url),
            cwd=tmp_path,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120  # a loaded CI machine imports slowly
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, server.stderr
            time.sleep(0.05)
        sent_here: list[str] = []
        stop = threading.Event()
        senders = [
            threading.Thread(
                target=_send_otlp,
                args=(base, stop, sent_here, random.Random(rng.getrandbits(64))),
            )
            for _ in range(2)
        ]
        for sender in senders:
            sender.start()
        target = rng.randrange(3, 15)
        while len(sent_here) < target and server.poll() is None:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.1))
        server.send_signal(signal.SIGKILL)
        server.communicate(timeout=30)
        stop.set()
        for sender in senders:
            sender.join(30)
        acked += sent_here
        problems += _consistent(store)
        counts = dict(
            _rows(
                store,
                "SELECT trace_id, count(*) FROM spans WHERE name LIKE 'otlp %' GROUP BY trace_id",
            )
        )
        partial = {t: n for t, n in counts.items() if n != SPANS_PER_REQUEST}
        if partial:
            problems.append(f"kill {attempt}: half-stored requests {partial}")
        lost += sum(SPANS_PER_REQUEST - counts.get(t, 0) for t in acked)
    _finish(
        reliability,
        f"SIGKILL during span ingest: OTLP receiver ({_backend(store_url)})",
        kills,
        problems,
        lost,
    )


# -- eval runs ---------------------------------------------------------------------------------
CASES = 50  # 20 a second: results are written about every second; a run takes 2.5 s
AGENT = """
import os, time

def answer(row):
    with open(os.environ["CRASH_LOG"], "a") as log:
        log.write(f"{os.getpid()} {row['i']}\\n")
    time.sleep(0.1)
    return row["answer"]
"""


def _eval_project(project: Path) -> Path:
    (project / "evals" / "crash_agent.py").write_text(AGENT)
    rows = [{"i": i, "question": f"q{i}", "answer": f"a{i}"} for i in range(CASES)]
    (project / "evals" / "data" / "crash.jsonl").write_text(
        "".join(json.dumps(row) + "\n" for row in rows)
    )
    suite = project / "evals" / "crash.yaml"
    suite.write_text(
        "name: crash\ndataset: data/crash.jsonl\nexpected: answer\n"
        "python: crash_agent:answer\nscorers: [contains, exact_match]\nconcurrency: 2\n"
    )
    return suite


def _executions(log: Path, pid: int) -> list[int]:
    lines = log.read_text().split("\n") if log.exists() else []
    return [int(i) for p, _, i in (line.partition(" ") for line in lines) if p == str(pid)]


def _llmops(env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "llmops", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
    )


def _kill_mid_run(
    store: Store, child: subprocess.Popen[str], skip: set[str], target: int, rng: random.Random
) -> str:
    """Kill the run (or resume) once its running run, not in ``skip``, has ``target`` cases."""
    deadline, running = time.monotonic() + 60, []
    while time.monotonic() < deadline and child.poll() is None:
        rows = _rows(
            store,
            "SELECT r.id, count(c.id) FROM eval_runs r LEFT JOIN eval_cases c "
            "ON c.run_id = r.id WHERE r.status = 'running' GROUP BY r.id",
        )
        running = [(run, n) for run, n in rows if run not in skip]
        if running and running[0][1] >= target:
            break
        time.sleep(0.02)
    assert running and child.poll() is None, child.stderr.read() if child.stderr else ""
    _kill(child, rng, 0.6)
    return str(running[0][0])


def _killed_run_problems(store: Store, run_id: str) -> list[str]:
    """A killed run: still ``running``, no result without its run, every case with both scores."""
    problems = _consistent(store)
    orphans = _rows(
        store,
        "SELECT count(*) FROM eval_cases c WHERE NOT EXISTS "
        "(SELECT 1 FROM eval_runs r WHERE r.id = c.run_id)",
    )[0][0]
    orphans += _rows(
        store,
        "SELECT count(*) FROM eval_scores s WHERE NOT EXISTS (SELECT 1 FROM eval_cases c "
        "WHERE c.run_id = s.run_id AND c.case_index = s.case_index)",
    )[0][0]
    if orphans:
        problems.append(f"{orphans} results without their run or case")
    (status,) = _rows(store, "SELECT status FROM eval_runs WHERE id = :r", r=run_id)[0]
    if status != "running":
        problems.append(f"the killed run is {status}, not running")
    scores = _case_scores(store, run_id)
    if any(n != 2 for n in scores.values()):
        problems.append(f"cases without both scores {scores}")
    return problems


@pytest.mark.parametrize("kills", [3])
def test_sigkill_during_eval_run_then_resume(
    store_url: str, project: Path, reliability: ReliabilityLog, rng: random.Random, kills: int
) -> None:
    """After the kill: the run row is there, every stored case has all its scores and no case
    is stored twice; ``llmops eval resume`` then runs exactly the missing cases, once. The
    last run's resume is killed too, and resumed again."""
    kills = kills if _backend(store_url) == "sqlite" else 2
    problems, lost = [], 0
    suite = _eval_project(project)
    log = project / "executions.log"
    env = _env(project, store_url, CRASH_LOG=str(log))
    store = open_store(store_url)
    killed: set[str] = set()
    for attempt in range(kills):
        twice = attempt == kills - 1
        # 0: once the run row is there (before any result is written); else once some are
        target = 0 if twice else rng.randrange(0, 15)
        child = _llmops(env, project, "eval", "run", str(suite), "--json")
        run_id = _kill_mid_run(store, child, killed, target, rng)
        killed.add(run_id)
        problems += [f"kill {attempt}: {p}" for p in _killed_run_problems(store, run_id)]
        if twice:
            done = _case_scores(store, run_id)
            others = killed - {run_id}
            child = _llmops(env, project, "eval", "resume", run_id, "--json")
            _kill_mid_run(store, child, others, len(done) + 1, rng)
            problems += [f"resume {attempt}: {p}" for p in _killed_run_problems(store, run_id)]

        done = _case_scores(store, run_id)
        resume = _llmops(env, project, "eval", "resume", run_id, "--json")
        out, err = resume.communicate(timeout=120)
        if resume.returncode != 0:
            problems.append(f"kill {attempt}: resume exited {resume.returncode}: {err[-2000:]}")
            continue
        result = json.loads(out)
        if (result["id"], result["status"], result["cases"]) != (run_id, "completed", CASES):
            problems.append(f"kill {attempt}: resume ended {result}")
        ran = _executions(log, resume.pid)
        if sorted(ran) != sorted(set(range(CASES)) - set(done)):
            problems.append(f"kill {attempt}: resume ran {sorted(ran)} after {sorted(done)}")
        final = _case_scores(store, run_id)
        copies = _rows(store, "SELECT count(*) FROM eval_cases WHERE run_id = :r", r=run_id)[0][0]
        if copies != len(final) or any(n != 2 for n in final.values()):
            problems.append(f"kill {attempt}: {copies} case rows, scores {final}")
        lost += CASES - len(final)
    _finish(
        reliability,
        f"SIGKILL during eval run, then resume ({_backend(store_url)})",
        kills + 1,  # the last run is killed twice
        problems,
        lost,
    )


def _case_scores(store: Store, run_id: str) -> dict[int, int]:
    """Scores per stored case of a run."""
    rows = _rows(
        store,
        "SELECT c.case_index, count(s.id) FROM eval_cases c LEFT JOIN eval_scores s "
        "ON s.run_id = c.run_id AND s.case_index = c.case_index AND s.repeat = c.repeat "
        "WHERE c.run_id = :r GROUP BY c.id, c.case_index",
        r=run_id,
    )
    return {int(index): int(n) for index, n in rows}


# -- RAG index builds ----------------------------------------------------------------------
_MODES = ("dense", "bm25", "hybrid")
TOPICS = ["refunds", "shipping", "passwords", "invoices", "returns", "warranty", "accounts"]


def _write_corpus(project: Path, edition: int) -> None:
    """A small corpus whose every chunk changes with ``edition`` (so the build embeds)."""
    docs = project / "docs"
    docs.mkdir(exist_ok=True)
    for d in range(12):
        topic = TOPICS[d % len(TOPICS)]
        paragraphs = [
            f"Edition {edition}, note {d}.{p}: how {topic} are handled, step {p}. "
            f"Refunds are paid back to the card; {topic} questions go to desk {d % 5}."
            for p in range(5)
        ]
        (docs / f"doc{d:02d}.md").write_text(f"# {topic} {d}\n\n" + "\n\n".join(paragraphs))


@pytest.mark.parametrize("kills", [3])
def test_sigkill_during_rag_index_build(
    project: Path, reliability: ReliabilityLog, rng: random.Random, kills: int
) -> None:
    """A killed build never becomes visible; every earlier version stays queryable (dense,
    BM25, hybrid) with all its vectors; the next build succeeds. Damage would add up, so
    querying every version once after the last kill checks them all."""
    problems: list[str] = []
    (project / "configs" / "rag").mkdir()
    (project / "configs" / "rag" / "docs.yaml").write_text(
        "sources:\n  - path: ../../docs\n"
        "splitter: {type: recursive, chunk_size: 180, chunk_overlap: 20}\n"
        "embedder: local/minilm\nretriever: {mode: hybrid, k: 3}\n"
    )
    url = f"sqlite:///{project / 'rag.db'}"
    env = _env(project, url)
    store = open_store(url)
    _write_corpus(project, 0)
    first = _worker(env, "rag", "docs", 0, cwd=project)
    _read_until(first, lambda out: out.startswith("built"))
    first.communicate(timeout=60)

    def ready() -> dict[int, tuple[int, int]]:
        """Ready versions: (chunk_count, chunk rows)."""
        rows = _rows(
            store,
            "SELECT i.version, i.chunk_count, (SELECT count(*) FROM rag_chunks c "
            "WHERE c.index_id = i.id) FROM rag_indexes i WHERE i.status = 'ready'",
        )
        return {int(v): (int(n), int(c)) for v, n, c in rows}

    outcomes: list[str] = []
    seen_versions = {int(v) for (v,) in _rows(store, "SELECT version FROM rag_indexes")}
    for attempt in range(kills):
        before = ready()
        _write_corpus(project, attempt + 1)
        child = _worker(env, "rag", "docs", 0, cwd=project)
        _read_until(child, lambda out: out == "building")
        if attempt % 3 == 0:  # once the new version is reserved: while embedding
            newest = max(seen_versions)
            while not _rows(store, "SELECT 1 FROM rag_indexes WHERE version > :v", v=newest):
                time.sleep(0.01)
            _kill(child, rng, 0.5)
        elif attempt % 3 == 1:  # once embedded: while storing vectors, BM25, manifest
            _read_until(child, lambda out: out.startswith(("progress embed", "built")))
            _kill(child, rng, 0.1)
        else:  # anywhere, from loading the corpus to after the commit
            _kill(child, rng, 3.0)
        problems += _consistent(store)
        after = ready()
        statuses = dict(_rows(store, "SELECT version, status FROM rag_indexes"))
        killed = max(statuses)
        outcomes.append(statuses[killed] if killed not in seen_versions else "not reserved")
        seen_versions.update(statuses)
        if {v: after.get(v) for v in before} != before:
            problems.append(f"kill {attempt}: earlier versions changed: {before} -> {after}")
        if any(count != rows for count, rows in after.values()):
            problems.append(f"kill {attempt}: a ready version without all its chunks: {after}")
        if outcomes[-1] not in ("building", "ready", "not reserved"):
            problems.append(f"kill {attempt}: killed build is {statuses[killed]}")
    last = _worker(env, "rag", "docs", 1, cwd=project)  # query every ready version, then build
    expected, checked = ready(), {}
    while True:
        line = _read_until(last, lambda out: out.startswith(("checked", "building")))
        if line == "building":
            break
        entry = json.loads(line.split(" ", 1)[1])
        checked[entry.pop("version")] = entry
    for version, (count, _) in expected.items():
        entry = checked.get(version, {})
        if entry.get("vectors") != count or min(entry.get(m, 0) for m in _MODES) < 1:
            problems.append(f"version {version} of {count} chunks is not queryable: {entry}")
    built = _read_until(last, lambda out: out.startswith("built"))
    last.communicate(timeout=60)
    if int(built.split()[1]) != max(seen_versions) + 1:
        problems.append(f"the build after the kills made {built}")
    _finish(reliability, "SIGKILL during RAG index build (sqlite)", kills, problems, 0)
    assert "building" in outcomes, f"no kill landed mid-build: {outcomes}"


# -- prompt pushes -------------------------------------------------------------------------
def test_sigkill_during_prompt_push(
    store_url: str, tmp_path: Path, reliability: ReliabilityLog, rng: random.Random
) -> None:
    """Versions stay numbered 1..N without gaps, each whole (its hash matches its content),
    earlier ones unchanged; the alias and its history agree; pushing goes on afterwards."""
    kills, problems, lost = 3, [], 0
    store = open_store(store_url)
    kept: dict[int, str] = {}
    for attempt in range(kills):
        child = _worker(_env(tmp_path, store_url), "prompts", len(kept))
        target = len(kept) + rng.randrange(2, 20)
        line = _read_until(child, lambda out, t=target: int(out.split()[1]) >= t)
        acked = _last_count(line, _kill(child, rng, 0.02))
        problems += _consistent(store)
        versions = sorted(list_versions(store, "crash"), key=lambda v: v.version)
        numbers = [v.version for v in versions]
        if numbers != list(range(1, len(numbers) + 1)) or len(numbers) not in (acked, acked + 1):
            problems.append(f"kill {attempt}: versions {numbers} after {acked} acknowledged")
        for v in versions:
            whole = v.content_hash == content_hash(v.kind, v.template, v.model_params)
            if not whole or not str(v.template).startswith(f"push {v.version - 1}:"):
                problems.append(f"kill {attempt}: version {v.version} is not whole")
            if kept.get(v.version, v.content_hash) != v.content_hash:
                problems.append(f"kill {attempt}: version {v.version} changed")
        lost += sum(1 for number in kept if number not in numbers)
        kept = {v.version: v.content_hash for v in versions}
        alias = _rows(
            store,
            "SELECT version FROM aliases "
            "WHERE kind = 'prompt' AND name = 'crash' AND alias = 'staging'",
        )
        moves = _rows(
            store,
            "SELECT from_version, to_version FROM alias_events "
            "WHERE kind = 'prompt' AND name = 'crash' ORDER BY id",
        )
        targets = [to for _, to in moves]
        chained = all(a[1] == b[0] for a, b in itertools.pairwise(moves))
        if not (chained and targets == sorted(set(targets)) and alias[0][0] == targets[-1]):
            problems.append(f"kill {attempt}: alias {alias} with history {moves}")
        if targets[-1] < len(numbers) - 1:  # the alias lags by at most the version in flight
            problems.append(f"kill {attempt}: alias at {targets[-1]} of {len(numbers)}")
    _finish(
        reliability, f"SIGKILL during prompt push ({_backend(store_url)})", kills, problems, lost
    )
