"""The Registry pages in a real browser (Debian's Chromium, headless, Playwright) against a live
server over a store with models, a real RAG index (two versions) and a promoted bundle.

Each page opens from the Registry tabs; a model's lineage links to its training run, eval runs
and gate decisions; an index's query box shows dense, BM25 and hybrid results side by side and
its diff the chunks added, removed and changed; a bundle shows its pins and promotions. Hostile
text (our XSS payloads) in model fields, alias reasons, file names, chunk text and bundle names
renders as inert text. Skips without Chromium or playwright unless LLMOPS_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from _browser import OWN_XSS, Watch, browser_fixture, isolated, watched_page
from _live_server import LiveServer
from _registry_seed import Seeded, seed_registry

from llmops.gates import create_bundle
from llmops.server import create_app
from llmops.store import Store

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# one worker runs the module under xdist: one browser, one store, one server
pytestmark = pytest.mark.xdist_group("ui_registry")

browser = browser_fixture()

HOSTILE = " ".join(OWN_XSS)


@dataclass
class Site:
    server: LiveServer
    home: Path
    seeded: Seeded

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("ui_registry")
    with isolated(root):
        store = Store(f"sqlite:///{root / 'store.db'}")
        store.ensure_schema()
        (root / "corpus").mkdir()
        seeded = seed_registry(store, root / "corpus", HOSTILE)
        create_bundle(store, OWN_XSS[1], model="bot@1")
    with LiveServer(create_app(store)) as server:
        yield Site(server, root / "home", seeded)
    store.close()


@pytest.fixture
def page(
    browser: Browser, site: Site, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Page, Watch]]:
    # the query box opens the index where it was built: the module's data folder
    monkeypatch.setenv("LLMOPS_HOME", str(site.home))
    # every inline style is inspected (a chart box is no exception), the scripts not counted
    with watched_page(browser, site.url, styles="all", count=False) as (opened, seen):
        yield opened, seen


def _open(page: Page, site: Site, route: str) -> None:
    page.goto(f"{site.url}/ui/#/{route}")


def test_models_list_detail_and_lineage(page: tuple[Page, Watch], site: Site) -> None:
    from playwright.sync_api import expect

    browser_page, _ = page
    _open(browser_page, site, "traces")
    browser_page.locator("nav.sections a", has_text="Registry").click()
    expect(browser_page).to_have_url(re.compile(r"#/models$"))
    expect(browser_page.locator("nav.sections a.active")).to_have_text("Registry")
    row = browser_page.locator("table.grid tbody tr", has_text="bot")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("v2")
    expect(row).to_contain_text("canary → v2")
    row.get_by_role("link", name="bot").click()

    expect(browser_page.locator("h1")).to_contain_text("bot")
    versions = browser_page.locator("section.panel", has_text="Versions").locator("tbody tr")
    expect(versions).to_have_count(2)
    lineage = browser_page.locator(".lineage")
    expect(lineage).to_have_attribute("data-ref", "bot@2")
    gate = lineage.locator("a.lineage-gate")
    expect(gate).to_have_text("bundle:release@2")
    expect(gate).to_have_attribute("href", "#/gates?kind=bundle&name=release")
    # hostile text in what a version serves, its params and an alias move's reason
    expect(versions.first).to_contain_text(OWN_XSS[0])
    history = browser_page.locator("section.panel", has_text="Alias history").locator("tbody tr")
    expect(history).to_have_count(3)
    expect(history.nth(1)).to_contain_text(OWN_XSS[1])

    versions.nth(1).get_by_role("link", name="v1").click()
    expect(lineage).to_have_attribute("data-ref", "bot@1")
    run = lineage.locator("a.lineage-run")
    expect(run).to_have_attribute("href", f"#/tracking/{site.seeded.training_run}")
    expect(run).to_contain_text("lora-1")
    expect(lineage).to_contain_text("ep1")
    expect(browser_page.locator("dl.facts")).to_contain_text(OWN_XSS[0])
    evals = lineage.locator("a.lineage-eval")
    expect(evals).to_have_text(re.compile("docs-qa"))
    evals.click()
    expect(browser_page).to_have_url(re.compile(f"#/evals/{site.seeded.eval_run}$"))


def test_index_versions_query_box_and_diff(page: tuple[Page, Watch], site: Site) -> None:
    from playwright.sync_api import expect

    browser_page, _ = page
    _open(browser_page, site, "indexes")
    expect(browser_page.locator("nav.tabs a.active")).to_have_text("Indexes")
    browser_page.get_by_role("link", name="help").click()
    expect(browser_page.locator("h1")).to_contain_text("help")
    expect(browser_page.locator(".versions details")).to_have_count(2)
    # the newest version's manifest is open: its files, a hostile file name among them
    manifest = browser_page.locator(".versions details").first
    expect(manifest).to_contain_text("recursive")
    expect(manifest.locator("tbody tr")).to_have_count(3)
    expect(manifest).to_contain_text("<script>window.__xss=1<_script>")

    diff = browser_page.locator(".diff-result")
    expect(diff).to_contain_text("help@1 → help@2")
    expect(diff.locator('[data-kind="removed"]')).to_contain_text("shipping.md#0")
    expect(diff.locator('[data-kind="changed"]')).to_contain_text("refunds.md#0")
    added = diff.locator('[data-kind="added"]')
    expect(added).not_to_have_attribute("data-count", "0")
    expect(added).to_contain_text("<img src=x")

    form = browser_page.locator("form.query-form")
    form.get_by_label("query text").fill("when are refunds paid back")
    form.get_by_label("k").fill("2")
    form.get_by_role("button", name="Retrieve").click()
    columns = browser_page.locator(".query-column")
    expect(columns).to_have_count(3)
    for mode in ("dense", "bm25", "hybrid"):
        column = browser_page.locator(f'.query-column[data-mode="{mode}"]')
        # BM25 retrieves only chunks that share a term with the query
        expect(column).to_have_attribute("data-count", "1" if mode == "bm25" else "2")
        expect(column.locator("li").first).to_contain_text("refunds.md")
        expect(column.locator("li").first).to_contain_text("ten days")
    # chunk text with the payloads comes back as text
    form.get_by_label("query text").fill("loyalty points expire")
    form.locator("select[name=version]").select_option("2")
    form.get_by_role("button", name="Retrieve").click()
    bm25 = browser_page.locator('.query-column[data-mode="bm25"]')
    expect(bm25.locator("li").first).to_contain_text("Loyalty points")
    expect(browser_page.locator(".query-results")).to_contain_text("window.__xss=1")


def test_bundles_pins_and_promotions(page: tuple[Page, Watch], site: Site) -> None:
    from playwright.sync_api import expect

    browser_page, _ = page
    _open(browser_page, site, "bundles")
    rows = browser_page.locator("table.grid tbody tr")
    expect(rows).to_have_count(2)
    hostile = rows.filter(has_text=OWN_XSS[1])
    expect(hostile).to_have_count(1)
    hostile.locator("a").first.click()
    expect(browser_page.locator("h1")).to_have_text(OWN_XSS[1])

    _open(browser_page, site, "bundles/release")
    pins = browser_page.locator("section.panel", has_text="Pinned versions").locator("tbody tr")
    expect(pins).to_have_count(2)
    expect(pins.first.locator("a.pin-model")).to_have_attribute("href", "#/models/bot?version=2")
    expect(pins.first.locator("a.pin-index")).to_have_attribute("href", "#/indexes/help")
    history = browser_page.locator("section.panel", has_text="Promotion history")
    promotion = history.locator("tbody tr")
    expect(promotion).to_have_count(1)
    expect(promotion).to_contain_text("model bot: new → v2")
    expect(promotion).to_contain_text("canary")
    expect(promotion).to_contain_text(OWN_XSS[3])
    pins.first.locator("a.pin-model").click()
    expect(browser_page.locator(".lineage")).to_have_attribute("data-ref", "bot@2")
