"""``llmops.evaluate`` finds the reference and input columns by their usual names, from rows and
from files; a dataset where several columns could be meant is one error naming them."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from llmops import evaluate
from llmops._exceptions import InputError
from llmops.evals._datasets import _EXPECTED_COLUMNS, _INPUT_COLUMNS

QUESTIONS = ["What is 2+2?", "Capital of France?", "Colour of the sky?"]
ANSWERS = ["4", "Paris", "blue"]


def _rows(expected: str, input: str, **extra: str) -> list[dict[str, Any]]:
    return [
        {input: question, expected: answer, **extra}
        for question, answer in zip(QUESTIONS, ANSWERS, strict=True)
    ]


def _write(rows: list[dict[str, Any]], folder: Path, kind: str) -> Path:
    path = folder / f"data.{kind}"
    if kind == "jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    else:
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return path


def _answer_by_lookup(row: dict[str, Any]) -> str:
    """The right answer for the row's question, whatever the column is called."""
    question = next(value for value in row.values() if value in QUESTIONS)
    return ANSWERS[QUESTIONS.index(question)]


# Every usual reference name, each with one of the usual input names (every one of those used),
# as rows, JSONL and CSV.
PAIRS = [
    (name, _INPUT_COLUMNS[index % len(_INPUT_COLUMNS)])
    for index, name in enumerate(_EXPECTED_COLUMNS)
]


@pytest.mark.parametrize("source", ["rows", "jsonl", "csv"])
@pytest.mark.parametrize(("expected", "input"), PAIRS, ids=[f"{e}-{i}" for e, i in PAIRS])
def test_usual_column_names_are_found(
    project: Path, source: str, expected: str, input: str
) -> None:
    rows = _rows(expected, input)
    dataset: Any = rows if source == "rows" else _write(rows, project, source)
    run = evaluate(dataset, _answer_by_lookup, ["exact_match"], name="columns")
    assert run.summary["exact_match"].mean == 1.0
    assert run.summary["exact_match"].n == len(ANSWERS)
    assert [result.case.expected for result in run.results] == ANSWERS
    assert [result.case.input for result in run.results] == QUESTIONS


@pytest.mark.parametrize(
    ("first", "second"), list(itertools.combinations(_EXPECTED_COLUMNS[1:], 2))
)
def test_two_candidate_reference_columns_are_an_error_naming_both(
    project: Path, first: str, second: str
) -> None:
    rows = _rows(first, "question", **{second: "other"})
    with pytest.raises(InputError) as caught:
        evaluate(rows, _answer_by_lookup, ["exact_match"])
    message = str(caught.value)
    assert f"{first}, {second}" in message or f"{second}, {first}" in message
    assert "expected='COLUMN'" in message and "question" in message
    # naming the column resolves it
    run = evaluate(rows, _answer_by_lookup, ["exact_match"], expected=first)
    assert run.summary["exact_match"].mean == 1.0


@pytest.mark.parametrize(("first", "second"), list(itertools.combinations(_INPUT_COLUMNS[1:], 2)))
def test_two_candidate_input_columns_are_an_error_naming_both(
    project: Path, first: str, second: str
) -> None:
    rows = [
        {first: question, second: f"also {question}", "answer": answer}
        for question, answer in zip(QUESTIONS, ANSWERS, strict=True)
    ]
    with pytest.raises(InputError) as caught:
        evaluate(rows, _answer_by_lookup, ["exact_match"])
    assert f"{first}, {second}" in str(caught.value) and "input='COLUMN'" in str(caught.value)
    run = evaluate(rows, _answer_by_lookup, ["exact_match"], input=second)
    assert [result.case.input for result in run.results] == [f"also {q}" for q in QUESTIONS]


def test_documented_names_win_over_the_other_usual_ones(project: Path) -> None:
    rows = _rows("expected", "input", answer="not the reference", question="not the input")
    run = evaluate(rows, _answer_by_lookup, ["exact_match"])
    assert [result.case.expected for result in run.results] == ANSWERS
    assert [result.case.input for result in run.results] == QUESTIONS


def test_no_reference_column_names_the_columns_and_the_parameters(project: Path) -> None:
    rows = [{"question": q, "notes": "x"} for q in QUESTIONS]
    with pytest.raises(InputError) as caught:
        evaluate(rows, _answer_by_lookup, ["exact_match"])
    message = str(caught.value)
    assert "notes, question" in message
    assert "expected='COLUMN'" in message and "expected=None" in message
    # without a reference, a scorer that needs none runs
    run = evaluate(rows, _answer_by_lookup, [{"length": {"max_words": 5}}], expected=None)
    assert run.summary["length"].n == len(QUESTIONS)
    assert all(result.case.expected is None for result in run.results)


def test_a_named_column_missing_from_a_row_names_the_row(project: Path, tmp_path: Path) -> None:
    rows = _rows("answer", "question")
    del rows[1]["answer"]
    path = _write(rows, tmp_path, "jsonl")
    with pytest.raises(InputError, match=r"data\.jsonl:2: row has no value for 'answer'"):
        evaluate(path, _answer_by_lookup, ["exact_match"])
