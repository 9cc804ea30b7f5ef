"""The CLI's tables at 80 and 200 columns (ids that resolve, columns dropped by priority,
--wide, --json), its "did you mean" errors, and the messages of runs list, models register
--run and serve stop."""

from __future__ import annotations

import json
import random
import re
import string
from pathlib import Path
from typing import Any, Literal

import pytest
from _fake_openai import FakeOpenAI
from conftest import use_fake_model

from llmops.cli import main
from llmops.cli._output import console
from llmops.cli._table import short_ids

_ROW = re.compile(r"^│ (\S+)\s*│")


def _run(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> str:
    capsys.readouterr()
    assert main(argv) == code, capsys.readouterr()
    return capsys.readouterr().out


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> Any:
    return json.loads(_run(capsys, argv))


def _first_cells(out: str) -> list[str]:
    return [found[1] for line in out.splitlines() if (found := _ROW.match(line))]


@pytest.fixture
def width(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    columns = int(request.param)
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setattr(console, "_width", None)  # read COLUMNS now, whatever it was at import
    return columns


@pytest.fixture
def matrix(project: Path, fake_model: FakeOpenAI, capsys: pytest.CaptureFixture[str]) -> str:
    """Four eval runs (two prompts whose names start alike x two models) with their traces,
    and two tracking runs; returns what `eval run` printed."""
    import yaml

    import llmops

    use_fake_model(project, fake_model)
    config_path = project / "configs" / "llmops.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["models"]["fake_second"] = {"model": "openai/fake2", "api_base": fake_model.api_base}
    config_path.write_text(yaml.safe_dump(config))
    for name in ("capital_long", "capital_terse"):
        (project / "prompts" / f"{name}.yaml").write_text(
            "template: 'Context: {{ context }} Question: {{ question }}'\n"
        )
    (project / "evals" / "matrix.yaml").write_text(
        "name: capitals\ndataset: data/llmops_docs.jsonl\nexpected: answer\n"
        "prompts: [capital_long, capital_terse]\nmodels: [fake, fake_second]\n"
        "scorers: [contains, exact_match, token_f1]\n"
    )
    out = _run(capsys, ["eval", "run", "evals/matrix.yaml", "--limit", "2", "--no-cases"])
    for number in range(2):
        with llmops.start_run(experiment="tables", name=f"tracking-{number}") as run:
            run.log_param("lr", 0.1 * (number + 1))
    return out


@pytest.mark.parametrize("width", [80, 200], indirect=True)
def test_list_tables_fit_the_width_and_their_ids_resolve_with_show(
    matrix: str, width: int, capsys: pytest.CaptureFixture[str]
) -> None:
    # the matrix tells its rows apart: whole prompt labels, and run ids `runs show` takes
    assert "capital_long@1" in matrix and "capital_terse@1" in matrix
    runs = _json(capsys, ["runs", "list", "--json"])
    assert len(runs) == 6
    every_id = {run["id"] for run in runs}
    rows = [line for line in matrix.splitlines() if line.startswith("│ capital_")]
    assert len(rows) == 4 and max(len(line) for line in matrix.splitlines()) <= width
    for line in rows:  # the last column: a run id that `runs show` resolves
        short = line.rstrip("│ ").split("│")[-1].strip()
        assert _json(capsys, ["runs", "show", short, "--json"])["id"].startswith(short)

    out = _run(capsys, ["runs", "list"])
    assert max(len(line) for line in out.splitlines()) <= width
    shown = _first_cells(out)
    assert len(shown) == 6
    for short in shown:
        resolved = _json(capsys, ["runs", "show", short, "--json"])["id"]
        assert resolved in every_id and resolved.startswith(short)
    assert {_json(capsys, ["runs", "show", s, "--json"])["id"] for s in shown} == every_id
    if width == 80:
        assert min(len(short) for short in shown) >= 8 and max(map(len, shown)) < 32
        assert re.search(r"^hidden: .*kind.* \(--wide shows all\)$", out, re.MULTILINE)
    else:  # everything fits: whole ids, no footer
        assert set(shown) == every_id and "hidden:" not in out

    traces = _json(capsys, ["traces", "list", "--json", "-n", "100"])
    out = _run(capsys, ["traces", "list", "-n", "100"])
    assert max(len(line) for line in out.splitlines()) <= width
    shown = _first_cells(out)
    assert len(shown) == len(traces) == 8
    for short in shown:
        trace = _json(capsys, ["traces", "show", short, "--json"])
        assert trace["trace_id"].endswith(short)  # short trace ids are their last characters
    assert "name" in out.splitlines()[1] and "started" in out.splitlines()[1]


@pytest.mark.parametrize("width", [80], indirect=True)
def test_wide_shows_every_column_untruncated_and_json_the_raw_rows(
    matrix: str, width: int, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = _json(capsys, ["runs", "list", "--json"])
    out = _run(capsys, ["runs", "list", "--wide"])
    header = out.splitlines()[1]
    for column in ("id", "kind", "suite / experiment", "prompt", "cases", "errors", "started"):
        assert column in header
    assert set(_first_cells(out)) == {run["id"] for run in runs}
    assert "hidden:" not in out and max(len(line) for line in out.splitlines()) > width
    traces = _json(capsys, ["traces", "list", "--json"])
    out = _run(capsys, ["traces", "list", "--wide"])
    assert set(_first_cells(out)) == {trace["trace_id"] for trace in traces}
    assert "session" in out.splitlines()[1]
    names = [row["name"] for row in _json(capsys, ["prompts", "list", "--json"])]
    assert set(names) == {"capital_long", "capital_terse"}
    assert set(_first_cells(_run(capsys, ["prompts", "list", "--wide"]))) == set(names)


def test_short_ids_are_unique_and_keep_the_end_that_show_resolves(rng: random.Random) -> None:
    alphabet = string.hexdigits.lower()[:16]
    for _ in range(200):
        # ids that share long starts (time-ordered trace ids) or long ends, and a few repeats
        stem = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        ids = [
            (stem + "".join(rng.choice(alphabet) for _ in range(32 - len(stem))))
            if rng.random() < 0.5
            else ("".join(rng.choice(alphabet) for _ in range(32 - len(stem))) + stem)
            for _ in range(rng.randint(1, 30))
        ]
        ids += rng.sample(ids, k=min(2, len(ids)))
        kinds: tuple[Literal["prefix", "suffix"], ...] = ("prefix", "suffix")
        for kind in kinds:
            cut = short_ids(ids, kind)
            assert len({len(c) for c in cut}) == 1 and len(cut[0]) >= 8
            assert all(
                (i.startswith(c) if kind == "prefix" else i.endswith(c))
                for i, c in zip(ids, cut, strict=True)
            )
            assert len(set(cut)) == len(set(ids))  # distinct ids stay distinct


# -- did you mean ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["prompts", "show", "qa_"], "prompt 'qa_' not found (did you mean 'qa'?)"),
        (["prompts", "show", "rag_answr@1"], "(did you mean 'rag_answer'?)"),
        (["models", "show", "supprt-bot@1"], "model 'supprt-bot' not found (did you mean"),
        (
            ["eval", "run", "evals/llmops_doc.yaml"],
            "evals/llmops_doc.yaml: eval suite not found (did you mean 'evals/llmops_docs.yaml'?)",
        ),
        (
            ["prompts", "render", "qa", "--var", "context=c", "--var", "questoin=q"],
            "missing template variable 'question' (got 'questoin'; did you mean it?)",
        ),
    ],
)
def test_unknown_names_suggest_the_closest(
    project: Path, argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["prompts", "sync"]) == 0
    assert main(["models", "register", "support-bot", "--serve", "openai/x"]) == 0
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert said in " ".join(err.split()), err
    assert len(err.strip().splitlines()) == 1 or "error:" in err.splitlines()[0]


def test_a_name_like_none_gets_no_guess(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompts", "sync"]) == 0
    capsys.readouterr()
    assert main(["prompts", "show", "zzzzzz"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "prompt 'zzzzzz' not found" in err and "did you mean" not in err


# -- messages ------------------------------------------------------------------------------
def test_models_register_checks_the_run_and_records_its_whole_id(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import llmops

    with llmops.start_run(experiment="train") as run:
        run.log_param("epochs", 1)
    capsys.readouterr()
    code = main(["models", "register", "bot", "--serve", "openai/x", "--run", "feedface00"])
    assert code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "--run: run 'feedface00' not found" in err
    assert _json(capsys, ["models", "list", "--json"]) == []  # nothing was registered

    registered = _json(
        capsys, ["models", "register", "bot", "--serve", "openai/x", "--run", run.id[:8], "--json"]
    )
    assert registered["source_run_id"] == run.id


def test_a_typo_d_key_in_a_suite_is_named_at_its_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = project / "evals" / "typo.yaml"
    suite.write_text(
        "name: typo\ndataset: data/llmops_docs.jsonl\nprompt: qa\nexpected: answer\n"
        "scorer: [contains]\n"
    )
    assert main(["eval", "run", "evals/typo.yaml"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "evals/typo.yaml:5: unknown key 'scorer' (did you mean 'scorers'?)" in err
