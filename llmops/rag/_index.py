"""Index versions: build (atomic), list, resolve ``name@version|alias``, alias, diff, delete.

Vectors live in chromadb (an embedded PersistentClient under the data folder, or a chromadb
server when ``LLMOPS_CHROMA_URL`` is set); BM25 indexes (bm25s) in files beside it; manifests
and chunk lists in the store.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, select

from llmops._aio import interrupted_exit_code
from llmops._digits import ascii_int
from llmops._exceptions import InputError, NotFoundError
from llmops._suggest import did_you_mean
from llmops.rag._chunking import Chunk, split_documents
from llmops.rag._loaders import load_sources
from llmops.rag._spec import LoadedPipeline
from llmops.store import Store, aliases_of_kind, register_alias_subject
from llmops.store.models import (
    RagChunkRecord,
    RagIndexRecord,
    table_of,
    utcnow,
)

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from llmops.rag._embed import Embedder
    from llmops.tracing import Redactor

__all__ = [
    "IndexDiff",
    "IndexInfo",
    "build_index",
    "chroma_client",
    "delete_index",
    "diff_indexes",
    "list_indexes",
    "resolve_index",
]

_I, _C = table_of(RagIndexRecord), table_of(RagChunkRecord)
_clients: dict[str, Any] = {}
_lock = threading.Lock()


def chroma_client(data_dir: Path) -> Any:
    """The chromadb client: a server if ``LLMOPS_CHROMA_URL`` is set, else embedded."""
    import chromadb
    from chromadb.config import Settings

    url = os.environ.get("LLMOPS_CHROMA_URL")
    key = url or str(data_dir / "chroma")
    with _lock:
        if key not in _clients:
            settings = Settings(anonymized_telemetry=False, allow_reset=False)
            if url:
                from urllib.parse import urlparse

                parsed = urlparse(url)
                _clients[key] = chromadb.HttpClient(
                    host=parsed.hostname or "127.0.0.1",
                    port=parsed.port or 8000,
                    ssl=parsed.scheme == "https",
                    settings=settings,
                )
            else:
                _clients[key] = chromadb.PersistentClient(path=key, settings=settings)
        return _clients[key]


@dataclass(frozen=True)
class IndexInfo:
    """A ready index version and its manifest."""

    pipeline: str
    version: int
    id: int
    status: str
    collection: str
    embedder: str
    corpus_hash: str
    doc_count: int
    chunk_count: int
    build_seconds: float
    splitter: dict[str, Any]
    files: list[dict[str, Any]]
    aliases: list[str]
    created_at: datetime
    error: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.pipeline}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["ref"] = self.ref
        return data


def _info(row: Any, aliases: list[str]) -> IndexInfo:
    return IndexInfo(
        pipeline=row.pipeline,
        version=row.version,
        id=row.id,
        status=row.status,
        collection=row.collection,
        embedder=row.embedder,
        corpus_hash=row.corpus_hash,
        doc_count=row.doc_count,
        chunk_count=row.chunk_count,
        build_seconds=row.build_seconds,
        splitter=dict(row.splitter or {}),
        files=list(row.files or []),
        aliases=aliases,
        created_at=row.created_at,
        error=row.error,
    )


def bm25_dir(data_dir: Path, pipeline: str, version: int) -> Path:
    return data_dir / "rag" / pipeline / f"v{version}"


def _reserve_version(store: Store, loaded: LoadedPipeline) -> tuple[int, int, str]:
    spec = loaded.spec
    with store.write() as session:
        connection = session.connection()
        latest = connection.execute(
            select(func.max(_I.c.version)).where(_I.c.pipeline == spec.name)
        ).scalar()
        version = (latest or 0) + 1
        collection = f"{spec.name}-v{version}"
        index_id = connection.execute(
            insert(_I).values(
                pipeline=spec.name,
                version=version,
                status="building",
                collection=collection,
                embedder=spec.embedder,
                splitter=spec.splitter.model_dump(),
                files=[],
                created_at=utcnow(),
            )
        ).inserted_primary_key[0]  # type: ignore[index]
    return int(index_id), version, collection


def build_index(
    store: Store,
    loaded: LoadedPipeline,
    data_dir: Path,
    *,
    embedder: Embedder | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
    redactor: Redactor | None = None,
) -> tuple[IndexInfo, list[tuple[str, str]]]:
    """Load, chunk, embed and index the pipeline's sources as a new version.

    The version becomes ``ready`` (visible) only after everything is written; returns its
    manifest and the files that were skipped with why. With a ``redactor``, secrets in each
    document's text, id and metadata are masked before it is chunked (so no chunk boundary
    splits one), embedded and indexed.
    """
    import numpy as np

    from llmops.rag._bm25 import build_bm25
    from llmops.rag._embed import EmbeddingCache, get_embedder

    spec = loaded.spec
    started = time.perf_counter()
    documents, report = load_sources(spec.sources, loaded.base_dir)
    if not documents:
        raise InputError(f"RAG pipeline '{spec.name}': its sources hold no readable documents")
    if redactor is not None:
        documents = [
            replace(
                d,
                id=redactor.text(d.id),
                text=redactor.text(d.text),
                metadata=redactor.attributes(d.metadata),
            )
            for d in documents
        ]
    chunks = split_documents(documents, spec.splitter)
    embedder = embedder or get_embedder(spec.embedder)
    progress = on_progress or (lambda stage, done, total: None)
    client = chroma_client(data_dir)
    # Nothing between the reservation and `try`: a Ctrl-C there left the version `building`.
    index_id, version, collection_name = _reserve_version(store, loaded)
    try:
        cache = EmbeddingCache(data_dir / "embeddings.sqlite")
        vectors = []
        step = 256
        for start in range(0, len(chunks), step):
            batch = chunks[start : start + step]
            vectors.append(cache.embed(embedder, [chunk.text for chunk in batch]))
            progress("embed", min(start + step, len(chunks)), len(chunks))
        matrix = np.vstack(vectors).astype("float32")
        collection = client.create_collection(
            collection_name,
            embedding_function=None,
            metadata={"hnsw:space": "cosine", "embedder": embedder.name, "pipeline": spec.name},
        )
        for start in range(0, len(chunks), 4096):
            batch = chunks[start : start + 4096]
            collection.add(
                ids=[c.id for c in batch],
                embeddings=matrix[start : start + len(batch)],
                documents=[c.text for c in batch],
                metadatas=[_metadata(c) for c in batch],
            )
            progress("store", min(start + 4096, len(chunks)), len(chunks))
        build_bm25(bm25_dir(data_dir, spec.name, version), chunks)
        np.save(bm25_dir(data_dir, spec.name, version) / "vectors.npy", matrix)
        with store.write() as session:
            connection = session.connection()
            connection.execute(
                insert(_C),
                [
                    {
                        "index_id": index_id,
                        "chunk_id": c.id,
                        "source": c.doc_id[:1000],
                        "position": c.position,
                        "content_hash": c.content_hash,
                    }
                    for c in _unique(chunks)
                ],
            )
            connection.execute(
                _I.update()
                .where(_I.c.id == index_id)
                .values(
                    status="ready",
                    corpus_hash=report.corpus_hash,
                    files=report.files,
                    doc_count=len(documents),
                    chunk_count=len(chunks),
                    build_seconds=time.perf_counter() - started,
                    embedder=embedder.name,
                )
            )
    except BaseException as exc:
        with store.write() as session:
            session.connection().execute(
                _I.update()
                .where(_I.c.id == index_id)
                .values(status="failed", error=_error_text(exc))
            )
        _drop_artifacts(client, collection_name, bm25_dir(data_dir, spec.name, version))
        raise
    return resolve_index(store, f"{spec.name}@{version}"), report.skipped


def _error_text(exc: BaseException) -> str:
    # Ctrl-C or SIGTERM (also when a library turned it into another error: an import cut
    # short reports its package missing); `rag build` again starts a new version.
    if isinstance(exc, KeyboardInterrupt) or interrupted_exit_code() is not None:
        return "interrupted"
    return f"{type(exc).__name__}: {exc}"[:1000]


def _unique(chunks: list[Chunk]) -> list[Chunk]:
    seen: dict[str, Chunk] = {}
    for chunk in chunks:
        seen.setdefault(chunk.id, chunk)
    return list(seen.values())


def _metadata(chunk: Chunk) -> dict[str, Any]:
    return {k: v for k, v in chunk.metadata.items() if isinstance(v, str | int | float | bool)}


def _drop_artifacts(client: Any, collection: str, folder: Path) -> None:
    with contextlib.suppress(Exception):  # never created, or already gone
        client.delete_collection(collection)
    shutil.rmtree(folder, ignore_errors=True)


def _aliases(store: Store, pipelines: list[str]) -> dict[str, dict[int, list[str]]]:
    """pipeline -> version -> the aliases pointing at it."""
    found: dict[str, dict[int, list[str]]] = {name: {} for name in pipelines}
    for name, aliases in aliases_of_kind(store, "index", pipelines).items():
        for alias, version in aliases.items():
            found[name].setdefault(version, []).append(alias)
    return found


def resolve_index(store: Store, ref: str) -> IndexInfo:
    """``name`` (newest ready), ``name@3`` or ``name@production``; unfinished builds don't."""
    name, _, selector = ref.partition("@")
    aliases = _aliases(store, [name])[name]
    with store.read() as connection:
        query = select(_I).where(_I.c.pipeline == name, _I.c.status == "ready")
        if not selector or selector == "latest":
            query = query.order_by(_I.c.version.desc()).limit(1)
        elif (number := ascii_int(selector)) is not None:
            query = query.where(_I.c.version == number)
        else:
            version = next((v for v, names in aliases.items() if selector in names), None)
            if version is None:
                raise NotFoundError(f"RAG index '{name}' has no alias '{selector}'")
            query = query.where(_I.c.version == version)
        row = connection.execute(query).first()
        known = set() if row else set(connection.execute(select(_I.c.pipeline)).scalars())
    if row is None:
        hint = "" if name in known else did_you_mean(name, known)
        raise NotFoundError(f"RAG index '{ref}' not found (no ready version){hint}")
    return _info(row, sorted(aliases.get(row.version, [])))


def list_indexes(store: Store, pipeline: str | None = None) -> list[IndexInfo]:
    """Every index version (any status), newest first."""
    query = select(_I).order_by(_I.c.pipeline, _I.c.version.desc())
    if pipeline is not None:
        query = query.where(_I.c.pipeline == pipeline)
    with store.read() as connection:
        rows = connection.execute(query).all()
    aliases = _aliases(store, sorted({row.pipeline for row in rows}))
    return [_info(row, sorted(aliases[row.pipeline].get(row.version, []))) for row in rows]


def _check_version(connection: Connection, pipeline: str, version: int) -> None:
    """Only a ready version may be aliased: a failed or unfinished build serves nothing."""
    found = connection.execute(
        select(_I.c.id).where(
            _I.c.pipeline == pipeline, _I.c.version == version, _I.c.status == "ready"
        )
    ).first()
    if found is None:
        raise NotFoundError(f"RAG index '{pipeline}@{version}' not found (no ready version)")


register_alias_subject("index", check_version=_check_version)


@dataclass(frozen=True)
class IndexDiff:
    """Chunks added, removed and changed (same source and position, other content)."""

    added: list[tuple[str, int]]
    removed: list[tuple[str, int]]
    changed: list[tuple[str, int]]

    def to_dict(self) -> dict[str, Any]:
        return {"added": self.added, "removed": self.removed, "changed": self.changed}


def diff_indexes(store: Store, a: str, b: str) -> IndexDiff:
    """What changed between two versions of an index."""
    first, second = resolve_index(store, a), resolve_index(store, b)
    with store.read() as connection:

        def chunks(index_id: int) -> dict[tuple[str, int], str]:
            rows = connection.execute(
                select(_C.c.source, _C.c.position, _C.c.content_hash).where(
                    _C.c.index_id == index_id
                )
            )
            return {(row.source, row.position): row.content_hash for row in rows}

        old, new = chunks(first.id), chunks(second.id)
    return IndexDiff(
        added=sorted(set(new) - set(old)),
        removed=sorted(set(old) - set(new)),
        changed=sorted(key for key in set(old) & set(new) if old[key] != new[key]),
    )


def delete_index(store: Store, ref: str, data_dir: Path) -> IndexInfo:
    """Remove a version (vectors, BM25 files, manifest); an aliased version is refused."""
    info = resolve_index(store, ref)
    if info.aliases:
        raise InputError(
            f"{info.ref} is aliased as {', '.join(info.aliases)}: move the alias first"
        )
    _drop_artifacts(
        chroma_client(data_dir), info.collection, bm25_dir(data_dir, info.pipeline, info.version)
    )
    with store.write() as session:
        connection = session.connection()
        connection.execute(delete(_C).where(_C.c.index_id == info.id))
        connection.execute(delete(_I).where(_I.c.id == info.id))
    return info
