"""The Dashboard (the home page) in a real browser (Debian's Chromium, headless, Playwright)
against a live server over a store of seeded spans: the range picker and group-by select, one
chart per figure with the right number of points, a click on a point opening the trace list of
that bucket (and group), and XSS payloads in model, user, tag and score names kept inert text.

Skips when /usr/bin/chromium or playwright is missing, unless LLMOPS_REQUIRE_BROWSER=1 (CI).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest
from _browser import OWN_XSS, Watch, browser_fixture, watched_page
from _live_server import LiveServer
from sqlalchemy import insert

from llmops.server import create_app
from llmops.store import Store
from llmops.store.models import ScoreRecord, SpanRecord, table_of

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# one worker runs the module under xdist: one browser, one store, one server
pytestmark = pytest.mark.xdist_group("ui_dashboard")

browser = browser_fixture()

MS = 10**6
QUARTER = 900 * 10**9


@dataclass
class Site:
    server: LiveServer
    bucket: int  # the start (ns) of the 15-minute bucket holding the seeded traces

    @property
    def url(self) -> str:
        return self.server.url


def _span(trace: int, span: int, start: int, ms: int, **fields: Any) -> dict[str, Any]:
    return {
        "trace_id": f"{trace:032x}",
        "span_id": f"{span:016x}",
        "parent_span_id": fields.get("parent"),
        "name": fields.get("name", "chat"),
        "kind": "internal",
        "start_ns": start,
        "end_ns": start + ms * MS,
        "status_code": fields.get("status", "OK"),
        "attributes": fields.get("attributes", {}),
        "user_id": fields.get("user"),
    }


def _seed(store: Store) -> int:
    """Four traces a second apart in one minute of the previous quarter hour (one bucket at
    24 h and at 1 h): two on model-a, one on a hostile model name, one failed; hostile users,
    tags and score name; and a model-a trace two days earlier (outside both ranges)."""
    now = time.time_ns()
    base = now // QUARTER * QUARTER - QUARTER + 60 * 10**9  # a minute into the last quarter
    layout = [  # (trace, start, model, user, tags, failed)
        (1, base, "model-a", OWN_XSS[0], [OWN_XSS[3]], False),
        (2, base + 10**9, "model-a", OWN_XSS[2], [OWN_XSS[4]], True),
        (3, base + 2 * 10**9, OWN_XSS[1], OWN_XSS[0], [], False),
        (4, base - 2 * 86_400 * 10**9, "model-a", "old", [], False),
    ]
    rows = []
    for trace, start, model, user, tags, failed in layout:
        rows.append(
            _span(trace, 1, start, 20 * trace, name=f"dash trace {trace}", user=user,
                  attributes={"llmops.tags": tags} if tags else {})
        )  # fmt: skip
        llm = {"gen_ai.request.model": model, "gen_ai.usage.input_tokens": 10 * trace}
        rows.append(
            _span(trace, 2, start + MS, 5, parent=f"{1:016x}", user=user, attributes=llm,
                  status="ERROR" if failed else "OK")
        )  # fmt: skip
    now_dt = datetime.now(UTC)
    scores = [
        {"id": f"s{t}", "trace_id": f"{t:032x}", "name": OWN_XSS[5], "source": "human",
         "data_type": "numeric", "value": v, "created_at": now_dt}
        for t, v in ((1, 1.0), (3, 0.5))
    ]  # fmt: skip
    with store.engine.begin() as db:
        db.execute(insert(table_of(SpanRecord)), rows)
        db.execute(insert(table_of(ScoreRecord)), scores)
    return base // QUARTER * QUARTER


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("ui-dashboard")
    store = Store(f"sqlite:///{root / 'store.db'}")
    store.ensure_schema()
    bucket = _seed(store)
    with LiveServer(create_app(store)) as server:
        yield Site(server, bucket)
    store.close()


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[tuple[Page, Watch]]:
    # the chart's and the artifact's downloads are blob: URLs of the page
    with watched_page(browser, site.url, blobs=True) as (opened, seen):
        yield opened, seen


def _open(page: Page, site: Site, route: str) -> None:
    page.goto(f"{site.url}/ui/#/{route}")


def _chart(page: Page, figure: str) -> Any:
    return page.locator(f'.chart[data-figure="{figure}"]')


def test_home_is_the_dashboard_with_one_chart_per_figure(
    page: tuple[Page, Watch], site: Site
) -> None:
    from playwright.sync_api import expect

    browser_page, _ = page
    _open(browser_page, site, "")
    expect(browser_page.locator("h1")).to_have_text("Dashboard")
    expect(browser_page.locator("nav.sections a").first).to_have_text("Dashboard")
    expect(browser_page.locator("nav a.active")).to_have_text("Dashboard")
    for figure in ("Traces", "Latency p50", "Latency p95", "Latency p99", "Error rate"):
        chart = _chart(browser_page, figure)
        expect(chart).to_have_attribute("data-points", "1")  # one bucket, one series
        expect(chart.locator("canvas")).to_have_count(1)  # uPlot drew it
    expect(_chart(browser_page, f"Score: {OWN_XSS[5]}")).to_have_attribute("data-points", "1")
    _open(browser_page, site, "traces")  # the trace list keeps its route
    expect(browser_page.locator("table.traces tbody tr")).to_have_count(4)


def test_range_and_group_by_redraw_the_charts(page: tuple[Page, Watch], site: Site) -> None:
    from playwright.sync_api import expect

    browser_page, _ = page
    _open(browser_page, site, "dashboard")
    browser_page.get_by_label("Time range").select_option("1h")
    expect(browser_page).to_have_url(re.compile(r"#/dashboard\?range=1h"))
    browser_page.get_by_label("Group by").select_option("model")
    expect(browser_page).to_have_url(re.compile(r"range=1h&by=model"))
    traces = _chart(browser_page, "Traces")
    expect(traces).to_have_attribute("data-points", "2")  # model-a and the hostile model
    expect(traces).to_have_attribute("data-series", "2")
    expect(browser_page.locator(".u-legend").first).to_contain_text(OWN_XSS[1])
    for by, names in (("user", [OWN_XSS[0], OWN_XSS[2]]), ("tag", [OWN_XSS[3], OWN_XSS[4]])):
        _open(browser_page, site, f"dashboard?range=24h&by={by}")
        legend = browser_page.locator(".u-legend").first
        for name in names:  # text in the legend, never markup
            expect(legend).to_contain_text(name)
    expect(_chart(browser_page, "Traces")).to_have_attribute("data-points", "3")  # 2 tags, none
    _open(browser_page, site, "dashboard?range=30d")
    expect(_chart(browser_page, "Traces")).to_have_attribute("data-points", "2")  # 2 buckets


def test_a_click_on_a_point_opens_the_traces_of_its_bucket(
    page: tuple[Page, Watch], site: Site
) -> None:
    from playwright.sync_api import expect

    browser_page, _ = page
    _open(browser_page, site, "dashboard?range=24h&by=model")
    over = _chart(browser_page, "Traces").locator(".u-over")
    expect(over).to_have_count(1)
    over.click()  # one bucket: any x picks it; the first series is the busiest, model-a
    expect(browser_page).to_have_url(re.compile(r"#/traces\?start=\d+&end=\d+&model=model-a"))
    query = parse_qs(urlsplit(browser_page.url).fragment.split("?", 1)[1])
    assert int(query["start"][0]) == site.bucket
    assert int(query["end"][0]) == site.bucket + QUARTER
    rows = browser_page.locator("table.traces tbody tr")
    expect(rows).to_have_count(2)  # model-a in that bucket: not the one two days earlier
    expect(rows.first).to_contain_text("dash trace 2")
    expect(rows.last).to_contain_text("dash trace 1")
