"""Every ```python block of README.md runs as written.

The blocks are read when the tests are collected, so a snippet added to the README is tested
without touching this file. Each runs in a fresh Python process (this venv's), in a temporary
copy of what a newcomer has after ``git clone`` (configs/, prompts/, evals/ ...), with
``LLMOPS_HOME`` and the store under that copy, offline (``tests/_offline.py``: any connection or
name lookup beyond loopback is refused and fails the snippet), under a timeout.

Rules for README authors:

- A snippet runs alone, as a reader would paste it.
- A snippet whose first line is ``# continues`` runs after the snippet before it, in the same
  process (that one must be in the same section).
- A snippet that needs what CI lacks (a GPU, a provider key, an external service) starts with
  ``# needs: WHAT``; it is reported as skipped with that reason. Keep these few: prefer code
  that runs here (the local model, a local file).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from _offline import MARKER, PRELUDE

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
#: What ``git clone`` gives a newcomer that the README's snippets may read (copied per run).
PROJECT_FOLDERS = ("configs", "prompts", "evals", "examples")
CONTINUES = "# continues"
NEEDS = re.compile(r"#\s*needs:\s*(?P<what>.+)")
#: At most this many snippets may be skipped for what CI lacks.
MAX_NEEDS = 3
TIMEOUT_S = 240


@dataclass(frozen=True)
class Snippet:
    """One ```python block: the README line of its first code line, its section, its code."""

    line: int
    section: str
    code: str

    @property
    def first_line(self) -> str:
        return next((line.strip() for line in self.code.splitlines() if line.strip()), "")

    @property
    def needs(self) -> str | None:
        found = NEEDS.fullmatch(self.first_line)
        return found["what"].strip() if found else None


def readme_snippets(text: str) -> list[Snippet]:
    """The python blocks of a Markdown text, in order."""
    snippets: list[Snippet] = []
    section = ""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        stripped = lines[index].strip()
        if stripped.startswith("#") and not stripped.startswith("#!"):
            section = stripped.lstrip("#").strip() or section
        if stripped.startswith("```") and stripped[3:].strip().lower() in ("python", "py"):
            start = index + 1
            end = start
            while end < len(lines) and not lines[end].strip().startswith("```"):
                end += 1
            snippets.append(Snippet(start + 1, section, "\n".join(lines[start:end]) + "\n"))
            index = end
        elif stripped.startswith("```"):  # skip other fences: their '#' lines are not headings
            index += 1
            while index < len(lines) and not lines[index].strip().startswith("```"):
                index += 1
        index += 1
    return snippets


def chains(snippets: list[Snippet]) -> list[list[Snippet]]:
    """Each snippet with the ones it continues, oldest first."""
    found: list[list[Snippet]] = []
    for snippet in snippets:
        chain = [snippet]
        while chain[0].first_line == CONTINUES:
            index = snippets.index(chain[0])
            if index == 0 or snippets[index - 1].section != chain[0].section:
                raise ValueError(
                    f"README.md:{chain[0].line}: '{CONTINUES}' but no snippet before it in "
                    f"section '{chain[0].section}'"
                )
            chain.insert(0, snippets[index - 1])
        found.append(chain)
    return found


SNIPPETS = readme_snippets(README.read_text(encoding="utf-8"))

# Runs the pieces with the README's line numbers in tracebacks, each in the same namespace.
_RUNNER = """
import json, sys
pieces = json.loads(sys.argv[1])
namespace = {"__name__": "__main__", "__file__": "README.md"}
for line, code in pieces:
    exec(compile("\\n" * (line - 1) + code, "README.md", "exec"), namespace)
"""


def _project(root: Path) -> Path:
    for name in PROJECT_FOLDERS:
        if (REPO / name).is_dir():
            shutil.copytree(
                REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__", ".llmops")
            )
    return root


def _environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMOPS_", "PYTEST_"))}
    env["LLMOPS_HOME"] = str(home)
    env.pop("COV_CORE_SOURCE", None)
    return env


# One worker runs them all, one after the other: two snippets each starting the local model's
# llama.cpp server (a thread per core) beside each other run several times slower.
@pytest.mark.xdist_group("readme_snippets")
@pytest.mark.parametrize("chain", chains(SNIPPETS), ids=[f"README.md:{s.line}" for s in SNIPPETS])
def test_readme_snippet_runs(chain: list[Snippet], tmp_path: Path) -> None:
    snippet = chain[-1]
    needs = next((s.needs for s in chain if s.needs), None)
    if needs is not None:
        pytest.skip(f"README.md:{snippet.line} needs {needs}")
    project = _project(tmp_path / "project")
    pieces = json.dumps([[s.line, s.code] for s in chain])
    try:
        done = subprocess.run(
            [sys.executable, "-c", PRELUDE + _RUNNER, pieces],
            cwd=project,
            env=_environment(tmp_path / "home"),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"README.md:{snippet.line} ({snippet.section}): over {TIMEOUT_S} s\n{exc}")
    stderr = done.stderr[-3000:]
    assert done.returncode == 0, (
        f"README.md:{snippet.line} ({snippet.section}) exited {done.returncode}:\n{stderr}"
    )
    assert MARKER not in done.stderr, (
        f"README.md:{snippet.line} ({snippet.section}) reached beyond localhost:\n{stderr}"
    )


def test_readme_has_python_snippets_and_few_skips() -> None:
    assert len(SNIPPETS) >= 3
    needing = [f"README.md:{s.line}: {s.needs}" for s in SNIPPETS if s.needs]
    assert len(needing) <= MAX_NEEDS, f"too many snippets that cannot run in CI: {needing}"


def test_the_collector_reads_sections_fences_and_chains() -> None:
    text = (
        "# Title\n\n## One\n\n```bash\n# not a heading\n```\n\n```python\nx = 1\n```\n\n"
        "```python\n# continues\nprint(x)\n```\n\n## Two\n\n```py\n# needs: a GPU\n```\n"
    )
    found = readme_snippets(text)
    assert [(s.line, s.section) for s in found] == [(10, "One"), (14, "One"), (21, "Two")]
    assert found[2].needs == "a GPU" and found[0].needs is None
    assert [[s.line for s in chain] for chain in chains(found)] == [[10], [10, 14], [21]]
    with pytest.raises(ValueError, match=r"README\.md:4: '# continues'"):
        chains(readme_snippets("## A\n\n```python\n# continues\n```\n"))
