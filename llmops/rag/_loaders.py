"""Loading documents: folders of text, Markdown, HTML and PDF files, and JSONL records.

Unreadable or binary files are reported and skipped, never fatal.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from llmops._exceptions import InputError, NotFoundError
from llmops.rag._spec import SourceSpec

__all__ = ["Document", "LoadReport", "load_sources"]

_TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst", ".html", ".htm", ".pdf", ".json", ".csv"}
_TAGS = re.compile(r"<(script|style)[^>]*>.*?</\1>|<[^>]+>", re.S | re.I)


@dataclass(frozen=True)
class Document:
    """A source document: stable id, text and metadata."""

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoadReport:
    """What was loaded: file hashes for the manifest, and what was skipped and why."""

    files: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def corpus_hash(self) -> str:
        digest = hashlib.sha256()
        for item in sorted(self.files, key=lambda f: f["path"]):
            digest.update(f"{item['path']}\0{item['sha256']}\n".encode())
        return digest.hexdigest()


def _read_file(path: Path) -> str:
    raw = path.read_bytes()
    if path.suffix.lower() == ".pdf":
        import io

        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(raw))
        return "\n\n".join(page.extract_text() or "" for page in reader.pages)
    if b"\x00" in raw[:8192]:
        raise ValueError("binary file")
    text = raw.decode("utf-8")
    if path.suffix.lower() in (".html", ".htm"):
        text = html.unescape(_TAGS.sub(" ", text))
    return text


def _folder(source: SourceSpec, base: Path, report: LoadReport) -> list[Document]:
    root = (base / (source.path or "")).resolve()
    if not root.exists():
        raise NotFoundError(f"source folder {root} not found")
    paths = [root] if root.is_file() else sorted(p for p in root.glob(source.glob) if p.is_file())
    documents = []
    for path in paths:
        if path.suffix.lower() not in _TEXT_SUFFIXES:
            report.skipped.append((str(path), f"unsupported file type '{path.suffix}'"))
            continue
        try:
            text = _read_file(path)
        except Exception as exc:  # unreadable: report, skip, go on
            report.skipped.append((str(path), f"{type(exc).__name__}: {exc}"[:200]))
            continue
        relative = str(path.relative_to(root if root.is_dir() else root.parent))
        report.files.append(
            {"path": relative, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
        )
        documents.append(Document(id=relative, text=text, metadata={"source": relative}))
    return documents


def _jsonl(source: SourceSpec, base: Path, report: LoadReport) -> list[Document]:
    path = (base / (source.jsonl or "")).resolve()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"source file {path} not found") from None
    report.files.append({"path": path.name, "sha256": hashlib.sha256(raw).hexdigest()})
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    documents: list[Document] = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"{path}:{number}: invalid JSON: {exc}") from None
        _add_record(documents, record, source, f"{path}:{number}", report)
    return documents


def _add_record(
    documents: list[Document],
    record: dict[str, Any],
    source: SourceSpec,
    where: str,
    report: LoadReport,
) -> None:
    """A record as a document (title, then text), or a skip when it has no text."""
    if record.get(source.text_field) is None:
        report.skipped.append((where, f"no field '{source.text_field}'"))
        return
    doc_id = str(record.get(source.id_field) or where.rsplit(":", 1)[-1])
    title = record.get(source.title_field) if source.title_field else None
    text = f"{title}\n{record[source.text_field]}" if title else str(record[source.text_field])
    documents.append(Document(id=doc_id, text=text, metadata={"source": doc_id}))


_DATASET_FORMATS = {".parquet": "parquet", ".csv": "csv", ".json": "json", ".jsonl": "json"}


def _dataset(source: SourceSpec, base: Path, report: LoadReport) -> list[Document]:
    """Records of a local file through Hugging Face ``datasets`` (offline: no hub access)."""
    import os
    import tempfile

    path = (base / (source.dataset or "")).resolve()
    if not path.is_file():
        raise NotFoundError(f"source file {path} not found")
    kind = _DATASET_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise InputError(
            f"{path}: unsupported dataset file type (use .parquet, .csv, .json or .jsonl)"
        )
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import datasets
    except ImportError:
        raise InputError(
            "a 'dataset' source needs the package datasets (pip install datasets)"
        ) from None
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    report.files.append(
        {"path": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    )
    with tempfile.TemporaryDirectory(prefix="llmops-hf-") as cache:
        try:
            rows = datasets.load_dataset(
                kind, data_files=str(path), split=source.split, cache_dir=cache
            ).to_list()
        except Exception as exc:
            raise InputError(f"{path}: cannot read with datasets: {exc}") from None
    documents: list[Document] = []
    for number, record in enumerate(rows, start=1):
        _add_record(documents, record, source, f"{path}:{number}", report)
    return documents


def load_sources(sources: list[SourceSpec], base: Path) -> tuple[list[Document], LoadReport]:
    """Every document of every source, with a report for the manifest."""
    report = LoadReport()
    documents: list[Document] = []
    for source in sources:
        if source.path:
            documents.extend(_folder(source, base, report))
        elif source.jsonl:
            documents.extend(_jsonl(source, base, report))
        else:
            documents.extend(_dataset(source, base, report))
    return documents, report
