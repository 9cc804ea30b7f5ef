"""Alembic environment: runs on the connection llmops hands over, or on sqlalchemy.url."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from llmops.store import models

target_metadata = SQLModel.metadata
_ = models


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
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
