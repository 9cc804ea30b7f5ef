"""The one alias service: movable aliases (``production``, ``staging``...) of every versioned
subject, with an append-only history, rollback and protection, written once.

A subject is ``KIND:NAME`` (``prompt:qa``, ``model:support``, ``index:docs``; datasets and
bundles next). The package that owns a kind registers what only it knows, whether
``NAME@VERSION`` exists, with :func:`register_alias_subject`; everything else is here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Connection, Row, Select, Table, select
from sqlalchemy.exc import IntegrityError

from llmops._exceptions import GateRequired, InputError, NotFoundError, StoreError
from llmops._identity import current_actor
from llmops.store._protection import GateToken, check_gate_token
from llmops.store._rows import named_row
from llmops.store._tables import alias_events as _E
from llmops.store._tables import aliases as _A

if TYPE_CHECKING:
    from llmops.store._store import Store

__all__ = [
    "ALIAS_KINDS",
    "LATEST",
    "AliasEvent",
    "alias_history",
    "aliases_of",
    "aliases_of_kind",
    "check_alias",
    "get_alias",
    "missing_version",
    "on_alias_moved",
    "register_alias_subject",
    "rollback_alias",
    "rollback_target",
    "select_version",
    "set_alias",
    "version_check",
]

ALIAS_KINDS = ("prompt", "model", "index", "dataset", "bundle")
LATEST = "latest"
_ALIAS = re.compile(r"^[a-z][a-z0-9_\-]{0,63}$")
_RETRIES = 8

VersionCheck = Callable[[Connection, str, int], None]
"""Raises ``NotFoundError`` (naming what is missing) unless ``name@version`` exists."""


_subjects: dict[str, VersionCheck] = {}
_listeners: list[Callable[[AliasEvent], None]] = []


def register_alias_subject(kind: str, *, check_version: VersionCheck) -> None:
    """Let aliases of ``kind`` move; ``check_version`` refuses a version that does not exist.
    Called by the package that owns the kind, when it is imported."""
    if kind not in ALIAS_KINDS:
        raise ValueError(f"unknown alias kind {kind!r}: one of {', '.join(ALIAS_KINDS)}")
    _subjects[kind] = check_version


def _check_kind(kind: str) -> str:
    if kind not in ALIAS_KINDS:
        raise InputError(f"unknown subject kind '{kind}': use one of {', '.join(ALIAS_KINDS)}")
    return kind


def _version_check(kind: str) -> VersionCheck:
    found = _subjects.get(kind)
    if found is None:
        # the owning package registers on import; a lower layer cannot import it for us
        raise InputError(
            f"no registry of kind '{kind}' is loaded: import the package that owns it first "
            "(llmops.prompts, llmops.registry, llmops.rag...)"
        )
    return found


def on_alias_moved(listener: Callable[[AliasEvent], None]) -> None:
    """Call ``listener`` with every move (a cache of alias lookups forgets the subject)."""
    _listeners.append(listener)


def check_alias(alias: str) -> str:
    """``alias`` if it is a valid movable alias name, else a clear ``InputError``."""
    if alias == LATEST or not _ALIAS.match(alias):
        raise InputError(
            f"invalid alias {alias!r}: use lower-case letters, digits, '_' or '-', starting with a "
            f"letter (and not '{LATEST}', which always means the newest version)"
        )
    return alias


@dataclass(frozen=True)
class AliasEvent:
    """One recorded move of an alias of ``kind:name``."""

    kind: str
    name: str
    alias: str
    from_version: int | None
    to_version: int
    actor: str
    reason: str
    action: str
    created_at: datetime
    gate_decision_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "alias": self.alias,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "actor": self.actor,
            "reason": self.reason,
            "action": self.action,
            "gate_decision_id": self.gate_decision_id,
            "created_at": self.created_at,
        }


def _key(kind: str, name: str, alias: str) -> Any:
    return (_A.c.kind == kind) & (_A.c.name == name) & (_A.c.alias == alias)


def _try_move(
    store: Store,
    kind: str,
    name: str,
    alias: str,
    version: int,
    values: dict[str, Any],
    gate: GateToken | None,
) -> AliasEvent:
    with store.write() as session:
        connection = session.connection()
        decision = check_gate_token(connection, f"{kind}:{name}@{version}", alias, gate)
        if decision is not None and _used(connection, kind, name, alias, decision):
            raise GateRequired(
                f"gate decision {decision} already moved alias '{alias}' of {kind}:{name}; "
                "a new move needs a new decision"
            )
        # after the gate: a protected alias is refused even where its kind's owner is not loaded
        _version_check(kind)(connection, name, version)
        key = _key(kind, name, alias)
        # the row lock (PostgreSQL) makes concurrent moves of one alias record a true history
        current = connection.execute(select(_A.c.version).where(key).with_for_update()).scalar()
        now = datetime.now(UTC)
        if current is None:
            connection.execute(
                _A.insert().values(
                    kind=kind, name=name, alias=alias, version=version, updated_at=now
                )
            )
        else:
            connection.execute(_A.update().where(key).values(version=version, updated_at=now))
        event = AliasEvent(
            kind, name, alias, current, version, created_at=now, gate_decision_id=decision, **values
        )
        row = event.to_dict()
        connection.execute(_E.insert().values(row))
        return event


def _used(connection: Connection, kind: str, name: str, alias: str, decision: int) -> bool:
    found = connection.execute(
        select(_E.c.id).where(
            _E.c.kind == kind,
            _E.c.name == name,
            _E.c.alias == alias,
            _E.c.gate_decision_id == decision,
        )
    ).first()
    return found is not None


def _move(
    store: Store,
    kind: str,
    name: str,
    alias: str,
    version: int,
    values: dict[str, Any],
    gate: GateToken | None,
) -> AliasEvent:
    for _ in range(_RETRIES):
        try:
            event = _try_move(store, kind, name, alias, version, values, gate)
        except IntegrityError:  # a concurrent first move of the same alias won the insert
            continue
        for listener in _listeners:
            listener(event)
        return event
    raise StoreError(f"could not move alias '{alias}' of {kind}:{name} after {_RETRIES} conflicts")


def set_alias(
    store: Store,
    kind: str,
    name: str,
    alias: str,
    version: int,
    *,
    reason: str,
    actor: str | None = None,
    gate: GateToken | None = None,
) -> AliasEvent:
    """Point ``alias`` of ``kind:name`` at ``version``, recording who, when, from where and why.

    A protected alias (``production``) needs the ``gate`` token of a recorded decision.
    """
    check_alias(alias)
    if not reason.strip():
        raise InputError(f"moving alias '{alias}' of {_check_kind(kind)} '{name}' needs a reason")
    values = {"actor": actor or current_actor(), "reason": reason, "action": "set"}
    return _move(store, _check_kind(kind), name, alias, version, values, gate)


def get_alias(store: Store, kind: str, name: str, alias: str) -> int | None:
    """The version ``alias`` of ``kind:name`` points to, or None when it points nowhere."""
    with store.read() as connection:
        found: int | None = connection.execute(
            select(_A.c.version).where(_key(kind, name, alias))
        ).scalar()
    return found


@dataclass(frozen=True)
class Versioned:
    """A versioned subject's tables: its ``owners`` rows (one a name), and its ``versions``
    rows pointing at them through ``owner_id``."""

    kind: str
    owners: Table
    versions: Table
    owner_id: Column[Any]


def version_check(
    subject: Versioned, check_name: Callable[[str], object] | None = None
) -> VersionCheck:
    """The :data:`VersionCheck` of ``subject``: its owner row found by name (a
    ``NotFoundError`` naming it otherwise), then the version; ``check_name`` first refuses a
    malformed name."""
    versions = subject.versions

    def check(connection: Connection, name: str, version: int) -> None:
        if check_name is not None:
            check_name(name)
        owner = named_row(connection, subject.owners, name, subject.kind)
        query = select(versions.c.version).where(subject.owner_id == owner.id)
        if connection.execute(query.where(versions.c.version == version)).first() is None:
            raise NotFoundError(f"{subject.kind} '{name}' has no version {version}")

    return check


def select_version(
    query: Select[Any], versions: Table, names: Column[Any], kind: str, selector: int | str
) -> Select[Any]:
    """``query`` (over a subject's ``versions`` table, joined to its ``names`` column)
    narrowed to one version: by number, by alias of ``kind``, or the newest (``latest``)."""
    if isinstance(selector, int):
        return query.where(versions.c.version == selector)
    if selector == LATEST:
        return query.order_by(versions.c.version.desc()).limit(1)
    joined = (_A.c.kind == kind) & (_A.c.name == names) & (_A.c.version == versions.c.version)
    return query.join(_A, joined).where(_A.c.alias == selector)


def missing_version(
    connection: Connection, kind: str, name: str, selector: int | str
) -> NotFoundError:
    """The error for a :func:`select_version` that found nothing, for a subject that exists:
    the version, or the alias with the aliases it has."""
    if isinstance(selector, int):
        return NotFoundError(f"{kind} '{name}' has no version {selector}")
    query = select(_A.c.alias).where(_A.c.kind == kind, _A.c.name == name)
    known = ", ".join(sorted(connection.execute(query).scalars().all())) or "none"
    return NotFoundError(f"{kind} '{name}' has no alias '{selector}' (aliases: {known})")


def version_row(
    connection: Connection, subject: Versioned, name: str, selector: int | str
) -> Row[Any]:
    """The version of ``subject`` ``name`` by number, alias or ``latest``; a
    ``NotFoundError`` naming the missing subject or version."""
    owners, versions, kind = subject.owners, subject.versions, subject.kind
    query = select(versions).join(owners, owners.c.id == subject.owner_id)
    query = select_version(
        query.where(owners.c.name == name), versions, owners.c.name, kind, selector
    )
    row = connection.execute(query).first()
    if row is None:
        named_row(connection, owners, name, kind)  # a missing subject is named as such
        raise missing_version(connection, kind, name, selector)
    return row


def version_rows(connection: Connection, subject: Versioned, name: str) -> list[Row[Any]]:
    """Every version of ``subject`` ``name``, newest first (``NotFoundError`` if no such)."""
    owner = named_row(connection, subject.owners, name, subject.kind)
    query = select(subject.versions).where(subject.owner_id == owner.id)
    return list(connection.execute(query.order_by(subject.versions.c.version.desc())).all())


def aliases_of(store: Store, kind: str, name: str) -> dict[str, int]:
    """Every alias of ``kind:name`` and its version, by alias."""
    return aliases_of_kind(store, kind, [name]).get(name, {})


def aliases_of_kind(
    store: Store, kind: str, names: list[str] | None = None
) -> dict[str, dict[str, int]]:
    """The aliases of every subject of ``kind`` (or of ``names``): name -> alias -> version."""
    query = select(_A.c.name, _A.c.alias, _A.c.version).where(_A.c.kind == kind)
    if names is not None:
        query = query.where(_A.c.name.in_(names))
    found: dict[str, dict[str, int]] = {}
    with store.read() as connection:
        for row in connection.execute(query.order_by(_A.c.name, _A.c.alias)).all():
            found.setdefault(row.name, {})[row.alias] = row.version
    return found


def alias_history(store: Store, kind: str, name: str, alias: str | None = None) -> list[AliasEvent]:
    """Every recorded move of the aliases of ``kind:name`` (or of one alias), newest first."""
    query = select(_E).where(_E.c.kind == kind, _E.c.name == name)
    if alias is not None:
        query = query.where(_E.c.alias == alias)
    with store.read() as connection:
        rows = connection.execute(query.order_by(_E.c.id.desc())).all()
    return [
        AliasEvent(
            r.kind,
            r.name,
            r.alias,
            r.from_version,
            r.to_version,
            r.actor,
            r.reason,
            r.action,
            r.created_at,
            r.gate_decision_id,
        )
        for r in rows
    ]


def rollback_target(store: Store, kind: str, name: str, alias: str) -> AliasEvent:
    """The last move of ``alias``, whose ``from_version`` a rollback restores."""
    check_alias(alias)
    events = alias_history(store, _check_kind(kind), name, alias)
    if not events:
        raise NotFoundError(f"{kind} '{name}' has no alias '{alias}'")
    if events[0].from_version is None:
        raise InputError(
            f"alias '{alias}' of {kind} '{name}' has no earlier version to roll back to"
        )
    return events[0]


def rollback_alias(
    store: Store,
    kind: str,
    name: str,
    alias: str,
    *,
    reason: str = "",
    actor: str | None = None,
    gate: GateToken | None = None,
) -> AliasEvent:
    """Move ``alias`` of ``kind:name`` back to the version it pointed to before its last move."""
    last = rollback_target(store, kind, name, alias)
    assert last.from_version is not None
    why = reason.strip() or f"rollback from version {last.to_version}"
    values = {"actor": actor or current_actor(), "reason": why, "action": "rollback"}
    return _move(store, kind, name, alias, last.from_version, values, gate)
