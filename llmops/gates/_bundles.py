"""Bundles: one prompt version, one model version and one index version, promoted together.

``bundle:support@2`` pins e.g. ``prompt qa@3``, ``model bot@2`` and ``index docs@4``; its gate
runs the policy suites with all of them, against what ``production`` points to now for each,
and its promotion moves the three aliases in one transaction: all or none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select

from llmops._digits import ascii_int
from llmops._exceptions import InputError, NotFoundError
from llmops._identity import current_actor
from llmops.store.models import BundleVersionRecord

if TYPE_CHECKING:
    from llmops.store import Store

__all__ = ["Bundle", "create_bundle", "get_bundle", "list_bundles"]

COMPONENTS = ("prompt", "model", "index")


@dataclass(frozen=True)
class Bundle:
    """A bundle version and the component versions it pins (``kind -> name@version``)."""

    name: str
    version: int
    components: dict[str, str]
    author: str = ""
    created_at: datetime | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "ref": self.ref,
            "components": self.components,
            "author": self.author,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }


def _of(record: BundleVersionRecord) -> Bundle:
    components = {
        kind: value
        for kind, value in (
            ("prompt", record.prompt),
            ("model", record.model),
            ("index", record.index),
        )
        if value
    }
    return Bundle(record.name, record.version, components, record.author, record.created_at)


def create_bundle(
    store: Store,
    name: str,
    *,
    prompt: str | None = None,
    model: str | None = None,
    index: str | None = None,
    author: str | None = None,
) -> Bundle:
    """Pin component versions (refs may use aliases; they are resolved to numbers now)."""
    from llmops.gates._subjects import parse_subject

    refs = {"prompt": prompt, "model": model, "index": index}
    if not any(refs.values()):
        raise InputError(f"bundle '{name}' needs at least one of --prompt, --model, --index")
    pinned = {kind: parse_subject(store, f"{kind}:{ref}").ref for kind, ref in refs.items() if ref}
    for _ in range(8):
        with store.session() as session:
            latest = session.exec(
                select(func.max(BundleVersionRecord.version)).where(
                    BundleVersionRecord.name == name
                )
            ).one()
        record = BundleVersionRecord(
            name=name,
            version=(latest or 0) + 1,
            prompt=pinned.get("prompt"),
            model=pinned.get("model"),
            index=pinned.get("index"),
            author=author or current_actor(),
        )
        try:
            with store.write() as session:
                session.add(record)
        except IntegrityError:  # another writer took the number: take the next
            continue
        return _of(record)
    raise InputError(f"bundle '{name}': too many concurrent versions")  # pragma: no cover


def get_bundle(store: Store, name: str, selector: str = "latest") -> Bundle:
    """A bundle version by number, or the newest."""
    query = select(BundleVersionRecord).where(BundleVersionRecord.name == name)
    if (number := ascii_int(selector)) is not None:
        query = query.where(BundleVersionRecord.version == number)
    elif selector == "latest":
        query = query.order_by(col(BundleVersionRecord.version).desc()).limit(1)
    else:
        raise InputError(f"bundle selector '{selector}': use a version number or latest")
    with store.session() as session:
        record = session.exec(query).first()
    if record is None:
        raise NotFoundError(f"bundle '{name}@{selector}' not found")
    return _of(record)


def list_bundles(store: Store, name: str | None = None) -> list[Bundle]:
    """Bundle versions, newest first."""
    query = select(BundleVersionRecord).order_by(
        col(BundleVersionRecord.name), col(BundleVersionRecord.version).desc()
    )
    if name is not None:
        query = query.where(BundleVersionRecord.name == name)
    with store.session() as session:
        return [_of(record) for record in session.exec(query).all()]
