"""Model registry: registered models with immutable numbered versions (what to call, which
adapter bytes), aliases moved through the store's alias service (kind ``model``), and lineage
to training and eval runs.

    from llmops.registry import register_model_version, resolve_registry_model
    register_model_version(store, "support-bot", serve_model="hosted_vllm/qwen-ft", ...)
    key, config = resolve_registry_model(store, "support-bot@staging")  # ("support-bot@2", ...)
"""

from __future__ import annotations

from llmops.registry._adapter import adapter_digest
from llmops.registry._lineage import EvalRunSummary, ModelLineage, link_lineage, model_lineage
from llmops.registry._llm_hook import MODEL_REGISTRY as MODEL_REGISTRY  # for llmops._hooks
from llmops.registry._models import (
    get_model_version,
    list_model_versions,
    list_models,
    register_model_version,
    resolve_registry_model,
)
from llmops.registry._version import (
    LATEST,
    ModelInfo,
    ModelVersion,
    check_model_name,
    parse_model_ref,
)

__all__ = [
    "LATEST",
    "EvalRunSummary",
    "ModelInfo",
    "ModelLineage",
    "ModelVersion",
    "adapter_digest",
    "check_model_name",
    "get_model_version",
    "link_lineage",
    "list_model_versions",
    "list_models",
    "model_lineage",
    "parse_model_ref",
    "register_model_version",
    "resolve_registry_model",
]
