"""The model registry in the store: numbered immutable versions; their aliases move through
the store's one alias service, registered here as kind ``model``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from llmops._digits import ascii_int
from llmops._exceptions import InputError, StoreError
from llmops._identity import current_actor
from llmops.config import ModelConfig
from llmops.registry._adapter import adapter_digest
from llmops.registry._version import (
    ModelInfo,
    ModelVersion,
    check_json_object,
    check_model_name,
    normalize_lineage,
    parse_model_ref,
)
from llmops.store import (
    Store,
    Versioned,
    aliases_of_kind,
    register_alias_subject,
    version_check,
    version_row,
    version_rows,
)
from llmops.store.models import (
    AliasRecord,
    ModelVersionRecord,
    RegisteredModelRecord,
    table_of,
    utcnow,
)

__all__ = [
    "get_model_version",
    "list_model_versions",
    "list_models",
    "register_model_version",
    "resolve_registry_model",
]

_RETRIES = 8
_M = table_of(RegisteredModelRecord)
_V = table_of(ModelVersionRecord)
_MODELS = Versioned("model", _M, _V, _V.c.model_id)
_A = table_of(AliasRecord)


def version_of(name: str, row: Any) -> ModelVersion:
    """A ``ModelVersion`` from a ``model_versions`` row."""
    return ModelVersion(
        name=name,
        version=row.version,
        id=row.id,
        serve_model=row.serve_model,
        base_model=row.base_model,
        api_base=row.api_base,
        params=dict(row.params or {}),
        adapter_path=row.adapter_path,
        adapter_digest=row.adapter_digest,
        source_run_id=row.source_run_id,
        lineage=dict(row.lineage or {}),
        description=row.description,
        author=row.author,
        created_at=row.created_at,
    )


def _check_length(what: str, value: str | None, limit: int) -> None:
    if value is not None and len(value) > limit:
        raise InputError(f"{what} is longer than {limit} characters")


def _try_register(store: Store, name: str, values: dict[str, Any]) -> ModelVersion:
    with store.write() as session:
        connection = session.connection()
        model = connection.execute(select(_M.c.id).where(_M.c.name == name)).first()
        if model is None:
            model_id = connection.execute(
                _M.insert().values(name=name, description="", tags=[], created_at=utcnow())
            ).inserted_primary_key[0]  # type: ignore[index]
        else:
            model_id = model.id
        latest = connection.execute(
            select(func.max(_V.c.version)).where(_V.c.model_id == model_id)
        ).scalar()
        record = ModelVersionRecord(model_id=model_id, version=(latest or 0) + 1, **values)
        session.add(record)
        session.flush()
        return version_of(name, record)


def register_model_version(
    store: Store,
    name: str,
    *,
    serve_model: str,
    base_model: str = "",
    api_base: str | None = None,
    params: dict[str, Any] | None = None,
    adapter_path: Path | str | None = None,
    source_run_id: str | None = None,
    lineage: dict[str, Any] | None = None,
    description: str = "",
    author: str | None = None,
) -> ModelVersion:
    """Register the next version of ``name`` (created on first use).

    An adapter (file or folder) is pinned by the SHA-256 of its bytes. Safe under concurrent
    writers, across processes: a lost race for a version number is retried.
    """
    check_model_name(name)
    if not serve_model.strip():
        raise InputError(f"model '{name}': serve_model (the model string to call) is empty")
    who = author if author is not None else current_actor()
    for what, value, limit in (
        ("serve_model", serve_model, 400),
        ("base_model", base_model, 400),
        ("api_base", api_base, 400),
        ("source_run_id", source_run_id, 32),
        ("author", who, 200),
    ):
        _check_length(what, value, limit)
    adapter: str | None = None
    digest: str | None = None
    if adapter_path is not None:
        if not str(adapter_path).strip():
            raise InputError(f"model '{name}': adapter_path is empty")
        path = Path(adapter_path).expanduser().resolve()
        digest = adapter_digest(path)
        adapter = str(path)
        _check_length("adapter_path", adapter, 1000)
    values = {
        "serve_model": serve_model,
        "base_model": base_model,
        "api_base": api_base,
        "params": check_json_object(params if params is not None else {}, "params"),
        "adapter_path": adapter,
        "adapter_digest": digest,
        "source_run_id": source_run_id,
        "lineage": normalize_lineage(lineage, source_run_id),
        "description": description,
        "author": who,
    }
    for _ in range(_RETRIES):
        try:
            return _try_register(store, name, values)
        except IntegrityError:
            continue
    raise StoreError(f"could not register model '{name}' after {_RETRIES} concurrent conflicts")


def get_model_version(store: Store, name: str, selector: int | str | None = None) -> ModelVersion:
    """A version by number, by alias, or the newest (``latest``).

    Without ``selector``, ``name`` may be a reference: ``name@3``, ``name@production``.
    """
    if selector is None:
        name, selector = parse_model_ref(name)
    else:
        check_model_name(name)
        if isinstance(selector, str) and (number := ascii_int(selector)) is not None:
            selector = number
    with store.read() as connection:
        row = version_row(connection, _MODELS, name, selector)
    return version_of(name, row)


def resolve_registry_model(store: Store, ref: str) -> tuple[str, ModelConfig]:
    """``name@3`` and the version's model config, for ``name``, ``name@3`` or ``name@alias``."""
    version = get_model_version(store, ref)
    return version.ref, version.model_config()


def list_model_versions(store: Store, name: str) -> list[ModelVersion]:
    """Every version of a model, newest first."""
    check_model_name(name)
    with store.read() as connection:
        rows = version_rows(connection, _MODELS, name)
    return [version_of(name, row) for row in rows]


def list_models(store: Store) -> list[ModelInfo]:
    """Every registered model with its newest version and aliases, by name."""
    with store.read() as connection:
        newest = (
            select(_V.c.model_id, func.max(_V.c.version).label("version"))
            .group_by(_V.c.model_id)
            .subquery()
        )
        latest = {
            row.model_id: row
            for row in connection.execute(
                select(_V.c.model_id, _V.c.version, _V.c.serve_model).join(
                    newest,
                    (newest.c.model_id == _V.c.model_id) & (newest.c.version == _V.c.version),
                )
            ).all()
        }
        models = connection.execute(select(_M).order_by(_M.c.name)).all()
    aliases = aliases_of_kind(store, "model")
    return [
        ModelInfo(
            name=m.name,
            latest=latest[m.id].version if m.id in latest else 0,
            serve_model=latest[m.id].serve_model if m.id in latest else "",
            aliases=aliases.get(m.name, {}),
            created_at=m.created_at,
        )
        for m in models
    ]


register_alias_subject("model", check_version=version_check(_MODELS, check_model_name))
