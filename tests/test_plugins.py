"""Entry-point plugins: the example package under examples/ is discovered and used by name.

Installing a package into a venv takes a while; a ``*.dist-info`` folder with the package's
``entry_points.txt`` on ``sys.path`` is what importlib.metadata reads either way, so each test
writes one and runs llmops in a subprocess with it on PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "llmops-plugin-example"


def _install(site: Path, name: str, entry_points: dict[str, dict[str, str]]) -> None:
    """A distribution ``name`` with these entry points, as pip would leave its metadata."""
    info = site / f"{name.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    sections = [
        f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in items.items())
        for group, items in entry_points.items()
    ]
    (info / "entry_points.txt").write_text("\n".join(sections))


def _install_example(site: Path) -> dict[str, str]:
    """The example plugin "installed" in ``site``; the environment that sees it."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    _install(site, project["name"], project["entry-points"])
    path = os.pathsep.join([str(site), str(EXAMPLE / "src")])
    return {**os.environ, "PYTHONPATH": path}


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_llmops_eval_uses_the_plugin_scorers_and_provider_by_name(
    project: Path, tmp_path: Path
) -> None:
    env = _install_example(tmp_path / "site")
    config_path = project / "configs" / "llmops.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["models"]["echo"] = {"model": "echo/any"}  # the plugin's provider
    config_path.write_text(yaml.safe_dump(config))
    rows = [
        {"question": "say paris", "answer": "Paris"},
        {"question": "say the long answer", "answer": "the long answer here"},
        {"question": "silence", "answer": "something else"},
    ]
    (project / "evals" / "data" / "plugin.jsonl").write_text(
        "".join(json.dumps(row) + "\n" for row in rows)
    )
    (project / "prompts" / "echo.yaml").write_text("template: '{{ question }}'\n")
    (project / "evals" / "plugin.yaml").write_text(
        textwrap.dedent(
            """\
            name: plugin-demo
            dataset: data/plugin.jsonl
            prompt: echo
            model: echo
            expected: answer
            scorers: [shouting, {word_overlap: {min_length: 4}}, exact_match]
            """
        )
    )
    result = _run(["-m", "llmops", "eval", "run", "evals/plugin.yaml", "--json"], env, project)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)["summary"]
    assert summary["shouting"]["mean"] == 1.0  # the echo provider shouts every answer back
    # words of 4+ letters of the answer found in the output: paris 1/1, long+answer+here 2/3, 0/2
    assert summary["word_overlap"]["mean"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert summary["exact_match"]["mean"] == 0.0


def test_plugin_loader_and_integration_are_found_and_a_broken_plugin_names_itself(
    tmp_path: Path,
) -> None:
    env = _install_example(tmp_path / "site")
    _install(
        tmp_path / "site",
        "llmops-broken-plugin",
        {
            "llmops.scorers": {
                "broken": "no_such_module_xyz:scorer",
                "number": "string:ascii_letters",
            },
            "llmops.loaders": {"bad": "no_such_module_xyz:read"},
        },
    )
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "cities.tsv").write_text("city\tcountry\nParis\tFrance\n")
    (docs / "notes.md").write_text("plain markdown")
    (docs / "data.bad").write_text("x")
    code = textwrap.dedent(
        f"""\
        import llmops, llmops_plugin_example as example
        from pathlib import Path
        from llmops.evals import build_scorer, SCORER_TYPES
        from llmops.rag import SourceSpec
        from llmops.rag._loaders import load_sources
        from llmops.tracing import instrumentable, uninstrument

        assert "example" in instrumentable()
        llmops.instrument("example"); assert example.instrumented
        uninstrument("example"); assert not example.instrumented

        # built-in names never touch the plugins, broken or not
        assert build_scorer("exact_match").name == "exact_match"
        for name in ("broken", "number"):
            try:
                build_scorer(name)
            except llmops.PluginError as exc:
                print("ERROR", exc)
        try:
            build_scorer("nope")
        except ValueError as exc:
            print("UNKNOWN", exc)

        try:
            load_sources([SourceSpec(path="docs")], Path({str(tmp_path)!r}))
        except llmops.PluginError as exc:
            print("ERROR", exc)
        (Path({str(docs)!r}) / "data.bad").unlink()
        documents, report = load_sources([SourceSpec(path="docs")], Path({str(tmp_path)!r}))
        print("DOCS", sorted((d.id, d.text) for d in documents), report.skipped)
        """
    )
    result = _run(["-c", code], env, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    errors = [line for line in lines if line.startswith("ERROR")]
    assert len(errors) == 3
    assert "plugin 'broken' (llmops.scorers, from llmops-broken-plugin:" in errors[0]
    assert "ModuleNotFoundError" in errors[0]
    assert (
        "plugin 'number' (llmops.scorers, from llmops-broken-plugin: string:ascii_letters) is not"
        in (errors[1])
    )
    assert "plugin 'bad' (llmops.loaders, from llmops-broken-plugin:" in errors[2]
    [unknown] = [line for line in lines if line.startswith("UNKNOWN")]
    assert "shouting" in unknown and "word_overlap" in unknown  # known names list plugins
    [docs_line] = [line for line in lines if line.startswith("DOCS")]
    assert "('cities.tsv', 'city: Paris\\ncountry: France')" in docs_line
    assert "('notes.md', 'plain markdown')" in docs_line
