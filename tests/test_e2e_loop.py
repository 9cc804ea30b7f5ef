"""The production loop end to end, on each store backend: an app on the real local model traces
its calls and sends feedback; a queue of its traces is labelled in Chromium with the keyboard; a
dataset built from the labels runs as a suite; the judge is calibrated from the queue; an online
evaluator scores the traces; a gate decides on the suite and the online scores together.

Few model calls (3 app calls, 2 suite cases, 2 judge calls per store): CI time is tight, and the
135M model's judgements are at chance, so the calibration's plumbing is checked, not its accuracy.
The browser part skips when Chromium or playwright is missing, unless LLMOPS_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from _browser import VIEWPORT, browser_fixture
from _live_server import LiveServer

import llmops
from llmops.cli import main
from llmops.store import Store

if TYPE_CHECKING:
    from playwright.sync_api import Browser

# the real local model, and one worker for the module: one browser for both stores
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e_loop")]

CAPITALS = {"France": "Paris", "Italy": "Rome", "Spain": "Madrid"}
PROMPT = """\
description: Name a country's capital city.
messages:
  - role: system
    content: Reply with the name of the city only.
  - role: user
    content: "What is the capital of {{ country }}?"
model_params:
  temperature: 0.0
  max_tokens: 8
"""
SUITE = """\
name: capitals-gold
dataset: gold@1                # the version built from the queue's labels
prompt: capital
model: local
inputs: {country: input}       # the template variable <- the dataset column
expected: expected
scorers: [contains]
"""
EVALUATORS = """\
evaluators:
  - name: answered
    filter: {tag: prod}
    sample_rate: 1.0
    scorers:
      - {regex: {pattern: "[A-Za-z]", name: answered}}
"""
GATES = """\
protected_aliases: [production]
policies:
  - name: capital-bot
    subject: prompt
    names: [capital]
    suites: [evals/gold.yaml]
    thresholds: {contains: 0.5}
    online:
      - {scorer: helpful, min_mean: 0.5, since: 1h, min_n: 3}
      - {scorer: answered, min_mean: 0.5, since: 1h, min_n: 3}
"""


browser = browser_fixture()


def _answer(country: str, store: Store) -> str:
    """The app: one traced request answered with the registered prompt on the local model, the
    user's feedback sent on its trace. Returns the trace id."""
    from llmops.llm import complete
    from llmops.prompts import get_version

    prompt = get_version(store, "capital", 1)
    with (
        llmops.trace_context(tags=["prod"], user_id="u1"),
        llmops.span("capital-bot", kind="chain") as root,
    ):
        root.set("input.value", country)
        messages = prompt.render(country=country)
        assert isinstance(messages, list)
        reply = complete(messages, "local", max_tokens=8, temperature=0.0)
        root.set("output.value", reply.text)
        trace_id = llmops.current_trace_id()
    assert trace_id is not None
    # the feedback endpoint of the app, later: the trace id is enough
    llmops.feedback(trace_id, "helpful", bool(reply.text.strip()))
    return trace_id


def _cli(capsys: pytest.CaptureFixture[str], command: str) -> Any:
    """Run ``llmops COMMAND --json`` in this process (the local model stays loaded); its JSON."""
    argv = shlex.split(command)
    capsys.readouterr()
    code = main([*argv, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, (argv, code, err)
    return json.loads(out)


def _label_in_the_browser(browser: Browser, url: str) -> dict[str, dict[str, Any]]:
    """Label the queue with the keyboard: correct (1 true / 2 false) and the gold capital, the
    second item skipped. Returns what was chosen per country."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.goto(f"{url}/ui/#/queues")
    row = page.locator("table.queues tbody tr", has_text="review")
    expect(row).to_contain_text("0 / 3 done")
    row.get_by_role("link", name="review").click()
    head = page.locator(".item-head")
    page.get_by_label("Annotator").fill("ada")
    keys = page.keyboard
    keys.press("Escape")  # out of the name field: the keys drive the queue again
    chosen: dict[str, dict[str, Any]] = {}
    golds = sorted(CAPITALS.values())  # the categorical config's labels, in this order
    for position in range(3):
        expect(head).to_contain_text(f"Item {position + 1} of 3")
        country = page.locator(".io.input").inner_text().split("\n", 1)[-1].strip()
        output = page.locator(".io.output").inner_text().split("\n", 1)[-1].strip()
        assert country in CAPITALS, country
        if position == 1:
            keys.press("s")
            chosen[country] = {"status": "skipped"}
            continue
        correct = CAPITALS[country].lower() in output.lower()
        gold = CAPITALS[country]
        for key in ("1" if correct else "2", "j", str(golds.index(gold) + 1), "Enter"):
            keys.press(key)
        chosen[country] = {"status": "done", "correct": correct, "gold": gold}
    expect(page.locator(".queue-done")).to_have_text("All 3 items done (1 skipped).")
    expect(page.locator(".queue-progress")).to_contain_text("2 / 3 done")
    assert errors == []
    context.close()
    return chosen


def test_the_production_loop(
    store: Store,
    store_url: str,
    project: Path,
    browser: Browser,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from llmops.evals import dataset_rows, get_run, latest_calibration
    from llmops.gates import list_decisions
    from llmops.prompts import load_prompt_file, register_prompt
    from llmops.server import create_app
    from llmops.tracing import TraceFilter, configure_tracing, flush, list_scores, list_traces

    monkeypatch.setenv("LLMOPS_STORE_URL", store_url)
    (project / "prompts" / "capital.yaml").write_text(PROMPT)
    (project / "evals" / "gold.yaml").write_text(SUITE)
    (project / "configs" / "evaluators.yaml").write_text(EVALUATORS)
    (project / "configs" / "gates.yaml").write_text(GATES)
    configure_tracing(store)

    # 1. the app, in production: traced calls, user feedback
    register_prompt(store, load_prompt_file(project / "prompts" / "capital.yaml"))
    traces = {country: _answer(country, store) for country in CAPITALS}
    assert flush(60)
    listed = list_traces(store, where=TraceFilter(tag="prod"), limit=10)
    assert {t.trace_id for t in listed} == set(traces.values())

    # 2. a queue of those traces, from the same filter as `traces list`
    _cli(capsys, "score-configs create correct --type boolean")
    _cli(capsys, "score-configs create gold --type categorical --values Madrid,Paris,Rome")
    queue = _cli(
        capsys,
        "queues create review --score-config correct --score-config gold --tag prod --since 1h",
    )
    assert (queue["total"], queue["pending"]) == (3, 3)

    # 3. people label it in the viewer, with the keyboard only
    with LiveServer(create_app(store)) as server:
        chosen = _label_in_the_browser(browser, server.url)
    shown = _cli(capsys, "queues show review --items")
    assert (shown["done"], shown["skipped"]) == (2, 1)
    done = {c: v for c, v in chosen.items() if v["status"] == "done"}
    for country, labels in done.items():  # the labels are the traces' human scores too
        scores = {s.name: s for s in list_scores(store, traces[country])}
        assert scores["correct"].value == float(labels["correct"])
        assert scores["gold"].label == labels["gold"]
        assert (scores["gold"].source, scores["gold"].author) == ("human", "ada")

    # 4. a dataset version of the labelled items, `expected` from the gold label
    version = _cli(capsys, "datasets create gold --from-queue review --expected-from gold")
    assert (version["name"], version["version"], version["row_count"]) == ("gold", 1, 2)
    rows = dataset_rows(store, "gold", 1)
    assert {row.data["input"]: row.expected for row in rows} == {
        c: v["gold"] for c, v in done.items()
    }
    assert {row.metadata["trace_id"] for row in rows} == {traces[c] for c in done}

    # 5. a suite on it (`dataset: gold@1`), a deterministic scorer
    run = _cli(capsys, "eval run evals/gold.yaml --fail-under contains=0")
    assert (run["cases"], run["errors"], run["prompt"]) == (2, 0, "capital@1")
    detail = get_run(store, run["id"])
    assert detail.run.config["dataset"] == "gold@1"
    assert {c.inputs["input"]: c.expected for c in detail.cases} == {
        c: v["gold"] for c, v in done.items()
    }
    contains = [detail.case_scores(c)["contains"].value for c in detail.cases]
    assert run["summary"]["contains"]["mean"] == pytest.approx(sum(contains) / 2)

    # 6. the judge calibrated from the queue (the 135M judge is at chance: the plumbing only)
    judge = "llm_rubric -p 'rubric=Is the capital right?'"
    calibration = _cli(capsys, f"eval calibrate {judge} --from-queue review --label correct")
    assert calibration["labels_path"] == "queue:review"
    stored = latest_calibration(store, "llm_rubric")
    assert stored is not None and stored.labels_path == "queue:review"
    assert stored.n + stored.n_unmeasured == 2
    assert stored.detail["source"]["queue"] == "review"
    assert stored.detail["source"]["label"] == "correct"

    # 7. an online evaluator scores the app's traces (not the eval run's), once per version
    [first] = _cli(capsys, "evaluate-traces --since 1h")
    assert (first["evaluator"], first["matched"], first["scored"]) == ("answered", 3, 3)
    [again] = _cli(capsys, "evaluate-traces --since 1h")
    assert (again["already_scored"], again["scored"]) == (3, 0)
    online_values: dict[str, list[float]] = {"helpful": [], "answered": []}
    for trace_id in traces.values():
        for score in list_scores(store, trace_id):
            if score.name in online_values and score.value is not None:
                online_values[score.name].append(score.value)
    evaluated = list_scores(store, name="answered")
    assert {s.trace_id for s in evaluated} == set(traces.values())
    assert {s.evaluator for s in evaluated} == {first["key"]}

    # 8. the gate decides on both: the suite's run (reused: the same dataset content) and the
    # online scores of the traces that ran prompt capital@1 (the app's, not the eval run's)
    decision = _cli(capsys, "gate check prompt:capital@1")
    suite_row, *online = decision["evidence"]
    assert (suite_row["suite"], suite_row["runs"]) == ("capitals-gold", [run["id"]])
    assert suite_row["passed"] == (run["summary"]["contains"]["mean"] >= 0.5)
    assert {row["online"]["scorer"] for row in online} == {"helpful", "answered"}
    for row in online:
        values = online_values[row["online"]["scorer"]]
        assert (row["online"]["n"], row["online"]["traces"]) == (3, 3)
        assert row["online"]["mean"] == pytest.approx(sum(values) / 3)
        assert row["passed"] == (sum(values) / 3 >= 0.5)
    passed = all(row["passed"] for row in decision["evidence"])
    assert decision["decision"] == ("pass" if passed else "fail")
    [record] = list_decisions(store, kind="prompt", name="capital")
    assert (record.id, record.decision) == (decision["decision_id"], decision["decision"])
    assert record.evidence["evidence"] == decision["evidence"]
