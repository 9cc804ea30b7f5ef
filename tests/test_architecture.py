"""The layer order and the public boundaries of the sub-packages, checked by import-linter.

The contracts live in pyproject.toml (``[tool.importlinter]``); ``make lint`` runs them too.
Here CI runs them, and shows that they catch what they are for, on a copy of the package.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    # lint-imports puts its working directory first on sys.path: the package under ``root``
    # is the one analysed, not the installed one
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_contracts_hold() -> None:
    result = _lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("layers")
    shutil.copytree(REPO / "llmops", root / "llmops", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


# Each a line appended to a module of the copy, and what lint-imports must then say.
BAD_IMPORTS = [
    pytest.param(
        "llm/_client.py",
        "def _upward() -> None:\n    from llmops.registry import get_model_version  # noqa\n",
        "llmops.llm is not allowed to import llmops.registry",
        id="function-local import of a higher layer",
    ),
    pytest.param(
        "tracing/_span.py",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import llmops.evals\n",
        "llmops.tracing is not allowed to import llmops.evals",
        id="TYPE_CHECKING import of a higher layer",
    ),
    pytest.param(
        "_yaml.py",
        "import llmops.store\n",
        "is not allowed to import llmops.store",
        id="core importing the store",
    ),
    pytest.param(
        "rag/_answer.py",
        "import llmops.tracking\n",
        "llmops.rag is not allowed to import llmops.tracking",
        id="siblings are independent",
    ),
    pytest.param(
        "server/_auth.py",
        "from llmops.tracing._semconv import to_genai  # noqa\n",
        "llmops.server._auth -> llmops.tracing._semconv",
        id="another sub-package's private module",
    ),
]


@pytest.mark.parametrize(("module", "line", "reported"), BAD_IMPORTS)
def test_a_bad_import_is_caught(package_copy: Path, module: str, line: str, reported: str) -> None:
    path = package_copy / "llmops" / module
    original = path.read_text()
    path.write_text(original + "\n" + line)
    try:
        result = _lint_imports(package_copy)
    finally:
        path.write_text(original)
    assert result.returncode == 1, result.stdout
    assert reported in result.stdout


def test_a_new_top_level_module_must_be_placed_in_a_layer(package_copy: Path) -> None:
    new = package_copy / "llmops" / "_unplaced.py"
    new.write_text('"""Not in any layer yet."""\n')
    try:
        result = _lint_imports(package_copy)
    finally:
        new.unlink()
    assert result.returncode == 1
    assert "llmops._unplaced" in result.stdout


# The store's engines are its own: other layers go through store.read() / write() / bulk()
_ENGINE_ATTRS = {"engine", "_write_engine"}


def _engine_uses(source: str, filename: str) -> list[str]:
    """``file:line`` of each ``x.engine`` (or ``getattr(x, "engine")``) in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        attr = node.attr if isinstance(node, ast.Attribute) else None
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "setattr", "hasattr"}
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
        ):
            attr = node.args[1].value
        if attr in _ENGINE_ATTRS:
            found.append(f"{filename}:{node.lineno}")
    return found


def test_only_the_store_package_touches_the_engine() -> None:
    package = REPO / "llmops"
    offenders = [
        use
        for path in sorted(package.rglob("*.py"))
        if package / "store" not in path.parents
        for use in _engine_uses(path.read_text(), str(path.relative_to(REPO)))
    ]
    assert offenders == [], "use store.read(), store.write() or store.bulk() instead"


@pytest.mark.parametrize(
    "source",
    [
        "with store.engine.connect() as c:\n    pass\n",
        "e = self.store.engine.execution_options(x=True)\n",
        "store._write_engine.begin()\n",
        "getattr(store, 'engine').connect()\n",
    ],
)
def test_an_engine_use_is_caught(source: str) -> None:
    assert _engine_uses("import os\n" + source, "llmops/x.py") == ["llmops/x.py:2"]


def test_other_engines_are_not_the_store_engine() -> None:
    source = "engine = offline_engine(t)\nllm.llm_engine.engine_core\n"
    assert _engine_uses(source, "llmops/x.py") == []
