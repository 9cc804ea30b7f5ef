"""Score configs and annotation queues on SQLite and PostgreSQL: configs of each type and every
class of bad spec, queues from a trace filter (sampled reproducibly) and from a dataset,
next/label/skip/conflict/redo with labels stored as the traces' scores in one transaction,
export, a dataset from a queue, the item cap, the scores API checking configs, the CLI (exit 2
and one line on bad input), and the 0015 migration up and down."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _live_server import LiveServer
from sqlalchemy import insert, inspect, text

from llmops._exceptions import ConflictError, InputError, NotFoundError
from llmops.cli import main
from llmops.evals import (
    MAX_QUEUE_ITEMS,
    complete_queue_item,
    create_dataset,
    create_dataset_from_queue,
    create_queue,
    dataset_rows,
    export_queue,
    get_queue,
    get_queue_item,
    labelled_items,
    list_queues,
    next_queue_item,
    queue_items,
)
from llmops.server import create_app
from llmops.store import Store, head_revision
from llmops.store.models import SpanRecord, table_of
from llmops.tracing import (
    ScoreConfig,
    TraceFilter,
    add_scores,
    check_against_configs,
    create_score_config,
    get_score_config,
    list_score_configs,
    list_scores,
    make_score,
    parse_score_filter,
)

_rng = random.Random(17)


def _id(digits: int) -> str:
    return f"{_rng.getrandbits(digits * 4) | 1:0{digits}x}"


def _traces(store: Store, count: int, *, documents: bool = False, user: str = "ann") -> list[str]:
    """``count`` traces of a root span (input, output, user) and, with ``documents``, a
    retriever child; oldest first."""
    rows: list[dict[str, Any]] = []
    ids = []
    for i in range(count):
        trace_id, root = _id(32), _id(16)
        start = 1_700_000_000_000_000_000 + i * 1_000_000_000
        attributes = {"llmops.input": f"question {i}", "llmops.output": f"answer {i}"}
        rows.append(
            {
                "trace_id": trace_id,
                "span_id": root,
                "parent_span_id": None,
                "name": "ask",
                "kind": "chain",
                "start_ns": start,
                "end_ns": start + 5_000_000,
                "status_code": "OK",
                "user_id": user,
                "attributes": attributes,
            }
        )
        if documents:
            docs = [{"id": "d1", "content": f"doc for {i}", "score": 0.5}]
            rows.append(
                {
                    "trace_id": trace_id,
                    "span_id": _id(16),
                    "parent_span_id": root,
                    "name": "retrieve",
                    "kind": "retriever",
                    "start_ns": start + 1000,
                    "end_ns": start + 2000,
                    "status_code": "OK",
                    "user_id": None,
                    "attributes": {"gen_ai.retrieval.documents": json.dumps(docs)},
                }
            )
        ids.append(trace_id)
    with store.write() as session:
        session.connection().execute(insert(table_of(SpanRecord)), rows)
    return ids


def _configs(store: Store) -> None:
    create_score_config(store, "helpful", "NUMERIC", min_value=0, max_value=1)
    create_score_config(store, "tone", "CATEGORICAL", categories=["good", "bad"])
    create_score_config(store, "ok", "BOOLEAN", description="answer is correct")


def test_score_configs_of_each_type_and_their_checks(store: Store) -> None:
    _configs(store)
    assert [c.name for c in list_score_configs(store)] == ["helpful", "ok", "tone"]
    tone = get_score_config(store, "tone")
    assert (tone.data_type, tone.categories) == ("CATEGORICAL", ("good", "bad"))
    assert tone.to_dict()["categories"] == ["good", "bad"]
    helpful = get_score_config(store, "helpful")
    assert (helpful.min_value, helpful.max_value) == (0.0, 1.0)
    assert helpful.check(1, "x") == 1.0 and tone.check("bad", "x") == "bad"
    assert get_score_config(store, "ok").check(0, "x") is False
    for config, value, message in [
        (helpful, 1.5, r"x: 'helpful' must be between 0 and 1, got 1.5"),
        (helpful, "high", r"x: 'helpful' is a number, got 'high'"),
        (helpful, True, r"'helpful' is a number"),
        (helpful, float("nan"), r"finite"),
        (helpful, 10**400, r"finite"),
        (tone, "meh", r"x: 'tone' must be one of good, bad, got 'meh'"),
        (tone, 1, r"'tone' must be one of good, bad, got 1"),
        (tone, ["good"], r"got a list"),
        (get_score_config(store, "ok"), 2, r"'ok' is true or false, got 2"),
        (get_score_config(store, "ok"), "yes", r"'ok' is true or false"),
    ]:
        with pytest.raises(InputError, match=message):
            config.check(value, "x")
    floor = create_score_config(store, "chars", "NUMERIC", min_value=0)
    ceiling = create_score_config(store, "wait", "numeric", max_value=60)
    assert (floor.check(10**6, "x"), ceiling.check(-5, "x")) == (1e6, -5.0)
    with pytest.raises(InputError, match="x: 'chars' must be at least 0, got -1"):
        floor.check(-1, "x")
    with pytest.raises(InputError, match="x: 'wait' must be at most 60, got 61"):
        ceiling.check(61, "x")
    with pytest.raises(NotFoundError, match=r"score config 'helpfull' not found.*'helpful'"):
        get_score_config(store, "helpfull")


@pytest.fixture(scope="module")
def spec_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One SQLite store for the bad specs: nothing is ever written to it."""
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('specs') / 's.db'}")
    store.ensure_schema()
    yield store
    store.close()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"data_type": "CATEGORICAL", "categories": []}, "needs 1 to 50 categories, got 0"),
        ({"data_type": "CATEGORICAL", "categories": [f"c{i}" for i in range(51)]}, "got 51"),
        ({"data_type": "CATEGORICAL", "categories": ["a", "a"]}, r"categories\[1\]: 'a' is given"),
        ({"data_type": "CATEGORICAL", "categories": ["a", ""]}, "non-empty"),
        ({"data_type": "CATEGORICAL", "categories": ["a\x00"]}, "control characters"),
        ({"data_type": "CATEGORICAL", "categories": ["x" * 201]}, "at most 200"),
        ({"data_type": "CATEGORICAL", "categories": "ab"}, "must be a list"),
        ({"data_type": "NUMERIC", "min_value": 2, "max_value": 1}, "min_value 2 is above max"),
        ({"data_type": "NUMERIC", "min_value": float("inf")}, "finite"),
        ({"data_type": "NUMERIC", "min_value": "0"}, "expected a number"),
        ({"data_type": "NUMERIC", "categories": ["a"]}, "for CATEGORICAL configs only"),
        ({"data_type": "BOOLEAN", "max_value": 1}, "for NUMERIC configs only"),
        ({"data_type": "TEXT"}, "data_type must be one of NUMERIC, BOOLEAN, CATEGORICAL"),
        ({"data_type": None}, "data_type must be one of"),
        ({"data_type": "NUMERIC", "description": "d" * 2001}, "description"),
        ({"name": "", "data_type": "NUMERIC"}, "invalid score config name"),
        ({"name": "a b", "data_type": "NUMERIC"}, "invalid score config name"),
        ({"name": "a<b", "data_type": "NUMERIC"}, "invalid score config name"),
        ({"name": "a=b", "data_type": "NUMERIC"}, "invalid score config name"),
        ({"name": "x\u2028y", "data_type": "NUMERIC"}, "invalid score config name"),
        ({"name": "n" * 129, "data_type": "NUMERIC"}, "invalid score config name"),
        ({"name": 7, "data_type": "NUMERIC"}, "invalid score config name"),
    ],
)
def test_bad_score_config_specs_are_refused_and_nothing_is_stored(
    spec_store: Store, spec: dict[str, Any], message: str
) -> None:
    args = {"name": "s", "categories": (), "min_value": None, "max_value": None} | spec
    with pytest.raises(InputError, match=message):
        create_score_config(spec_store, args.pop("name"), args.pop("data_type"), **args)
    assert list_score_configs(spec_store) == []


def test_a_taken_config_name_is_refused(store: Store) -> None:
    create_score_config(store, "ok", "boolean")  # the type in any case
    with pytest.raises(InputError, match="score config 'ok' already exists"):
        create_score_config(store, "ok", "NUMERIC")
    assert [c.data_type for c in list_score_configs(store)] == ["BOOLEAN"]


def test_scores_are_checked_against_the_config_of_their_name(store: Store) -> None:
    _configs(store)
    trace = _id(32)
    check_against_configs(
        store,
        [
            make_score(trace, "helpful", 0.5),
            make_score(trace, "helpful", True),  # 1 as true/false
            make_score(trace, "ok", 1),  # 1 as a number
            make_score(trace, "tone", "good"),
            make_score(trace, "free-form", "anything"),  # no config: free-form
        ],
    )
    for scores, message in [
        ([make_score(trace, "helpful", 0.5), make_score(trace, "tone", "meh")], r"scores\[1\]"),
        ([make_score(trace, "helpful", 3)], r"scores\[0\]: 'helpful' must be between 0 and 1"),
        ([make_score(trace, "helpful", "high")], r"'helpful' is a NUMERIC score, got 'high'"),
        ([make_score(trace, "ok", 0.5)], r"'ok' is true or false, got 0.5"),
    ]:
        with pytest.raises(InputError, match=message):
            check_against_configs(store, scores)


def test_a_queue_from_a_trace_filter_with_contexts_and_a_reproducible_sample(
    store: Store,
) -> None:
    _configs(store)
    ids = _traces(store, 12, documents=True)
    _traces(store, 3, user="bob")
    queue = create_queue(
        store,
        "review",
        where=TraceFilter(user_id="ann"),
        score_configs=["helpful", "tone", "helpful"],
        description="is it helpful?",
        created_by="lead",
    )
    assert (queue.total, queue.done, queue.skipped, queue.pending) == (12, 0, 0, 12)
    assert queue.score_configs == ("helpful", "tone")
    assert queue.source == {"traces": {"user_id": "ann"}, "limit": 1000}
    assert queue.to_dict()["pending"] == 12 and queue.created_by == "lead"
    items = queue_items(store, "review")
    assert [item.trace_id for item in items] == ids  # oldest first
    assert [item.position for item in items] == list(range(12))
    assert items[0].data == {
        "input": "question 0",
        "output": "answer 0",
        "contexts": [{"id": "d1", "text": "doc for 0", "score": 0.5}],
    }
    assert get_queue(store, "review") == queue

    first = create_queue(
        store, "sampled", where=TraceFilter(), sample=5, seed=7, score_configs=["ok"]
    )
    again = create_queue(
        store, "sampled-2", where=TraceFilter(), sample=5, seed=7, score_configs=["ok"]
    )
    other = create_queue(
        store, "sampled-3", where=TraceFilter(), sample=5, seed=8, score_configs=["ok"]
    )
    assert first.source == {"traces": {}, "limit": 1000, "sample": 5, "seed": 7}
    picked = [i.trace_id for i in queue_items(store, "sampled")]
    assert len(picked) == len(set(picked)) == 5
    assert picked == [i.trace_id for i in queue_items(store, "sampled-2")]
    assert picked != [i.trace_id for i in queue_items(store, "sampled-3")]
    assert (again.total, other.total) == (5, 5)
    # score filters are the trace list's
    add_scores(store, [make_score(ids[3], "helpful", 0.1)])
    low = create_queue(
        store,
        "low",
        where=TraceFilter(scores=(parse_score_filter("helpful<0.5"),)),
        score_configs=["helpful"],
    )
    assert [i.trace_id for i in queue_items(store, "low")] == [ids[3]] and low.total == 1
    assert [q.name for q in list_queues(store)] == [
        "low",
        "review",
        "sampled",
        "sampled-2",
        "sampled-3",
    ]


def test_bad_queue_specs_are_refused(store: Store) -> None:
    _configs(store)
    _traces(store, 2)
    create_queue(store, "q", where=TraceFilter(), score_configs=["ok"])
    for kwargs, error, message in [
        ({"name": "q"}, InputError, "queue 'q' already exists"),
        ({"name": "bad name"}, InputError, "invalid queue name"),
        ({"name": "../x"}, InputError, "invalid queue name"),
        ({"name": "x" * 201}, InputError, "invalid queue name"),
        ({"score_configs": []}, InputError, "at least one score config"),
        ({"score_configs": "ok"}, InputError, "at least one score config"),
        ({"score_configs": ["nope"]}, NotFoundError, "score config 'nope' not found"),
        ({"where": None}, InputError, "a trace filter or a dataset"),
        ({"dataset": "qa"}, InputError, "a trace filter or a dataset"),
        ({"limit": 0}, InputError, "limit must be 1 to 10,000"),
        ({"limit": MAX_QUEUE_ITEMS + 1}, InputError, "limit must be 1 to 10,000"),
        ({"sample": 0}, InputError, "sample must be 1 to the limit"),
        ({"sample": 2000}, InputError, "sample must be 1 to the limit"),
        ({"seed": "x"}, InputError, "seed must be an integer"),
        ({"description": "\x00"}, InputError, "control characters"),
        ({"where": TraceFilter(user_id="nobody")}, InputError, "no traces match the filter"),
    ]:
        args: dict[str, Any] = {"name": "new", "where": TraceFilter(), "score_configs": ["ok"]}
        args.update(kwargs)
        with pytest.raises(error, match=message):
            create_queue(store, args.pop("name"), **args)
    assert [q.name for q in list_queues(store)] == ["q"]


def test_next_label_skip_conflict_and_redo_store_the_traces_scores(store: Store) -> None:
    _configs(store)
    ids = _traces(store, 4)
    create_queue(store, "q", where=TraceFilter(), score_configs=["helpful", "tone", "ok"])
    first = next_queue_item(store, "q")
    assert first is not None and first.trace_id == ids[0] and first.status == "pending"
    done = complete_queue_item(
        store,
        "q",
        first.id,
        annotator="ann",
        labels={"helpful": 1, "tone": "good"},
        comments={"tone": "polite, mail me at a@b.example"},
    )
    assert (done.status, done.annotator) == ("done", "ann") and done.completed_at is not None
    assert done.labels["helpful"] == {"value": 1.0, "comment": None}
    assert done.labels["tone"]["value"] == "good"
    scores = {s.name: s for s in list_scores(store, ids[0])}
    assert set(scores) == {"helpful", "tone"}
    assert (scores["tone"].source, scores["tone"].author, scores["tone"].label) == (
        "human",
        "ann",
        "good",
    )
    # another annotator cannot overwrite; the same one may redo, replacing their scores
    with pytest.raises(ConflictError, match=r"item \d+ was labelled by ann"):
        complete_queue_item(store, "q", first.id, annotator="bob", labels={"ok": True})
    with pytest.raises(ConflictError):
        complete_queue_item(store, "q", first.id, annotator="bob", labels={}, status="skipped")
    redo = complete_queue_item(store, "q", first.id, annotator="ann", labels={"ok": False})
    assert redo.labels == {"ok": {"value": False, "comment": None}}
    assert [(s.name, s.value) for s in list_scores(store, ids[0])] == [("ok", 0.0)]

    second = next_queue_item(store, "q", after=first.id)
    assert second is not None and second.trace_id == ids[1]
    skipped = complete_queue_item(
        store, "q", second.id, annotator="bob", labels={}, status="skipped"
    )
    assert (skipped.status, skipped.labels) == ("skipped", {})
    assert list_scores(store, ids[1]) == []
    # a skipped item is not a judgement: another annotator may label it
    taken = complete_queue_item(store, "q", second.id, annotator="cy", labels={"ok": True})
    assert taken.annotator == "cy"
    third = next_queue_item(store, "q", after=second.id)
    assert third is not None and third.trace_id == ids[2]
    # from the last item, the pending one left behind is offered again
    last = queue_items(store, "q")[-1]
    assert next_queue_item(store, "q", after=last.id) == third
    progress = get_queue(store, "q")
    assert (progress.done, progress.skipped, progress.pending) == (2, 0, 2)
    assert [i.id for i in queue_items(store, "q", status="done")] == [first.id, second.id]
    assert [i.id for i in labelled_items(store, "q")] == [first.id, second.id]
    for item in queue_items(store, "q", status="pending"):
        complete_queue_item(store, "q", item.id, annotator="ann", labels={"helpful": 0})
    assert next_queue_item(store, "q") is None
    assert get_queue_item(store, "q", first.id) == redo


def test_labels_outside_the_configs_are_refused_and_change_nothing(store: Store) -> None:
    _configs(store)
    create_score_config(store, "other", "NUMERIC")
    [trace] = _traces(store, 1)
    create_queue(store, "q", where=TraceFilter(), score_configs=["helpful", "tone"])
    [item] = queue_items(store, "q")
    for kwargs, error, message in [
        ({"labels": {"tone": "meh"}}, InputError, "labels.tone: 'tone' must be one of good, bad"),
        (
            {"labels": {"helpful": 2}},
            InputError,
            "labels.helpful: 'helpful' must be between 0 and 1",
        ),
        ({"labels": {"helpful": "x" * 10_000}}, InputError, "'helpful' is a number"),
        ({"labels": {"other": 1}}, InputError, "labels.other: not a score config of queue 'q'"),
        ({"labels": {}}, InputError, "give at least one of helpful, tone"),
        ({"labels": ["helpful"]}, InputError, "labels: expected an object"),
        ({"labels": {"helpful": 1}, "comments": {"tone": "x"}}, InputError, "needs a label"),
        ({"labels": {"helpful": 1}, "comments": {"helpful": "x" * 5000}}, InputError, "over 4096"),
        ({"labels": {"helpful": 1}, "status": "skipped"}, InputError, "takes no labels"),
        ({"labels": {"helpful": 1}, "status": "later"}, InputError, "expected done or skipped"),
        ({"labels": {"helpful": 1}, "annotator": " "}, InputError, "annotator: must not be"),
        ({"labels": {"helpful": 1}, "annotator": "a\nb"}, InputError, "control characters"),
        ({"labels": {"helpful": 1}, "annotator": 5}, InputError, "annotator: expected text"),
    ]:
        args: dict[str, Any] = {"annotator": "ann"} | kwargs
        with pytest.raises(error, match=message):
            complete_queue_item(store, "q", item.id, **args)
    with pytest.raises(NotFoundError, match="queue 'q' has no item 999999"):
        complete_queue_item(store, "q", 999_999, annotator="ann", labels={"helpful": 1})
    with pytest.raises(NotFoundError, match="queue 'r' not found"):
        complete_queue_item(store, "r", item.id, annotator="ann", labels={"helpful": 1})
    assert get_queue_item(store, "q", item.id).status == "pending"
    assert list_scores(store, trace) == []


def test_a_failed_score_write_leaves_the_item_pending(store: Store) -> None:
    """The item and its scores commit together: with the scores table gone, labelling fails
    and the item stays pending (no done item without its scores)."""
    _configs(store)
    _traces(store, 1)
    create_queue(store, "q", where=TraceFilter(), score_configs=["helpful"])
    [item] = queue_items(store, "q")
    with store.engine.begin() as connection:
        connection.execute(text("ALTER TABLE scores RENAME TO scores_away"))
    with pytest.raises(Exception, match="scores"):
        complete_queue_item(store, "q", item.id, annotator="ann", labels={"helpful": 1})
    with store.engine.begin() as connection:
        connection.execute(text("ALTER TABLE scores_away RENAME TO scores"))
    assert get_queue_item(store, "q", item.id).status == "pending"
    assert complete_queue_item(store, "q", item.id, annotator="ann", labels={"helpful": 1})


def test_a_queue_from_a_dataset_export_and_a_dataset_from_the_queue(store: Store) -> None:
    _configs(store)
    [trace] = _traces(store, 1)
    rows = [
        {"input": "2+2", "output": "4", "expected": "4"},
        {"input": "capital of France", "output": "Lyon"},
        {"input": "sky", "output": "blue"},
    ]
    create_dataset(store, "qa", rows)
    queue = create_queue(store, "from-qa", dataset="qa@1", score_configs=["ok", "tone"])
    assert (queue.total, queue.source) == (3, {"dataset": "qa@1"})
    items = queue_items(store, "from-qa")
    assert [i.data for i in items] == rows and {i.trace_id for i in items} == {None}
    complete_queue_item(store, "from-qa", items[0].id, annotator="ann", labels={"ok": True})
    complete_queue_item(
        store, "from-qa", items[1].id, annotator="bob", labels={"ok": False, "tone": "bad"}
    )
    complete_queue_item(store, "from-qa", items[2].id, annotator="bob", labels={}, status="skipped")
    lines = list(export_queue(store, "from-qa"))
    assert [line["status"] for line in lines] == ["done", "done", "skipped"]
    assert lines[1] | {"completed_at": None} == {
        "item": items[1].id,
        "position": 1,
        "trace_id": None,
        "status": "done",
        "annotator": "bob",
        "completed_at": None,
        "data": rows[1],
        "labels": {
            "ok": {"value": False, "comment": None},
            "tone": {"value": "bad", "comment": None},
        },
    }
    assert all(json.loads(json.dumps(line)) == line for line in lines)  # JSON-ready

    version = create_dataset_from_queue(store, "judged", "from-qa", expected_from="ok")
    stored = dataset_rows(store, "judged", version.version)
    assert [(r.data["input"], r.expected) for r in stored] == [
        ("2+2", True),
        ("capital of France", False),
    ]
    assert stored[1].metadata == {
        "trace_id": None,
        "queue": "from-qa",
        "item": items[1].id,
        "annotator": "bob",
        "labels": {"ok": False, "tone": "bad"},
    }
    assert version.source == {"queue": "from-qa", "expected_from": "ok"}
    toned = create_dataset_from_queue(store, "toned", "from-qa", expected_from="tone")
    assert toned.row_count == 1  # items without the label are left out
    plain = create_dataset_from_queue(store, "plain", "from-qa")
    assert [r.data for r in dataset_rows(store, "plain", plain.version)] == rows[:2]
    with pytest.raises(InputError, match="not a score config of queue 'from-qa'"):
        create_dataset_from_queue(store, "x", "from-qa", expected_from="helpful")
    create_queue(store, "empty", where=TraceFilter(), score_configs=["ok"])
    with pytest.raises(InputError, match="queue 'empty' has no labelled items"):
        create_dataset_from_queue(store, "x", "empty")
    # a traced dataset row keeps its trace: labels go to the trace too
    create_dataset(store, "traced", [{"input": "q"}], created_by="t")
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE dataset_rows SET trace_id = :t"), {"t": trace})
    create_queue(store, "traced", dataset="traced", score_configs=["ok"])
    [item] = queue_items(store, "traced")
    complete_queue_item(store, "traced", item.id, annotator="ann", labels={"ok": True})
    assert [(s.name, s.source) for s in list_scores(store, trace)] == [("ok", "human")]


def test_a_queue_holds_at_most_10000_items(store: Store) -> None:
    _configs(store)
    create_dataset(store, "big", [{"input": f"q{i}"} for i in range(MAX_QUEUE_ITEMS + 1)])
    with pytest.raises(InputError, match="big@1 has 10,001 rows, over the queue limit 1,000"):
        create_queue(store, "big", dataset="big", score_configs=["ok"])
    with pytest.raises(InputError, match="limit must be 1 to 10,000"):
        create_queue(store, "big", dataset="big", score_configs=["ok"], limit=MAX_QUEUE_ITEMS + 1)
    full = create_queue(
        store, "big", dataset="big", score_configs=["ok"], sample=MAX_QUEUE_ITEMS,
        limit=MAX_QUEUE_ITEMS,
    )  # fmt: skip
    assert full.total == MAX_QUEUE_ITEMS == get_queue(store, "big").pending
    assert len(list(export_queue(store, "big"))) == MAX_QUEUE_ITEMS


def test_the_scores_api_refuses_scores_outside_their_config(store: Store) -> None:
    _configs(store)
    [trace] = _traces(store, 1)
    with LiveServer(create_app(store)) as server:
        url = f"{server.url}/api/v1/traces/{trace}/scores"
        good = httpx.post(url, json=[{"name": "tone", "value": "good"}, {"name": "x", "value": 9}])
        assert good.status_code == 201, good.text
        bad = httpx.post(
            url, json=[{"name": "tone", "value": "good"}, {"name": "tone", "value": "meh"}]
        )
        assert bad.status_code == 400
        assert "scores[1]: 'tone' must be one of good, bad" in bad.json()["message"]
        many = httpx.post(
            f"{server.url}/api/v1/scores",
            json=[{"trace_id": trace, "name": "helpful", "value": 7}],
        )
        assert (
            many.status_code == 400
            and "'helpful' must be between 0 and 1" in many.json()["message"]
        )
    assert sorted(s.name for s in list_scores(store, trace)) == ["tone", "x"]


def _run(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> str:
    capsys.readouterr()
    assert main(argv) == code, (argv, capsys.readouterr())
    return capsys.readouterr().out


def test_the_cli_configs_queues_labels_export_and_dataset(
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("LLMOPS_STORE_URL", store.url)
    monkeypatch.setenv("LLMOPS_USER", "ann")
    ids = _traces(store, 3)
    _run(
        capsys, ["score-configs", "create", "tone", "--type", "categorical", "--values", "good,bad"]
    )
    _run(
        capsys,
        ["score-configs", "create", "helpful", "--type", "numeric", "--min", "0", "--max", "5"],
    )
    _run(capsys, ["score-configs", "create", "ok", "--type", "boolean", "-d", "correct?"])
    listed = json.loads(_run(capsys, ["score-configs", "list", "--json"]))
    assert [(c["name"], c["data_type"]) for c in listed] == [
        ("helpful", "NUMERIC"),
        ("ok", "BOOLEAN"),
        ("tone", "CATEGORICAL"),
    ]
    assert "good, bad" in _run(capsys, ["score-configs", "list"])
    created = json.loads(
        _run(
            capsys,
            [
                "queues",
                "create",
                "review",
                "--score-config",
                "tone",
                "-c",
                "ok",
                "--user",
                "ann",
                "--sample",
                "2",
                "--seed",
                "3",
                "--json",
            ],
        )
    )
    assert (created["total"], created["source"]["seed"]) == (2, 3)
    assert "review" in _run(capsys, ["queues", "list"])
    shown = json.loads(_run(capsys, ["queues", "show", "review", "--items", "--json"]))
    first, second = (item["id"] for item in shown["items"])
    out = _run(capsys, ["queues", "label", "review", str(first), "tone=good", "ok=true"])
    assert "done item" in out and "tone=good" in out
    _run(capsys, ["queues", "label", "review", str(second), "--skip", "--annotator", "bob"])
    listed_queues = json.loads(_run(capsys, ["queues", "list", "--json"]))
    assert (listed_queues[0]["done"], listed_queues[0]["skipped"]) == (1, 1)
    text_out = _run(capsys, ["queues", "show", "review", "--items"])
    assert "1 done, 1 skipped, 0 pending of 2" in text_out
    target = tmp_path / "review.jsonl"
    _run(capsys, ["queues", "export", "review", "-o", str(target)])
    exported = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [line["status"] for line in exported] == ["done", "skipped"]
    assert exported[0]["trace_id"] in ids
    assert len(_run(capsys, ["queues", "export", "review"]).splitlines()) == 2
    made = json.loads(
        _run(
            capsys,
            [
                "datasets",
                "create",
                "gold",
                "--from-queue",
                "review",
                "--expected-from",
                "tone",
                "--json",
            ],
        )
    )
    assert made["row_count"] == 1 and made["source"] == {"queue": "review", "expected_from": "tone"}
    for argv, message in [
        (["score-configs", "create", "x", "--type", "text"], "data_type must be one of"),
        (["score-configs", "create", "x", "--type", "categorical"], "needs 1 to 50 categories"),
        (
            ["score-configs", "create", "x", "--type", "numeric", "--min", "3", "--max", "1"],
            "above",
        ),
        (["score-configs", "create", "tone", "--type", "boolean"], "already exists"),
        (["queues", "create", "r2", "-c", "nope"], "score config 'nope' not found"),
        (["queues", "create", "r2", "-c", "ok", "--dataset", "qa", "--user", "x"], "do not apply"),
        (["queues", "create", "r2", "-c", "ok", "--score", "bad filter"], "invalid score filter"),
        (["queues", "create", "bad name", "-c", "ok"], "invalid queue name"),
        (["queues", "show", "nope"], "queue 'nope' not found"),
        (["queues", "label", "review", str(first), "tone"], "expected LABEL=VALUE"),
        (["queues", "label", "review", str(first), "tone=meh"], "must be one of good, bad"),
        (["queues", "label", "review", str(first), "ok=1", "ok=0"], "given twice"),
        (["queues", "label", "review", str(first), "x=1"], "not a score config of queue"),
        (["queues", "label", "review", str(first), "ok=true", "--annotator", "bob"], "labelled by"),
        (["queues", "label", "review", "99999", "ok=true"], "has no item 99999"),
        (["queues", "export", "review", "-o", str(tmp_path / "no" / "x.jsonl")], "cannot write"),
        (
            ["datasets", "create", "g", "--from-queue", "review", "--user", "x"],
            "apply only with --from-traces",
        ),
        (["datasets", "create", "g", "--expected-from", "tone"], "only with --from-queue"),
    ]:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, (argv, err)


def test_the_0015_migration_goes_up_and_down(store_url: str) -> None:
    from alembic import command

    from llmops.store._store import _alembic_config

    store = Store(store_url)
    with store.engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0014_datasets")
    assert "queue_items" not in inspect(store.engine).get_table_names()
    create_dataset(store, "qa", [{"input": "a"}, {"input": "b"}])  # data from before
    assert store.upgrade() == ("0014_datasets", head_revision())
    store.ensure_schema()
    create_score_config(store, "ok", "BOOLEAN")
    create_queue(store, "q", dataset="qa", score_configs=["ok"])
    [first, _] = queue_items(store, "q")
    complete_queue_item(store, "q", first.id, annotator="ann", labels={"ok": True})
    assert get_queue(store, "q").done == 1
    indexes = {i["name"] for i in inspect(store.engine).get_indexes("queue_items")}
    assert "ix_queue_items_status" in indexes
    with store.engine.begin() as connection:
        command.downgrade(_alembic_config(connection), "0014_datasets")
    names = set(inspect(store.engine).get_table_names())
    assert not names & {"score_configs", "annotation_queues", "queue_items"}
    assert [r.data for r in dataset_rows(store, "qa", 1)] == [{"input": "a"}, {"input": "b"}]
    assert store.upgrade() == ("0014_datasets", head_revision())
    fresh = Store(store_url)
    assert list_queues(fresh) == [] and list_score_configs(fresh) == []
    fresh.close()
    store.close()


def test_score_config_and_queue_dicts_are_json_ready(store: Store) -> None:
    _configs(store)
    _traces(store, 1)
    queue = create_queue(store, "q", where=TraceFilter(), score_configs=["ok"])
    [item] = queue_items(store, "q")
    for value in (queue.to_dict(), item.to_dict(), get_score_config(store, "ok").to_dict()):
        assert json.loads(json.dumps(value)) == value
    assert isinstance(get_score_config(store, "ok"), ScoreConfig)
