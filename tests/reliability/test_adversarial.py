"""Adversarial content: the 77 GPTFuzz jailbreak templates (github sherdencooper/GPTFuzz,
MIT; read from /work/shared/data/gptfuzz, never copied here) pass through prompt rendering
(as variables and as stored prompt text), tracing (SDK and OTLP), storage and the viewer
unchanged and inert: read back byte for byte, shown in Chromium as text.

Skips where the data folder is absent; the browser test also skips without Chromium or
playwright unless LLMOPS_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from _browser import attach_watch, browser_fixture
from _live_server import LiveServer

from llmops.prompts import PromptSpec, get_version, register_prompt, render_template
from llmops.server import create_app
from llmops.store import Store
from reliability.conftest import ReliabilityLog

if TYPE_CHECKING:
    from playwright.sync_api import Browser

browser = browser_fixture()  # a module-scoped headless Chromium, as the UI tests have

GPTFUZZ = Path(__file__).resolve().parents[3] / "shared" / "data" / "gptfuzz"
TEMPLATES_CSV = GPTFUZZ / "jailbreak_templates.csv"
pytestmark = pytest.mark.skipif(
    not TEMPLATES_CSV.is_file(), reason=f"no GPTFuzz templates at {GPTFUZZ}"
)


def _templates() -> list[str]:
    with TEMPLATES_CSV.open(newline="", encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    assert len(texts) == 77, len(texts)
    return texts


def test_jailbreaks_render_and_are_stored_unchanged(
    reliability: ReliabilityLog, store: Store
) -> None:
    from llmops.tracing import configure_tracing, flush, get_trace, shutdown_tracing, span
    from llmops.tracing._ingest import OtlpIngest
    from llmops.tracing._sinks import StoreSink

    texts = _templates()
    changed: list[str] = []
    # as variables, and as the text of stored prompts (text and chat)
    for index, text in enumerate(texts):
        if render_template("text", "{{ question }}", {"question": text}) != text:
            changed.append(f"{index}: as a variable")
        stored = register_prompt(store, PromptSpec(name=f"jailbreak-{index}", template=text))
        version = get_version(store, f"jailbreak-{index}", stored.version)
        if version.template != text or version.render() != text:
            changed.append(f"{index}: as a stored text prompt")
        chat = PromptSpec(
            name=f"jailbreak-chat-{index}", messages=[{"role": "user", "content": text}]
        )
        chat_version = get_version(store, chat.name, register_prompt(store, chat).version)
        if chat_version.messages() != [{"role": "user", "content": text}]:
            changed.append(f"{index}: as a stored chat prompt")
    # traced through the SDK
    configure_tracing(store)
    with span("jailbreaks", kind="agent") as root:
        for index, text in enumerate(texts):
            with span(f"jailbreak {index}", kind="llm") as child:
                child.set(
                    {
                        "input.value": text,
                        "gen_ai.input.messages": json.dumps([{"role": "user", "content": text}]),
                    }
                )
                child.add_event("prompt", {"text": text})
    assert flush(30)
    shutdown_tracing()
    rows = {row.name: row for row in get_trace(store, root.trace_id_hex)}
    for index, text in enumerate(texts):
        row = rows[f"jailbreak {index}"]
        messages = json.loads(row.attributes["gen_ai.input.messages"])
        if row.attributes["input.value"] != text or messages[0]["content"] != text:
            changed.append(f"{index}: traced attributes")
        if row.events[0]["attributes"]["text"] != text:
            changed.append(f"{index}: traced event")
    # received over OTLP/JSON
    trace_id = "7f1e0c3a9b5d4e2f8a6c1b3d5e7f9a0b"
    spans = [
        {
            "traceId": trace_id,
            "spanId": f"{index + 1:016x}",
            "name": f"otlp jailbreak {index}",
            "attributes": [{"key": "input.value", "value": {"stringValue": text}}],
        }
        for index, text in enumerate(texts)
    ]
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}).encode()
    assert OtlpIngest(StoreSink(store)).ingest(body, "application/json") == len(texts)
    received = {row.name: row for row in get_trace(store, trace_id)}
    for index, text in enumerate(texts):
        if received[f"otlp jailbreak {index}"].attributes["input.value"] != text:
            changed.append(f"{index}: received over OTLP")
    reliability.record(
        "adversarial: jailbreaks through prompts, tracing, storage",
        runs=6 * len(texts),
        failures=len(changed),
    )
    assert not changed, changed


@pytest.mark.xdist_group("reliability_browser")
def test_jailbreaks_show_as_text_in_the_viewer(
    reliability: ReliabilityLog, browser: Browser, tmp_path: Path
) -> None:
    """Every template as a conversation message and as a prompt version; a few (the longest
    among them) as a span's plain input and output."""
    from playwright.sync_api import expect

    from llmops.tracing import configure_tracing, flush, shutdown_tracing, span

    texts = _templates()
    plain = sorted(texts, key=len)[-3:] + texts[:3]
    chunks: list[list[str]] = [[]]  # conversations under the 32,768-character attribute limit
    for text in texts:
        if sum(len(t) + 64 for t in [*chunks[-1], text]) > 30_000:
            chunks.append([])
        chunks[-1].append(text)
    store = Store(f"sqlite:///{tmp_path / 'jailbreaks.db'}")
    store.ensure_schema()
    configure_tracing(store)
    with span("jailbreaks", kind="agent") as root:
        for number, chunk in enumerate(chunks):
            with span(f"conversation {number}", kind="llm") as chat:
                messages = [{"role": "user", "content": text} for text in chunk]
                chat.set("gen_ai.input.messages", json.dumps(messages))
        for index, text in enumerate(plain):
            with span(f"jailbreak {index}", kind="llm") as child:
                child.set({"input.value": text, "output.value": text})
    assert flush(30)
    shutdown_tracing()
    for text in texts:  # one prompt, 77 versions
        register_prompt(store, PromptSpec(name="jailbreak", template=text))
    shown = 0
    with LiveServer(create_app(store)) as server:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        watch = attach_watch(page, server.url)
        page.goto(f"{server.url}/ui/#/traces/{root.trace_id_hex}")
        tree = page.locator(".tree-item").first.locator(":scope > ul > .tree-item")
        expect(tree).to_have_count(len(chunks) + len(plain))
        details = page.locator("aside.details")
        for number, chunk in enumerate(chunks):
            tree.nth(number).locator(":scope > .node").click()
            expect(details.locator("h2 .span-name")).to_have_text(f"conversation {number}")
            expect(details.locator(".message.role-user")).to_have_count(len(chunk))
            messages = details.locator(".message.role-user").all_text_contents()
            shown += sum(text in message for message, text in zip(messages, chunk, strict=True))
        for index, text in enumerate(plain):
            tree.nth(len(chunks) + index).locator(":scope > .node").click()
            expect(details.locator("h2 .span-name")).to_have_text(f"jailbreak {index}")
            shown += details.locator("pre.text").all_text_contents().count(text) >= 2
        watch.check(page)
        page.goto(f"{server.url}/ui/#/prompts/jailbreak")
        expect(page.locator(".versions details")).to_have_count(len(texts))
        page.evaluate("document.querySelectorAll('.versions details').forEach(d => d.open = true)")
        expect(page.locator(".versions pre.text")).to_have_count(len(texts))
        versions = page.locator(".versions pre.text").all_text_contents()
        shown += sum(1 for text in texts if text in versions)
        watch.check(page)
        context.close()
    store.close()
    runs = 2 * len(texts) + len(plain)
    reliability.record("adversarial: jailbreaks in the viewer", runs=runs, failures=runs - shown)
    assert shown == runs
