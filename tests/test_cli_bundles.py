"""``llmops bundles show`` and ``llmops bundles history`` on the project's store: pins, the
promotion with the aliases it moved, hostile names printed as text, unknown bundles exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _registry_seed import seed_registry

from llmops.cli import main
from llmops.config import load_config
from llmops.gates import create_bundle
from llmops.store import open_store

HOSTILE = "[red]x[/red] <script>window.__xss=1</script>"


def test_bundles_show_and_history(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = open_store(load_config().resolved_store_url)
    seeded = seed_registry(store, project, HOSTILE)
    capsys.readouterr()

    assert main(["bundles", "show", "release@1", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["components"] == {"prompt": "qa@1", "model": "bot@1", "index": "help@1"}
    assert first["decisions"] == []

    assert main(["bundles", "show", "release"]) == 0
    out = capsys.readouterr().out
    assert "release@2" in out and "bot@2" in out and "help@2" in out
    assert f"decision {seeded.decision}: pass -> canary" in out

    assert main(["bundles", "history", "release", "--json"]) == 0
    (promotion,) = json.loads(capsys.readouterr().out)
    assert (promotion["decision_id"], promotion["ref"], promotion["reason"]) == (
        seeded.decision,
        "release@2",
        HOSTILE,
    )
    assert {m["kind"] for m in promotion["moves"]} == {"prompt", "model", "index"}

    assert main(["bundles", "history", "release", "--wide"]) == 0
    out = capsys.readouterr().out
    assert "model bot new->v2" in out and "canary" in out

    # a name with rich markup is printed as written, never interpreted
    create_bundle(store, HOSTILE, model="bot@1")
    assert main(["bundles", "show", HOSTILE]) == 0
    assert "[red]x[/red]" in capsys.readouterr().out
    assert main(["bundles", "history", HOSTILE]) == 0
    assert "[red]x[/red]" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["bundles", "show", "nope"],
        ["bundles", "show", "nope@3"],
        ["bundles", "show", "x@not-a-number"],
        ["bundles", "history", "nope"],
        ["bundles", "history", "x", "--limit", "0"],
    ],
)
def test_bad_bundle_refs_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.strip() and "Traceback" not in err
