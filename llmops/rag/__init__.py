"""Retrieval-augmented generation: versioned indexes in chromadb with BM25 beside them,
dense / BM25 / hybrid retrieval, and answers that cite the chunks they used.

    import llmops.rag as rag
    info, skipped = rag.build("docs")                 # configs/rag/docs.yaml -> docs@N
    result = rag.answer("How do refunds work?", index="docs@production")
"""

from llmops.rag._answer import Answer, cited_ids, format_context
from llmops.rag._chunking import Chunk, split_documents
from llmops.rag._embed import (
    Embedder,
    EmbeddingCache,
    LiteLLMEmbedder,
    LocalMiniLM,
    get_embedder,
)
from llmops.rag._index import (
    IndexDiff,
    IndexInfo,
    build_index,
    delete_index,
    diff_indexes,
    list_indexes,
    resolve_index,
)
from llmops.rag._loaders import Document, LoadReport, load_sources
from llmops.rag._rerank import LLMReranker
from llmops.rag._retrieve import Reranker, Retrieved, Retriever, reciprocal_rank_fusion
from llmops.rag._service import answer, build, retrieve
from llmops.rag._spec import PipelineSpec, RetrieverSpec, SourceSpec, SplitterSpec, load_pipeline

__all__ = [
    "Answer",
    "Chunk",
    "Document",
    "Embedder",
    "EmbeddingCache",
    "IndexDiff",
    "IndexInfo",
    "LLMReranker",
    "LiteLLMEmbedder",
    "LoadReport",
    "LocalMiniLM",
    "PipelineSpec",
    "Reranker",
    "Retrieved",
    "Retriever",
    "RetrieverSpec",
    "SourceSpec",
    "SplitterSpec",
    "answer",
    "build",
    "build_index",
    "cited_ids",
    "delete_index",
    "diff_indexes",
    "format_context",
    "get_embedder",
    "list_indexes",
    "load_pipeline",
    "load_sources",
    "reciprocal_rank_fusion",
    "resolve_index",
    "retrieve",
    "split_documents",
]
