"""Declared dependencies match imports: every third-party module llmops imports is declared.

Each import in ``llmops/`` (top-level or inside a function, and ``importlib.import_module``
of a literal name) is mapped to the distribution that provides it, which must be a base
dependency in pyproject.toml, or belong to the extra that the importing module documents
(``_EXTRAS`` below).
"""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "llmops"

#: Where an optional dependency may be imported, and the extra that declares it. A path ending
#: in "/" covers the folder. Everything else may import base dependencies only.
_EXTRAS: dict[str, str] = {
    "llmops/rag/": "rag",
    "llmops/_hf.py": "rag",  # datasets: parquet and saved datasets for RAG sources and evals
    "llmops/llm/_local.py": "local",
    "llmops/serving/_llamacpp_main.py": "local",
    "llmops/llm/_vllm_offline.py": "gpu",
    "llmops/tracing/_setup.py": "otlp",
    "llmops/tracing/integrations/langchain.py": "langchain",
    "llmops/tracking/_artifacts.py": "remote",  # fsspec, for s3:// and other remote roots
}

#: Modules of extras this environment does not install (vLLM needs a GPU), by distribution.
_NOT_INSTALLED = {"vllm": "vllm"}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(requirements: list[str]) -> set[str]:
    names = set()
    for requirement in requirements:
        found = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
        assert found, requirement
        names.add(_normal(found.group(0)))
    return names


def _declared() -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = {
        extra: _requirement_names(items)
        for extra, items in project.get("optional-dependencies", {}).items()
    }
    return _requirement_names(project["dependencies"]), extras


def imported_modules(source: str) -> set[str]:
    """Absolute module names ``source`` imports, wherever the import statement stands."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            # `from opentelemetry import trace`: a namespace package's sub-module names the dist
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return {
        name
        for name in found
        if name.split(".")[0] not in sys.stdlib_module_names and name.split(".")[0] != "llmops"
    }


@cache
def _providers() -> dict[str, list[str]]:
    return metadata.packages_distributions()


@cache
def _files_of(distribution: str) -> frozenset[str]:
    return frozenset(str(path) for path in metadata.distribution(distribution).files or ())


@cache
def distribution_of(module: str) -> str | None:
    """The installed distribution that provides ``module`` (None when none does).

    For a namespace package (``opentelemetry``) the longest module path that one of its
    distributions ships decides.
    """
    top = module.split(".")[0]
    if top in _NOT_INSTALLED:
        return _NOT_INSTALLED[top]
    candidates = _providers().get(top, [])
    if len(set(candidates)) == 1:
        return _normal(candidates[0])
    parts = module.split(".")
    for length in range(len(parts), 0, -1):
        path = "/".join(parts[:length])
        for distribution in candidates:
            files = _files_of(distribution)
            if f"{path}/__init__.py" in files or f"{path}.py" in files:
                return _normal(distribution)
    return None


def _extra_of(relative: str) -> str | None:
    for prefix, extra in _EXTRAS.items():
        if relative == prefix or (prefix.endswith("/") and relative.startswith(prefix)):
            return extra
    return None


def test_every_imported_distribution_is_declared_where_it_is_used() -> None:
    base, extras = _declared()
    problems: set[str] = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        extra = _extra_of(relative)
        allowed = base | (extras.get(extra, set()) if extra else set())
        for module in sorted(imported_modules(path.read_text())):
            distribution = distribution_of(module)
            if distribution is None:
                if module in _providers():
                    continue  # the root of a namespace package: its sub-modules decide
                if "." in module and distribution_of(module.rsplit(".", 1)[0]) is not None:
                    continue  # `from pkg import name` also lists pkg.name, maybe not a module
                problems.add(f"{relative}: imports {module}, which no distribution provides")
            elif distribution not in allowed:
                where = f"the base dependencies or [{extra}]" if extra else "the base dependencies"
                problems.add(f"{relative}: imports {distribution}, not in {where}")
    assert sorted(problems) == []


def test_the_extras_map_names_real_files_and_extras() -> None:
    _, extras = _declared()
    for prefix, extra in _EXTRAS.items():
        assert (ROOT / prefix).exists(), prefix
        assert extra in extras, f"{prefix}: no extra [{extra}] in pyproject.toml"


def test_imports_are_found_in_functions_and_import_module_calls() -> None:
    source = (
        "import os\n"
        "import numpy as np\n"
        "from llmops.store import Store\n"
        "from . import sibling\n"
        "from opentelemetry import trace\n"
        "def later():\n"
        "    import yaml\n"
        "    from sqlalchemy.orm import Session\n"
        "    fsspec = importlib.import_module('fsspec')\n"
        "    other = import_module('onnxruntime')\n"
        "    return importlib.import_module(name)\n"
    )
    assert imported_modules(source) == {
        "numpy",
        "opentelemetry",
        "opentelemetry.trace",
        "yaml",
        "sqlalchemy.orm",
        "sqlalchemy.orm.Session",
        "fsspec",
        "onnxruntime",
    }


@pytest.mark.parametrize(
    ("module", "distribution"),
    [
        ("yaml", "pyyaml"),
        ("opentelemetry.trace", "opentelemetry-api"),
        ("opentelemetry.sdk.trace.export", "opentelemetry-sdk"),
        (
            "opentelemetry.exporter.otlp.proto.http.trace_exporter",
            "opentelemetry-exporter-otlp-proto-http",
        ),
        ("opentelemetry.proto.collector.trace.v1.trace_service_pb2", "opentelemetry-proto"),
        ("grpc", "grpcio"),
        ("no_such_module_anywhere", None),
    ],
)
def test_modules_map_to_their_distribution(module: str, distribution: str | None) -> None:
    assert distribution_of(module) == distribution
