"""The digest that pins a model version to the exact bytes of its adapter."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from llmops._exceptions import InputError

__all__ = ["adapter_digest"]

_CHUNK = 1 << 20


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _files(folder: Path) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    for root, _dirs, names in os.walk(folder):
        for name in names:
            path = Path(root, name)
            if path.is_file():
                found.append((path.relative_to(folder).as_posix(), path))
    return sorted(found)


def adapter_digest(path: Path) -> str:
    """SHA-256 of an adapter: of a file's bytes, or of a folder's files sorted by relative path
    (each as ``path NUL sha256 LF``, so a renamed or moved file changes it too)."""
    if path.is_file():
        return _file_sha256(path)
    if not path.is_dir():
        raise InputError(f"adapter {path} does not exist")
    files = _files(path)
    if not files:
        raise InputError(f"adapter folder {path} holds no files")
    manifest = hashlib.sha256()
    for relative, file in files:
        manifest.update(f"{relative}\0{_file_sha256(file)}\n".encode())
    return manifest.hexdigest()
