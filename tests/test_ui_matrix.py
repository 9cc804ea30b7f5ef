"""Eval runs side by side in Chromium: a prompts x models matrix as one grid (cases x runs) with
per-column summaries and a chart, N runs compared, filters, links to runs and traces, and
hostile model names, case inputs and outputs rendered as inert text.

Skips when /usr/bin/chromium or playwright is missing, unless LLMOPS_REQUIRE_BROWSER=1 (CI).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest
from _browser import browser_fixture, isolated, watched_page
from _eval_grid import N_CASES, OWN_XSS, XSS_MODEL, make_runs, responder
from _fake_openai import FakeOpenAI
from _live_server import LiveServer

from llmops.evals import EvalRun
from llmops.server import create_app
from llmops.store import Store

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# one worker runs the module under xdist: one browser, one store, one server
pytestmark = pytest.mark.xdist_group("ui_matrix")

browser = browser_fixture()


@dataclass
class Site:
    server: LiveServer
    runs: list[EvalRun]

    def open(self, page: Page, route: str) -> None:
        page.goto(f"{self.server.url}/ui/#/{route}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Four real runs of a 2 x 2 matrix (the fake model), their traces, one server."""
    from llmops.tracing import flush, shutdown_tracing

    root = tmp_path_factory.mktemp("ui_matrix")
    with isolated(root):
        store = Store(f"sqlite:///{root / 'store.db'}")
        store.ensure_schema()
        with FakeOpenAI(responder) as fake:
            runs = make_runs(root / "project", fake, store)
        assert flush(60)
        shutdown_tracing()
    with LiveServer(create_app(store)) as server:
        yield Site(server, runs)
    store.close()


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    # no request watch; uPlot sizes its chart through the CSSOM, which the CSP allows, so
    # style attributes are not inspected here
    with watched_page(browser, None, scripts=None, styles=None, count=False) as (opened, _):
        yield opened


def test_a_matrix_is_one_grid_of_cases_by_runs_with_summaries(page: Page, site: Site) -> None:
    from playwright.sync_api import expect

    site.open(page, "evals")
    links = page.locator("a.matrix-link")
    expect(links).to_have_count(4)  # every run of the matrix links to it
    links.first.click()
    expect(page).to_have_url(re.compile(r"#/evals/matrix\?group=[0-9a-f]{32}$"))
    expect(page.locator("h1")).to_contain_text(f"4 runs \N{MULTIPLICATION SIGN} {N_CASES} cases")

    headers = page.locator("th.run-col")
    expect(headers).to_have_count(4)
    rows = page.locator("tr.case-row")
    expect(rows).to_have_count(N_CASES)
    for i in range(N_CASES):
        expect(rows.nth(i).locator("td.grid-cell")).to_have_count(4)
    # a hostile model name and case inputs and outputs show as text
    expect(headers.filter(has_text=XSS_MODEL)).to_have_count(2)
    expect(rows.first.locator(".case-input")).to_contain_text(OWN_XSS[1])
    expect(rows.first.locator(".cell-output").first).to_contain_text(f"{OWN_XSS[0]} case-0")

    # summaries per column in the order the runs ran: the second model missed one case and
    # failed another
    order = [f"{r.prompt}|{r.model}" for r in site.runs]
    failing = [r.model == XSS_MODEL for r in site.runs]
    contains = page.locator("tr.summary-row", has_text="mean contains").locator("td")
    errors = page.locator("tr.summary-row", has_text="errors").locator("td")
    expect(contains).to_have_count(4)
    for i, fails in enumerate(failing):
        header = headers.nth(i)
        prompt, model = order[i].split("|")
        expect(header.locator(".col-prompt")).to_have_text(prompt)
        expect(header.locator(".col-model")).to_have_text(model)
        expect(contains.nth(i)).to_have_text("0.750 (n 4, 1 unmeasured)" if fails else "1 (n 5)")
        expect(errors.nth(i)).to_have_text(f"{1 if fails else 0} of {N_CASES}")
    # the chart: one bar per scorer and run
    expect(page.locator(".chart")).to_have_attribute("data-points", str(2 * 4))
    expect(page.locator(".chart canvas").first).to_be_visible()

    # differences against the baseline (first) column: the failing model's cells of cases 1, 2
    second = failing.index(True)
    expect(rows.nth(1).locator("td.grid-cell").nth(second)).to_have_class(re.compile("cell-diff"))
    expect(rows.nth(1).locator("td.grid-cell").nth(second).locator(".score-down")).to_have_count(1)
    failed = rows.nth(2).locator("td.grid-cell").nth(second)
    expect(failed.locator(".error-text .clip")).to_have_attribute(
        "title", re.compile("the second model refuses case 2")
    )  # the clipped error's whole text
    expect(failed.locator(".score-error")).to_have_count(2)

    # filter the loaded cases by text; a full output opens in place
    page.get_by_label("filter cases").fill("case-3")
    expect(page.locator("tr.case-row:visible")).to_have_count(1)
    expect(page.locator("tr.case-row:visible")).to_have_attribute("data-case", "3")
    page.get_by_label("filter cases").fill("")
    expect(page.locator("tr.case-row:visible")).to_have_count(N_CASES)
    cell = rows.nth(3).locator("td.grid-cell").first
    cell.locator("summary", has_text="full output").click()
    expect(cell.locator("details")).to_contain_text(OWN_XSS[3])

    # link-through: a run's page from its header, a case's trace from its cell
    cell.locator("a.trace-link").click()
    expect(page).to_have_url(re.compile(r"#/traces/[0-9a-f]{32}"))
    expect(page.locator("h1")).to_be_visible()
    page.go_back()
    headers.nth(second).locator("a.run-link").click()
    expect(page).to_have_url(re.compile(f"#/evals/{site.runs[second].id}$"))
    expect(page.locator("h1")).to_contain_text(site.runs[second].id)


def test_compare_three_runs_by_case_and_keep_the_two_run_view(page: Page, site: Site) -> None:
    from playwright.sync_api import expect

    first, second, third = site.runs[:3]
    site.open(page, "evals")
    compare = page.locator("button.compare-many")
    expect(compare).to_be_disabled()
    for run in (first, second, third):
        page.get_by_label(f"side by side: run {run.id[:12]}").check()
    expect(compare).to_have_text("Side by side (3)")
    compare.click()
    expect(page).to_have_url(re.compile(r"#/evals/compare\?runs="))
    expect(page.locator("h1")).to_contain_text("Compare 3 runs")
    headers = page.locator("th.run-col")
    expect(headers).to_have_count(3)
    expect(page.locator("tr.case-row")).to_have_count(N_CASES)
    expect(page.locator(".chart")).to_have_attribute("data-points", str(2 * 3))

    # the two runs of one prompt agree except where the second model failed
    pair = ",".join(r.id for r in site.runs if r.prompt.startswith("qa@"))
    site.open(page, f"evals/compare?runs={quote(pair)}")
    expect(page.locator("th.run-col")).to_have_count(2)
    page.get_by_label("only cases that differ").check()
    shown = page.locator("tr.case-row:visible")
    expect(shown).to_have_count(2)
    expect(shown.first).to_have_attribute("data-case", "1")
    expect(shown.nth(1)).to_have_attribute("data-case", "2")
    expect(page.locator(".shown-count")).to_have_text(f"2 of {N_CASES} loaded cases shown")

    # ?a=&b= still opens the paired two-run comparison; too many runs is a clear message
    site.open(page, f"evals/compare?a={first.id}&b={second.id}")
    expect(page.get_by_text("Scorers (paired by case)")).to_be_visible()
    site.open(page, "evals/compare?runs=" + ",".join(f"r{i}" for i in range(11)))
    expect(page.locator(".error")).to_contain_text("Pick 1 to 10 runs")
