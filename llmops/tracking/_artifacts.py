"""Artifacts: files of a run, stored once per content under an artifact root.

Blobs live at ``<root>/sha256/<first 2 hex digits>/<digest>``; an ``ArtifactRecord`` maps a
run's path to a digest, so runs logging the same file share one blob. The root is
``$LLMOPS_ARTIFACT_ROOT`` or ``<data_dir>/artifacts``; a URL with a scheme other than
``file://`` (``s3://``, ``memory://``...) is opened with fsspec. Reads verify the digest.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import uuid
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from sqlmodel import col, select

from llmops._exceptions import InputError, NotFoundError, StoreError
from llmops.store.models import ArtifactRecord, utcnow
from llmops.tracking._queries import Artifact, resolve_run_id

if TYPE_CHECKING:
    from llmops.config import Config
    from llmops.store import Store

__all__ = [
    "ARTIFACT_ROOT_ENV",
    "artifact_bytes",
    "artifact_root",
    "clean_artifact_path",
    "download_artifact",
    "log_files",
]

#: Environment variable naming the artifact root: a folder or an fsspec URL.
ARTIFACT_ROOT_ENV = "LLMOPS_ARTIFACT_ROOT"
_CHUNK = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")
_DIGEST = re.compile(r"[0-9a-f]{64}")


def artifact_root(config: Config | None = None) -> str:
    """``$LLMOPS_ARTIFACT_ROOT``, else ``<data_dir>/artifacts`` of the project config."""
    configured = os.environ.get(ARTIFACT_ROOT_ENV)
    if configured:
        return configured
    if config is None:
        # lazy: keeps import llmops light
        from llmops.config import load_config

        config = load_config()
    return str(config.data_dir / "artifacts")


def clean_artifact_path(path: str, what: str = "artifact path") -> str:
    """``path`` normalized (no ``.`` or empty parts), or ``InputError`` if it could escape."""
    if not isinstance(path, str):
        raise InputError(f"{what} must be a string, not {type(path).__name__}")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    problem = None
    if "\x00" in path:
        problem = "contains a NUL character"
    elif "\\" in path:
        problem = "contains a backslash"
    elif path.startswith("/") or _DRIVE.match(path):
        problem = "is absolute"
    elif ".." in parts:
        problem = "leaves the run's folder (..)"
    elif not parts:
        problem = "names no file"
    if problem is not None:
        raise InputError(f"{what} {path!r} {problem}: use a relative path like 'model/weights.bin'")
    cleaned = "/".join(parts)
    if len(cleaned) > 1000:
        raise InputError(f"{what} {cleaned[:40]!r}... is longer than 1000 characters")
    return cleaned


class _Blobs(Protocol):
    root: str

    def exists(self, digest: str) -> bool: ...

    def put(self, digest: str, source: Path) -> None: ...

    def open(self, digest: str) -> IO[bytes]: ...


def _copy_hashing(source: IO[bytes], target: IO[bytes]) -> str:
    sha = hashlib.sha256()
    while chunk := source.read(_CHUNK):
        sha.update(chunk)
        target.write(chunk)
    return sha.hexdigest()


def _changed(source: Path) -> InputError:
    return InputError(f"{source} changed while it was being logged; log it again")


class _LocalBlobs:
    def __init__(self, root: str, folder: Path) -> None:
        self.root = root
        self.folder = folder

    def _path(self, digest: str) -> Path:
        if not _DIGEST.fullmatch(digest):  # it names a file: never a path from a stored row
            raise StoreError(f"stored artifact digest {digest[:20]!r} is not a sha256")
        return self.folder / "sha256" / digest[:2] / digest

    def exists(self, digest: str) -> bool:
        return self._path(digest).is_file()

    def put(self, digest: str, source: Path) -> None:
        target = self._path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{digest}.{uuid.uuid4().hex}.partial")
        try:
            with source.open("rb") as src, partial.open("wb") as dst:
                copied = _copy_hashing(src, dst)
            if copied != digest:
                raise _changed(source)
            os.replace(partial, target)  # atomic: readers never see a partial blob
        finally:
            partial.unlink(missing_ok=True)

    def open(self, digest: str) -> IO[bytes]:
        path = self._path(digest)
        # a blob replaced by a symlink out of the root is refused, whatever it points at
        if not path.resolve().is_relative_to(self.folder.resolve()):
            raise NotFoundError(
                f"artifact content {digest[:12]} is a link out of {self.root}: refused"
            )
        return path.open("rb")


class _FsspecBlobs:
    def __init__(self, root: str) -> None:
        fsspec = importlib.import_module("fsspec")  # optional, untyped: only for remote roots
        self.root = root
        self.fs: Any
        self.fs, base = fsspec.core.url_to_fs(root)
        self.base = str(base).rstrip("/")

    def _path(self, digest: str) -> str:
        return f"{self.base}/sha256/{digest[:2]}/{digest}"

    def exists(self, digest: str) -> bool:
        return bool(self.fs.exists(self._path(digest)))

    def put(self, digest: str, source: Path) -> None:
        target = self._path(digest)
        self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        with source.open("rb") as src, self.fs.open(target, "wb") as dst:
            copied = _copy_hashing(src, dst)
        if copied != digest:
            self.fs.rm(target)
            raise _changed(source)

    def open(self, digest: str) -> IO[bytes]:
        handle: IO[bytes] = self.fs.open(self._path(digest), "rb")
        return handle


def _blobs(root: str) -> _Blobs:
    scheme, sep, rest = root.partition("://")
    if sep and scheme != "file":
        return _FsspecBlobs(root)
    return _LocalBlobs(root, Path(rest if sep else root).expanduser())


def _digest_of(source: Path) -> tuple[str, int]:
    try:
        with source.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
            return digest, os.fstat(handle.fileno()).st_size
    except FileNotFoundError:
        raise NotFoundError(f"{source}: no such file to log as an artifact") from None
    except OSError as exc:
        raise InputError(f"cannot read {source}: {exc.strerror or exc}") from None


def log_files(
    store: Store, root: str, run_id: str, files: list[tuple[Path, str]]
) -> list[Artifact]:
    """Store each (local file, run path) pair's content once and record it for the run."""
    blobs = _blobs(root)
    stored: list[tuple[str, str, int]] = []
    for source, path in files:
        digest, size = _digest_of(source)
        try:
            if not blobs.exists(digest):
                blobs.put(digest, source)
        except OSError as exc:
            raise StoreError(f"cannot store artifact '{path}' under {root}: {exc}") from None
        stored.append((path, digest, size))
    now = utcnow()
    with store.write() as session:
        for path, digest, size in stored:
            record = session.get(ArtifactRecord, (run_id, path))
            if record is None:
                record = ArtifactRecord(run_id=run_id, path=path, digest=digest, size=size)
            record.digest, record.size, record.created_at = digest, size, now
            session.add(record)
    return [Artifact(path, digest, size, now) for path, digest, size in stored]


def _find(store: Store, run_id: str, path: str) -> tuple[str, list[ArtifactRecord]]:
    whole = path.strip("/") in ("", ".")
    cleaned = "" if whole else clean_artifact_path(path)
    with store.session() as session:
        full_id = resolve_run_id(session, run_id)
        exact = None if whole else session.get(ArtifactRecord, (full_id, cleaned))
        if exact is not None:
            return full_id, [exact]
        under = session.exec(
            select(ArtifactRecord)
            .where(
                col(ArtifactRecord.run_id) == full_id,
                col(ArtifactRecord.path).startswith(
                    f"{cleaned}/" if cleaned else "", autoescape=True
                ),
            )
            .order_by(col(ArtifactRecord.path))
        ).all()
    if not under:
        raise NotFoundError(f"run {full_id[:12]} has no artifact '{path}'")
    return full_id, list(under)


def _open(blobs: _Blobs, record: ArtifactRecord) -> IO[bytes]:
    try:
        return blobs.open(record.digest)
    except FileNotFoundError:
        raise StoreError(
            f"the content of artifact '{record.path}' (sha256 {record.digest[:12]}) is missing "
            f"from {blobs.root}"
        ) from None


def _corrupt(blobs: _Blobs, record: ArtifactRecord) -> StoreError:
    return StoreError(
        f"the content of artifact '{record.path}' under {blobs.root} does not match its digest "
        f"{record.digest[:12]}: the blob is corrupt"
    )


def artifact_bytes(store: Store, run_id: str, path: str, *, root: str | None = None) -> bytes:
    """The content of one artifact of a run, checked against its digest."""
    cleaned = clean_artifact_path(path)
    _, records = _find(store, run_id, cleaned)
    if len(records) != 1 or records[0].path != cleaned:
        raise InputError(f"'{path}' is a folder of {len(records)} artifacts: use download_artifact")
    blobs = _blobs(root or artifact_root())
    with _open(blobs, records[0]) as handle:
        data = handle.read()
    if hashlib.sha256(data).hexdigest() != records[0].digest:
        raise _corrupt(blobs, records[0])
    return data


def download_artifact(
    store: Store, run_id: str, path: str, dest: str | os.PathLike[str], *, root: str | None = None
) -> Path:
    """Copy an artifact (or every artifact under a folder path, ``""`` for all) into ``dest``.

    Files keep their run path below ``dest``; returns the local path of ``path``.
    """
    _, records = _find(store, run_id, path)
    blobs = _blobs(root or artifact_root())
    folder = Path(dest)
    for record in records:
        target = folder.joinpath(*clean_artifact_path(record.path).split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
        try:
            with _open(blobs, record) as src, partial.open("wb") as dst:
                copied = _copy_hashing(src, dst)
            if copied != record.digest:
                raise _corrupt(blobs, record)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    whole = path.strip("/") in ("", ".")
    return folder if whole else folder.joinpath(*clean_artifact_path(path).split("/"))
