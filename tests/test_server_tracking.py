"""Experiment tracking over the REST API and the CLI, on SQLite and PostgreSQL: experiments, an
experiment's runs sorted, filtered and paged, a run's detail, metric histories (downsampled past
10,000 points), artifacts listed and downloaded with every kind of path traversal refused, N runs
compared; ``llmops runs metrics|artifacts``."""

from __future__ import annotations

import http.client
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from _live_server import LiveServer

from llmops.cli import main
from llmops.server import create_app
from llmops.store import Store
from llmops.tracking import ARTIFACT_ROOT_ENV, MAX_HISTORY_POINTS, start_run

TOKEN = "t0ken-for-tracking"


@pytest.fixture
def artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "artifacts"
    monkeypatch.setenv(ARTIFACT_ROOT_ENV, str(root))
    return root


@pytest.fixture
def server(store: Store, artifacts: Path) -> Iterator[LiveServer]:
    with LiveServer(create_app(store, token=TOKEN)) as live:
        yield live


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=f"{server.url}/api/v1", headers=headers, timeout=30) as client:
        yield client


def _get(api: httpx.Client, path: str, **params: Any) -> Any:
    response = api.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _seed(store: Store, tmp_path: Path) -> list[str]:
    """Five runs of 'train/sweep' (lr 0.1..0.5, loss falling with lr; run 4 failed, run 2 logs
    no loss, runs 0-2 tagged team=a) and one run of 'other'."""
    ids = []
    for i in range(5):
        try:
            with start_run(
                "train/sweep", name=f"lr-{i}", tags={"team": "a" if i < 3 else "b"}, store=store
            ) as run:
                ids.append(run.id)
                run.log_params({"lr": round(0.1 * (i + 1), 1), "opt": "adam", "layers": 12 - i})
                if i != 2:
                    for step in range(10):
                        run.log_metric("loss", (5 - i) / (step + 1), step=step)
                run.log_metric("acc", 0.5 + i / 10, step=9)
                (tmp_path / f"notes-{i}.txt").write_text(f"notes of run {i}")
                run.log_artifact(tmp_path / f"notes-{i}.txt", artifact_path="out")
                if i == 4:
                    raise RuntimeError("diverged")
        except RuntimeError:
            pass
    with start_run("other", store=store) as run:
        run.log_metric("loss", 1.0)
    return ids


def test_experiments_and_their_runs_sorted_filtered_and_paged(
    store: Store, api: httpx.Client, tmp_path: Path
) -> None:
    ids = _seed(store, tmp_path)
    listed = _get(api, "/experiments")
    assert [(e["name"], e["runs"]) for e in listed["items"]] == [("other", 1), ("train/sweep", 5)]
    first = _get(api, "/experiments", limit=1)
    second = _get(api, "/experiments", limit=1, cursor=first["next_cursor"])
    assert [first["items"][0]["name"], second["items"][0]["name"]] == ["other", "train/sweep"]
    assert second["next_cursor"] is None

    path = "/experiments/train%2Fsweep/runs"  # a name with a slash is one path segment
    runs = _get(api, path)
    assert runs["total"] == 5 and runs["truncated"] is False
    assert [r["id"] for r in runs["items"]] == ids[::-1]  # newest first
    row = runs["items"][-1]
    assert row["params"] == {"lr": 0.1, "opt": "adam", "layers": 12}
    assert row["tags"] == {"team": "a"} and row["status"] == "finished"
    assert row["metrics"]["loss"] == {
        "step": 9,
        "timestamp_ms": row["metrics"]["loss"]["timestamp_ms"],
        "value": 0.5,
    }
    assert row["duration_s"] >= 0 and "git_commit" in row
    assert runs["items"][0]["status"] == "failed" and runs["items"][0]["duration_s"] >= 0

    def names(**params: Any) -> list[str]:
        return [r["name"] for r in _get(api, path, **params)["items"]]

    # by the latest loss: the run without loss comes last in both directions
    assert names(sort="metric:loss", order="asc") == ["lr-4", "lr-3", "lr-1", "lr-0", "lr-2"]
    assert names(sort="metric:loss", order="desc") == ["lr-0", "lr-1", "lr-3", "lr-4", "lr-2"]
    assert names(sort="param:layers", order="asc") == ["lr-4", "lr-3", "lr-2", "lr-1", "lr-0"]
    assert names(sort="name", order="asc") == [f"lr-{i}" for i in range(5)]
    assert names(status="failed") == ["lr-4"]
    assert names(tag="team=a", sort="name", order="asc") == ["lr-0", "lr-1", "lr-2"]
    assert names(param="lr=0.2") == ["lr-1"]
    assert names(param="opt=adam", tag="team=b", order="asc") == ["lr-3", "lr-4"]
    assert names(param="opt=sgd") == []

    # pages of two cover every run once, in order
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        body = _get(api, path, sort="metric:acc", limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [r["name"] for r in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ["lr-4", "lr-3", "lr-2", "lr-1", "lr-0"]

    for params, status in (
        ({}, 404),  # on an unknown experiment
        ({"sort": "colour"}, 400),
        ({"sort": "metric:"}, 400),
        ({"tag": "no-equals"}, 400),
        ({"status": "sleeping"}, 400),
        ({"cursor": "not-a-cursor"}, 400),
        ({"limit": 0}, 400),
        ({"limit": 501}, 400),
        ({"limit": "many"}, 400),
        ({"order": "sideways"}, 400),
        ({"tag": ["k=v"] * 21}, 400),  # at most 20 filters of a kind
        ({"sort": "metric:" + "x" * 300}, 400),
    ):
        target = "/experiments/nope/runs" if not params else path
        response = api.get(target, params=params)
        assert response.status_code == status, (params, response.text)
        assert response.json()["message"]


def test_a_run_its_metric_history_and_n_runs_compared(
    store: Store, api: httpx.Client, tmp_path: Path
) -> None:
    ids = _seed(store, tmp_path)
    run = _get(api, f"/tracking/runs/{ids[1][:10]}")  # a prefix is enough
    assert run["id"] == ids[1] and run["experiment"] == "train/sweep" and run["name"] == "lr-1"
    assert run["params"]["lr"] == 0.2 and run["tags"] == {"team": "a"}
    assert run["metrics"]["loss"]["value"] == pytest.approx(0.4)
    assert run["metrics"]["acc"] == {**run["metrics"]["acc"], "step": 9, "value": 0.6}
    assert run["artifacts"] == [
        {**run["artifacts"][0], "path": "out/notes-1.txt", "size": len("notes of run 1")}
    ]
    assert run["status"] == "finished" and run["duration_s"] >= 0

    history = _get(api, f"/tracking/runs/{ids[1]}/metrics", key="loss")
    assert history["downsampled"] is False and history["total"] == 10
    assert [(p["step"], p["value"]) for p in history["points"]] == [
        (step, pytest.approx(4 / (step + 1))) for step in range(10)
    ]
    assert all(p["timestamp_ms"] > 0 for p in history["points"])
    missing = api.get(f"/tracking/runs/{ids[2]}/metrics", params={"key": "loss"})
    assert missing.status_code == 404 and "acc" in missing.json()["message"]
    assert api.get("/tracking/runs/ffffffff").status_code == 404
    assert api.get(f"/tracking/runs/{ids[1]}/metrics").status_code == 400  # key is required

    # past 10,000 values: downsampled to at most 10,000, a one-step spike kept
    with start_run("long", store=store) as long_run:
        for step in range(12_000):
            long_run.log_metric("loss", 1000.0 if step == 7_171 else math.sin(step / 500), step)
        long_run.log_metric("exact", 0.0, step=0)
        for step in range(1, MAX_HISTORY_POINTS):
            long_run.log_metric("exact", float(step), step=step)
    big = _get(api, f"/tracking/runs/{long_run.id}/metrics", key="loss")
    assert big["downsampled"] is True and big["total"] == 12_000
    assert 2_000 < len(big["points"]) <= MAX_HISTORY_POINTS
    steps = [p["step"] for p in big["points"]]
    assert steps == sorted(steps) and steps[0] == 0
    assert max(p["value"] for p in big["points"]) == 1000.0
    exact = _get(api, f"/tracking/runs/{long_run.id}/metrics", key="exact")
    assert exact["downsampled"] is False and len(exact["points"]) == MAX_HISTORY_POINTS

    compared = _get(api, "/tracking/compare", ids=[ids[0], ids[1][:8], ids[3]])
    assert [r["name"] for r in compared["runs"]] == ["lr-0", "lr-1", "lr-3"]
    assert compared["params"]["lr"] == [0.1, 0.2, 0.4]
    assert compared["differing_params"] == ["layers", "lr"]  # opt is the same everywhere
    assert compared["metrics"]["loss"] == [0.5, pytest.approx(0.4), pytest.approx(0.2)]
    assert api.get("/tracking/compare", params={"ids": ids[0]}).status_code == 400
    assert api.get("/tracking/compare", params={"ids": [ids[0], "f" * 12]}).status_code == 404


def _raw_get(url: str, raw_path: str) -> tuple[int, bytes]:
    """A GET of ``raw_path`` exactly as written: no client normalizes its dots or escapes."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.putrequest("GET", raw_path, skip_accept_encoding=True)
        connection.putheader("Authorization", f"Bearer {TOKEN}")
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


#: Paths that try to leave a run's artifacts: dot segments raw and encoded (any case), absolute
#: paths, backslashes, NUL, a drive letter, double encoding.
TRAVERSALS = [
    "../../../../etc/passwd",
    "out/../../secret.txt",
    "%2e%2e/%2e%2e/secret.txt",
    "%2E%2E%2F%2E%2E%2Fsecret.txt",
    "..%2f..%2fsecret.txt",
    "out/..%2F..%2F..%2Fsecret.txt",
    "/etc/passwd",
    "%2Fetc%2Fpasswd",
    "..%5c..%5csecret.txt",
    "out%00.txt",
    "C:/Windows/win.ini",
    "%252e%252e/secret.txt",
    "./././../secret.txt",
]


def test_artifacts_listed_downloaded_and_traversal_refused(
    store: Store, api: httpx.Client, server: LiveServer, artifacts: Path, tmp_path: Path
) -> None:
    ids = _seed(store, tmp_path)
    with start_run("files", store=store) as run:
        for i in range(5):
            (tmp_path / "model" / f"part-{i}.bin").parent.mkdir(exist_ok=True)
            (tmp_path / "model" / f"part-{i}.bin").write_bytes(bytes([i]) * (1000 * (i + 1)))
        run.log_artifacts(tmp_path / "model", artifact_path="model")
    pages = [_get(api, f"/tracking/runs/{run.id}/artifacts", limit=2)]
    while pages[-1]["next_cursor"]:
        cursor = pages[-1]["next_cursor"]
        pages.append(_get(api, f"/tracking/runs/{run.id}/artifacts", limit=2, cursor=cursor))
    listed = [(a["path"], a["size"]) for page in pages for a in page["items"]]
    assert listed == [(f"model/part-{i}.bin", 1000 * (i + 1)) for i in range(5)]
    assert {page["run_id"] for page in pages} == {run.id}

    got = api.get(f"/tracking/runs/{run.id[:8]}/artifacts/model/part-3.bin")
    assert got.status_code == 200 and got.content == bytes([3]) * 4000
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-disposition"] == "attachment; filename*=UTF-8''part-3.bin"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert api.get(f"/tracking/runs/{run.id}/artifacts/model").status_code == 400  # a folder
    assert api.get(f"/tracking/runs/{run.id}/artifacts/model/nope.bin").status_code == 404
    assert api.get(f"/tracking/runs/{ids[0]}/artifacts/model/part-3.bin").status_code == 404

    secret = tmp_path / "secret.txt"
    secret.write_text("the secret")
    base = f"/api/v1/tracking/runs/{ids[0]}/artifacts/"
    for attempt in TRAVERSALS:
        status, body = _raw_get(server.url, base + attempt)
        assert status in (400, 404), (attempt, status, body)
        assert b"the secret" not in body and b"root:" not in body, attempt

    # a blob swapped for a symlink out of the artifact root is refused, even with the very
    # content the digest expects
    (tmp_path / "outside.txt").write_text("notes of run 0")
    blob = next(
        p
        for p in (artifacts / "sha256").rglob("*")
        if p.is_file() and p.read_bytes() == b"notes of run 0"
    )
    blob.unlink()
    blob.symlink_to(tmp_path / "outside.txt")
    refused = api.get(f"/tracking/runs/{ids[0]}/artifacts/out/notes-0.txt")
    assert refused.status_code == 404 and "link out of" in refused.json()["message"]


# ---- the CLI -----------------------------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> str:
    capsys.readouterr()
    assert main(argv) == code
    captured = capsys.readouterr()
    return captured.out + captured.err


def test_cli_prints_metric_history_and_fetches_artifacts(
    store: Store,
    artifacts: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LLMOPS_STORE_URL", store.url)
    ids = _seed(store, tmp_path)
    history = json.loads(_cli(capsys, ["runs", "metrics", ids[0][:8], "--key", "loss", "--json"]))
    assert history["run_id"] == ids[0]
    loss = history["metrics"]["loss"]
    assert (loss["total"], loss["downsampled"]) == (10, False)
    assert [(p["step"], p["value"]) for p in loss["points"]] == [
        (step, pytest.approx(5 / (step + 1))) for step in range(10)
    ]
    every = json.loads(_cli(capsys, ["runs", "metrics", ids[0], "--json"]))
    assert sorted(every["metrics"]) == ["acc", "loss"]
    table = _cli(capsys, ["runs", "metrics", ids[0], "--key", "loss"])
    assert "loss (10 values)" in table and "0.555556" in table  # 5 / 9 at step 8
    assert "no metric 'nope'" in _cli(capsys, ["runs", "metrics", ids[0], "-k", "nope"], 2)

    listed = json.loads(_cli(capsys, ["runs", "artifacts", ids[1], "--json"]))
    assert [(a["path"], a["size"]) for a in listed] == [("out/notes-1.txt", 14)]
    assert "out/notes-1.txt" in _cli(capsys, ["runs", "artifacts", ids[1]])
    dest = tmp_path / "fetched"
    said = _cli(
        capsys, ["runs", "artifacts", ids[1], "--download", "out/notes-1.txt", "-o", str(dest)]
    )
    assert "saved" in said and (dest / "out" / "notes-1.txt").read_text() == "notes of run 1"
    for attempt in ("../x", "/etc/passwd", "out/../../x", "a\\b"):
        out = _cli(capsys, ["runs", "artifacts", ids[1], "--download", attempt, "-o", str(dest)], 2)
        assert out.startswith("error: artifact path") and out.count("\n") == 1
    assert not (tmp_path / "x").exists()
