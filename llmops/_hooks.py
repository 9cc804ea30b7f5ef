"""Hooks: where a lower layer asks a higher one, and the higher one answers.

``llmops.llm`` resolves model references such as ``support-bot@production``, but the model
registry sits above it. So llm asks :func:`model_registry`, and the registry is registered
here: the ``llmops`` package registers a loader that imports ``llmops.registry`` on first use,
so ``import llmops.llm`` alone resolves references and ``import llmops`` stays light.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from llmops._exceptions import ConfigError

if TYPE_CHECKING:  # config loads pydantic: not at ``import llmops`` time
    from llmops.config import ModelConfig

__all__ = ["ModelRegistry", "RegisteredModel", "model_registry", "set_model_registry"]


class RegisteredModel(Protocol):
    """What llm needs of a registered model version (``llmops.registry.ModelVersion``)."""

    @property
    def ref(self) -> str: ...

    @property
    def params(self) -> Mapping[str, Any]: ...

    def model_config(self) -> ModelConfig: ...


class ModelRegistry(Protocol):
    """The model registry as llm sees it."""

    def check_ref(self, ref: str) -> None:
        """Raise ``InputError`` unless ``ref`` is ``NAME[@VERSION|@ALIAS]``."""

    # ``store`` is an ``llmops.store.Store``: typed loosely because the store layer is above core
    def get_version(self, store: Any, ref: str) -> RegisteredModel:
        """The version ``ref`` names now (``NotFoundError`` if none)."""


_loader: list[Callable[[], ModelRegistry] | None] = [None]


def set_model_registry(loader: Callable[[], ModelRegistry] | None) -> None:
    """Register what :func:`model_registry` returns (``loader`` is called on every ask)."""
    _loader[0] = loader


def model_registry() -> ModelRegistry:
    """The registered model registry; ``ConfigError`` if nothing registered one."""
    loader = _loader[0]
    if loader is None:
        raise ConfigError(
            "registered model references (NAME@VERSION|@ALIAS, registry:NAME) need the model "
            "registry, and none is registered: import llmops.registry first"
        )
    return loader()
