"""The registry API on SQLite and PostgreSQL, over a real index (chromadb, BM25, the local
embedder): models with versions, aliases and lineage; index versions, diff and the query box;
bundles and their promotion history; hostile input refused with 400/404/413."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _live_server import LiveServer
from _registry_seed import Seeded, seed_registry

from llmops.server import create_app
from llmops.store import Store

HOSTILE = '<img src=x onerror="window.__xss=1">'


@pytest.fixture
def seeded(store: Store, project: Path) -> Iterator[tuple[httpx.Client, Seeded]]:
    data = seed_registry(store, project, HOSTILE)
    with LiveServer(create_app(store)) as server, httpx.Client(base_url=server.url) as client:
        yield client, data


def _get(client: httpx.Client, path: str, **params: Any) -> Any:
    response = client.get(f"/api/v1{path}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_models_versions_aliases_and_lineage(seeded: tuple[httpx.Client, Seeded]) -> None:
    client, data = seeded
    listed = _get(client, "/models")
    assert [(m["name"], m["latest"], m["aliases"]) for m in listed["items"]] == [
        ("bot", 2, {"canary": 2, "staging": 2})
    ]
    model = _get(client, "/models/bot")
    assert [v["version"] for v in model["versions"]] == [2, 1]
    assert len(model["versions"][1]["adapter_digest"]) == 64
    assert model["versions"][1]["params"] == {HOSTILE: HOSTILE}
    moves = [(e["from_version"], e["to_version"], e["reason"]) for e in model["alias_history"]]
    assert moves == [(None, 2, "release"), (1, 2, HOSTILE), (None, 1, "first")]

    v1 = _get(client, "/models/bot/versions/1")
    assert v1["training_run"]["id"] == data.training_run and v1["training_run"]["found"]
    assert [(r["id"], r["suite"], r["found"]) for r in v1["eval_runs"]] == [
        (data.eval_run, "docs-qa", True)
    ]
    assert v1["dataset_hashes"] == ["d" * 64]
    assert [e["id"] for e in v1["serving_endpoints"]] == [data.endpoint]
    assert v1["bundles"] == ["release@1"] and v1["gate_decisions"] == []
    # v2 is pinned by the promoted bundle: the bundle's decision is on its lineage
    v2 = _get(client, "/models/bot/versions/staging")
    assert v2["version"] == 2 and v2["serve_model"] == HOSTILE
    assert [(d["id"], d["subject"]) for d in v2["gate_decisions"]] == [(data.decision, "release@2")]
    assert v2["training_run"] is None and v2["eval_runs"] == []


def test_indexes_manifests_diff_and_query(seeded: tuple[httpx.Client, Seeded]) -> None:
    client, _ = seeded
    listed = _get(client, "/indexes")
    assert listed["items"] == [
        {"name": "help", "latest": 2, "versions": 2, "aliases": {"canary": 2, "staging": 2}}
    ]
    index = _get(client, "/indexes/help")
    first = index["versions"][1]
    assert (first["ref"], first["status"], first["doc_count"], first["file_count"]) == (
        "help@1",
        "ready",
        3,
        3,
    )
    assert len(first["corpus_hash"]) == 64 and first["splitter"]["chunk_size"] == 200
    assert first["embedder"].startswith("local/") and first["chunk_count"] >= 3
    assert [(e["alias"], e["to_version"]) for e in index["alias_history"]] == [
        ("canary", 2),
        ("staging", 2),
        ("staging", 1),
    ]

    diff = _get(client, "/indexes/help/diff", a="1", b="staging")
    assert (diff["a"], diff["b"]) == ("help@1", "help@2")
    sources = {kind: {c["source"] for c in diff[kind]} for kind in ("added", "removed", "changed")}
    assert sources["removed"] == {"shipping.md"} and sources["changed"] == {"refunds.md"}
    assert sources["added"] == {f"{HOSTILE.replace('/', '_')}.md"}
    assert diff["counts"] == {k: len(diff[k]) for k in ("added", "removed", "changed")}
    bounded = _get(client, "/indexes/help/diff", a="2", b="1", limit=1)
    assert len(bounded["added"]) == 1 and bounded["counts"]["changed"] == 1

    response = client.post(
        "/api/v1/indexes/help/query", json={"text": "when are refunds paid back", "k": 2}
    )
    assert response.status_code == 200, response.text
    found = response.json()
    assert found["ref"] == "help@2"
    for mode in ("dense", "bm25", "hybrid"):
        assert 1 <= len(found[mode]) <= 2, mode
        assert found[mode][0]["metadata"]["source"] == "refunds.md", mode
        assert "ten days" in found[mode][0]["text"] and isinstance(found[mode][0]["score"], float)
    old = client.post(
        "/api/v1/indexes/help/query", json={"text": "express parcels", "k": 1, "version": "1"}
    ).json()
    assert old["ref"] == "help@1" and old["bm25"][0]["metadata"]["source"] == "shipping.md"
    # k beyond the index's size gives what there is
    most = client.post("/api/v1/indexes/help/query", json={"text": "parcels", "k": 50}).json()
    chunks = index["versions"][0]["chunk_count"]
    assert len(most["dense"]) == len(most["hybrid"]) == chunks and len(most["bm25"]) <= chunks


def test_bundles_pins_and_promotion_history(seeded: tuple[httpx.Client, Seeded]) -> None:
    client, data = seeded
    listed = _get(client, "/bundles")["items"]
    assert [(b["name"], b["latest"], b["versions"], b["model"]) for b in listed] == [
        ("release", 2, 2, "bot@2")
    ]
    bundle = _get(client, "/bundles/release")
    assert [v["components"] for v in bundle["versions"]] == [
        {"prompt": "qa@1", "model": "bot@2", "index": "help@2"},
        {"prompt": "qa@1", "model": "bot@1", "index": "help@1"},
    ]
    history = _get(client, "/bundles/release/history")
    (promotion,) = history["items"]
    assert (promotion["decision_id"], promotion["ref"], promotion["decision"]) == (
        data.decision,
        "release@2",
        "pass",
    )
    assert promotion["reason"] == HOSTILE
    assert sorted((m["kind"], m["name"], m["to_version"]) for m in promotion["moves"]) == [
        ("index", "help", 2),
        ("model", "bot", 2),
        ("prompt", "qa", 1),
    ]
    paged = _get(client, "/bundles/release/history", limit=1)
    assert paged["next_cursor"] is None and len(paged["items"]) == 1


#: (method, path, body, status): unknown names, bad cursors and refs, bodies of the wrong
#: type, shape or size.
HOSTILE_REQUESTS: list[tuple[str, str, Any, int]] = [
    ("GET", "/models/nope", None, 404),
    ("GET", "/models/bot/versions/99", None, 404),
    ("GET", "/models/bot/versions/NOT%20AN%20ALIAS", None, 404),
    ("GET", "/models?cursor=%22%3E%3Cscript%3E", None, 400),
    ("GET", "/indexes/nope", None, 404),
    ("GET", "/indexes/%3Cscript%3E", None, 400),
    ("GET", "/indexes/help/diff?a=1&b=9", None, 404),
    ("GET", "/indexes/help/diff?a=1&b=x%20y", None, 400),
    ("GET", "/indexes/help/diff?a=1&b=2&limit=0", None, 400),
    ("GET", "/bundles/nope", None, 404),
    ("GET", "/bundles/release/history?cursor=WyJ4Il0", None, 400),
    ("POST", "/indexes/help/query", {"text": ""}, 400),
    ("POST", "/indexes/help/query", {"text": "x" * 2001}, 400),
    ("POST", "/indexes/help/query", {"text": "x", "k": 51}, 400),
    ("POST", "/indexes/help/query", {"text": "x", "k": True}, 400),
    ("POST", "/indexes/help/query", {"text": ["x"]}, 400),
    ("POST", "/indexes/help/query", {"text": "x", "extra": 1}, 400),
    ("POST", "/indexes/help/query", ["x"], 400),
    ("POST", "/indexes/help/query", {"text": "x", "version": "9"}, 404),
    ("POST", "/indexes/nope/query", {"text": "x"}, 404),
    ("POST", "/indexes/help/query", {"text": "x" * 20_000}, 413),
]


def test_hostile_requests_are_refused(seeded: tuple[httpx.Client, Seeded]) -> None:
    client, _ = seeded
    for method, path, body, status in HOSTILE_REQUESTS:
        response = client.request(method, f"/api/v1{path}", json=body)
        assert response.status_code == status, (path, body, response.text)
        assert response.json()["message"], path
