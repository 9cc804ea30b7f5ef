"""Where dataset versions come from: a file (read by the readers of
:mod:`llmops.evals._datasets`, so suites and datasets agree on every format) or the traces that
match a filter of ``llmops traces list``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import select

from llmops._exceptions import InputError, NotFoundError
from llmops.evals._dataset_registry import (
    MAX_ROWS,
    DatasetRow,
    DatasetVersion,
    check_dataset_name,
    create_dataset,
)
from llmops.evals._datasets import (
    _SUFFIXES,
    Format,
    _read_csv,
    _read_jsonl,
    _read_with_datasets,
)
from llmops.store import Store
from llmops.store.models import SpanRecord, table_of

if TYPE_CHECKING:
    from llmops.tracing import TraceFilter, TraceSummary

__all__ = ["create_dataset_from_file", "create_dataset_from_traces"]


def _over_limit(path: Path, raw: bytes, max_rows: int) -> None:
    """Refuse a JSONL file with too many rows before parsing any: the limit bounds memory."""
    if raw.count(b"\n") < max_rows:
        return
    seen = 0
    for number, line in enumerate(raw.splitlines(), start=1):
        if line.strip():
            seen += 1
            if seen > max_rows:
                raise InputError(
                    f"{path}:{number}: more than {max_rows} rows, the limit of a dataset version"
                )


def _file_rows(
    path: Path, format: Format | None, max_rows: int
) -> tuple[list[Any], list[int] | None]:
    if not path.exists():
        raise NotFoundError(f"{path}: dataset file not found")
    if format is None:
        format = "hf" if path.is_dir() else _SUFFIXES.get(path.suffix.lower())
        if format is None:
            known = ", ".join(sorted(_SUFFIXES))
            raise InputError(f"{path}: unknown dataset format; use {known} or pass a format")
    if format == "jsonl":
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise InputError(f"{path}: cannot read dataset: {exc}") from None
        _over_limit(path, raw, max_rows)
        return _read_jsonl(path, raw)
    if format == "csv":
        return _read_csv(path, "fail")
    return _read_with_datasets(path, format), None


def create_dataset_from_file(
    store: Store,
    name: str,
    path: Path,
    *,
    format: Format | None = None,
    description: str = "",
    note: str = "",
    created_by: str | None = None,
    max_rows: int = MAX_ROWS,
) -> DatasetVersion:
    """A version of ``name`` from a JSONL, CSV, JSON or parquet file (or saved HF dataset)."""
    check_dataset_name(name)
    rows, numbers = _file_rows(path, format, max_rows)
    return create_dataset(
        store,
        name,
        rows,
        source={"file": str(path)},
        description=description,
        note=note,
        created_by=created_by,
        where=str(path),
        line_numbers=numbers,
        max_rows=max_rows,
    )


def _root_spans(store: Store, trace_ids: list[str]) -> dict[str, Any]:
    roots: dict[str, Any] = {}
    with store.read() as connection:
        for start in range(0, len(trace_ids), 500):
            chunk = trace_ids[start : start + 500]
            spans = table_of(SpanRecord)
            for span in connection.execute(
                select(spans).where(spans.c.trace_id.in_(chunk), spans.c.parent_span_id.is_(None))
            ).all():
                roots.setdefault(span.trace_id, span)
    return roots


def trace_data(
    store: Store, traces: Sequence[TraceSummary]
) -> list[tuple[TraceSummary, dict[str, Any], dict[str, Any]]]:
    """(trace, data, metadata) of each trace, in the given order: ``data`` holds the root
    span's full GenAI ``input`` and ``output``; metadata the trace, session, user, model and
    latest scores. Shared by datasets and annotation queues taken from traces."""
    # lazy: tracing's queries are only needed here
    from llmops.tracing import to_genai

    roots = _root_spans(store, [trace.trace_id for trace in traces])
    found = []
    for trace in traces:
        root = roots.get(trace.trace_id)
        attributes = dict(root.attributes or {}) if root is not None else {}
        genai = to_genai(attributes)
        data: dict[str, Any] = {"input": genai.get("llmops.input")}
        if genai.get("llmops.output") is not None:
            data["output"] = genai.get("llmops.output")
        model = attributes.get("gen_ai.request.model") or attributes.get("gen_ai.response.model")
        metadata = {
            "trace_id": trace.trace_id,
            "session_id": trace.session_id,
            "user_id": trace.user_id,
            "model": model,
            "scores": {key: value.get("value") for key, value in trace.scores.items()},
        }
        found.append((trace, data, metadata))
    return found


def create_dataset_from_traces(
    store: Store,
    name: str,
    where: TraceFilter,
    *,
    limit: int = 1000,
    expected_from_score: str | None = None,
    description: str = "",
    note: str = "",
    created_by: str | None = None,
) -> DatasetVersion:
    """A version of ``name`` from the traces matching ``where`` (newest first, at most
    ``limit``): each row's ``input`` and ``output`` are the root span's full GenAI input and
    output, ``expected`` the trace's latest value of score ``expected_from_score`` (traces
    without one are left out); metadata holds trace, session, user, model and scores."""
    # lazy: tracing's queries are only needed here
    from llmops.tracing import list_traces

    check_dataset_name(name)
    if not 1 <= limit <= MAX_ROWS:
        raise InputError(f"limit {limit}: must be between 1 and {MAX_ROWS}")
    traces = list_traces(store, limit=limit, where=where)
    rows: list[DatasetRow] = []
    for trace, data, metadata in trace_data(store, list(reversed(traces))):
        # oldest first: appending traffic appends rows
        if expected_from_score is not None:
            score = trace.scores.get(expected_from_score)
            if score is None or score.get("value") is None:
                continue
            data["expected"] = score["value"]
        rows.append(DatasetRow(len(rows), data, data.get("expected"), metadata, trace.trace_id))
    if not rows:
        why = f" with a score '{expected_from_score}'" if expected_from_score else ""
        raise InputError(f"dataset '{name}': no traces match the filter{why}")
    filter_ = {key: value for key, value in vars(where).items() if value not in (None, ())}
    source = orjson.loads(
        orjson.dumps(
            {"traces": filter_, "limit": limit, "expected_from_score": expected_from_score},
            default=str,
        )
    )
    return create_dataset(
        store,
        name,
        rows,
        source=source,
        description=description,
        note=note,
        created_by=created_by,
        where=f"dataset '{name}' from traces",
    )
