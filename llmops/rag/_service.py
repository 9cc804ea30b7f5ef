"""The RAG entry points on the project config and store: build, retrieve, answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llmops.config import Config, load_config
from llmops.rag._answer import Answer, cited_ids, format_context
from llmops.rag._index import IndexInfo, build_index, resolve_index
from llmops.rag._retrieve import Mode, Retrieved, Retriever
from llmops.rag._spec import LoadedPipeline, load_pipeline
from llmops.store import Store, open_store

__all__ = ["answer", "build", "retrieve"]


def _context(config: Config | None, store: Store | None) -> tuple[Config, Store]:
    config = config or load_config()
    return config, store or open_store(config.resolved_store_url)


def _configs_dir(config: Config) -> Any:
    from pathlib import Path

    return (config.project_dir or Path.cwd()) / "configs"


def build(
    pipeline: str,
    *,
    config: Config | None = None,
    store: Store | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> tuple[IndexInfo, list[tuple[str, str]]]:
    """Build a new index version of ``pipeline`` (a name in configs/rag/ or a YAML path)."""
    config, store = _context(config, store)
    loaded = load_pipeline(pipeline, _configs_dir(config))
    redactor = None
    if config.rag.redact_chunks:
        # lazy: keeps import llmops light
        from llmops.tracing import current_redactor

        # the tracing settings' patterns; a chunk is masked but never cut
        redactor = current_redactor(config).with_max_chars(2**62)
    return build_index(store, loaded, config.data_dir, on_progress=on_progress, redactor=redactor)


def _loaded(config: Config, info: IndexInfo) -> LoadedPipeline | None:
    try:
        return load_pipeline(info.pipeline, _configs_dir(config))
    except Exception:  # the pipeline file may be gone; the index still answers with defaults
        return None


def retrieve(
    query: str,
    index: str,
    *,
    k: int | None = None,
    mode: Mode | None = None,
    where: dict[str, Any] | None = None,
    config: Config | None = None,
    store: Store | None = None,
) -> list[Retrieved]:
    """The best chunks of ``index`` (``name``, ``name@3``, ``name@production``) for ``query``."""
    config, store = _context(config, store)
    info = resolve_index(store, index)
    loaded = _loaded(config, info)
    settings = loaded.spec.retriever if loaded else None
    retriever = Retriever(info, config.data_dir)
    reranker = None
    if settings is not None and settings.rerank is not None:
        from llmops.rag._rerank import LLMReranker

        reranker = LLMReranker(settings.rerank.model, config=config)
    return retriever.retrieve(
        query,
        mode=mode or (settings.mode if settings else "hybrid"),
        k=k or (settings.k if settings else 5),
        candidates=settings.candidates if settings else 50,
        rrf_k=settings.rrf_k if settings else 60,
        where=where,
        reranker=reranker,
        bm25_weight=settings.bm25_weight if settings else 1.0,
        rerank_candidates=settings.rerank.candidates if settings and settings.rerank else 20,
    )


def answer(
    question: str,
    index: str = "docs@production",
    *,
    k: int | None = None,
    mode: Mode | None = None,
    model: str | None = None,
    config: Config | None = None,
    store: Store | None = None,
) -> Answer:
    """Answer ``question`` from ``index`` with the pipeline's prompt; cites chunk ids."""
    # lazy: keeps import llmops light
    from llmops.llm import complete, resolve_model
    from llmops.prompts import (
        find_prompt_file,
        get_version,
        load_prompt_file,
        parse_ref,
        register_prompt,
    )
    from llmops.tracing import span

    config, store = _context(config, store)
    info = resolve_index(store, index)
    loaded = _loaded(config, info)
    prompt_ref = loaded.spec.prompt if loaded else "rag_answer"
    with span("rag answer", kind="chain") as traced:
        traced.set({"input.value": question, "llmops.index": info.ref})
        chunks = retrieve(question, info.ref, k=k, mode=mode, config=config, store=store)
        if "@" in prompt_ref:
            name, selector = parse_ref(prompt_ref)
            prompt = get_version(store, name, selector)
        else:
            prompt = register_prompt(
                store, load_prompt_file(find_prompt_file(config.path("prompts"), prompt_ref))
            )
        messages = prompt.messages(question=question, context=format_context(chunks))
        completion = complete(
            messages,
            resolve_model(model or (loaded.spec.model if loaded else None), config),
            prompt=prompt,
        )
        result = Answer(completion.text, cited_ids(completion.text, chunks), chunks, info.ref)
        traced.set({"output.value": result.text, "llmops.citations": result.citations})
    return result
