"""Lineage of a model version: the run that trained it, its datasets, the eval runs that
measured it. The one part of a version that grows after registration (append-only)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from llmops._exceptions import InputError, NotFoundError
from llmops.registry._models import get_model_version, version_of
from llmops.registry._version import ModelVersion, check_model_name, normalize_lineage
from llmops.store import Store, named_row
from llmops.store.models import (
    EvalRunRecord,
    ModelVersionRecord,
    RegisteredModelRecord,
    table_of,
)

__all__ = ["EvalRunSummary", "ModelLineage", "link_lineage", "model_lineage"]

_M = table_of(RegisteredModelRecord)
_V = table_of(ModelVersionRecord)
_R = table_of(EvalRunRecord)


@dataclass(frozen=True)
class EvalRunSummary:
    """An eval run linked to a version; ``found`` is False when the store does not hold it."""

    id: str
    found: bool
    suite: str = ""
    model_name: str = ""
    status: str = ""
    started_at: datetime | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "found": self.found,
            "suite": self.suite,
            "model_name": self.model_name,
            "status": self.status,
            "started_at": self.started_at,
            "summary": self.summary,
        }


@dataclass(frozen=True)
class ModelLineage:
    """Where a version came from and what measured it."""

    ref: str
    source_run_id: str | None
    training_run_id: str | None
    adapter_digest: str | None
    dataset_hashes: list[str]
    eval_runs: list[EvalRunSummary]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "source_run_id": self.source_run_id,
            "training_run_id": self.training_run_id,
            "adapter_digest": self.adapter_digest,
            "dataset_hashes": self.dataset_hashes,
            "eval_runs": [run.to_dict() for run in self.eval_runs],
            "extra": self.extra,
        }


def link_lineage(
    store: Store,
    name: str,
    version: int,
    *,
    eval_run_ids: Iterable[str] = (),
    dataset_hashes: Iterable[str] = (),
    training_run_id: str | None = None,
) -> ModelVersion:
    """Append eval runs and dataset hashes to a version's lineage, or set its training run.

    Nothing recorded is removed or rewritten: a different training run than the one
    recorded is an ``InputError``.
    """
    check_model_name(name)
    with store.write() as session:
        connection = session.connection()
        model = named_row(connection, _M, name, "model")
        where = (_V.c.model_id == model.id) & (_V.c.version == version)
        row = connection.execute(select(_V).where(where).with_for_update()).first()
        if row is None:
            raise NotFoundError(f"model '{name}' has no version {version}")
        lineage = normalize_lineage(row.lineage)
        recorded = lineage["training_run_id"]
        if training_run_id is not None and recorded not in (None, training_run_id):
            raise InputError(
                f"model {name}@{version} was trained by run '{recorded}'; "
                f"lineage is append-only, it cannot become '{training_run_id}'"
            )
        lineage = normalize_lineage(
            {
                **lineage,
                "training_run_id": training_run_id or recorded,
                "eval_run_ids": [*lineage["eval_run_ids"], *eval_run_ids],
                "dataset_hashes": [*lineage["dataset_hashes"], *dataset_hashes],
            }
        )
        connection.execute(_V.update().where(where).values(lineage=lineage))
        updated = connection.execute(select(_V).where(where)).one()
    return version_of(name, updated)


def model_lineage(store: Store, name: str, version: int) -> ModelLineage:
    """A version's lineage, with the suite, status and summary of each stored eval run."""
    found = get_model_version(store, name, version)
    lineage = normalize_lineage(found.lineage)
    run_ids: list[str] = lineage.pop("eval_run_ids")
    runs: dict[str, Any] = {}
    if run_ids:
        with store.read() as connection:
            rows = connection.execute(select(_R).where(_R.c.id.in_(run_ids))).all()
        runs = {row.id: row for row in rows}
    return ModelLineage(
        ref=found.ref,
        source_run_id=found.source_run_id,
        training_run_id=lineage.pop("training_run_id"),
        adapter_digest=found.adapter_digest,
        dataset_hashes=lineage.pop("dataset_hashes"),
        eval_runs=[
            EvalRunSummary(
                id=run_id,
                found=True,
                suite=runs[run_id].suite,
                model_name=runs[run_id].model_name,
                status=runs[run_id].status,
                started_at=runs[run_id].started_at,
                summary=dict(runs[run_id].summary or {}),
            )
            if run_id in runs
            else EvalRunSummary(id=run_id, found=False)
            for run_id in run_ids
        ],
        extra=lineage,
    )
