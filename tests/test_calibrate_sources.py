"""Judge calibration on labels from the store: a dataset version's rows and an annotation
queue's done items, against a scripted judge server (only the plumbing is tested)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _fake_openai import FakeOpenAI
from conftest import use_fake_model

from llmops._exceptions import InputError, NotFoundError
from llmops.cli import main
from llmops.config import Config, ModelConfig, load_config
from llmops.evals import build_scorer, calibrate_from_dataset, create_dataset, latest_calibration
from llmops.evals._calibrate_sources import human_label
from llmops.store import Store, open_store

# output -> the rubric score the scripted judge gives (>= 3 is positive at threshold 0.5)
_JUDGED = {"a": 5, "b": 4, "c": 2, "d": 4, "e": 1, "f": 2, "g": 5}
# the humans: a b c positive, d e f negative -> tp 2 (a b), fn 1 (c), fp 1 (d), tn 2 (e f)
_CONFUSION = {"tp": 2, "fn": 1, "fp": 1, "tn": 2}


def _rubric(request: dict[str, Any], _count: int) -> tuple[int, str]:
    prompt = str(request["messages"][1]["content"])
    output = prompt.split("<response>\n")[1].split("\n</response>")[0]
    assert "Reference" not in prompt or "yes" not in prompt  # the label is never shown
    return 200, json.dumps({"reasoning": "r", "score": _JUDGED[output]})


@pytest.fixture(scope="module")
def judge_api() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(_rubric) as server:
        yield server


@pytest.fixture
def config(judge_api: FakeOpenAI) -> Config:
    return Config(
        models={"judge": ModelConfig(model="openai/fake", api_base=judge_api.api_base)},
        default_model="judge",
    )


def _judge() -> Any:
    return build_scorer({"llm_rubric": {"rubric": "Is it right?"}})


@pytest.mark.parametrize(
    ("value", "positive", "expected"),
    [
        (True, None, True),
        (False, "0.2", False),
        (0.5, None, True),
        (0.49, None, False),
        (3, "4", False),
        (4.0, "4", True),
        ("good", "good", True),
        ("bad", "good", False),
        ("Yes", None, True),
        ("incorrect", None, False),
    ],
)
def test_human_label_of_each_data_type(value: object, positive: str | None, expected: bool) -> None:
    assert human_label(value, positive, "item 1") is expected


@pytest.mark.parametrize(
    ("value", "positive", "message"),
    [
        ("meh", None, "item 7: label 'meh' is neither positive"),
        (0.7, "good", "item 7: the label is a number"),
        (float("nan"), None, "item 7: the label is not a finite number"),
        ([1], None, "item 7: the label is a list"),
        ({"value": 1}, None, "item 7: the label is a dict"),
    ],
)
def test_human_label_refuses_what_it_cannot_read(
    value: object, positive: str | None, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        human_label(value, positive, "item 7")


def test_calibration_on_a_dataset_version_records_its_ref_and_hash(
    config: Config, store: Store, judge_api: FakeOpenAI
) -> None:
    human = {"a": "yes", "b": True, "c": 1, "d": "no", "e": False, "f": 0}
    rows = [{"input": "q", "output": k, "expected": v} for k, v in human.items()]
    rows.append({"input": "q", "output": "unlabelled"})  # no label: left out, counted
    version = create_dataset(store, "judged", rows)
    result = calibrate_from_dataset(_judge(), "judged@1", store=store, config=config)
    assert result.confusion == _CONFUSION and (result.n, result.n_left_out) == (6, 1)
    assert result.labels_path == "dataset:judged@1"
    assert result.labels_hash == version.content_hash
    stored = latest_calibration(store, "llm_rubric")
    assert stored is not None and stored.id == result.id
    assert (stored.labels_path, stored.labels_hash) == ("dataset:judged@1", version.content_hash)
    source = stored.detail["source"]
    assert source["kind"] == "dataset" and source["dataset"] == "judged@1"
    assert (source["rows"], source["used"], source["left_out"]) == (7, 6, 1)
    assert source["content_hash"] == version.content_hash

    # a label column with categories, the positive one named; expected stays the reference
    cats = {"a": "good", "b": "good", "c": "good", "d": "bad", "e": "bad", "f": "awful"}
    rows = [{"input": "q", "output": k, "verdict": v, "expected": "x"} for k, v in cats.items()]
    create_dataset(store, "verdicts", rows)
    result = calibrate_from_dataset(
        _judge(), "verdicts", store=store, config=config, label_column="verdict", positive="good"
    )
    assert result.confusion == _CONFUSION and result.labels_path == "dataset:verdicts@1"
    limited = calibrate_from_dataset(
        _judge(),
        "verdicts",
        store=store,
        config=config,
        label_column="verdict",
        limit=2,
        positive="good",
    )
    assert (limited.n, limited.n_left_out) == (2, 0)


def test_calibration_on_a_dataset_refuses_bad_sources(config: Config, store: Store) -> None:
    create_dataset(store, "plain", [{"input": "q", "output": "a"}])
    with pytest.raises(InputError, match=r"dataset:plain@1: no rows with a label in 'expected'"):
        calibrate_from_dataset(_judge(), "plain@1", store=store, config=config)
    with pytest.raises(NotFoundError):
        calibrate_from_dataset(_judge(), "nothing@1", store=store, config=config)
    create_dataset(store, "odd", [{"input": "q", "output": "a", "expected": "Paris"}])
    with pytest.raises(InputError, match=r"dataset odd@1 row 1: label 'Paris'.*--positive"):
        calibrate_from_dataset(_judge(), "odd@1", store=store, config=config)
    create_dataset(store, "no-output", [{"input": "q", "expected": True}])
    with pytest.raises(InputError, match="dataset no-output@1 row 1: it has no 'output'"):
        calibrate_from_dataset(_judge(), "no-output", store=store, config=config)
    with pytest.raises(InputError, match="invalid dataset name"):
        calibrate_from_dataset(_judge(), "../etc", store=store, config=config)
    assert latest_calibration(store, "llm_rubric") is None  # nothing stored on a refusal


def test_cli_calibrate_from_a_dataset(
    project: Path, judge_api: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    use_fake_model(project, judge_api)
    store = open_store(load_config().resolved_store_url)
    rows = [
        {"input": "q", "output": k, "human": s}
        for k, s in {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.1, "e": 0.0, "f": 0.2}.items()
    ]
    create_dataset(store, "scored", rows)
    args = ["eval", "calibrate", "llm_rubric", "-p", "rubric=Is it right?"]
    capsys.readouterr()
    assert main([*args, "--from-dataset", "scored@1", "--label-column", "human", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["confusion"] == _CONFUSION and printed["labels_path"] == "dataset:scored@1"
    assert printed["source"]["label_column"] == "human" and printed["n_left_out"] == 0
    assert main([*args, "--from-dataset", "scored@1", "--label-column", "human"]) == 0
    assert "labels from dataset:scored@1" in capsys.readouterr().out
    # a threshold for numeric labels: only a (0.9) is positive at 0.85
    assert (
        main(
            [
                *args,
                "--from-dataset",
                "scored",
                "--label-column",
                "human",
                "--positive",
                "0.85",
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["confusion"]["fp"] == 2

    for wrong in (
        [],  # no source
        ["--from-dataset", "scored", "--labels", "x.jsonl"],  # two sources
        ["--from-queue", "q"],  # no --label
        ["--from-dataset", "scored", "--label", "helpful"],
        ["--labels", "x.jsonl", "--positive", "good"],
        ["--from-dataset", "scored@1"],  # no row has 'expected'
        ["--from-dataset", "missing@1"],
    ):
        assert main([*args, *wrong]) == 2, wrong
        err = capsys.readouterr().err.strip()
        assert err and len(err.splitlines()) == 1 and "Traceback" not in err


def _queue(store: Store, name: str = "review") -> list[int]:
    """A queue over six outputs: a-f labelled (verdict and helpful), g done with helpful only,
    h skipped, i pending; returns the item ids in order."""
    from llmops.evals import complete_queue_item, create_queue, queue_items
    from llmops.tracing import create_score_config

    outputs = [*_JUDGED, "h", "i"]
    create_dataset(store, f"{name}-src", [{"input": "q", "output": k} for k in outputs])
    if name == "review":
        create_score_config(store, "verdict", "CATEGORICAL", categories=("good", "bad", "awful"))
        create_score_config(store, "helpful", "NUMERIC", min_value=0, max_value=1)
    create_queue(store, name, dataset=f"{name}-src@1", score_configs=["verdict", "helpful"])
    ids = [item.id for item in queue_items(store, name)]
    verdicts = ["good", "good", "good", "bad", "bad", "awful"]
    helpful = (0.9, 0.8, 0.6, 0.1, 0.0, 0.3)
    for item_id, verdict, value in zip(ids, verdicts, helpful, strict=False):
        labels = {"verdict": verdict, "helpful": value}
        complete_queue_item(store, name, item_id, annotator="ann", labels=labels)
    complete_queue_item(store, name, ids[6], annotator="ann", labels={"helpful": 1.0})
    complete_queue_item(store, name, ids[7], annotator="ann", labels={}, status="skipped")
    return ids


def test_calibration_on_a_queue_records_its_name_and_items(config: Config, store: Store) -> None:
    from llmops.evals import calibrate_from_queue

    _queue(store)
    result = calibrate_from_queue(
        _judge(), "review", store=store, config=config, label="verdict", positive="good"
    )
    assert result.confusion == _CONFUSION and (result.n, result.n_left_out) == (6, 1)
    assert result.labels_path == "queue:review" and len(result.labels_hash) == 64
    source = latest_calibration(store, "llm_rubric").detail["source"]  # type: ignore[union-attr]
    assert source == {
        "kind": "queue",
        "queue": "review",
        "label": "verdict",
        "positive": "good",
        "done": 7,
        "items": 6,
        "left_out": 1,
    }
    # a numeric label: >= 0.5 positive (a b c g); g, judged 5, has this label
    numeric = calibrate_from_queue(_judge(), "review", store=store, config=config, label="helpful")
    assert numeric.confusion == {"tp": 3, "fn": 1, "fp": 1, "tn": 2}
    assert (numeric.n_left_out, numeric.labels_hash != result.labels_hash) == (0, True)
    first = calibrate_from_queue(
        _judge(), "review", store=store, config=config, label="helpful", limit=6
    )
    assert first.confusion == _CONFUSION

    with pytest.raises(InputError, match="queue:review: no done items with the label 'nope'"):
        calibrate_from_queue(_judge(), "review", store=store, config=config, label="nope")
    with pytest.raises(InputError, match=r"queue review item \d+: label 'awful' is neither"):
        calibrate_from_queue(_judge(), "review", store=store, config=config, label="verdict")
    with pytest.raises(NotFoundError):
        calibrate_from_queue(_judge(), "missing", store=store, config=config, label="verdict")


def test_cli_calibrate_from_a_queue(
    project: Path, judge_api: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    use_fake_model(project, judge_api)
    _queue(open_store(load_config().resolved_store_url))
    args = ["eval", "calibrate", "llm_rubric", "-p", "rubric=Is it right?", "--from-queue"]
    capsys.readouterr()
    assert main([*args, "review", "--label", "verdict", "--positive", "good"]) == 0
    out = capsys.readouterr().out
    assert "labels from queue:review · 1 left out without the label" in out
    assert main([*args, "review", "--label", "verdict", "--positive", "good", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["source"]["items"] == 6
    for queue, label in (("review", "missing"), ("nowhere", "verdict")):
        assert main([*args, queue, "--label", label]) == 2
        err = capsys.readouterr().err.strip()
        assert err and len(err.splitlines()) == 1 and "Traceback" not in err
