"""Experiment tracking: runs, params, batched metrics, artifacts, queries and the CLI."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

import llmops
from llmops import InputError, NotFoundError, StoreError
from llmops.cli import main
from llmops.store import Store
from llmops.store.models import EvalRunRecord
from llmops.tracking import (
    ARTIFACT_ROOT_ENV,
    _metrics,
    artifact_bytes,
    compare_tracking_runs,
    download_artifact,
    get_tracking_run,
    list_experiments,
    list_tracking_runs,
    metric_history,
    start_run,
)


@pytest.fixture
def artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "artifacts"
    monkeypatch.setenv(ARTIFACT_ROOT_ENV, str(root))
    return root


def _file(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_start_run_is_exported_lazily_from_the_package() -> None:
    assert llmops.start_run is start_run
    assert "start_run" in llmops.__all__


def test_a_run_records_provenance_params_and_tags(store: Store) -> None:
    with start_run(experiment="ft", name="lr-0.1", tags={"team": "nlp"}, store=store) as run:
        run.log_params({"lr": 0.1, "layers": (64, 32), "out": Path("out")})
        run.set_tags({"stage": 1})
    run_info = get_tracking_run(store, run.id).run
    assert (run_info.experiment, run_info.name, run_info.status) == ("ft", "lr-0.1", "finished")
    assert run_info.params == {"lr": 0.1, "layers": [64, 32], "out": "out"}
    assert run_info.tags == {"team": "nlp", "stage": "1"}
    assert run_info.ended_at is not None and run_info.duration_s is not None
    assert run_info.source == sys.argv[0] and run_info.user
    assert run_info.git_commit is None  # the working directory (tmp_path) is no repository


def test_git_commit_of_the_working_directory_is_recorded(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], cwd=repo, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    monkeypatch.chdir(repo)
    with start_run(experiment="git", store=store) as run:
        pass
    assert get_tracking_run(store, run.id).run.git_commit == head


def test_params_are_immutable_once_logged(store: Store) -> None:
    with start_run(experiment="ft", store=store) as run:
        run.log_param("lr", 0.1)
        run.log_param("lr", 0.1)  # the same value again is fine
        with pytest.raises(InputError, match=r"param 'lr' .* is already 0\.1.* set to 0\.2"):
            run.log_param("lr", 0.2)
        with pytest.raises(InputError, match="param 'lr'"):
            run.log_params({"epochs": 3, "lr": True})
        assert run.status == "running"
    assert get_tracking_run(store, run.id).run.params == {"lr": 0.1}


def test_metric_history_is_ordered_and_latest_is_the_highest_step(store: Store) -> None:
    with start_run(experiment="ft", store=store) as run:
        for step in (2, 0, 1):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
        run.log_metric("loss", 0.25, step=2, timestamp_ms=int(time.time() * 1000) + 1000)
        run.log_metrics({"acc": 0.5, "f1": 0.4}, step=7)
        with pytest.raises(InputError, match="metric 'bad' is NaN"):
            run.log_metric("bad", float("nan"))
        with pytest.raises(InputError, match="must be a number"):
            run.log_metric("bad", "high")  # type: ignore[arg-type]
    history = metric_history(store, run.id, "loss")
    assert [(p.step, p.value) for p in history] == [(0, 1.0), (1, 0.5), (2, 1 / 3), (2, 0.25)]
    latest = get_tracking_run(store, run.id[:10]).metrics
    assert {key: (p.value, p.step) for key, p in latest.items()} == {
        "acc": (0.5, 7),
        "f1": (0.4, 7),
        "loss": (0.25, 2),
    }
    with pytest.raises(NotFoundError, match="no metric 'los'; its metrics: acc, f1, loss"):
        metric_history(store, run.id, "los")


@pytest.fixture
def metric_inserts(store: Store) -> Iterator[list[str]]:
    """The INSERT statements into ``metrics`` sent to the database."""
    statements: list[str] = []

    def listen(*args: Any) -> None:
        if args[2].startswith("INSERT INTO metrics"):
            statements.append(args[2])

    event.listen(store.engine, "before_cursor_execute", listen)
    yield statements
    event.remove(store.engine, "before_cursor_execute", listen)


def test_metrics_are_written_in_batches_not_one_per_value(
    store: Store, metric_inserts: list[str]
) -> None:
    with start_run(experiment="batch", store=store) as run:
        for step in range(10_000):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
        assert run.metric_batches >= 9  # size-triggered batches while logging
    assert len(metric_history(store, run.id, "loss")) == 10_000
    assert 10 <= run.metric_batches <= 20
    assert len(metric_inserts) <= 20  # far fewer than 10,000 writes


def test_pending_metrics_are_written_by_the_background_thread(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_metrics.flusher, "interval_s", 0.05)
    with start_run(experiment="bg", store=store) as run:
        run.log_metric("loss", 0.5, step=1)
        deadline = time.monotonic() + 30
        while run.metric_batches == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert run.metric_batches == 1  # written without flush(), end or a full batch
        assert [p.value for p in metric_history(store, run.id, "loss")] == [0.5]


def test_flush_writes_now_and_reports_the_count(store: Store) -> None:
    with start_run(experiment="flush", store=store) as run:
        run.log_metrics({"a": 1, "b": 2}, step=0)
        assert run.flush() == 2
        assert run.flush() == 0
        assert set(get_tracking_run(store, run.id).metrics) == {"a", "b"}


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (RuntimeError("boom"), "failed"),
        (KeyboardInterrupt(), "killed"),
        (SystemExit(0), "finished"),
    ],
)
def test_the_run_status_follows_how_the_block_ends(
    store: Store, error: BaseException, status: str
) -> None:
    with pytest.raises(type(error)), start_run(experiment="status", store=store) as run:
        run.log_metric("loss", 1.0)
        raise error
    detail = get_tracking_run(store, run.id)
    assert (detail.run.status, run.status) == (status, status)
    assert detail.run.ended_at is not None
    assert detail.metrics["loss"].value == 1.0  # pending metrics were written at the end
    with pytest.raises(InputError, match=f"has ended \\({status}\\)"):
        run.log_metric("loss", 2.0)


def test_artifacts_round_trip_and_identical_files_share_one_blob(
    store: Store, artifacts: Path, tmp_path: Path
) -> None:
    weights = _file(tmp_path / "src" / "weights.bin", "w" * 1000)
    folder = tmp_path / "report"
    _file(folder / "index.html", "<h1>report</h1>")
    _file(folder / "img" / "plot.svg", "<svg/>")
    with start_run(experiment="art", store=store) as first:
        logged = first.log_artifact(weights, artifact_path="model")
        assert [a.path for a in first.log_artifacts(folder, "report")] == [
            "report/img/plot.svg",
            "report/index.html",
        ]
    with start_run(experiment="art", store=store) as second:
        again = second.log_artifact(weights)
    digest = hashlib.sha256(b"w" * 1000).hexdigest()
    assert (logged.path, logged.digest, logged.size) == ("model/weights.bin", digest, 1000)
    assert again.digest == digest and again.path == "weights.bin"
    blobs = sorted(p for p in (artifacts / "sha256").rglob("*") if p.is_file())
    assert len(blobs) == 3  # weights once for both runs, index.html, plot.svg
    assert artifacts / "sha256" / digest[:2] / digest in blobs

    assert artifact_bytes(store, second.id, "weights.bin") == b"w" * 1000
    out = download_artifact(store, first.id, "report", tmp_path / "out")
    assert out == tmp_path / "out" / "report"
    assert (out / "img" / "plot.svg").read_text() == "<svg/>"
    paths = [a.path for a in get_tracking_run(store, first.id).artifacts]
    assert paths == ["model/weights.bin", "report/img/plot.svg", "report/index.html"]
    with pytest.raises(NotFoundError, match="has no artifact 'nope'"):
        artifact_bytes(store, first.id, "nope")

    (artifacts / "sha256" / digest[:2] / digest).write_bytes(b"tampered")
    with pytest.raises(StoreError, match="does not match its digest"):
        artifact_bytes(store, first.id, "model/weights.bin")


@pytest.mark.parametrize(
    "bad", ["../escape", "a/../../escape", "/etc", "a\\b", "a\x00b", "C:/x", "..", "./"]
)
def test_artifact_paths_that_could_escape_are_rejected(
    store: Store, artifacts: Path, tmp_path: Path, bad: str
) -> None:
    source = _file(tmp_path / "f.txt", "x")
    with start_run(experiment="art", store=store) as run:
        with pytest.raises(InputError, match="artifact path"):
            run.log_artifact(source, artifact_path=bad)
        with pytest.raises(InputError, match="artifact path"):
            artifact_bytes(store, run.id, bad)
        assert get_tracking_run(store, run.id).artifacts == []
    assert not artifacts.exists()  # nothing was written anywhere


def test_a_file_name_with_a_backslash_is_rejected(
    store: Store, artifacts: Path, tmp_path: Path
) -> None:
    _file(tmp_path / "folder" / "ok.txt", "x")
    _file(tmp_path / "folder" / "..\\evil.txt", "x")
    with (
        start_run(experiment="art", store=store) as run,
        pytest.raises(InputError, match=r"file name '\.\.\\\\evil\.txt' contains a backslash"),
    ):
        run.log_artifacts(tmp_path / "folder")


def test_an_fsspec_url_can_be_the_artifact_root(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fsspec

    bucket = f"llmops-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(ARTIFACT_ROOT_ENV, f"memory://{bucket}")
    memory = fsspec.filesystem("memory")
    try:
        with start_run(experiment="remote", store=store) as run:
            logged = run.log_artifact(_file(tmp_path / "a.txt", "remote content"))
        assert memory.exists(f"/{bucket}/sha256/{logged.digest[:2]}/{logged.digest}")
        assert artifact_bytes(store, run.id, "a.txt") == b"remote content"
        local = download_artifact(store, run.id, "a.txt", tmp_path / "dl")
        assert local.read_text() == "remote content"
    finally:
        memory.rm(f"/{bucket}", recursive=True)


def test_experiments_and_run_queries(store: Store) -> None:
    with start_run(experiment="a", store=store) as first:
        pass
    with pytest.raises(RuntimeError), start_run(experiment="a", store=store):
        raise RuntimeError("x")
    with start_run(experiment="b", store=store):
        pass
    assert [(e.name, e.runs) for e in list_experiments(store)] == [("a", 2), ("b", 1)]
    runs = list_tracking_runs(store, experiment="a")
    assert [r.status for r in runs] == ["failed", "finished"]  # newest first
    finished = list_tracking_runs(store, status="finished")
    assert [r.experiment for r in finished] == ["b", "a"] and finished[1].id == first.id
    assert [r.experiment for r in list_tracking_runs(store, limit=1)] == ["b"]
    with pytest.raises(NotFoundError, match="experiment 'c' not found; experiments: a, b"):
        list_tracking_runs(store, experiment="c")
    with pytest.raises(InputError, match="unknown run status 'done'"):
        list_tracking_runs(store, status="done")
    with pytest.raises(NotFoundError, match="tracking run 'f00' not found"):
        get_tracking_run(store, "f00" if not first.id.startswith("f00") else "0f0")


def test_compare_lists_params_and_latest_metrics_with_the_differences(store: Store) -> None:
    ids = []
    for lr, loss in ((0.1, 0.5), (0.2, 0.5)):
        with start_run(experiment="cmp", store=store) as run:
            run.log_params({"lr": lr, "epochs": 3})
            run.log_metric("loss", 9.0, step=0)
            run.log_metric("loss", loss, step=1)
            run.log_metric("acc", lr * 4)
        ids.append(run.id)
    result = compare_tracking_runs(store, [ids[0][:8], ids[1]])
    assert [r.id for r in result.runs] == ids
    assert result.params == {"epochs": [3, 3], "lr": [0.1, 0.2]}
    assert result.metrics == {"acc": [0.4, 0.8], "loss": [0.5, 0.5]}
    assert (result.differing_params, result.differing_metrics) == (["lr"], ["acc"])
    with pytest.raises(InputError, match="at least two"):
        compare_tracking_runs(store, ids[:1])


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> Any:
    capsys.readouterr()
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def _eval_run(store: Store, run_id: str) -> None:
    with store.write() as session:
        session.add(EvalRunRecord(id=run_id, suite="s", model_name="m", model="openai/m"))


def test_cli_lists_shows_and_compares_tracking_runs_beside_eval_runs(
    store: Store,
    artifacts: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LLMOPS_STORE_URL", store.url)
    _eval_run(store, "e" * 32)
    _eval_run(store, "d" * 32)
    ids = []
    for lr in (0.1, 0.2):
        with start_run(experiment="cli", name=f"lr-{lr}", store=store) as run:
            run.log_param("lr", lr)
            run.log_metric("loss", lr / 2, step=4)
            run.log_artifact(_file(tmp_path / "notes.txt", "n"))
        ids.append(run.id)

    rows = _json(capsys, ["runs", "list", "--json"])
    assert [row["kind"] for row in rows] == ["tracking", "tracking", "eval", "eval"]
    assert rows[0]["id"] == ids[1] and rows[0]["experiment"] == "cli"
    eval_row = rows[-1]
    assert {"suite", "model", "cases", "errors", "summary", "config"} <= set(eval_row)
    assert [r["id"] for r in _json(capsys, ["runs", "list", "--json", "--kind", "eval"])] == [
        "d" * 32,
        "e" * 32,
    ]
    only = _json(capsys, ["runs", "list", "--json", "--experiment", "cli", "-n", "1"])
    assert [r["id"] for r in only] == [ids[1]]

    shown = _json(capsys, ["runs", "show", ids[0][:8], "--json"])
    assert (shown["kind"], shown["name"], shown["params"]) == ("tracking", "lr-0.1", {"lr": 0.1})
    assert shown["metrics"]["loss"]["value"] == 0.05 and shown["metrics"]["loss"]["step"] == 4
    assert [a["path"] for a in shown["artifacts"]] == ["notes.txt"]
    assert _json(capsys, ["runs", "show", "e" * 8, "--json"])["suite"] == "s"  # eval runs still

    compared = _json(capsys, ["runs", "compare", ids[0], ids[1][:8], "--json"])
    assert compared["differing"] == {"params": ["lr"], "metrics": ["loss"]}
    assert compared["params"] == {"lr": [0.1, 0.2]}
    assert main(["runs", "compare", ids[0], ids[1]]) == 0
    assert "≠ param lr" in capsys.readouterr().out

    assert main(["runs", "compare", "e" * 8, "d" * 8]) == 2
    err = capsys.readouterr().err
    assert "are eval runs" in err and f"`llmops eval compare {'e' * 8} {'d' * 8}`" in err
    assert main(["runs", "show", "9" * 8]) == 2
    assert "no eval or tracking run has this id" in capsys.readouterr().err

    experiments = _json(capsys, ["experiments", "list", "--json"])
    assert [(e["name"], e["runs"]) for e in experiments] == [("cli", 2)]
    assert main(["runs", "list", "--kind", "tracking"]) == 0
    assert "│ cli " in capsys.readouterr().out  # the experiment column
    assert main(["runs", "show", ids[0]]) == 0
    out = capsys.readouterr().out
    assert f"run {ids[0]} · experiment cli · lr-0.1 · finished" in out and "notes.txt" in out


_SCRIPT = """
import sys
from llmops.tracking import start_run
run = start_run(experiment="exit", store=sys.argv[1])
print(run.id, flush=True)
for step in range(2500):
    run.log_metric("loss", step / 10, step=step)
if sys.argv[2] == "crash":
    raise RuntimeError("the script failed")
"""


@pytest.mark.parametrize(("how", "status"), [("exit", "finished"), ("crash", "failed")])
def test_metrics_pending_at_interpreter_exit_are_written(
    store: Store, tmp_path: Path, how: str, status: str
) -> None:
    script = _file(tmp_path / "train.py", textwrap.dedent(_SCRIPT))
    result = subprocess.run(
        [sys.executable, str(script), store.url, how], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == (0 if how == "exit" else 1), result.stderr
    run_id = result.stdout.strip()
    history = metric_history(store, run_id, "loss")
    assert len(history) == 2500 and history[-1].value == 249.9
    assert get_tracking_run(store, run_id).run.status == status


_FORK_SCRIPT = """
import os, sys
from llmops.store import open_store
from llmops.tracking import get_tracking_run, start_run
run = start_run(experiment="fork", store=sys.argv[1])
for step in range(10):
    run.log_metric("loss", float(step), step=step)
pid = os.fork()
if pid == 0:  # the child exits normally, running its (inherited) exit handlers
    sys.exit(0)
os.waitpid(pid, 0)
print(run.id, get_tracking_run(open_store(sys.argv[1]), run.id).run.status, flush=True)
"""


def test_a_forked_child_neither_repeats_pending_values_nor_ends_the_run(
    store: Store, tmp_path: Path
) -> None:
    script = _file(tmp_path / "fork.py", textwrap.dedent(_FORK_SCRIPT))
    result = subprocess.run(
        [sys.executable, str(script), store.url], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    run_id, status_after_child = result.stdout.split()
    assert status_after_child == "running"
    assert [p.step for p in metric_history(store, run_id, "loss")] == list(range(10))
    assert get_tracking_run(store, run_id).run.status == "finished"
