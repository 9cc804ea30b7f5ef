"""The layer order and the public boundaries of the sub-packages, checked by import-linter.

The contracts live in pyproject.toml (``[tool.importlinter]``); ``make lint`` runs them too.
Here CI runs them, and shows that they catch what they are for, on a copy of the package.
"""

from __future__ import annotations

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
