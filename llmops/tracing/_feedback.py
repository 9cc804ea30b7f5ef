"""The SDK side of scores: ``llmops.feedback(...)`` and ``llmops.current_trace_id()``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmops._exceptions import InputError
from llmops.store import open_store
from llmops.tracing._scores import TraceScore, add_scores, make_score
from llmops.tracing._span import live_current

if TYPE_CHECKING:
    from llmops.store import Store

__all__ = ["current_trace_id", "feedback"]


def current_trace_id() -> str | None:
    """The id (32 hex digits) of the trace being recorded here, None outside any span; an
    OpenTelemetry span's trace counts too."""
    found = live_current()
    if found is None:
        return None
    context = found.get_span_context()
    return f"{context.trace_id:032x}" if context.trace_id else None


def _default_store() -> Store:
    """The store the installed span pipeline writes to, else the project's store."""
    from llmops.tracing import _pipeline

    pipeline = _pipeline._pipeline
    for sink in pipeline.sinks if pipeline is not None else ():
        store = getattr(sink, "store", None)
        if store is not None:
            found: Store = store
            return found

    return open_store()


def feedback(
    trace_id: str | None = None,
    name: str = "",
    value: float | bool | str | None = None,
    *,
    comment: str | None = None,
    source: str = "app",
    author: str | None = None,
    span_id: str | None = None,
    data_type: str | None = None,
    store: Store | None = None,
) -> TraceScore:
    """Store a score on a trace now, in its own transaction, and return it.

    ``trace_id`` None means the current trace (inside traced code). ``value``: True/False, a
    number or a label (see :func:`make_score`); ``source``: ``app`` (end users, the default),
    ``human``, ``judge`` or ``scorer``. The trace need not be stored yet: the batch writer may
    still hold its spans. The comment is masked like span text.
    """
    from llmops.tracing._setup import current_redactor

    if trace_id is None:
        trace_id = current_trace_id()
        if trace_id is None:
            raise InputError(
                "llmops.feedback: no trace_id given and no trace is active here; pass the id "
                "(take llmops.current_trace_id() inside the traced code)"
            )
    if value is None:
        raise InputError("llmops.feedback: value is required (a number, True/False or a label)")
    score = make_score(
        trace_id,
        name,
        value,
        comment=comment,
        source=source,
        author=author,
        span_id=span_id,
        data_type=data_type,
        where="feedback",
    )
    return add_scores(store or _default_store(), [score], current_redactor())[0]
