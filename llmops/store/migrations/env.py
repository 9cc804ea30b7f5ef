"""Alembic environment: runs on the connection llmops hands over, or on sqlalchemy.url."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from llmops.store import models
from llmops.store._partitions import is_span_partition

target_metadata = SQLModel.metadata
_ = models


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        # PostgreSQL's day partitions of spans are made on demand, not by migrations
        include_name=lambda name, kind, _: kind != "table" or not is_span_partition(name),
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from llmops.store._engine import create_store_engine

    engine = create_store_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        _run(conn)
