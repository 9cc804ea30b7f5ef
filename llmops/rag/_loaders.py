"""Loading documents: folders of text, Markdown, HTML and PDF files, and JSONL records.

Unreadable or binary files are reported and skipped, never fatal; so are files that symlinks
lead to outside the declared source folders, unless a source opts in.
"""

from __future__ import annotations

import fnmatch
import functools
import gzip
import hashlib
import html
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from llmops._exceptions import InputError, NotFoundError
from llmops._hf import import_datasets, quiet_datasets
from llmops._plugins import load_plugin, wrong_kind
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


@functools.cache
def _reader(suffix: str) -> Callable[[Path], str] | None:
    """How files of ``suffix`` are read: built in, or by an installed plugin registered under
    the suffix without its dot (``llmops.loaders``: a function ``path -> text``)."""
    if suffix in _TEXT_SUFFIXES:
        return _read_file
    name = suffix.removeprefix(".")
    load = load_plugin("llmops.loaders", name) if name else None
    if load is None:
        return None
    if not callable(load):
        raise wrong_kind("llmops.loaders", name, "a function from a file path to its text")

    def read(path: Path) -> str:
        text = load(path)
        if not isinstance(text, str):  # reported for this file, which is then skipped
            raise wrong_kind("llmops.loaders", name, "a function returning text")
        return text

    return read


def _within(real: str, roots: tuple[str, ...]) -> bool:
    return any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


@functools.cache
def _glob_match(parts: tuple[str, ...], pattern: tuple[str, ...], partial: bool) -> bool:
    """Whether ``parts`` matches ``pattern`` (``**`` = any number of folders), with Path.glob's
    rules; ``partial``: whether something below the folder ``parts`` can still match."""
    if not parts:
        return bool(pattern) if partial else all(segment == "**" for segment in pattern)
    if not pattern:
        return False
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return _glob_match(parts, rest, partial) or _glob_match(parts[1:], pattern, partial)
    return fnmatch.fnmatchcase(parts[0], head) and _glob_match(parts[1:], rest, partial)


def _walk(root: Path, source: SourceSpec, roots: tuple[str, ...], report: LoadReport) -> list[Path]:
    """The files under ``root`` that match the source's glob, in path order.

    Unlike Path.glob, a symlink that resolves outside every source root is not followed
    (unless the source opts in) and a symlink back to a folder being walked is not entered,
    so a link to ``/`` or a link loop cannot pull in or walk the whole file system. Both are
    reported as skipped with the reason.
    """
    pattern = PurePosixPath(source.glob).parts
    found: list[Path] = []
    stack: list[tuple[Path, tuple[str, ...], tuple[str, ...]]] = [(root, (), (str(root),))]
    while stack:
        folder, relative, ancestors = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            report.skipped.append((str(folder), f"{type(exc).__name__}: {exc}"[:200]))
            continue
        for entry in entries:
            parts = (*relative, entry.name)
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir()  # follows symlinks
                is_file = not is_dir and entry.is_file()
            except OSError:
                is_dir = is_file = False
            wanted = _glob_match(parts, pattern, is_dir) and (is_dir or pattern[-1] != "**")
            if not wanted:
                continue
            real = os.path.realpath(entry.path)
            if entry.is_symlink():
                if not (is_dir or is_file):
                    report.skipped.append((str(path), f"broken or looping symlink to {real}"))
                    continue
                if not source.follow_symlinks_outside and not _within(real, roots):
                    what = "folder" if is_dir else "file"
                    report.skipped.append(
                        (
                            str(path),
                            f"symlink to {what} {real} outside the source root"
                            " (set follow_symlinks_outside: true to index it)",
                        )
                    )
                    continue
            if is_dir:
                if real in ancestors:
                    report.skipped.append((str(path), f"symlink loop back to {real}"))
                    continue
                stack.append((path, parts, (*ancestors, real)))
            elif is_file:
                found.append(path)
    return sorted(found)


def _folder(
    source: SourceSpec, base: Path, roots: tuple[str, ...], report: LoadReport
) -> list[Document]:
    root = (base / (source.path or "")).resolve()
    if not root.exists():
        raise NotFoundError(f"source folder {root} not found")
    paths = [root] if root.is_file() else _walk(root, source, roots, report)
    documents = []
    for path in paths:
        read = _reader(path.suffix.lower())
        if read is None:
            report.skipped.append((str(path), f"unsupported file type '{path.suffix}'"))
            continue
        try:
            text = read(path)
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
    import tempfile

    path = (base / (source.dataset or "")).resolve()
    if not path.is_file():
        raise NotFoundError(f"source file {path} not found")
    kind = _DATASET_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise InputError(
            f"{path}: unsupported dataset file type (use .parquet, .csv, .json or .jsonl)"
        )
    try:
        datasets = import_datasets()
    except ImportError:
        raise InputError(
            "a 'dataset' source needs the package datasets (pip install datasets)"
        ) from None
    report.files.append(
        {"path": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    )
    with tempfile.TemporaryDirectory(prefix="llmops-hf-") as cache, quiet_datasets(datasets):
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
    # a symlink may lead from one declared folder into another, never beyond them
    roots = tuple(str((base / source.path).resolve()) for source in sources if source.path)
    for source in sources:
        if source.path:
            documents.extend(_folder(source, base, roots, report))
        elif source.jsonl:
            documents.extend(_jsonl(source, base, report))
        else:
            documents.extend(_dataset(source, base, report))
    return documents, report
