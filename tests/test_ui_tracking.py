"""The Experiments pages in a real browser (Debian's Chromium, headless, Playwright) against a
live server over a store filled through ``llmops.tracking``: experiments → runs (filter, sort,
select) → a run (metric charts with the logged number of points, 10,000 of them too, x axis,
smoothing, log scale, artifact download) → 3 runs compared (charts overlaid). XSS payloads in
experiment and run names, params, tags and metric keys must stay inert text.

Skips when /usr/bin/chromium or playwright is missing, unless LLMOPS_REQUIRE_BROWSER=1 (CI).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest
from _browser import OWN_XSS, Watch, browser_fixture, isolated, watched_page
from _live_server import LiveServer

from llmops.server import create_app
from llmops.store import Store

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# one worker runs the module under xdist: one browser, one store, one server
pytestmark = pytest.mark.xdist_group("ui_tracking")

browser = browser_fixture()


@dataclass
class Site:
    server: LiveServer
    sweep: list[str]  # lr-0, lr-1, lr-2 of "sweep"
    big: str  # a run with a 10,000-point metric
    hostile: list[str]  # runs of the XSS experiment

    @property
    def url(self) -> str:
        return self.server.url


def _seed(root: Path) -> tuple[Store, list[str], str, list[str]]:
    from llmops.tracking import start_run

    store = Store(f"sqlite:///{root / 'store.db'}")
    store.ensure_schema()
    sweep = []
    for i in range(3):
        try:
            with start_run("sweep", name=f"lr-{i}", tags={"team": "a"}, store=store) as run:
                sweep.append(run.id)
                run.log_params({"lr": [0.1, 0.2, 0.4][i], "opt": "adam"})
                for step in range(50):
                    run.log_metric("loss", (3 - i) / (step + 1), step=step)
                (root / "weights.bin").write_bytes(b"w" * (100 * (i + 1)))
                run.log_artifact(root / "weights.bin", artifact_path="model")
                if i == 2:
                    raise RuntimeError("diverged")
        except RuntimeError:
            pass
    with start_run("long", name="ten thousand", store=store) as run:
        for step in range(10_000):
            run.log_metric("loss", 1 + (step % 97) / 97, step=step)
    big = run.id
    hostile = []
    for payload in OWN_XSS[:3]:
        tags = {payload: payload}
        with start_run(OWN_XSS[4], name=payload, tags=tags, store=store) as run:
            run.log_params({payload: payload, "lr": len(hostile)})
            for step in range(5):
                run.log_metric(payload, step + 1.0, step=step)
        hostile.append(run.id)
    return store, sweep, big, hostile


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("ui-tracking")
    with isolated(root) as patch:
        patch.setenv("LLMOPS_ARTIFACT_ROOT", str(root / "artifacts"))
        store, sweep, big, hostile = _seed(root)
        with LiveServer(create_app(store)) as server:
            yield Site(server, sweep, big, hostile)
    store.close()


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[tuple[Page, Watch]]:
    # the chart's and the artifact's downloads are blob: URLs of the page
    with watched_page(browser, site.url, blobs=True) as (opened, seen):
        yield opened, seen


def _open(page: Page, site: Site, route: str) -> None:
    page.goto(f"{site.url}/ui/#/{route}")


def _names(page: Page) -> list[str]:
    return page.locator("table.runs-grid tbody a.run-link").all_inner_texts()


def test_experiments_then_runs_filtered_and_sorted(page: tuple[Page, Watch], site: Site) -> None:
    from playwright.sync_api import expect

    browser_page, _ = page
    _open(browser_page, site, "experiments")
    expect(browser_page.locator("nav a.active")).to_have_text("Experiments")
    links = browser_page.locator("a.experiment-link")
    expect(links).to_have_count(3)
    browser_page.get_by_role("link", name="sweep", exact=True).click()
    expect(browser_page).to_have_url(re.compile(r"#/experiments/sweep$"))
    rows = browser_page.locator("table.runs-grid tbody tr")
    expect(rows).to_have_count(3)
    headers = browser_page.locator("table.runs-grid thead th").all_inner_texts()
    assert {"param lr", "param opt", "metric loss", "Duration", "Commit", "Tags"} <= {
        h.strip(" ▲▼") for h in headers
    }
    expect(rows.first).to_contain_text("team=a")
    assert _names(browser_page) == ["lr-2", "lr-1", "lr-0"]  # newest first

    browser_page.get_by_label("Status").select_option("failed")
    browser_page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("lr-2")
    expect(browser_page.locator(".run-count")).to_have_text("1 run(s) match")

    _open(browser_page, site, "experiments/sweep")
    expect(rows).to_have_count(3)
    browser_page.get_by_role("link", name="metric loss").click()  # latest loss, highest first
    expect(browser_page).to_have_url(re.compile(r"sort=metric%3Aloss&order=desc"))
    expect(browser_page.locator("table.runs-grid tbody tr").first).to_contain_text("lr-0")
    assert _names(browser_page) == ["lr-0", "lr-1", "lr-2"]
    browser_page.get_by_role("link", name="metric loss ▼").click()
    expect(browser_page.locator("table.runs-grid tbody tr").first).to_contain_text("lr-2")
    browser_page.get_by_label("Param").fill("lr=0.2")
    browser_page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("lr-1")


def test_run_page_charts_every_logged_point_and_downloads_artifacts(
    page: tuple[Page, Watch], site: Site
) -> None:
    from playwright.sync_api import expect

    browser_page, _ = page
    _open(browser_page, site, "experiments/sweep")
    browser_page.get_by_role("link", name="lr-1").click()
    expect(browser_page).to_have_url(re.compile("#/tracking/" + site.sweep[1]))
    expect(browser_page.locator("nav a.active")).to_have_text("Experiments")
    chart = browser_page.locator('.chart[data-metric="loss"]')
    expect(chart).to_have_attribute("data-points", "50")
    expect(chart).to_have_attribute("data-series", "1")
    expect(chart.locator("canvas")).to_have_count(1)  # uPlot drew it
    expect(browser_page.locator("dl.facts")).to_contain_text("finished")

    browser_page.get_by_label("X axis").select_option("time")
    expect(browser_page.locator('.chart[data-metric="loss"] canvas')).to_have_count(1)
    browser_page.get_by_label("Smoothing").fill("0.9")
    expect(browser_page.locator(".smoothing-value")).to_have_text("0.9")
    browser_page.get_by_label("Log scale").check()
    chart = browser_page.locator('.chart[data-metric="loss"]')
    expect(chart).to_have_attribute("data-points", "50")  # smoothed, all positive: all drawn
    expect(chart.locator("canvas")).to_have_count(1)

    row = browser_page.locator("tr", has_text="model/weights.bin")
    expect(row).to_contain_text("200 B")
    with browser_page.expect_download() as info:
        row.get_by_role("button", name="Download").click()
    download = info.value
    assert download.suggested_filename == "weights.bin"
    assert Path(download.path()).read_bytes() == b"w" * 200


def test_a_10000_point_metric_renders(page: tuple[Page, Watch], site: Site) -> None:
    from playwright.sync_api import expect

    browser_page, _ = page
    _open(browser_page, site, f"tracking/{site.big}")
    chart = browser_page.locator('.chart[data-metric="loss"]')
    expect(chart).to_have_attribute("data-points", "10000")
    expect(chart.locator("canvas")).to_have_count(1)
    expect(browser_page.get_by_text("downsampled")).to_have_count(0)  # every value is drawn


def test_three_runs_compared_side_by_side_with_charts_overlaid(
    page: tuple[Page, Watch], site: Site
) -> None:
    from playwright.sync_api import expect

    browser_page, _ = page
    _open(browser_page, site, "experiments/sweep")
    expect(browser_page.locator("table.runs-grid tbody tr")).to_have_count(3)
    compare = browser_page.get_by_role("button", name=re.compile("Compare selected"))
    expect(compare).to_be_disabled()
    for run_id in site.sweep:
        browser_page.get_by_label(f"select run {run_id}").check()
    expect(compare).to_have_text("Compare selected (3)")
    compare.click()
    expect(browser_page).to_have_url(re.compile(r"#/tracking/compare\?ids="))
    expect(browser_page.locator("h1")).to_have_text("Compare 3 runs")
    chart = browser_page.locator('.chart[data-metric="loss"]')
    expect(chart).to_have_attribute("data-series", "3")
    expect(chart).to_have_attribute("data-points", "150")
    expect(chart.locator("canvas")).to_have_count(1)
    expect(browser_page.locator("tr.differs", has_text="lr")).to_have_count(1)
    expect(browser_page.locator("tr", has_text="opt")).not_to_have_class(re.compile("differs"))
    expect(browser_page.locator("tr.differs", has_text="≠ lr")).to_contain_text("0.4")
    browser_page.locator("ul.compared-runs a", has_text="lr-0").click()
    expect(browser_page).to_have_url(re.compile("#/tracking/" + site.sweep[0]))


def test_xss_in_names_params_tags_and_metric_keys_stays_text(
    page: tuple[Page, Watch], site: Site
) -> None:
    from playwright.sync_api import expect

    browser_page, _ = page
    _open(browser_page, site, "experiments")
    browser_page.get_by_role("link", name=OWN_XSS[4], exact=True).click()
    rows = browser_page.locator("table.runs-grid tbody tr")
    expect(rows).to_have_count(3)
    for payload in OWN_XSS[:3]:
        expect(browser_page.get_by_role("link", name=payload, exact=True)).to_have_count(1)
    # a payload param is a column, its header a sort link
    assert browser_page.get_by_role("link", name=f"param {OWN_XSS[0]}").count() == 1
    _open(browser_page, site, f"tracking/{site.hostile[1]}")
    expect(browser_page.locator("h1")).to_have_text(OWN_XSS[1])
    chart = browser_page.locator(".chart").first
    expect(chart).to_have_attribute("data-metric", OWN_XSS[1])
    expect(chart).to_have_attribute("data-points", "5")
    expect(browser_page.locator(".chart-card h3")).to_have_text(OWN_XSS[1])
    ids = ",".join(site.hostile)
    _open(browser_page, site, f"tracking/compare?ids={quote(ids)}")
    expect(browser_page.locator("h1")).to_have_text("Compare 3 runs")
    expect(browser_page.locator(".chart")).to_have_count(3)  # one chart per payload key
    # the payload is a param and a metric key that only one run has: both rows differ
    expect(browser_page.locator("tr.differs", has_text=OWN_XSS[2])).to_have_count(2)
    expect(browser_page.locator(".chart canvas")).to_have_count(3)
