"""llmops: local-first LLMOps. Prompts, evals, traces and gates in one offline package.

The public API is re-exported here and imported lazily, so ``import llmops`` stays fast and
loads none of litellm, chromadb, torch or llama.cpp.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from llmops import _hooks
from llmops._exceptions import (
    CheckFailed,
    ConfigError,
    InputError,
    LlmopsError,
    ModelError,
    NotFoundError,
    OutputParseError,
    PluginError,
    StoreError,
    SuiteError,
    TemplateError,
    UnknownModelError,
    YamlError,
)
from llmops._version import __version__


def _model_registry() -> _hooks.ModelRegistry:
    # lazy: keeps import llmops light; llmops.llm asks for the registry (a layer above it)
    # through this hook the first time it meets a NAME@ALIAS model reference
    from llmops.registry import MODEL_REGISTRY

    return MODEL_REGISTRY


_hooks.set_model_registry(_model_registry)

if TYPE_CHECKING:
    from llmops import prompts
    from llmops.config import Config, load_config
    from llmops.evals import (
        EvalRun,
        Sample,
        Score,
        Scorer,
        evaluate,
        resume_run,
        run_matrix,
        run_suite,
        scorer,
    )
    from llmops.llm import Completion, complete, resolve_model
    from llmops.prompts import PromptVersion, register_prompt
    from llmops.store import Store, open_store
    from llmops.tracing import (
        current_trace_id,
        feedback,
        flush,
        instrument,
        span,
        trace,
        trace_context,
    )
    from llmops.tracking import start_run

_LAZY: dict[str, str] = {
    "Completion": "llmops.llm",
    "Config": "llmops.config",
    "EvalRun": "llmops.evals",
    "Sample": "llmops.evals",
    "Score": "llmops.evals",
    "Scorer": "llmops.evals",
    "evaluate": "llmops.evals",
    "resume_run": "llmops.evals",
    "run_matrix": "llmops.evals",
    "scorer": "llmops.evals",
    "PromptVersion": "llmops.prompts",
    "Store": "llmops.store",
    "complete": "llmops.llm",
    "current_trace_id": "llmops.tracing",
    "feedback": "llmops.tracing",
    "flush": "llmops.tracing",
    "instrument": "llmops.tracing",
    "span": "llmops.tracing",
    "trace": "llmops.tracing",
    "trace_context": "llmops.tracing",
    "load_config": "llmops.config",
    "open_store": "llmops.store",
    "register_prompt": "llmops.prompts",
    "resolve_model": "llmops.llm",
    "run_suite": "llmops.evals",
    "start_run": "llmops.tracking",
}

__all__ = [
    "CheckFailed",
    "Completion",
    "Config",
    "ConfigError",
    "EvalRun",
    "InputError",
    "LlmopsError",
    "ModelError",
    "NotFoundError",
    "OutputParseError",
    "PluginError",
    "PromptVersion",
    "Sample",
    "Score",
    "Scorer",
    "Store",
    "StoreError",
    "SuiteError",
    "TemplateError",
    "UnknownModelError",
    "YamlError",
    "__version__",
    "complete",
    "current_trace_id",
    "evaluate",
    "feedback",
    "flush",
    "instrument",
    "load_config",
    "open_store",
    "prompts",
    "register_prompt",
    "resolve_model",
    "resume_run",
    "run_matrix",
    "run_suite",
    "scorer",
    "span",
    "start_run",
    "trace",
    "trace_context",
]


#: Sub-packages the README uses as ``llmops.<name>.…`` after ``import llmops``, loaded on first use
#: so that ``import llmops`` stays light.
_SUBPACKAGES = frozenset(
    {"evals", "gates", "llm", "prompts", "rag", "registry"}
    | {"serving", "store", "tracing", "tracking"}
)


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"llmops.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llmops' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
