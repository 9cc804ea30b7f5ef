"""Eval datasets: JSONL, CSV, JSON, parquet or a saved Hugging Face dataset, or inline rows.

JSONL is read with orjson, line by line, so a malformed line is reported with its number;
the other formats go through Hugging Face ``datasets`` (local files only, offline). Importing
``datasets`` costs about 3 s, which the default JSONL path does not pay.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from llmops._exceptions import InputError, NotFoundError
from llmops._hf import import_datasets, quiet_datasets

__all__ = [
    "AUTO",
    "Case",
    "Dataset",
    "DatasetSpec",
    "detect_columns",
    "load_dataset",
    "rows_to_dataset",
]

Format = Literal["jsonl", "json", "csv", "parquet", "hf"]
_SUFFIXES: dict[str, Format] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_INPUT_COLUMNS = ("input", "question", "query", "prompt")
#: Usual names of the reference column, the documented one first.
_EXPECTED_COLUMNS = ("expected", "answer", "reference", "ground_truth", "target", "label", "output")
#: ``expected=``/``input=`` of ``llmops.evaluate``: find the column by its usual names.
AUTO = "auto"


class DatasetSpec(BaseModel):
    """``dataset: {path: ..., format: csv}`` when the suffix does not say the format."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1)
    format: Format | None = None


@dataclass(frozen=True)
class Case:
    """One dataset row: its position, its fields, the expected answer and the input."""

    index: int
    row: dict[str, Any]
    expected: str | None = None
    input: str | None = None


@dataclass(frozen=True)
class Dataset:
    """The cases of a dataset, the hash of its content, the rows skipped as invalid, and the
    stored version it came from."""

    path: Path | None
    cases: list[Case]
    content_hash: str
    skipped: list[str] = field(default_factory=list)
    #: the stored version it was read from (``qa@3``), for datasets in the store
    ref: str | None = None


@dataclass(frozen=True)
class _Unreadable:
    """A line that is not JSON: a bad row, failed or skipped like the others."""

    problem: str


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def rows_to_dataset(
    rows: Iterable[Any],
    *,
    where: str,
    expected_field: str | None = "expected",
    input_field: str | None = None,
    required: Sequence[str] = (),
    on_invalid_row: Literal["fail", "skip"] = "fail",
    path: Path | None = None,
    content_hash: str | None = None,
    line_numbers: Sequence[int] | None = None,
) -> Dataset:
    """Check rows (mappings) and turn them into cases; problems name the row number.

    ``expected_field``/``input_field`` of :data:`AUTO` are found among the usual column names
    (see :func:`detect_columns`).
    """
    cases: list[Case] = []
    skipped: list[str] = []
    materialized = list(rows)
    if AUTO in (expected_field, input_field):
        expected_field, input_field = detect_columns(
            materialized, where=where, expected=expected_field, input=input_field
        )
    for position, row in enumerate(materialized):
        number = line_numbers[position] if line_numbers else position + 1
        label = f"{where}:{number}" if line_numbers else f"{where}: row {number}"
        problem = None
        if isinstance(row, _Unreadable):
            problem = row.problem
        elif not isinstance(row, Mapping):
            problem = "a row must be an object (mapping of column to value)"
        else:
            missing = [
                name
                for name in [*required, *([expected_field] if expected_field else [])]
                if row.get(name) is None
            ]
            if missing:
                problem = f"row has no value for '{missing[0]}'"
                if missing[0] == expected_field:
                    problem += " (the suite's 'expected')"
            elif input_field and row.get(input_field) is None:
                problem = f"row has no value for '{input_field}' (the suite's 'input')"
        if problem is not None:
            if on_invalid_row == "fail":
                raise InputError(f"{label}: {problem}")
            skipped.append(f"{label}: {problem}")
            continue
        assert isinstance(row, Mapping)
        column = input_field or next((c for c in _INPUT_COLUMNS if c in row), None)
        cases.append(
            Case(
                index=len(cases),
                row=dict(row),
                expected=_text(row[expected_field]) if expected_field else None,
                input=_text(row.get(column)) if column else None,
            )
        )
    if not cases:
        raise InputError(
            f"{where}: dataset has no usable rows" + (f" ({skipped[0]})" if skipped else "")
        )
    digest = content_hash or hashlib.sha256(orjson.dumps(materialized, default=str)).hexdigest()
    return Dataset(path=path, cases=cases, content_hash=digest, skipped=skipped)


def detect_columns(
    rows: Sequence[Any], *, where: str, expected: str | None, input: str | None
) -> tuple[str | None, str | None]:
    """The reference and input columns, where :data:`AUTO` asks to find them by their usual
    names: ``expected`` or ``input`` when present, else the one usual name the rows have.

    Several candidates, or no reference column, are an ``InputError`` naming the columns found
    and the ``expected=``/``input=`` parameters. A detected input column is returned as None:
    the rows then pick it themselves, as when no input column is named.
    """
    columns = sorted({str(key) for row in rows if isinstance(row, Mapping) for key in row})
    shown = ", ".join(columns) or "none"
    if expected == AUTO:
        expected = _one_of(columns, _EXPECTED_COLUMNS, where, shown, "expected", "reference answer")
        if expected is None:
            raise InputError(
                f"{where}: no column holds the reference answer (looked for "
                f"{', '.join(_EXPECTED_COLUMNS)}; columns: {shown}): pass expected='COLUMN', "
                "or expected=None when the scorers need no reference"
            )
    if input == AUTO:
        _one_of(columns, _INPUT_COLUMNS, where, shown, "input", "input")
        input = None
    return expected, input


def _one_of(
    columns: Sequence[str], usual: Sequence[str], where: str, shown: str, parameter: str, role: str
) -> str | None:
    found = [name for name in usual if name in columns]
    if usual[0] in found or len(found) <= 1:  # the documented name wins over the others
        return usual[0] if usual[0] in found else next(iter(found), None)
    raise InputError(
        f"{where}: several columns could hold the {role} ({', '.join(found)}; columns: "
        f"{shown}): pass {parameter}='COLUMN' to choose"
    )


def _read_jsonl(path: Path, raw: bytes) -> tuple[list[Any], list[int]]:
    rows: list[Any] = []
    numbers: list[int] = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            rows.append(_Unreadable(f"invalid JSON: {exc}"))
        numbers.append(number)
    return rows, numbers


def _csv_records(path: Path) -> tuple[list[int], dict[int, str]]:
    """The line of each CSV record after the header, and the problem of each ragged one.

    A record with more fields than the header would be shifted into the wrong columns by the
    parser, so it is a bad row. Empty lines are not records (the parser skips them too).
    """
    import csv

    lines: list[int] = []
    ragged: dict[int, str] = {}
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            reader = csv.reader(handle)
            header = next(reader, None) or []
            for record in reader:
                if not record:
                    continue
                if len(record) > len(header):
                    ragged[len(lines)] = (
                        f"row has {len(record)} fields, the header has {len(header)}"
                    )
                lines.append(reader.line_num)
    except csv.Error:  # e.g. a field over csv's size limit: the parser reads those
        return [], {}
    return lines, ragged


def _without_ragged(path: Path, folder: Path) -> Path:
    """A copy of the CSV file without its ragged records."""
    import csv

    copy = folder / path.name
    with (
        path.open(newline="", encoding="utf-8", errors="replace") as source,
        copy.open("w", newline="", encoding="utf-8") as target,
    ):
        reader, writer = csv.reader(source), csv.writer(target)
        header = next(reader, None) or []
        writer.writerow(header)
        writer.writerows(r for r in reader if r and len(r) <= len(header))
    return copy


def _read_csv(
    path: Path, on_invalid_row: Literal["fail", "skip"]
) -> tuple[list[Any], list[int] | None]:
    """CSV rows; a ragged record fails the load, or under ``skip`` becomes a skipped row."""
    import tempfile

    lines, ragged = _csv_records(path)
    if not ragged:
        return _read_with_datasets(path, "csv"), None
    first = min(ragged)
    if on_invalid_row == "fail":
        raise InputError(f"{path}:{lines[first]}: {ragged[first]}")
    with tempfile.TemporaryDirectory(prefix="llmops-csv-") as folder:
        kept: list[Any] = []
        if len(ragged) < len(lines):
            copy = _without_ragged(path, Path(folder))
            try:
                kept = _read_with_datasets(copy, "csv")
            except InputError as exc:  # name the user's file, not the copy
                raise InputError(str(exc).replace(str(copy), str(path))) from None
        good = iter(kept)
        rows: list[Any] = [
            _Unreadable(ragged[index]) if index in ragged else next(good, None)
            for index in range(len(lines))
        ]
    if any(row is None for row in rows) or next(good, None) is not None:  # parsers disagree
        raise InputError(f"{path}:{lines[first]}: {ragged[first]}")
    return rows, lines


def _read_with_datasets(path: Path, format: Format) -> list[dict[str, Any]]:
    """Rows of a CSV/JSON/parquet file or a saved dataset folder, via Hugging Face datasets."""
    try:
        datasets = import_datasets()
    except ImportError:
        raise InputError(
            f"{path}: reading {format} datasets needs the 'datasets' package "
            "(pip install 'llmops[rag]')"
        ) from None
    try:
        with quiet_datasets(datasets):
            rows = _load_rows(datasets, path, format)
    except Exception as exc:
        cause: BaseException = exc
        while cause.__cause__ is not None:  # the parser's own error names the line
            cause = cause.__cause__
        message = str(cause).strip().splitlines()
        reason = message[-1] if message else type(cause).__name__
        raise InputError(f"{path}: cannot read {format} dataset: {reason}") from None
    return rows


def _load_rows(datasets: Any, path: Path, format: Format) -> list[dict[str, Any]]:
    if format == "hf":
        loaded: Any = datasets.load_from_disk(str(path), keep_in_memory=True)
        if isinstance(loaded, datasets.DatasetDict):
            split = "test" if "test" in loaded else next(iter(loaded))
            loaded = loaded[split]
    else:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="llmops-datasets-") as cache:
            builder = {"csv": "csv", "json": "json", "parquet": "parquet"}[format]
            loaded = datasets.load_dataset(
                builder,
                data_files=str(path),
                split="train",
                cache_dir=cache,
                keep_in_memory=True,
            )
    rows: list[dict[str, Any]] = loaded.to_list()
    return rows


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def load_dataset(
    path: Path,
    *,
    expected_field: str | None = "expected",
    input_field: str | None = None,
    required: Sequence[str] = (),
    on_invalid_row: Literal["fail", "skip"] = "fail",
    format: Format | None = None,
) -> Dataset:
    """Read a dataset file (format from ``format`` or the suffix); errors name file and row."""
    if not path.exists():
        raise NotFoundError(f"{path}: dataset not found")
    if format is None:
        format = "hf" if path.is_dir() else _SUFFIXES.get(path.suffix.lower())
        if format is None:
            known = ", ".join(sorted(_SUFFIXES))
            raise InputError(f"{path}: unknown dataset format; use {known} or set 'format'")
    numbers: list[int] | None = None
    if format == "jsonl":
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise InputError(f"{path}: cannot read dataset: {exc}") from None
        rows, numbers = _read_jsonl(path, raw)
        digest = hashlib.sha256(raw).hexdigest()
    elif format == "csv":
        rows, numbers = _read_csv(path, on_invalid_row)
        digest = _file_hash(path)
    else:
        rows = _read_with_datasets(path, format)
        digest = _file_hash(path)
    if not rows:
        raise InputError(f"{path}: dataset has no rows")
    return rows_to_dataset(
        rows,
        where=str(path),
        expected_field=expected_field,
        input_field=input_field,
        required=required,
        on_invalid_row=on_invalid_row,
        path=path,
        content_hash=digest,
        line_numbers=numbers,
    )
