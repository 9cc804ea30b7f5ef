"""The owner row of a versioned subject by name: one lookup, one "not found" message."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, Table, select

from llmops._exceptions import NotFoundError
from llmops._suggest import did_you_mean

__all__ = ["named_row"]

# A name is echoed back clipped: a lookup may come from a request body of any size
_SHOWN = 200


def named_row(
    connection: Connection, table: Table, name: str, kind: str, *, lock: bool = False
) -> Row[Any]:
    """The row of ``table`` (prompts, registered models, datasets, queues, ...) whose ``name``
    is ``name``, locked for update with ``lock``; ``NotFoundError`` naming the ``kind`` and
    the closest known name otherwise."""
    query = select(table).where(table.c.name == name)
    row = connection.execute(query.with_for_update() if lock else query).first()
    if row is None:
        known = connection.execute(select(table.c.name)).scalars()
        shown = str(name)
        raise NotFoundError(f"{kind} '{shown[:_SHOWN]}' not found{did_you_mean(shown, known)}")
    return row
