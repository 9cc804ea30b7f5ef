"""Score configs and annotation queues over HTTP, on SQLite and PostgreSQL, through a real
server: the token, a queue from traces worked through (labels become the traces' human
scores, 409 for another annotator's item, 204 when nothing is pending, the JSONL export), a
queue from a dataset, and every class of bad input refused (400/404/413) with nothing stored."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from _live_server import LiveServer

import llmops
from llmops.evals import create_dataset, list_queues
from llmops.server import create_app
from llmops.store import Store
from llmops.tracing import configure_tracing, flush, list_score_configs, list_scores, span

TOKEN = "t0ken-for-queues"
SECRET = "sk-abcdefghijklmnopqrstuvwxyz123456"
HOSTILE = '<img src=x onerror="window.__xss=1">'
CONFIGS = [
    {"name": "helpful", "data_type": "BOOLEAN"},
    {"name": "tone", "data_type": "categorical", "categories": ["polite", HOSTILE]},
    {"name": "quality", "data_type": "NUMERIC", "min_value": 1, "max_value": 5},
]


@pytest.fixture
def server(store: Store) -> Iterator[LiveServer]:
    with LiveServer(create_app(store, token=TOKEN)) as live:
        yield live


def _client(server: LiveServer, token: str | None = TOKEN) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=f"{server.url}/api/v1", headers=headers, timeout=30)


def _traces(store: Store, n: int) -> list[str]:
    """``n`` traces tagged ``queue-me``, oldest first."""
    configure_tracing(store)
    ids = []
    for i in range(n):
        with llmops.trace_context(tags=["queue-me"]), span(f"answer {i}") as root:
            root.set({"input.value": f"question {i}", "output.value": f"answer {i}"})
            ids.append(root.trace_id_hex)
    assert flush()
    return ids


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_a_queue_from_traces_worked_through_over_http(store: Store, server: LiveServer) -> None:
    trace_ids = _traces(store, 3)
    with _client(server, None) as anonymous:
        for method, path in [
            ("GET", "/score-configs"),
            ("POST", "/score-configs"),
            ("GET", "/queues"),
            ("POST", "/queues"),
            ("GET", "/queues/q/next"),
            ("POST", "/queues/q/items/1"),
            ("GET", "/queues/q/export"),
        ]:
            assert anonymous.request(method, path, json={}).status_code == 401, path
    with _client(server) as api:
        for config in CONFIGS:
            _ok(api.post("/score-configs", json=config), 201)
        configs = _ok(api.get("/score-configs"))["items"]
        assert {c["name"]: c["data_type"] for c in configs} == {
            "helpful": "BOOLEAN",
            "tone": "CATEGORICAL",
            "quality": "NUMERIC",
        }
        assert next(c for c in configs if c["name"] == "tone")["categories"] == ["polite", HOSTILE]
        body = {
            "name": "review",
            "score_configs": ["helpful", "tone", "quality"],
            "filter": {"tag": "queue-me", "since": "1h", "search": "answer"},
            "description": "weekly review",
        }
        queue = _ok(api.post("/queues", json=body), 201)
        assert (queue["total"], queue["pending"], queue["done"]) == (3, 3, 0)
        assert _ok(api.get("/queues"))["items"][0]["name"] == "review"
        first = _ok(api.get("/queues/review/next"))
        assert (first["position"], first["trace_id"], first["status"]) == (
            0,
            trace_ids[0],
            "pending",
        )
        assert first["data"]["input"] == "question 0" and first["data"]["output"] == "answer 0"
        labelled = _ok(
            api.post(
                f"/queues/review/items/{first['id']}",
                json={
                    "annotator": "ada",
                    "labels": {"helpful": True, "tone": HOSTILE, "quality": 4},
                    "comments": {"tone": f"rude? {SECRET}"},
                },
            )
        )
        assert labelled["status"] == "done" and labelled["annotator"] == "ada"
        assert labelled["labels"]["tone"] == {"value": HOSTILE, "comment": "rude? [REDACTED]"}
        # each label is the trace's human score, by the annotator
        scores = {s.name: s for s in list_scores(store, trace_ids[0])}
        assert set(scores) == {"helpful", "tone", "quality"}
        assert all(s.source == "human" and s.author == "ada" for s in scores.values())
        assert scores["tone"].label == HOSTILE and scores["quality"].value == 4
        # another annotator may not relabel it; the same one may
        other = api.post(
            f"/queues/review/items/{first['id']}",
            json={"annotator": "bob", "labels": {"quality": 1}},
        )
        assert other.status_code == 409 and "ada" in other.json()["message"]
        _ok(
            api.post(
                f"/queues/review/items/{first['id']}",
                json={"annotator": "ada", "labels": {"quality": 5}},
            )
        )
        assert {s.name: s.value for s in list_scores(store, trace_ids[0])} == {"quality": 5}
        second = _ok(api.get("/queues/review/next", params={"after": first["id"]}))
        assert second["position"] == 1
        skipped = _ok(
            api.post(
                f"/queues/review/items/{second['id']}",
                json={"annotator": "bob", "status": "skipped"},
            )
        )
        assert skipped["status"] == "skipped" and skipped["labels"] == {}
        third = _ok(api.get("/queues/review/next", params={"after": second["id"]}))
        assert third["position"] == 2
        assert _ok(api.get(f"/queues/review/items/{third['id']}")) == third
        _ok(
            api.post(
                f"/queues/review/items/{third['id']}",
                json={"annotator": "bob", "labels": {"helpful": False}},
            )
        )
        # nothing pending: 204, and the progress says so
        done = api.get("/queues/review/next", params={"after": third["id"]})
        assert done.status_code == 204 and done.content == b""
        progress = _ok(api.get("/queues/review"))
        assert (progress["done"], progress["skipped"], progress["pending"]) == (2, 1, 0)
        assert [i["status"] for i in _ok(api.get("/queues/review/items"))["items"]] == [
            "done",
            "skipped",
            "done",
        ]
        page = _ok(
            api.get("/queues/review/items", params={"status": "done", "offset": 1, "limit": 1})
        )
        assert [i["id"] for i in page["items"]] == [third["id"]]
        exported = api.get("/queues/review/export")
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("application/x-ndjson")
        lines = [orjson.loads(line) for line in exported.content.splitlines()]
        assert [(x["item"], x["status"], x["annotator"]) for x in lines] == [
            (first["id"], "done", "ada"),
            (second["id"], "skipped", "bob"),
            (third["id"], "done", "bob"),
        ]
        assert lines[0]["labels"]["quality"]["value"] == 5 and lines[0]["trace_id"] == trace_ids[0]
        assert lines[2]["data"]["output"] == "answer 2"


def test_a_queue_from_a_dataset_keeps_expected_and_contexts(
    store: Store, server: LiveServer
) -> None:
    rows = [
        {"input": "q1", "output": "a1", "expected": "e1", "contexts": ["c1", HOSTILE]},
        {"input": "q2", "output": "a2", "expected": "e2"},
    ]
    create_dataset(store, "golden", rows)
    with _client(server) as api:
        _ok(api.post("/score-configs", json=CONFIGS[0]), 201)
        body = {"name": "golden-review", "score_configs": ["helpful"], "dataset": "golden@1"}
        queue = _ok(api.post("/queues", json=body), 201)
        assert queue["source"] == {"dataset": "golden@1"} and queue["total"] == 2
        first = _ok(api.get("/queues/golden-review/next"))
        assert first["trace_id"] is None
        assert (first["data"]["expected"], first["data"]["contexts"]) == ("e1", ["c1", HOSTILE])
        _ok(
            api.post(
                f"/queues/golden-review/items/{first['id']}",
                json={"annotator": "ada", "labels": {"helpful": 1}},
            )
        )
        assert _ok(api.get("/queues/golden-review"))["done"] == 1
    assert list_scores(store, limit=100) == []  # no trace, no score


C = {"name": "x", "data_type": "NUMERIC"}  # a config body
K = {"name": "x", "data_type": "CATEGORICAL"}
Q = {"name": "q", "score_configs": ["helpful"], "filter": {}}  # a queue body
L = {"annotator": "a", "labels": {"helpful": True}}  # an item's labels
ITEM = "/queues/open/items/{item}"
# (method, path, body, status, what the message names)
BAD: list[tuple[str, str, Any, int, str]] = [
    ("POST", "/score-configs", [], 400, "expected an object"),
    ("POST", "/score-configs", {**C, "data_type": "TEXT"}, 400, "data_type"),
    ("POST", "/score-configs", {"name": "x"}, 400, "data_type: required"),
    ("POST", "/score-configs", {**C, "evil": 1}, 400, "evil"),
    ("POST", "/score-configs", {**C, "name": HOSTILE}, 400, "name"),
    ("POST", "/score-configs", {**C, "name": "a\x00b"}, 400, "NUL"),
    ("POST", "/score-configs", {**C, "name": "x" * 5000}, 400, "name"),
    ("POST", "/score-configs", {**K, "categories": "a,b"}, 400, "categories"),
    ("POST", "/score-configs", {**K, "categories": [1, {}]}, 400, "categories"),
    ("POST", "/score-configs", {**C, "min_value": "0"}, 400, "min_value"),
    ("POST", "/score-configs", {**C, "max_value": True}, 400, "max_value"),
    ("POST", "/score-configs", {**C, "name": "helpful"}, 400, "helpful"),
    ("POST", "/queues", {**Q, "filter": None}, 400, "filter"),
    ("POST", "/queues", {**Q, "dataset": "d"}, 400, "dataset"),
    ("POST", "/queues", {**Q, "score_configs": []}, 400, "score_configs"),
    ("POST", "/queues", {**Q, "score_configs": "helpful"}, 400, "score_configs"),
    ("POST", "/queues", {**Q, "score_configs": ["nope"]}, 404, "nope"),
    ("POST", "/queues", {**Q, "name": "../etc"}, 400, "queue name"),
    ("POST", "/queues", {**Q, "name": HOSTILE}, 400, "queue name"),
    ("POST", "/queues", {**Q, "filter": {"bogus": 1}}, 400, "bogus"),
    ("POST", "/queues", {**Q, "filter": []}, 400, "filter"),
    ("POST", "/queues", {**Q, "filter": {"since": "yesterday"}}, 400, "filter.since"),
    ("POST", "/queues", {**Q, "filter": {"status": "BAD"}}, 400, "filter.status"),
    ("POST", "/queues", {**Q, "filter": {"min_ms": "5"}}, 400, "filter.min_ms"),
    ("POST", "/queues", {**Q, "filter": {"tag": 7}}, 400, "filter.tag"),
    ("POST", "/queues", {**Q, "filter": {"scores": ["helpful<<"]}}, 400, "helpful<<"),
    ("POST", "/queues", {**Q, "limit": 10_001}, 400, "limit"),
    ("POST", "/queues", {**Q, "sample": 0}, 400, "sample"),
    ("POST", "/queues", {**Q, "seed": "s"}, 400, "seed"),
    ("POST", "/queues", {**Q, "filter": None, "dataset": "missing@1"}, 404, "missing"),
    ("POST", "/queues", {**Q, "filter": {"tag": "none"}}, 400, "no traces"),
    ("GET", "/queues/missing", None, 404, "missing"),
    ("GET", "/queues/missing/items", None, 404, "missing"),
    ("GET", "/queues/missing/next", None, 404, "missing"),
    ("GET", "/queues/missing/export", None, 404, "missing"),
    ("GET", "/queues/open/items/999999", None, 404, "999999"),
    ("GET", "/queues/open/items/abc", None, 400, "item_id"),
    ("GET", "/queues/open/items?status=lost", None, 400, "status"),
    ("GET", "/queues/open/items?limit=0", None, 400, "limit"),
    ("GET", "/queues/open/next?after=0", None, 400, "after"),
    ("POST", ITEM, {"labels": {"helpful": True}}, 400, "annotator: required"),
    ("POST", ITEM, {**L, "annotator": " "}, 400, "annotator"),
    ("POST", ITEM, {**L, "annotator": 5}, 400, "annotator"),
    ("POST", ITEM, {**L, "labels": []}, 400, "labels"),
    ("POST", ITEM, {**L, "labels": {}}, 400, "labels"),
    ("POST", ITEM, {**L, "labels": {"helpful": "maybe"}}, 400, "labels.helpful"),
    ("POST", ITEM, {**L, "labels": {"helpful": [True]}}, 400, "labels.helpful"),
    ("POST", ITEM, {**L, "labels": {HOSTILE: 1}}, 400, "not a score config"),
    ("POST", ITEM, {**L, "comments": {"tone": "x"}}, 400, "tone"),
    ("POST", ITEM, {**L, "comments": {"helpful": 3}}, 400, "comments.helpful"),
    ("POST", ITEM, {**L, "status": "maybe"}, 400, "status"),
    ("POST", ITEM, {**L, "status": "skipped"}, 400, "skipped"),
    ("POST", ITEM, {**L, "x": 1}, 400, "'x'"),
    ("POST", "/queues/open/items/999999", L, 404, "999999"),
    ("POST", "/queues/missing/items/1", L, 404, "missing"),
]  # fmt: skip


def test_every_class_of_bad_input_is_refused_and_nothing_is_stored(
    store: Store, server: LiveServer
) -> None:
    _traces(store, 1)
    with _client(server) as api:
        _ok(api.post("/score-configs", json=CONFIGS[0]), 201)
        body = {"name": "open", "score_configs": ["helpful"], "filter": {"tag": "queue-me"}}
        item = _ok(api.post("/queues", json=body), 201) and _ok(api.get("/queues/open/next"))
        for method, path, payload, status, named in BAD:
            answer = api.request(
                method, path.format(item=item["id"]), json=payload if method == "POST" else None
            )
            assert answer.status_code == status, (path, payload, answer.text)
            assert named in answer.json()["message"], (path, payload, answer.json())
        # bodies that are not JSON, and bodies over the limit (declared, or chunked)
        raw = {"content-type": "application/json"}
        for path in ("/score-configs", "/queues", f"/queues/open/items/{item['id']}"):
            assert api.post(path, content=b"{not json", headers=raw).status_code == 400
            assert api.post(path, content=b"1e999", headers=raw).status_code == 400
            huge = b'{"name": "' + b"x" * (1024 * 1024) + b'"}'
            answer = api.post(path, content=huge, headers=raw)
            assert answer.status_code == 413 and answer.json()["code"] == 413
            chunked = api.post(
                path, content=iter([b'{"name": "', b"x" * (1024 * 1024)]), headers=raw
            )
            assert chunked.status_code == 413
        assert api.post("/queues", json={**body, "name": "open"}).status_code == 400  # taken
        # nothing stored by the refusals: the one config, the one queue, its item pending
        assert [c.name for c in list_score_configs(store)] == ["helpful"]
        assert [(q.name, q.pending) for q in list_queues(store)] == [("open", 1)]
        assert list_scores(store, limit=100) == []
