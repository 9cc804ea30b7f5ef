"""Prompts as files: register every changed file in ``prompts/`` (idempotent), or check."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select

from llmops._exceptions import InputError
from llmops.prompts._files import PromptSpec, list_prompt_files, load_prompt_file
from llmops.prompts._registry import content_hash, register_prompt
from llmops.store import Store
from llmops.store.models import PromptRecord, PromptVersionRecord, table_of

__all__ = ["SyncItem", "plan_sync", "sync_prompts"]

Status = Literal["new", "changed", "unchanged"]


@dataclass(frozen=True)
class SyncItem:
    """One prompt file and how it stands against the registry."""

    name: str
    path: Path
    status: Status
    version: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "status": self.status,
            "version": self.version,
        }


def _load_all(prompts_dir: Path) -> list[tuple[Path, PromptSpec]]:
    loaded: list[tuple[Path, PromptSpec]] = []
    seen: dict[str, Path] = {}
    for path in list_prompt_files(prompts_dir):
        spec = load_prompt_file(path)
        if spec.name in seen:
            raise InputError(f"{path}: prompt '{spec.name}' is also defined in {seen[spec.name]}")
        seen[spec.name] = path
        loaded.append((path, spec))
    return loaded


def plan_sync(store: Store, prompts_dir: Path) -> list[SyncItem]:
    """What ``sync`` would do: each file is new, changed, or already a registered version."""
    prompts, versions = table_of(PromptRecord), table_of(PromptVersionRecord)
    items: list[SyncItem] = []
    with store.read() as connection:
        for path, spec in _load_all(prompts_dir):
            digest = content_hash(spec.kind, spec.body, spec.model_params)
            rows = connection.execute(
                select(versions.c.version, versions.c.content_hash)
                .join(prompts, prompts.c.id == versions.c.prompt_id)
                .where(prompts.c.name == spec.name)
            ).all()
            match = next((row.version for row in rows if row.content_hash == digest), None)
            status: Status = "unchanged" if match is not None else ("changed" if rows else "new")
            items.append(SyncItem(spec.name, path, status, match))
    return items


def sync_prompts(store: Store, prompts_dir: Path, *, message: str = "") -> list[SyncItem]:
    """Register a version for every new or changed file; unchanged files cost nothing."""
    results: list[SyncItem] = []
    specs = dict(_load_all(prompts_dir))
    for item in plan_sync(store, prompts_dir):
        if item.status == "unchanged":
            results.append(item)
            continue
        version = register_prompt(
            store, specs[item.path], message=message or f"sync {item.path.name}"
        )
        results.append(SyncItem(item.name, item.path, item.status, version.version))
    return results
