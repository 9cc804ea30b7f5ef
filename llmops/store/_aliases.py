"""Movable aliases with an append-only history, shared by the prompt and model registries.

Both keep an alias table (owner, alias -> version) and an event table (who moved which alias
from where to where, when and why); only the owner column differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, select

from llmops.store.models import utcnow

__all__ = ["AliasEvent", "alias_events", "move_alias"]


@dataclass(frozen=True)
class AliasEvent:
    """One recorded move of an alias."""

    alias: str
    from_version: int | None
    to_version: int
    actor: str
    reason: str
    action: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "alias": self.alias,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "actor": self.actor,
            "reason": self.reason,
            "action": self.action,
            "created_at": self.created_at,
        }


def move_alias(
    connection: Connection,
    aliases: Table,
    events: Table,
    owner: tuple[str, int],
    alias: str,
    version: int,
    *,
    actor: str,
    reason: str,
    action: str,
) -> AliasEvent:
    """Point ``alias`` of ``owner`` (column, id) at ``version`` and append the event."""
    column, owner_id = owner
    key = (aliases.c[column] == owner_id) & (aliases.c.alias == alias)
    current = connection.execute(select(aliases.c.version).where(key)).scalar()
    now = utcnow()
    if current is None:
        connection.execute(
            aliases.insert().values(
                {column: owner_id, "alias": alias, "version": version, "updated_at": now}
            )
        )
    else:
        connection.execute(aliases.update().where(key).values(version=version, updated_at=now))
    connection.execute(
        events.insert().values(
            {
                column: owner_id,
                "alias": alias,
                "from_version": current,
                "to_version": version,
                "actor": actor,
                "reason": reason,
                "action": action,
                "created_at": now,
            }
        )
    )
    return AliasEvent(alias, current, version, actor, reason, action, now)


def alias_events(
    connection: Connection, events: Table, owner: tuple[str, int], alias: str | None = None
) -> list[AliasEvent]:
    """Every recorded move of the owner's aliases (or of one alias), newest first."""
    column, owner_id = owner
    query = select(events).where(events.c[column] == owner_id)
    if alias is not None:
        query = query.where(events.c.alias == alias)
    rows = connection.execute(query.order_by(events.c.id.desc())).all()
    return [
        AliasEvent(r.alias, r.from_version, r.to_version, r.actor, r.reason, r.action, r.created_at)
        for r in rows
    ]
