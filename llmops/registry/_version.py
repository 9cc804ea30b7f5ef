"""``ModelVersion``: one immutable version of a registered model, and how to refer to it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from llmops._digits import ascii_int
from llmops._exceptions import InputError
from llmops.config import ModelConfig
from llmops.store import LATEST, check_alias

__all__ = [
    "LATEST",
    "ModelInfo",
    "ModelVersion",
    "check_json_object",
    "check_model_name",
    "normalize_lineage",
    "parse_model_ref",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")
_LIST_KEYS = ("dataset_hashes", "eval_run_ids")


def check_model_name(name: str) -> str:
    """``name`` if valid, else a clear ``InputError``."""
    if not _NAME.match(name):
        raise InputError(
            f"invalid model name {name!r}: use letters, digits, '.', '_' or '-', starting with a "
            "letter or digit, at most 200 characters"
        )
    return name


def _selector(ref: str, selector: str) -> int | str:
    if not selector or selector == LATEST:
        return LATEST
    number = ascii_int(selector)
    if number is not None:
        if number < 1:
            raise InputError(f"invalid model reference {ref!r}: versions start at 1")
        return number
    return check_alias(selector)


def parse_model_ref(ref: str) -> tuple[str, int | str]:
    """``name``, ``name@latest``, ``name@3`` or ``name@production`` -> (name, version or alias)."""
    name, _, selector = ref.partition("@")
    if not name:
        raise InputError(f"invalid model reference {ref!r}: expected NAME[@VERSION|@ALIAS]")
    return check_model_name(name), _selector(ref, selector)


def check_json_object(value: Any, what: str) -> dict[str, Any]:
    """A copy of ``value`` if it is a JSON object (a dict that serializes), else ``InputError``."""
    if not isinstance(value, dict):
        raise InputError(f"{what} must be a mapping, not {type(value).__name__}")
    try:
        loaded: dict[str, Any] = orjson.loads(orjson.dumps(value))
    except TypeError as exc:
        raise InputError(f"{what} must be JSON-serializable: {exc}") from None
    return loaded


def normalize_lineage(lineage: Any, source_run_id: str | None = None) -> dict[str, Any]:
    """Lineage as stored: ``training_run_id``, ``dataset_hashes``, ``eval_run_ids`` and any
    extra JSON keys; the training run defaults to the version's source run."""
    data = check_json_object(lineage if lineage is not None else {}, "lineage")
    training = data.get("training_run_id", source_run_id)
    if training is not None and not isinstance(training, str):
        raise InputError("lineage.training_run_id must be a run id (a string)")
    data["training_run_id"] = training
    for key in _LIST_KEYS:
        items = data.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise InputError(f"lineage.{key} must be a list of non-empty strings")
        data[key] = list(dict.fromkeys(items))
    return data


@dataclass(frozen=True)
class ModelVersion:
    """One immutable version of a registered model: what to call and where it came from."""

    name: str
    version: int
    id: int
    serve_model: str
    base_model: str = ""
    api_base: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    adapter_path: str | None = None
    adapter_digest: str | None = None
    source_run_id: str | None = None
    lineage: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    author: str = ""
    created_at: datetime | None = None

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"

    def model_config(self) -> ModelConfig:
        """The version as a configured model, ready for an eval suite or ``llmops.llm``."""
        return ModelConfig(model=self.serve_model, api_base=self.api_base, params=dict(self.params))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "ref": self.ref,
            "id": self.id,
            "serve_model": self.serve_model,
            "base_model": self.base_model,
            "api_base": self.api_base,
            "params": self.params,
            "adapter_path": self.adapter_path,
            "adapter_digest": self.adapter_digest,
            "source_run_id": self.source_run_id,
            "lineage": self.lineage,
            "description": self.description,
            "author": self.author,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class ModelInfo:
    """A registered model as listed: newest version, what it serves, and aliases."""

    name: str
    latest: int
    serve_model: str
    aliases: dict[str, int] = field(default_factory=dict)
    created_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "latest": self.latest,
            "serve_model": self.serve_model,
            "aliases": self.aliases,
            "created_at": self.created_at,
        }
