"""The prompt registry: immutable, content-hashed, numbered versions in the store."""

from __future__ import annotations

import getpass
import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from llmops._exceptions import NotFoundError, StoreError
from llmops.prompts._files import PromptSpec
from llmops.prompts._template import Message, TemplateKind, declared_variables, render_template
from llmops.store import Store
from llmops.store.models import PromptRecord, PromptVersionRecord

__all__ = ["PromptVersion", "content_hash", "get_prompt_version", "register_prompt"]

_RETRIES = 5


@dataclass(frozen=True)
class PromptVersion:
    """One immutable version of a prompt, ready to render."""

    name: str
    version: int
    id: int
    content_hash: str
    kind: TemplateKind
    template: Any
    variables: list[str]
    model_params: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"

    def render(self, **variables: Any) -> str | list[Message]:
        """A string (text template) or a list of chat messages (chat template)."""
        return render_template(self.kind, self.template, variables, where=f"prompt {self.ref}")

    def messages(self, **variables: Any) -> list[Message]:
        """The rendered prompt as chat messages (a text template becomes one user message)."""
        rendered = self.render(**variables)
        if isinstance(rendered, str):
            return [{"role": "user", "content": rendered}]
        return rendered


def content_hash(kind: str, template: Any, model_params: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of what defines a version."""
    canonical = orjson.dumps(
        {"kind": kind, "template": template, "model_params": model_params},
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(canonical).hexdigest()


def _to_version(name: str, record: PromptVersionRecord) -> PromptVersion:
    assert record.id is not None
    return PromptVersion(
        name=name,
        version=record.version,
        id=record.id,
        content_hash=record.content_hash,
        kind="chat" if record.kind == "chat" else "text",
        template=record.template,
        variables=list(record.variables or []),
        model_params=dict(record.model_params or {}),
    )


def _try_register(
    store: Store, spec: PromptSpec, digest: str, author: str, message: str
) -> PromptVersion:
    with store.write() as session:
        prompt = session.exec(select(PromptRecord).where(PromptRecord.name == spec.name)).first()
        if prompt is None:
            prompt = PromptRecord(name=spec.name, description=spec.description)
            session.add(prompt)
            session.flush()
        existing = session.exec(
            select(PromptVersionRecord).where(
                PromptVersionRecord.prompt_id == prompt.id,
                PromptVersionRecord.content_hash == digest,
            )
        ).first()
        if existing is not None:
            return _to_version(spec.name, existing)
        latest = session.exec(
            select(func.max(PromptVersionRecord.version)).where(
                PromptVersionRecord.prompt_id == prompt.id
            )
        ).one()
        assert prompt.id is not None
        record = PromptVersionRecord(
            prompt_id=prompt.id,
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
        return _to_version(spec.name, record)


def register_prompt(
    store: Store, spec: PromptSpec, *, author: str | None = None, message: str = ""
) -> PromptVersion:
    """The version holding ``spec``'s content: the existing one, or a new number.

    Safe under concurrent writers: a lost race on the unique constraints is retried.
    """
    digest = content_hash(spec.kind, spec.body, spec.model_params)
    who = author if author is not None else getpass.getuser()
    for _ in range(_RETRIES):
        try:
            return _try_register(store, spec, digest, who, message)
        except IntegrityError:
            continue
    raise StoreError(
        f"could not register prompt '{spec.name}' after {_RETRIES} concurrent conflicts"
    )


def get_prompt_version(store: Store, version_id: int) -> PromptVersion:
    """A version by its database id."""
    with store.session() as session:
        record = session.get(PromptVersionRecord, version_id)
        if record is None:
            raise NotFoundError(f"prompt version id {version_id} not found")
        prompt = session.get(PromptRecord, record.prompt_id)
        assert prompt is not None
        return _to_version(prompt.name, record)
