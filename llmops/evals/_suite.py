"""Eval suites: a YAML file naming a dataset, what to run on it, scorers and thresholds.

What to run is one of: a prompt (``prompt:``, or ``prompts:`` for several versions) with a
model (``model:``, or ``models:``: prompts x models is a matrix of runs); a RAG index
(``rag: docs@production``); or a Python callable (``python: my_app.agent:answer``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from llmops._exceptions import NotFoundError, SuiteError
from llmops._suggest import did_you_mean_file
from llmops._yaml import YamlDocument, describe_validation_error, load_yaml
from llmops.evals._dataset_registry import load_registered_dataset, parse_dataset_ref
from llmops.evals._datasets import Case, Dataset, DatasetSpec, load_dataset, rows_to_dataset
from llmops.evals._scoring import Scorer, build_scorer, scorer_threshold

if TYPE_CHECKING:
    from llmops.store import Store

__all__ = ["Case", "Dataset", "LoadedSuite", "SuiteSpec", "load_dataset", "load_suite"]

ScorerItem = str | dict[str, Any]


def _scorer_name(item: ScorerItem) -> str:
    """The name a scorer entry gets, without importing or building it."""
    if isinstance(item, str):
        return item.rpartition(":")[2].rpartition(".")[2] if ":" in item else item
    key, value = next(iter(item.items()))
    if "python" in item and len(item) > 1:
        return str(item.get("name") or str(item["python"]).rpartition(":")[2].rpartition(".")[2])
    if isinstance(value, Mapping) and value.get("name"):
        return str(value["name"])
    if key == "python":
        path = str(value["function"] if isinstance(value, Mapping) else value)
        return path.rpartition(":")[2].rpartition(".")[2]
    return str(key)


class SuiteSpec(BaseModel):
    """The content of ``evals/<suite>.yaml``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    dataset: str | DatasetSpec | list[dict[str, Any]] = Field(
        description="a file relative to the suite (JSONL, CSV, JSON, parquet), a stored "
        "dataset version (NAME@3, NAME@production), or inline rows"
    )
    prompt: str | None = Field(default=None, description="prompt in prompts/ or name@version")
    prompts: list[str] | None = Field(default=None, description="several prompts: a matrix")
    model: str | None = Field(default=None, description="configured model; default_model if unset")
    models: list[str] | None = Field(default=None, description="several models: a matrix")
    rag: str | None = Field(
        default=None, description="answer with a RAG index, e.g. docs@production"
    )
    python: str | None = Field(default=None, description="call module:function(row) per case")
    inputs: dict[str, str] | None = Field(
        default=None, description="template variable -> dataset column; default: same names"
    )
    input: str | None = Field(
        default=None, description="dataset column scorers see as the input (question)"
    )
    expected: str | None = Field(
        default="expected", description="dataset column with the reference answer"
    )
    required: list[str] = Field(default_factory=list, description="columns every row must have")
    on_invalid_row: Literal["fail", "skip"] = "fail"
    scorers: list[ScorerItem] = Field(
        default_factory=lambda: list[ScorerItem](["exact_match", "contains", "token_f1"]),
        min_length=1,
    )
    thresholds: dict[str, float] = Field(default_factory=dict)
    repeats: int = Field(default=1, ge=1, le=100)
    concurrency: int = Field(default=2, ge=1, le=1024)
    retries: int = Field(default=2, ge=0, le=10)
    timeout_s: float | None = Field(default=None, gt=0, description="per case")
    cache: bool = Field(default=True, description="reuse stored responses to identical calls")
    seed: int = 0
    allow_errors: bool = False
    error_budget: float = Field(
        default=0.0, ge=0.0, le=1.0, description="fraction of unmeasured scores tolerated"
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="model parameters for this suite"
    )

    @field_validator("scorers")
    @classmethod
    def _buildable(cls, items: list[ScorerItem], info: ValidationInfo) -> list[ScorerItem]:
        root = (info.context or {}).get("root")
        names: set[str] = set()
        for item in items:
            name = build_scorer(item, root=root).name  # a ValueError names the problem
            if name in names:
                raise ValueError(f"two scorers are named '{name}'; give one a 'name'")
            names.add(name)
        return items

    @field_validator("thresholds")
    @classmethod
    def _thresholds_in_range(cls, thresholds: dict[str, float]) -> dict[str, float]:
        for name, value in thresholds.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"threshold of '{name}' must be between 0 and 1")
        return thresholds

    @model_validator(mode="after")
    def _one_target(self) -> SuiteSpec:
        kinds = [
            kind
            for kind, present in (
                ("prompt", self.prompt is not None or self.prompts is not None),
                ("rag", self.rag is not None),
                ("python", self.python is not None),
            )
            if present
        ]
        if len(kinds) != 1:
            raise ValueError(
                "a suite runs exactly one of: prompt/prompts (with model/models), rag, python"
                + (f"; this one has {', '.join(kinds)}" if kinds else "")
            )
        if self.prompt is not None and self.prompts is not None:
            raise ValueError("give 'prompt' or 'prompts', not both")
        if self.model is not None and self.models is not None:
            raise ValueError("give 'model' or 'models', not both")
        if self.python is not None and self.models is not None:
            raise ValueError("a python target calls its own models; 'models' does not apply")
        built = {_scorer_name(item) for item in self.scorers}
        unknown = sorted(set(self.thresholds) - built)
        if unknown:
            raise ValueError(f"threshold for unknown scorer '{unknown[0]}'")
        return self

    @property
    def target_kind(self) -> str:
        if self.rag is not None:
            return "rag"
        if self.python is not None:
            return "python"
        return "prompt"

    def prompt_refs(self) -> list[str]:
        return self.prompts or ([self.prompt] if self.prompt else [])

    def model_names(self) -> list[str | None]:
        return list(self.models) if self.models else [self.model]

    def all_thresholds(self) -> dict[str, float]:
        """Thresholds from ``thresholds:`` and from ``threshold`` inside scorer entries."""
        found: dict[str, float] = {}
        for item in self.scorers:
            value = scorer_threshold(item)
            if value is not None:
                found[_scorer_name(item)] = value
        return {**found, **self.thresholds}


@dataclass(frozen=True)
class LoadedSuite:
    """A validated suite with where it came from."""

    spec: SuiteSpec
    path: Path
    doc: YamlDocument | None = None
    _scorers: list[Scorer] = field(default_factory=list, repr=False)

    @property
    def root(self) -> Path:
        return self.path.parent

    def build_scorers(self) -> list[Scorer]:
        """Fresh scorer objects for one run (custom ``python:`` scorers import from the root)."""
        return [build_scorer(item, root=self.root) for item in self.spec.scorers]

    def load_dataset(self, store: Store | None = None) -> Dataset:
        """The suite's rows: inline, from a file, or a stored version (``qa@production``).

        A string that names an existing file is that file; otherwise ``NAME@SELECTOR`` (a
        version number or an alias) is a dataset in ``store`` (the configured one when None).
        """
        spec = self.spec
        input_field = spec.input
        if isinstance(spec.dataset, str) and not (self.root / spec.dataset).exists():
            ref = parse_dataset_ref(spec.dataset)
            if ref is not None:
                if store is None:
                    # lazy: a suite of files never opens the store
                    from llmops.store import open_store

                    store = open_store()
                return load_registered_dataset(
                    store,
                    *ref,
                    expected_field=spec.expected,
                    input_field=input_field,
                    required=spec.required,
                    on_invalid_row=spec.on_invalid_row,
                )
        if isinstance(spec.dataset, list):
            return rows_to_dataset(
                spec.dataset,
                where=f"{self.path}: dataset",
                expected_field=spec.expected,
                input_field=input_field,
                required=spec.required,
                on_invalid_row=spec.on_invalid_row,
            )
        dataset = spec.dataset if isinstance(spec.dataset, DatasetSpec) else None
        path = spec.dataset.path if isinstance(spec.dataset, DatasetSpec) else spec.dataset
        return load_dataset(
            (self.root / path).resolve(),
            expected_field=spec.expected,
            input_field=input_field,
            required=spec.required,
            on_invalid_row=spec.on_invalid_row,
            format=dataset.format if dataset else None,
        )


def load_suite(path: Path) -> LoadedSuite:
    """Parse and validate a suite file; every problem names file, line and key."""
    if not path.is_file():
        raise NotFoundError(f"{path}: eval suite not found{did_you_mean_file(path)}")
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise SuiteError(f"{doc.where([])}: an eval suite must be a mapping")
    try:
        spec = SuiteSpec.model_validate(doc.data, context={"root": path.parent.resolve()})
    except ValidationError as exc:
        raise SuiteError(describe_validation_error(doc, exc, SuiteSpec)) from None
    return LoadedSuite(spec=spec, path=path, doc=doc)


def suite_from_mapping(data: Mapping[str, Any], root: Path) -> LoadedSuite:
    """A suite given as a mapping (the Python API); errors name the key."""
    try:
        spec = SuiteSpec.model_validate(dict(data))
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise SuiteError(f"{where}: {problem['msg'].removeprefix('Value error, ')}") from None
    return LoadedSuite(spec=spec, path=root / "<inline>")
