"""RAG pipelines declared in ``configs/rag/<name>.yaml``: sources, splitter, embedder, retriever."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from llmops._exceptions import InputError, NotFoundError
from llmops._suggest import did_you_mean
from llmops._yaml import describe_validation_error, load_yaml

__all__ = [
    "LoadedPipeline",
    "PipelineSpec",
    "RetrieverSpec",
    "SourceSpec",
    "SplitterSpec",
    "load_pipeline",
]


class SourceSpec(BaseModel):
    """A folder of files, a JSONL file of records, or a local file read with HF ``datasets``."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(default=None, description="folder or file of text/markdown/HTML/PDF")
    glob: str = Field(default="**/*", description="files to take under 'path' ('**' spans folders)")
    follow_symlinks_outside: bool = Field(
        default=False,
        description="also index files that symlinks lead to outside the source folders",
    )
    jsonl: str | None = Field(default=None, description="JSONL file, one document per line")
    dataset: str | None = Field(
        default=None,
        description="a local Parquet, CSV or JSON(L) file read with Hugging Face datasets",
    )
    split: str = "train"
    id_field: str = "_id"
    text_field: str = "text"
    title_field: str | None = "title"

    @model_validator(mode="after")
    def _one_kind(self) -> SourceSpec:
        if sum(value is not None for value in (self.path, self.jsonl, self.dataset)) != 1:
            raise ValueError("give exactly one of 'path', 'jsonl' or 'dataset'")
        return self

    @field_validator("glob")
    @classmethod
    def _glob_stays_inside(cls, value: str) -> str:
        # the folder is the boundary: a pattern may only select below it
        parts = PurePosixPath(value).parts
        if not parts or value.startswith(("/", "\\")) or ".." in parts:
            raise ValueError("must be a relative pattern below the folder (no '/' start, no '..')")
        return value


class SplitterSpec(BaseModel):
    """How documents are cut into chunks (LangChain text splitters)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["recursive", "markdown", "tokens", "none"] = "recursive"
    chunk_size: int = Field(default=1000, ge=50, le=100_000)
    chunk_overlap: int = Field(default=100, ge=0)

    @model_validator(mode="after")
    def _overlap_smaller(self) -> SplitterSpec:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError("chunk_overlap must be smaller than chunk_size")
        return self


class RerankSpec(BaseModel):
    """Rerank the best ``candidates`` with a configured model (the default model if unset)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    candidates: int = Field(default=20, ge=1, le=200)


class RetrieverSpec(BaseModel):
    """How queries are answered: dense, BM25 or hybrid (reciprocal-rank fusion)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["dense", "bm25", "hybrid"] = "hybrid"
    k: int = Field(default=5, ge=1, le=1000)
    rrf_k: int = Field(default=60, ge=1)
    bm25_weight: float = Field(
        default=1.0, ge=0.0, le=10.0, description="BM25's weight in the fusion"
    )
    candidates: int = Field(default=50, ge=1, description="per-retriever depth before fusion")
    rerank: RerankSpec | None = None


class PipelineSpec(BaseModel):
    """The content of ``configs/rag/<name>.yaml``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]{1,100}$")
    description: str = ""
    sources: list[SourceSpec] = Field(min_length=1)
    splitter: SplitterSpec = Field(default_factory=SplitterSpec)
    embedder: str = "local/minilm"
    retriever: RetrieverSpec = Field(default_factory=RetrieverSpec)
    prompt: str = "rag_answer"
    model: str | None = None


@dataclass(frozen=True)
class LoadedPipeline:
    """A validated pipeline and the folder its relative paths start from."""

    spec: PipelineSpec
    path: Path
    base_dir: Path


def load_pipeline(name_or_path: str, configs_dir: Path) -> LoadedPipeline:
    """A pipeline by name (``configs/rag/<name>.yaml``) or by file path."""
    candidate = Path(name_or_path)
    path = (
        candidate
        if candidate.suffix in (".yaml", ".yml")
        else configs_dir / "rag" / f"{name_or_path}.yaml"
    )
    if not path.is_file():
        known = (
            sorted(p.stem for p in (configs_dir / "rag").glob("*.yaml"))
            if (configs_dir / "rag").is_dir()
            else []
        )
        raise NotFoundError(
            f"RAG pipeline '{name_or_path}' not found ({path}; known: {', '.join(known) or 'none'})"
            + did_you_mean(candidate.stem, known)
        )
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise InputError(f"{doc.where([])}: a RAG pipeline must be a mapping")
    try:
        spec = PipelineSpec.model_validate({"name": path.stem, **doc.data})
    except ValidationError as exc:
        raise InputError(describe_validation_error(doc, exc, PipelineSpec)) from None
    return LoadedPipeline(spec=spec, path=path, base_dir=path.parent)
