"""Gate policies, read from ``configs/gates.yaml``::

protected_aliases: [production]        # production is always protected
policies:
  - name: qa-prompt
    subject: prompt                    # prompt | model | index
    names: [qa]                        # which subjects it covers (default: all of the kind)
    suites: [evals/llmops_docs.yaml]   # run (or reuse) these suites on the candidate
    thresholds: {contains: 0.4}        # absolute: the candidate's mean must reach it
    non_regression: {contains: 0.05}   # vs production: CI low of (candidate - prod) >= -0.05
    calibrated_judges: {faithfulness: 0.4}   # judge -> minimum Cohen's kappa
    human_signoff: false               # true: someone ran `llmops gate signoff` first
    online: {scorer: helpful, min_mean: 0.7, since: 7d, min_n: 200}   # or a list of them:
                                       # scores on live traces that ran the candidate
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from llmops._exceptions import ConfigError, NotFoundError
from llmops._yaml import YamlDocument, load_model
from llmops.gates._online import OnlineRequirement

__all__ = ["GatesFile", "LoadedGates", "Policy", "load_gates"]

SubjectKind = Literal["prompt", "model", "index", "bundle"]


class Policy(BaseModel):
    """What a subject must show before it may become ``production``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    subject: SubjectKind
    names: list[str] | None = None
    suites: list[str] = Field(default_factory=list)
    thresholds: dict[str, float] = Field(default_factory=dict)
    non_regression: dict[str, float] = Field(default_factory=dict)
    calibrated_judges: dict[str, float] = Field(default_factory=dict)
    human_signoff: bool = False
    #: scores on live traces of the candidate (one mapping is read as a list of one)
    online: list[OnlineRequirement] = Field(default_factory=list)

    @field_validator("online", mode="before")
    @classmethod
    def _one_or_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _some_evidence(self) -> Policy:
        if not self.suites and not self.online:
            raise ValueError(f"policy '{self.name}' needs suites, online evidence or both")
        return self

    @field_validator("thresholds", "non_regression")
    @classmethod
    def _unit_range(cls, values: dict[str, float]) -> dict[str, float]:
        for name, value in values.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"'{name}' must be between 0 and 1")
        return values

    def covers(self, kind: str, name: str) -> bool:
        return self.subject == kind and (self.names is None or name in self.names)

    @property
    def digest(self) -> str:
        """A hash of the policy, recorded with each decision it made."""
        dumped = self.model_dump(mode="json")
        if not dumped["online"]:  # policies without it keep the hash they had before it
            del dumped["online"]
        return hashlib.sha256(orjson.dumps(dumped, option=orjson.OPT_SORT_KEYS)).hexdigest()


class GatesFile(BaseModel):
    """The content of ``configs/gates.yaml``."""

    model_config = ConfigDict(extra="forbid")

    protected_aliases: list[str] = Field(default_factory=list)
    policies: list[Policy] = Field(default_factory=list)

    @field_validator("policies")
    @classmethod
    def _unique_names(cls, policies: list[Policy]) -> list[Policy]:
        names = [policy.name for policy in policies]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"two policies are named '{name}'")
        return policies


@dataclass(frozen=True)
class LoadedGates:
    """The validated gates file with where it came from (for line numbers in errors)."""

    spec: GatesFile
    path: Path
    doc: YamlDocument

    @property
    def project_dir(self) -> Path:
        return self.path.parent.parent

    def where(self, policy: Policy, key: str) -> str:
        index = self.spec.policies.index(policy)
        return self.doc.where(["policies", index, key])

    def policy_for(self, kind: str, name: str) -> Policy:
        """The first policy covering ``kind:name``; NotFoundError names the file."""
        for policy in self.spec.policies:
            if policy.covers(kind, name):
                return policy
        raise NotFoundError(f"{self.path}: no policy covers {kind}:{name}")


def load_gates(project_dir: Path) -> LoadedGates:
    """Read and validate ``configs/gates.yaml``; problems name file, line and key."""
    path = project_dir / "configs" / "gates.yaml"
    if not path.is_file():
        raise NotFoundError(f"{path}: no gates file; a promotion needs a policy")
    spec, doc = load_model(path, GatesFile, ConfigError, what="gate policies")
    return LoadedGates(spec=spec, path=path, doc=doc)
