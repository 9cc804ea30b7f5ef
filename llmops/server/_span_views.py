"""Spans as the API shows them: summary columns read in SQL, full spans with parsed content."""

from __future__ import annotations

from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from llmops._exceptions import NotFoundError
from llmops.store import Store
from llmops.store.models import SpanLogRecord, SpanRecord
from llmops.tracing import (
    count,
    event_messages,
    json_number,
    json_text,
    message_text,
    normalize_role,
    parse_genai_messages,
    parse_json,
    to_genai,
)

__all__ = [
    "COST",
    "INPUT_TOKENS",
    "MODEL",
    "OUTPUT_TOKENS",
    "child_counts",
    "full_span",
    "json_number",
    "json_text",
    "preview",
    "resolve_trace_id",
    "span_logs",
    "summary",
    "summary_columns",
]

MODEL = "gen_ai.request.model"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
COST = "llmops.cost_usd"
_PREVIEW_CHARS = 200
#: The most log records shown with one span (GenAI calls send a few: one per message).
MAX_SPAN_LOGS = 1000


def summary_columns(store: Store) -> list[Any]:
    """The columns of a span summary: never the (large) attributes themselves."""
    return [
        SpanRecord.span_id,
        SpanRecord.parent_span_id,
        SpanRecord.name,
        SpanRecord.kind,
        SpanRecord.start_ns,
        SpanRecord.end_ns,
        SpanRecord.status_code,
        json_text(store, MODEL).label("model"),
        json_number(store, INPUT_TOKENS).label("input_tokens"),
        json_number(store, OUTPUT_TOKENS).label("output_tokens"),
        json_number(store, COST).label("cost_usd"),
    ]


def _int(value: Any) -> int | None:
    return None if value is None else count(value)


def summary(row: Any, child_count: int) -> dict[str, Any]:
    """SPAN_SUMMARY of a row read with :func:`summary_columns`."""
    model = row.model
    return {
        "span_id": row.span_id,
        "parent_span_id": row.parent_span_id,
        "name": row.name,
        "kind": row.kind,
        "start_ns": row.start_ns,
        "end_ns": row.end_ns,
        "duration_ms": (row.end_ns - row.start_ns) / 1e6,
        "status": row.status_code,
        "child_count": child_count,
        "model": model if isinstance(model, str) else None,
        "input_tokens": _int(row.input_tokens),
        "output_tokens": _int(row.output_tokens),
        "cost_usd": None if row.cost_usd is None else float(row.cost_usd),
    }


def child_counts(session: Session, trace_id: str, span_ids: Iterable[str]) -> dict[str, int]:
    """How many children each of ``span_ids`` has."""
    ids = list(span_ids)
    if not ids:
        return {}
    rows = session.exec(
        select(SpanRecord.parent_span_id, func.count())
        .where(SpanRecord.trace_id == trace_id, col(SpanRecord.parent_span_id).in_(ids))
        .group_by(SpanRecord.parent_span_id)
    ).all()
    return {str(parent): int(count) for parent, count in rows}


def resolve_trace_id(session: Session, trace_id: str) -> str:
    """The full id of a trace; a short id is a unique suffix, else prefix (as ``get_trace``)."""
    needle = trace_id.lower()
    exact = select(SpanRecord.span_id).where(SpanRecord.trace_id == needle).limit(1)
    if session.exec(exact).first() is not None:
        return needle
    if 0 < len(needle) < 32:
        for condition in (
            col(SpanRecord.trace_id).endswith(needle, autoescape=True),
            col(SpanRecord.trace_id).startswith(needle, autoescape=True),
        ):
            matches = session.exec(
                select(SpanRecord.trace_id).where(condition).distinct().limit(2)
            ).all()
            if len(matches) > 1:
                raise NotFoundError(
                    f"short trace id '{trace_id}' is ambiguous: give more of its last characters"
                )
            if matches:
                return matches[0]
    raise NotFoundError(f"trace '{trace_id}' not found")


def preview(attributes: dict[str, Any], side: str, limit: int = _PREVIEW_CHARS) -> str | None:
    """The short input or output text of a span (``side``: ``input`` or ``output``)."""
    text = to_genai(attributes).get(f"llmops.{side}")
    if text is None:
        return None
    text = text if isinstance(text, str) else str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _messages(value: Any) -> list[dict[str, Any]] | None:
    """GenAI messages as ``[{role, content}]`` (``parts`` kept when not all text)."""
    messages = parse_genai_messages(value)
    if not messages:
        return None
    shown = []
    for message in messages:
        role = normalize_role(message.get("role"))  # spans stored before roles were mapped
        item: dict[str, Any] = {"role": role, "content": message_text(message)}
        parts = message.get("parts")
        if isinstance(parts, list) and any(
            not isinstance(p, dict) or p.get("type", "text") != "text" for p in parts
        ):
            item["parts"] = parts
        shown.append(item)
    return shown


def _content(attributes: dict[str, Any], side: str) -> Any:
    messages = _messages(attributes.get(f"gen_ai.{side}.messages"))
    if messages is None:
        return attributes.get(f"llmops.{side}")
    instructions = attributes.get("gen_ai.system_instructions")
    has_system = any(m["role"] == "system" for m in messages)
    if side == "input" and instructions is not None and not has_system:
        parts = parse_json(instructions)
        text = message_text({"parts": parts}) if isinstance(parts, list) else str(instructions)
        messages.insert(0, {"role": "system", "content": text})
    return messages


def _documents(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    documents = parse_json(attributes.get("gen_ai.retrieval.documents"))
    if not isinstance(documents, list):
        return []
    return [
        {k: d.get(k) for k in ("id", "score", "content", "metadata")}
        for d in documents
        if isinstance(d, dict)
    ]


def span_logs(session: Session, trace_id: str, span_id: str) -> list[dict[str, Any]]:
    """The log records of a span in time order (the first ``MAX_SPAN_LOGS``): they may have
    come before the span, so they are joined here, when it is read."""
    records = session.exec(
        select(SpanLogRecord)
        .where(SpanLogRecord.trace_id == trace_id, SpanLogRecord.span_id == span_id)
        .order_by(col(SpanLogRecord.time_ns), col(SpanLogRecord.id))
        .limit(MAX_SPAN_LOGS)
    ).all()
    return [
        {
            "time_ns": r.time_ns,
            "severity": r.severity,
            "event_name": r.event_name,
            "body": r.body,
            "attributes": r.attributes if isinstance(r.attributes, dict) else {},
        }
        for r in records
    ]


def _event_content(mapped: dict[str, Any], events: list[Any], logs: list[dict[str, Any]]) -> None:
    """Messages a span lacks in its attributes, from its span events, else its log records."""
    for source in (events, logs):
        missing = [s for s in ("input", "output") if f"gen_ai.{s}.messages" not in mapped]
        if not missing:
            return
        found = event_messages(e for e in source if isinstance(e, dict))
        for side in missing:
            if side in found:
                mapped[f"gen_ai.{side}.messages"] = found[side]


def full_span(
    record: SpanRecord, child_count: int, logs: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A span with everything: SPAN_SUMMARY, attributes, events, log records, content (from
    its attributes, else its events, else its log records), prompt, documents."""
    attributes = record.attributes if isinstance(record.attributes, dict) else {}
    mapped = to_genai(attributes)
    logs = logs or []
    events = record.events if isinstance(record.events, list) else []
    _event_content(mapped, events, logs)

    row = SimpleNamespace(
        span_id=record.span_id,
        parent_span_id=record.parent_span_id,
        name=record.name,
        kind=record.kind,
        start_ns=record.start_ns,
        end_ns=record.end_ns,
        status_code=record.status_code,
        model=mapped.get(MODEL),
        input_tokens=_number(mapped.get(INPUT_TOKENS)),
        output_tokens=_number(mapped.get(OUTPUT_TOKENS)),
        cost_usd=_number(mapped.get(COST)),
    )
    prompt_name = attributes.get("llmops.prompt.name")
    return {
        **summary(row, child_count),
        "trace_id": record.trace_id,
        "status_message": record.status_message,
        "attributes": attributes,
        "events": record.events or [],
        "logs": logs,
        "resource": record.resource,
        "otel_kind": record.otel_kind,
        "scope": record.scope,
        "trace_state": record.trace_state,
        "links": record.links if isinstance(record.links, list) else [],
        "session_id": record.session_id,
        "user_id": record.user_id,
        "input": _content(mapped, "input"),
        "output": _content(mapped, "output"),
        "prompt": None
        if prompt_name is None
        else {"name": prompt_name, "version": attributes.get("llmops.prompt.version")},
        "documents": _documents(mapped),
    }


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
