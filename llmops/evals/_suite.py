"""Eval suites: a YAML file naming a dataset, a prompt, a model, scorers and thresholds."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from llmops._exceptions import InputError, NotFoundError, SuiteError
from llmops._yaml import YamlDocument, describe_validation_error, load_yaml
from llmops.evals._scorers import SCORERS

__all__ = ["Case", "Dataset", "SuiteSpec", "load_dataset", "load_suite"]


class SuiteSpec(BaseModel):
    """The content of ``evals/<suite>.yaml``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    dataset: str = Field(min_length=1, description="JSONL file, relative to the suite file")
    prompt: str = Field(min_length=1, description="prompt name in prompts/")
    model: str | None = Field(
        default=None, description="configured model name; default_model if unset"
    )
    inputs: dict[str, str] | None = Field(
        default=None, description="template variable -> dataset column; default: same names"
    )
    expected: str | None = Field(
        default="expected", description="dataset column with the reference answer"
    )
    scorers: list[str] = Field(
        default_factory=lambda: ["exact_match", "contains", "token_f1"], min_length=1
    )
    thresholds: dict[str, float] = Field(default_factory=dict)
    concurrency: int = Field(default=2, ge=1, le=256)
    retries: int = Field(default=2, ge=0, le=10)
    params: dict[str, Any] = Field(
        default_factory=dict, description="model parameters for this suite"
    )

    @field_validator("scorers")
    @classmethod
    def _known_scorers(cls, names: list[str]) -> list[str]:
        unknown = [name for name in names if name not in SCORERS]
        if unknown:
            raise ValueError(
                f"unknown scorer '{unknown[0]}'; known scorers: {', '.join(sorted(SCORERS))}"
            )
        return names

    @field_validator("thresholds")
    @classmethod
    def _thresholds_in_range(cls, thresholds: dict[str, float]) -> dict[str, float]:
        for name, value in thresholds.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"threshold of '{name}' must be between 0 and 1")
        return thresholds


@dataclass(frozen=True)
class Case:
    """One dataset row: its position, all its fields and the expected answer."""

    index: int
    row: dict[str, Any]
    expected: str | None


@dataclass(frozen=True)
class Dataset:
    """The rows of a suite's dataset with the hash of its file."""

    path: Path
    cases: list[Case]
    content_hash: str


@dataclass(frozen=True)
class LoadedSuite:
    """A validated suite with where it came from."""

    spec: SuiteSpec
    path: Path
    doc: YamlDocument

    @property
    def dataset_path(self) -> Path:
        return (self.path.parent / self.spec.dataset).resolve()


def load_suite(path: Path) -> LoadedSuite:
    """Parse and validate a suite file; every problem names file, line and key."""
    if not path.is_file():
        raise NotFoundError(f"{path}: eval suite not found")
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise SuiteError(f"{doc.where([])}: an eval suite must be a mapping")
    try:
        spec = SuiteSpec.model_validate(doc.data)
    except ValidationError as exc:
        raise SuiteError(describe_validation_error(doc, exc)) from None
    return LoadedSuite(spec=spec, path=path, doc=doc)


def load_dataset(path: Path, expected_field: str | None) -> Dataset:
    """Read a JSONL dataset; a malformed line is an error naming file and line."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"{path}: dataset not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read dataset: {exc}") from None
    cases: list[Case] = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"{path}:{number}: invalid JSON: {exc}") from None
        if not isinstance(row, dict):
            raise InputError(f"{path}:{number}: each line must be a JSON object")
        expected = None
        if expected_field is not None:
            if expected_field not in row:
                raise InputError(
                    f"{path}:{number}: row has no field '{expected_field}' (the suite's 'expected')"
                )
            expected = str(row[expected_field])
        cases.append(Case(index=len(cases), row=row, expected=expected))
    if not cases:
        raise InputError(f"{path}: dataset has no rows")
    return Dataset(path=path, cases=cases, content_hash=hashlib.sha256(raw).hexdigest())
