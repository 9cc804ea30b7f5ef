"""The CLI's leftovers: a mistyped run id is answered with the closest one, and the history
and tracking listings (alias moves, prompt/model/index history, run metrics and artifacts) fit
80 columns, show everything with --wide and the raw rows with --json."""

from __future__ import annotations

import json
import random
import re
import string
from pathlib import Path
from typing import Any

import pytest

from llmops.cli import main
from llmops.cli._output import console

_LONG_REASON = "moved because the canary held for a week " + "and nobody complained " * 4


def _run(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> str:
    capsys.readouterr()
    assert main(argv) == code, capsys.readouterr()
    return capsys.readouterr().out


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out.strip() == "" and len(captured.err.strip().splitlines()) == 1
    return " ".join(captured.err.split())


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(console, "_width", None)  # read COLUMNS now, whatever it was at import
    return 80


@pytest.fixture
def histories(project: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """A prompt and a model with two versions and a long-reasoned alias move each, and a
    tracking run with a metric and an artifact; returns the ids and digests to look for."""
    import llmops

    assert main(["prompts", "sync"]) == 0
    path = project / "prompts" / "qa.yaml"
    path.write_text(path.read_text().replace("max_tokens: 32", "max_tokens: 16"))
    assert main(["prompts", "sync"]) == 0
    for _ in range(2):
        assert main(["models", "register", "support-bot", "--serve", "openai/x"]) == 0
    for subject in ("prompt:qa", "model:support-bot"):
        assert main(["alias", "set", subject, "staging", "2", "-r", _LONG_REASON]) == 0
    artifact = project / "weights.bin"
    artifact.write_bytes(bytes(range(256)) * 40)
    with llmops.start_run(experiment="train") as run:
        for step in range(3):
            run.log_metric("loss", 1 / (step + 3), step=step)
        run.log_artifact(str(artifact))
    capsys.readouterr()
    return {"run": run.id}


# -- did you mean, for run ids ----------------------------------------------------------------
def _typo(text: str, rng: random.Random) -> str:
    at = rng.randrange(len(text))
    other = rng.choice([c for c in string.hexdigits.lower()[:16] if c != text[at]])
    return text[:at] + other + text[at + 1 :]


def test_a_mistyped_run_id_is_answered_with_the_closest(
    project: Path, capsys: pytest.CaptureFixture[str], rng: random.Random
) -> None:
    import llmops

    ids = []
    for number in range(5):
        with llmops.start_run(experiment="train", name=f"r{number}") as run:
            run.log_param("n", number)
        ids.append(run.id)
    for wanted in ids:
        for length in (8, 12, 32):
            typed = _typo(wanted[:length], rng)
            if any(i.startswith(typed) for i in ids):
                continue  # the typo landed on another run's prefix: not a typo any more
            said = _error(capsys, ["runs", "show", typed])
            assert said == (
                f"error: run '{typed}' not found: no eval or tracking run has this id "
                f"(did you mean '{wanted[:length]}'?)"
            )
            said = _error(capsys, ["models", "register", "bot", "--serve", "x/y", "--run", typed])
            assert said.startswith(f"error: --run: run '{typed}' not found")
            assert said.endswith(f"(did you mean '{wanted[:length]}'?)")
    assert json.loads(_run(capsys, ["models", "list", "--json"])) == []  # nothing registered


@pytest.mark.parametrize(
    "typed",
    ["zzzzzzzz", "x' OR '1'='1", "%_%", "e" * 100_000, "\u00e9\t\n\x00"],
    ids=["unlike-any", "sql-quote", "like-wildcards", "oversized", "control-chars"],
)
def test_an_unknown_run_id_gets_no_guess_and_a_bounded_line(
    project: Path, capsys: pytest.CaptureFixture[str], typed: str
) -> None:
    import llmops

    for number in range(3):
        with llmops.start_run(experiment="train") as run:
            run.log_param("n", number)
    said = _error(capsys, ["runs", "show", typed])
    assert said.startswith(f"error: run {typed[:64]!r} not found")
    assert "did you mean" not in said and len(said) < 300


# -- history and tracking listings --------------------------------------------------------------
_LISTINGS = [
    ["alias", "history", "prompt:qa"],
    ["alias", "history", "model:support-bot"],
    ["prompts", "history", "qa"],
    ["models", "history", "support-bot"],
    ["runs", "metrics", "{run}"],
    ["runs", "artifacts", "{run}"],
]


def _argv(template: list[str], found: dict[str, str]) -> list[str]:
    return [part.format(**found) for part in template]


@pytest.mark.parametrize("template", _LISTINGS, ids=lambda argv: " ".join(argv[:2]))
def test_history_listings_fit_80_columns_and_wide_shows_all(
    histories: dict[str, str],
    narrow: int,
    capsys: pytest.CaptureFixture[str],
    template: list[str],
) -> None:
    argv = _argv(template, histories)
    out = _run(capsys, argv)
    lines = out.splitlines()
    assert lines and max(len(line) for line in lines) <= narrow
    wide = _run(capsys, [*argv, "--wide"])
    assert "hidden:" not in wide
    raw: Any = json.loads(_run(capsys, [*argv, "--json"]))
    if argv[0] == "runs" and argv[1] == "metrics":
        values = [p["value"] for p in raw["metrics"]["loss"]["points"]]
        assert [repr(v) for v in values] == re.findall(r"│\s+(0\.\d+)\s+│$", wide, re.MULTILINE)
    elif argv[1] == "artifacts":
        [artifact] = raw
        assert artifact["path"] in out and artifact["digest"] in wide
        assert artifact["digest"] not in out  # 80 columns: the digest gives way first
    else:  # alias moves: the reason is cut at 80 columns and whole with --wide
        events = raw if argv[0] == "alias" else raw["alias_events"]
        assert [e["reason"] for e in events] == [_LONG_REASON]
        assert _LONG_REASON.strip() in " ".join(wide.split())
        assert _LONG_REASON.strip() not in " ".join(out.split())
        assert "staging" in out and "hidden:" in out


def test_rag_history_without_moves_says_so(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(capsys, ["rag", "history", "docs", "--wide"]).strip() == "no alias moves yet"
    assert json.loads(_run(capsys, ["rag", "history", "docs", "--json"])) == []


def test_a_mistyped_index_or_pipeline_name_is_answered_with_the_closest(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = project / "docs"
    docs.mkdir()
    (docs / "refunds.md").write_text("# Refunds\n\nRefunds reach the card in five days.")
    (project / "configs" / "rag").mkdir()
    (project / "configs" / "rag" / "help.yaml").write_text(
        "sources:\n  - path: ../../docs\nembedder: local/minilm\nretriever: {mode: bm25, k: 1}\n"
    )
    assert main(["rag", "build", "help"]) == 0
    for argv in (["rag", "show", "hlep"], ["rag", "query", "hepl@1", "refunds"]):
        said = _error(capsys, argv)
        assert "not found" in said and said.endswith("(did you mean 'help'?)"), said
    said = _error(capsys, ["rag", "build", "hepl"])
    assert "RAG pipeline 'hepl' not found" in said and "did you mean" in said and "help" in said
    said = _error(capsys, ["rag", "show", "zzzz"])
    assert "not found" in said and "did you mean" not in said


def test_bundle_history_keeps_a_long_bundle_ref_whole_at_80_columns(
    project: Path, narrow: int, capsys: pytest.CaptureFixture[str]
) -> None:
    from llmops.config import load_config
    from llmops.gates import Subject, create_bundle, record_decision
    from llmops.prompts import PromptSpec, register_prompt
    from llmops.store import open_store

    store = open_store(load_config().resolved_store_url)
    register_prompt(store, PromptSpec(name="qa", template="Answer {{ question }}"))
    name = "release-candidate-for-the-support-bot"
    bundle = create_bundle(store, name, prompt="qa@1")
    subject = Subject("bundle", name, bundle.version, tuple(bundle.components.items()))
    record_decision(
        store, subject, alias="canary", decision="fail", policy=None, evidence={}, reason="no"
    )
    out = _run(capsys, ["bundles", "history", name])
    assert f"{name}@1" in out and max(len(line) for line in out.splitlines()) <= narrow
    assert json.loads(_run(capsys, ["bundles", "show", f"{name}@1", "--json"]))["name"] == name
