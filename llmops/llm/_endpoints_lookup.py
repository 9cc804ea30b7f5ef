"""Registered model versions turned into litellm models, preferring a running serving endpoint.

resolve_version_model(store, "support-bot@production")
# a ready vLLM endpoint for support-bot@3 -> hosted_vllm/<served name> at its api_base,
# else the version's own serve_model and api_base
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from llmops._hooks import model_registry
from llmops.config import Config
from llmops.llm._client import ResolvedModel, _resolve
from llmops.store import Store, open_store
from llmops.store.models import ServingEndpointRecord, table_of

__all__ = ["REGISTRY_PREFIX", "is_registry_ref", "ready_endpoint", "resolve_version_model"]

#: ``resolve_model("registry:support-bot@production")`` resolves through the model registry.
REGISTRY_PREFIX = "registry:"

#: litellm's provider prefix and the span's provider name for each serving backend.
_BACKENDS = {"vllm": ("hosted_vllm", "hosted_vllm"), "llamacpp": ("openai", "llama.cpp")}


def is_registry_ref(target: str) -> bool:
    """True for ``registry:name...`` and ``name@version|alias`` (not a configured model name)."""
    return target.startswith(REGISTRY_PREFIX) or "@" in target


def ready_endpoint(store: Store, ref: str) -> Any:
    """The newest ``ready`` row of ``serving_endpoints`` serving exactly ``name@version``."""
    table = table_of(ServingEndpointRecord)
    query = (
        select(table)
        .where(table.c.model == ref, table.c.status == "ready")
        .order_by(table.c.started_at.desc(), table.c.id)
        .limit(1)
    )
    with store.read() as connection:
        return connection.execute(query).first()


def resolve_version_model(store: Store, ref: str) -> ResolvedModel:
    """The litellm model for a registry ref (``name``, ``name@3``, ``name@alias``).

    A ``ready`` serving endpoint of the resolved ``name@N`` wins (``hosted_vllm/`` for vLLM,
    ``openai/`` for llama.cpp, with the endpoint's ``api_base``); without one the version's own
    ``serve_model`` and ``api_base`` are called. The model's name is ``name@N``.
    """
    version = model_registry().get_version(store, ref.removeprefix(REGISTRY_PREFIX))
    endpoint = ready_endpoint(store, version.ref)
    if endpoint is None or endpoint.backend not in _BACKENDS:
        return _resolve(version.ref, version.model_config())
    prefix, provider = _BACKENDS[endpoint.backend]
    return ResolvedModel(
        name=version.ref,
        model=f"{prefix}/{endpoint.served_model_name}",
        provider=provider,
        params=dict(version.params),
        api_base=endpoint.api_base,
        api_key="not-needed",  # self-hosted OpenAI-compatible servers ignore the key
    )


def resolve_registry_name(name: str, config: Config) -> ResolvedModel:
    """``registry:name@alias`` resolved in the project store of ``config``."""
    return resolve_version_model(open_store(config.resolved_store_url), name)
