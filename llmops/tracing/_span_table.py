"""Which ``spans`` table a condition on spans is written over."""

from __future__ import annotations

from sqlalchemy import Table

__all__ = ["span_table"]


def span_table(spans: Table | None) -> Table:
    """``spans``, else the ``SpanRecord`` model's table: a condition must name the table of
    the query it joins (columns of another ``Table`` of the same name add a second FROM)."""
    if spans is not None:
        return spans
    # lazy: building the models costs `llmops traces list` a third of its time; it queries
    # the Core table (llmops.store.spans) and never comes here, ORM queries over SpanRecord do
    from llmops.store.models import SpanRecord, table_of

    return table_of(SpanRecord)
