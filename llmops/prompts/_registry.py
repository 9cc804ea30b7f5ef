"""The prompt registry in the store: numbered content-hashed versions; their aliases move
through the store's one alias service, registered here as kind ``prompt``."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from llmops._exceptions import NotFoundError, StoreError
from llmops._identity import current_actor
from llmops.prompts._files import PromptSpec, check_prompt_name
from llmops.prompts._template import Template, declared_variables
from llmops.prompts._version import LATEST, PromptVersion
from llmops.store import (
    PromptInfo,
    Store,
    Versioned,
    prompt_listing,
    register_alias_subject,
    version_check,
    version_row,
    version_rows,
)
from llmops.store.models import (
    AliasRecord,
    PromptRecord,
    PromptVersionRecord,
    table_of,
    utcnow,
)

__all__ = [
    "PromptInfo",
    "content_hash",
    "get_prompt_version",
    "get_version",
    "list_prompts",
    "list_versions",
    "register_prompt",
]

_RETRIES = 8
_P = table_of(PromptRecord)
_V = table_of(PromptVersionRecord)
_PROMPTS = Versioned("prompt", _P, _V, _V.c.prompt_id)
_A = table_of(AliasRecord)


def content_hash(kind: str, template: Template, model_params: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of what defines a version."""
    canonical = orjson.dumps(
        {"kind": kind, "template": template, "model_params": model_params},
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(canonical).hexdigest()


def _version_of(name: str, row: Any) -> PromptVersion:
    return PromptVersion(
        name=name,
        version=row.version,
        id=row.id,
        content_hash=row.content_hash,
        kind="chat" if row.kind == "chat" else "text",
        template=row.template,
        variables=list(row.variables or []),
        model_params=dict(row.model_params or {}),
        message=row.message,
        author=row.author,
        created_at=row.created_at,
    )


def _try_register(
    store: Store, spec: PromptSpec, digest: str, author: str, message: str
) -> PromptVersion:
    with store.write() as session:
        connection = session.connection()
        prompt = connection.execute(select(_P).where(_P.c.name == spec.name)).first()
        if prompt is None:
            prompt_id = connection.execute(
                _P.insert().values(
                    name=spec.name,
                    description=spec.description,
                    tags=spec.tags,
                    created_at=utcnow(),
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        else:
            prompt_id = prompt.id
            if (prompt.description, prompt.tags or []) != (spec.description, spec.tags):
                connection.execute(
                    _P.update()
                    .where(_P.c.id == prompt_id)
                    .values(description=spec.description, tags=spec.tags)
                )
        existing = connection.execute(
            select(_V).where(_V.c.prompt_id == prompt_id, _V.c.content_hash == digest)
        ).first()
        if existing is not None:
            return _version_of(spec.name, existing)
        latest = connection.execute(
            select(func.max(_V.c.version)).where(_V.c.prompt_id == prompt_id)
        ).scalar()
        record = PromptVersionRecord(
            prompt_id=prompt_id,
            version=(latest or 0) + 1,
            content_hash=digest,
            kind=spec.kind,
            template=spec.body,
            variables=declared_variables(spec.kind, spec.body, where=f"prompt {spec.name}"),
            model_params=spec.model_params,
            message=message,
            author=author,
        )
        session.add(record)
        session.flush()
        return _version_of(spec.name, record)


def register_prompt(
    store: Store, spec: PromptSpec, *, author: str | None = None, message: str = ""
) -> PromptVersion:
    """The version holding ``spec``'s content: the existing one, or the next number.

    Safe under concurrent writers, across processes: a lost race is retried.
    """
    digest = content_hash(spec.kind, spec.body, spec.model_params)
    who = author if author is not None else current_actor()
    for _ in range(_RETRIES):
        try:
            return _try_register(store, spec, digest, who, message)
        except IntegrityError:
            continue
    raise StoreError(
        f"could not register prompt '{spec.name}' after {_RETRIES} concurrent conflicts"
    )


def get_version(store: Store, name: str, selector: int | str = LATEST) -> PromptVersion:
    """A version by number, by alias, or the newest (``latest``)."""
    check_prompt_name(name)
    with store.read() as connection:
        row = version_row(connection, _PROMPTS, name, selector)
    return _version_of(name, row)


def get_prompt_version(store: Store, version_id: int) -> PromptVersion:
    """A version by its database id."""
    with store.read() as connection:
        row = connection.execute(
            select(_V, _P.c.name.label("prompt_name"))
            .join(_P, _P.c.id == _V.c.prompt_id)
            .where(_V.c.id == version_id)
        ).first()
    if row is None:
        raise NotFoundError(f"prompt version id {version_id} not found")
    return _version_of(row.prompt_name, row)


def list_versions(store: Store, name: str) -> list[PromptVersion]:
    """Every version of a prompt, newest first."""
    with store.read() as connection:
        rows = version_rows(connection, _PROMPTS, name)
    return [_version_of(name, row) for row in rows]


def list_prompts(store: Store) -> list[PromptInfo]:
    """Every prompt with its newest version number and aliases, by name."""
    return prompt_listing(store)


register_alias_subject("prompt", check_version=version_check(_PROMPTS))
