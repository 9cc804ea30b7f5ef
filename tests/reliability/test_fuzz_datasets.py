"""Fuzzing dataset files with bad rows: JSONL (invalid JSON, non-objects, missing expected
values, blank lines) and CSV (missing values, ragged rows: failed, or skipped by line).

With ``on_invalid_row: fail`` the error names the first bad row's line (JSONL) or row / line
(CSV); with ``skip`` every bad row is listed with its number and every good row is kept.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from llmops import InputError, LlmopsError
from llmops.evals import load_dataset
from reliability.conftest import ReliabilityLog
from reliability.test_fuzz_templates import Tally, fuzz

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)
JSONL_ROW = st.one_of(
    st.tuples(st.just("good"), TEXT, TEXT),
    st.tuples(st.just("missing"), TEXT, st.sampled_from(["absent", "null"])),
    st.tuples(st.just("not an object"), st.sampled_from(["[1, 2]", '"text"', "42", "null"]), TEXT),
    st.tuples(st.just("invalid json"), TEXT, TEXT),
    st.tuples(st.just("blank"), st.sampled_from(["", "   ", "\t"]), TEXT),
)


def _jsonl_line(kind: str, a: str, b: str) -> str:
    if kind == "good":
        return json.dumps({"input": a, "expected": b})
    if kind == "missing":
        return json.dumps({"input": a} if b == "absent" else {"input": a, "expected": None})
    if kind == "invalid json":
        return '{"input": ' + json.dumps(a)  # never closed
    return a  # a non-object value, or a blank line


def _check_jsonl(path: Path) -> Any:
    def check(example: tuple[list[tuple[str, str, str]], bool]) -> None:
        rows, skip = example
        path.write_text("\n".join(_jsonl_line(*row) for row in rows) + "\n", encoding="utf-8")
        bad = [n for n, row in enumerate(rows, 1) if row[0] not in ("good", "blank")]
        good = [row for row in rows if row[0] == "good"]
        try:
            dataset = load_dataset(path, on_invalid_row="skip" if skip else "fail")
        except InputError as exc:
            message = str(exc)
            if not any(row[0] != "blank" for row in rows):
                assert message == f"{path}: dataset has no rows", message
            elif not skip and bad:
                assert message.startswith(f"{path}:{bad[0]}: "), (bad, message)
            else:
                assert not good and "no usable rows" in message, message
            return
        assert good, "loaded a dataset without a good row"
        assert not bad or skip, "a bad row was let through"
        assert [c.expected for c in dataset.cases] == [row[2] for row in good]
        assert [c.input for c in dataset.cases] == [row[1] for row in good]
        assert [int(s.split(":")[1]) for s in dataset.skipped] == bad, dataset.skipped

    return check


CSV_ROW = st.one_of(
    st.tuples(st.just("good"), st.text("abc xyz,\"'", max_size=10), st.text("abc01", min_size=1)),
    st.tuples(st.just("missing"), st.text("abc", min_size=1, max_size=5), st.just("")),
    st.tuples(st.just("ragged"), st.text("abc", min_size=1, max_size=5), st.just("x")),
)


def _check_csv(path: Path) -> Any:
    def check(example: tuple[list[tuple[str, str, str]], bool]) -> None:
        rows, skip = example
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["input", "expected"])
        for kind, a, b in rows:
            cells = [a, f"e-{b}" if b else ""]
            writer.writerow([*cells, "extra"] if kind == "ragged" else cells)
        path.write_text(out.getvalue(), encoding="utf-8")
        ragged = [n for n, row in enumerate(rows, 1) if row[0] == "ragged"]
        missing = [n for n, row in enumerate(rows, 1) if row[0] == "missing"]
        good = [row for row in rows if row[0] == "good"]
        try:
            dataset = load_dataset(path, on_invalid_row="skip" if skip else "fail")
        except LlmopsError as exc:
            message = str(exc)
            assert message.startswith(f"{path}"), message
            if not skip and ragged:  # extra fields: its line in the file (the header is line 1)
                assert message.startswith(f"{path}:{ragged[0] + 1}: "), (ragged, message)
            elif not skip and missing:
                assert message.startswith(f"{path}: row {missing[0]}: "), (missing, message)
            else:
                assert not good, message
            return
        assert good, "a dataset without good rows loaded"
        assert skip or not (ragged or missing), "a bad row was let through"
        assert [c.expected for c in dataset.cases] == [f"e-{row[2]}" for row in good]
        if ragged:  # then every skipped row is named by its line
            lines = [int(s.split(":")[1]) for s in dataset.skipped]
            assert lines == [n + 1 for n in sorted(ragged + missing)], dataset.skipped
        else:
            rows_skipped = [int(s.split(" row ")[1].split(":")[0]) for s in dataset.skipped]
            assert rows_skipped == missing, dataset.skipped

    return check


def test_jsonl_and_csv_rows_fail_or_skip_by_number(
    reliability: ReliabilityLog, tmp_path: Path
) -> None:
    jsonl = fuzz(
        st.tuples(st.lists(JSONL_ROW, min_size=1, max_size=8), st.booleans()),
        _check_jsonl(tmp_path / "rows.jsonl"),
        examples=200,
    )
    csv_tally = fuzz(
        st.tuples(st.lists(CSV_ROW, min_size=1, max_size=6), st.booleans()),
        _check_csv(tmp_path / "rows.csv"),
        examples=40,
    )
    tally = Tally()
    tally.add(jsonl, "jsonl: ")
    tally.add(csv_tally, "csv: ")
    tally.record(reliability, "fuzz: dataset rows")
