"""The model registry as ``llmops.llm`` asks for it (see ``llmops._hooks``): llm sits below the
registry, so it resolves ``NAME@ALIAS`` references through this object, never by import."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmops.registry._models import get_model_version
from llmops.registry._version import ModelVersion, parse_model_ref

if TYPE_CHECKING:
    from llmops.store import Store

__all__ = ["MODEL_REGISTRY"]


class _ModelRegistry:
    def check_ref(self, ref: str) -> None:
        parse_model_ref(ref)

    def get_version(self, store: Store, ref: str) -> ModelVersion:
        return get_model_version(store, ref)


#: Registered by the ``llmops`` package (``llmops/__init__.py``) through ``llmops._hooks``.
MODEL_REGISTRY = _ModelRegistry()
