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
    AliasMove,
    IndexDiff,
    IndexInfo,
    build_index,
    delete_index,
    diff_indexes,
    index_alias_history,
    list_indexes,
    resolve_index,
    set_index_alias,
)
from llmops.rag._loaders import Document, LoadReport, load_sources
from llmops.rag._rerank import LLMReranker
from llmops.rag._retrieve import Retrieved, Retriever, reciprocal_rank_fusion
from llmops.rag._service import answer, build, retrieve
from llmops.rag._spec import PipelineSpec, RetrieverSpec, SourceSpec, SplitterSpec, load_pipeline

__all__ = [
    "AliasMove",
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
    "index_alias_history",
    "list_indexes",
    "load_pipeline",
    "load_sources",
    "reciprocal_rank_fusion",
    "resolve_index",
    "retrieve",
    "set_index_alias",
    "split_documents",
]
