"""Security: template injection (SSTI) against the sandbox, XSS against the viewer in
Chromium, the server token, secret redaction in stored spans and artifact path traversal.

The browser test skips without /usr/bin/chromium or playwright unless LLMOPS_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import pytest
import test_ui_browser as ui
from _live_server import LiveServer

from llmops import InputError, LlmopsError, TemplateError
from llmops.prompts import PromptSpec, get_version, register_prompt, render_template
from llmops.server import create_app
from llmops.store import Store
from reliability.conftest import ReliabilityLog

if TYPE_CHECKING:
    from playwright.sync_api import Browser

browser = ui.browser  # the module-scoped headless Chromium of the UI tests

# ---- server-side template injection ------------------------------------------------------------

#: Each would run code, read internals or exhaust the machine if the sandbox let it through.
#: MARKER is replaced by a file path that must never be created.
SSTI_BLOCKED = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ cycler.__init__.__globals__.os.system('touch MARKER') }}",
    "{{ joiner.__init__.__globals__.os.popen('touch MARKER').read() }}",
    "{{ lipsum.__globals__['os'].system('touch MARKER') }}",
    "{{ lipsum.__globals__.__builtins__.open('MARKER', 'w') }}",
    "{{ lipsum.__globals__.os.environ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ cycler|attr('__init__')|attr('__globals__') }}",
    "{{ ''|attr('__class__') }}",
    "{{ ''|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "{{ question.__class__ }}",
    "{{ question.__init__.__globals__ }}",
    "{{ '{0.__class__}'.format(question) }}",
    "{{ '%s'|format(question.__class__) }}",
    "{{ question|selectattr('__class__')|list }}",
    "{{ dict.mro() }}",
    "{{ dict.__subclasses__() }}",
    "{{ self.__dict__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.system('touch MARKER') }}",
    "{% macro m() %}{{ m.__globals__ }}{% endmacro %}{{ m() }}",
    "{% import os %}",
    "{% import 'os' as os %}{{ os.system('touch MARKER') }}",
    "{% from 'os' import system %}{{ system('touch MARKER') }}",
    "{% include '/etc/passwd' %}",
    "{% extends 'MARKER' %}",
    "{{ config }}",
    "{{ config.items() }}",
    "{{ request.application.__globals__ }}",
    "{{ url_for.__globals__.os }}",
    "{{ get_flashed_messages.__globals__ }}",
    "{{ {}.update({'a': 1}) }}",
    "{{ [].append(1) }}",
    "{{ range(10**9)|list }}",
    "{{ 7 ** 99999999 }}",
    "{{ 'a' * 10**9 }}",
]
#: Allowed by the sandbox and harmless: they must render without reaching Python internals.
SSTI_INERT = [
    "{{ self }}",
    "{% set ns = namespace() %}{% set ns.__class__ = 1 %}{{ ns.__class__ }}",
    "{{ question|map(attribute='__class__')|list }}",
    "{{ question|sort(attribute='__class__') }}",
    "{{ question.encode('utf-8').decode('unicode_escape') }}",
]


def _check_inert(rendered: Any) -> None:
    text = json.dumps(rendered)
    for leak in ("<class", "module", "__globals__", "subprocess", "builtins", "Popen", "os."):
        assert leak not in text, f"{leak!r} in {text[:200]}"


def test_ssti_payloads_are_blocked_and_run_nothing(
    reliability: ReliabilityLog, store: Store, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    environ = dict(os.environ)
    failures: list[str] = []
    runs = 0
    for index, payload in enumerate(SSTI_BLOCKED + SSTI_INERT):
        source = payload.replace("MARKER", str(marker))
        blocked = payload in SSTI_BLOCKED
        spec = PromptSpec(name=f"ssti{index}", template=source)
        chat = [{"role": "user", "content": source}]
        attempts = [
            lambda source=source: render_template(
                "text", source, {"question": "q"}, allow_extra=True
            ),
            lambda chat=chat: render_template("chat", chat, {"question": "q"}, allow_extra=True),
            lambda spec=spec: get_version(
                store, spec.name, register_prompt(store, spec).version
            ).render(question="q", allow_extra=True),
        ]
        for attempt in attempts:
            runs += 1
            try:
                rendered = attempt()
            except TemplateError as exc:
                if not str(exc):
                    failures.append(f"{payload}: an empty error")
                continue
            except Exception as exc:
                failures.append(f"{payload}: {type(exc).__name__}: {exc}")
                continue
            if blocked:
                failures.append(f"{payload}: rendered {rendered!r:.120}")
            else:
                try:
                    _check_inert(rendered)
                except AssertionError as exc:
                    failures.append(f"{payload}: {exc}")
        # the payload as a variable is data: rendered verbatim, never evaluated
        runs += 1
        if render_template("text", "Q: {{ question }}", {"question": source}) != f"Q: {source}":
            failures.append(f"{payload}: changed when passed as a variable")
    if marker.exists():
        failures.append(f"{marker} was created: a payload ran code")
    if dict(os.environ) != environ:
        failures.append("the environment changed")
    reliability.record("security: SSTI payloads", runs=runs, failures=len(failures))
    assert not failures, "\n".join(failures)


# ---- XSS in the viewer ------------------------------------------------------------------------

#: Each sets window.__xss (or opens a dialog) if the page ever runs it.
XSS = [
    "<script>window.__xss=1</script>",
    "</script><script>window.__xss=1</script>",
    "<img src=x onerror=window.__xss=1>",
    '<img src="x" onerror="alert(1)">',
    "<svg onload=window.__xss=1>",
    "<svg><script>window.__xss=1</script></svg>",
    "<svg><a xlink:href='javascript:window.__xss=1'><text y=20>x</text></a></svg>",
    "javascript:window.__xss=1",
    '<a href="javascript:window.__xss=1">click</a>',
    "<a href=# onclick=window.__xss=1>click</a>",
    '<iframe srcdoc="<script>parent.__xss=1</script>"></iframe>',
    "<iframe src=javascript:window.__xss=1>",
    "<object data=javascript:window.__xss=1>",
    "<details open ontoggle=window.__xss=1>",
    "<input autofocus onfocus=window.__xss=1>",
    "<body onload=window.__xss=1>",
    "<math><mtext><table><mglyph><style><img src=x onerror=window.__xss=1>",
    '<meta http-equiv="refresh" content="0;url=javascript:window.__xss=1">',
    "<style>@import 'http://127.0.0.2/x.css';</style>",
    '"><script>window.__xss=1</script>',
    "'-alert(1)-'",
    "{{constructor.constructor('window.__xss=1')()}}",
    "${window.__xss=1}",
    "[click](javascript:window.__xss=1)",
    '![x](x" onerror="window.__xss=1)',
    "data:text/html,<script>window.__xss=1</script>",
    "<base href=javascript:/a/><a href=x>x</a>",
]


def _xss_trace(store: Store) -> str:
    from llmops.tracing import configure_tracing, flush, shutdown_tracing, span, trace_context

    configure_tracing(store)
    with (
        trace_context(session_id=XSS[2], user_id=XSS[0], tags=[XSS[4]]),
        span(XSS[0], kind="agent") as root,
    ):
        root.set({"input.value": XSS[1], "output.value": XSS[2]})
        for payload in XSS:
            with span(payload, kind="llm") as child:
                child.set(
                    {
                        "gen_ai.request.model": payload,
                        "payload": payload,
                        "input.value": payload,
                        "output.value": payload,
                        "gen_ai.input.messages": json.dumps([{"role": "user", "content": payload}]),
                        "gen_ai.output.messages": json.dumps(
                            [{"role": "assistant", "content": payload}]
                        ),
                    }
                )
                child.add_event(payload, {"detail": payload})
                child.set_status("ERROR", payload)
    assert flush(30)
    shutdown_tracing()
    return root.trace_id_hex


@pytest.mark.xdist_group("reliability_browser")
def test_xss_payloads_render_as_inert_text(
    reliability: ReliabilityLog, browser: Browser, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    store = Store(f"sqlite:///{tmp_path / 'xss.db'}")
    store.ensure_schema()
    trace_id = _xss_trace(store)
    for payload in XSS[:3]:
        register_prompt(
            store, PromptSpec(name="xss", template=payload + " {{ q }}"), message=payload
        )
    checks = 0
    with LiveServer(create_app(store)) as server:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        watch = ui._watch(page, server.url)
        page.goto(f"{server.url}/ui/#/traces?session={quote(XSS[2], safe='')}")
        expect(page.locator("table.traces tbody tr .trace-link")).to_have_text(XSS[0])
        watch.check(page)
        page.goto(f"{server.url}/ui/#/traces/{trace_id}")
        tree = page.locator(".tree-item").first.locator(":scope > ul > .tree-item")
        expect(tree).to_have_count(len(XSS))
        details = page.locator("aside.details")
        for index, payload in enumerate(XSS):
            node = tree.nth(index).locator(":scope > .node")
            assert node.locator(".span-name").text_content() == payload
            node.click()
            expect(details.locator("h2 .span-name")).to_have_text(payload)
            assert (details.text_content() or "").count(payload) >= 4, payload
            watch.check(page)
            checks += 1
        page.goto(f"{server.url}/ui/#/sessions/{quote(XSS[2], safe='')}")
        expect(page.locator("h1 code")).to_have_text(XSS[2])
        watch.check(page)
        page.goto(f"{server.url}/ui/#/prompts/xss")
        expect(page.locator(".versions details")).to_have_count(3)
        page.evaluate("document.querySelectorAll('.versions details').forEach(d => d.open = true)")
        expect(page.locator(".versions pre.text")).to_have_count(3)
        texts = page.locator(".versions pre.text").all_text_contents()
        assert sorted(texts) == sorted(p + " {{ q }}" for p in XSS[:3])
        watch.check(page)
        context.close()
    store.close()
    reliability.record("security: XSS in the viewer", runs=checks + 3)


# ---- the token --------------------------------------------------------------------------------


def test_the_token_guards_every_data_route(reliability: ReliabilityLog, store: Store) -> None:
    from llmops.cli import main
    from llmops.server import check_bind

    failures: list[str] = []
    runs = 0
    for host in ("0.0.0.0", "::", "192.168.1.10", "example.com", "127.1", "::ffff:127.0.0.1"):
        runs += 1
        try:
            check_bind(host, None)
            failures.append(f"{host}: listened without a token")
        except LlmopsError:
            pass
        check_bind(host, "a-token")
    for host in ("127.0.0.1", "localhost", "::1", "[::1]"):
        check_bind(host, None)
    runs += 1
    if main(["server", "--host", "0.0.0.0", "--port", "1"]) != 2:
        failures.append("`llmops server --host 0.0.0.0` without a token did not exit 2")
    app = create_app(store, token="s3cret-token")
    paths = sorted(
        path.replace("{", "").replace("}", "")
        for path, methods in app.openapi()["paths"].items()
        if path.startswith(("/api/v1", "/v1/")) and "get" in methods
    )
    assert len(paths) >= 10, paths
    wrong = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Bearer s3cret-token-and-more"},
        {"Authorization": "Bearer s3cret"},
        {"Authorization": "Basic czNjcmV0LXRva2Vu"},
        {"Authorization": "s3cret-token"},
        {"X-Api-Key": "s3cret-token"},
        {"Cookie": "token=s3cret-token"},
    ]
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        for path in paths:
            for headers in wrong:
                runs += 1
                response = client.get(path, headers=headers, params={"token": "s3cret-token"})
                if response.status_code != 401:
                    failures.append(f"GET {path} {headers}: {response.status_code}")
            runs += 1
            right = client.get(path, headers={"Authorization": "Bearer s3cret-token"})
            if right.status_code == 401 or right.status_code >= 500:
                failures.append(f"GET {path} with the token: {right.status_code}")
        for headers in wrong:
            runs += 1
            otlp = client.post(
                "/v1/traces",
                content=b'{"resourceSpans": []}',
                headers={**headers, "Content-Type": "application/json"},
            )
            if otlp.status_code != 401:
                failures.append(f"POST /v1/traces {headers}: {otlp.status_code}")
        runs += 1
        if client.get("/health").status_code != 200 or client.get("/ui/").status_code != 200:
            failures.append("/health or /ui/ needs a token")
    reliability.record("security: server token", runs=runs, failures=len(failures))
    assert not failures, "\n".join(failures)


# ---- secret redaction --------------------------------------------------------------------------

SECRETS = [
    "sk-proj-abcdefghijklmnopqrstuvwxyz012345",
    "sk-ant-api03-abcdefghijklmnopqrstuv",
    "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc",
    "AKIAIOSFODNN7EXAMPLE",
    "AIzaSyA-abcdefghijklmnopqrstuvwxyz01234",
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "xoxb-123456789012-abcdefghij",
    "hf_abcdefghijklmnopqrstuvwxyz012345",
]
#: Attribute keys whose whole value is masked, whatever it looks like.
SECRET_KEYS = ["api_key", "OPENAI_API_KEY", "password", "db.passwd", "client_secret", "cookie"]
PLAIN = "hunter2-plain-value"


def _raw_spans(store: Store) -> str:
    from sqlalchemy import text

    with store.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT name, status_message, attributes, events, resource FROM spans")
        ).all()
    return json.dumps([[str(value) for value in row] for row in rows])


def test_secrets_are_masked_in_stored_spans(reliability: ReliabilityLog, store: Store) -> None:
    from llmops.tracing import configure_tracing, flush, shutdown_tracing, span
    from llmops.tracing._ingest import OtlpIngest
    from llmops.tracing._sinks import StoreSink

    configure_tracing(store)
    for secret in SECRETS:
        with span("call", kind="llm") as sdk_span:
            sdk_span.set({"note": f"key is {secret} ok", "nested": {"deep": [secret]}})
            sdk_span.set({key: PLAIN for key in SECRET_KEYS})
            sdk_span.add_event("retry", {"error": f"401 for {secret}", "password": PLAIN})
            sdk_span.set_status("ERROR", f"auth failed: {secret}")
    assert flush(30)
    shutdown_tracing()

    def kv(key: str, value: str) -> dict[str, Any]:
        return {"key": key, "value": {"stringValue": value}}

    spans = [
        {
            "traceId": "5b8efff798038103d269b633813fc60c",
            "spanId": f"{index + 1:016x}",
            "name": "otlp call",
            "attributes": [kv("note", f"key is {secret}"), *(kv(k, PLAIN) for k in SECRET_KEYS)],
            "events": [{"name": "retry", "attributes": [kv("error", secret), kv("cookie", PLAIN)]}],
            "status": {"code": 2, "message": f"auth failed: {secret}"},
        }
        for index, secret in enumerate(SECRETS)
    ]
    resource = {"attributes": [kv("env.token", SECRETS[0]), kv("api_key", PLAIN)]}
    body = json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]})
    assert OtlpIngest(StoreSink(store)).ingest(body.encode(), "application/json") == len(SECRETS)

    stored = _raw_spans(store)
    leaked = [s for s in [*SECRETS, PLAIN] if s in stored or s.split()[-1] in stored]
    assert stored.count("[REDACTED]") >= len(SECRETS) * 2 * (len(SECRET_KEYS) + 2)
    reliability.record("security: secret redaction", runs=2 * len(SECRETS), failures=len(leaked))
    assert not leaked, f"stored unmasked: {leaked}"


# ---- artifact path traversal -------------------------------------------------------------------

TRAVERSALS = [
    "../escaped.txt",
    "..",
    "a/../../escaped.txt",
    "./../escaped.txt",
    "a/./../../../escaped.txt",
    "/tmp/escaped.txt",
    "//etc/passwd",
    "\\..\\escaped.txt",
    "a\\..\\..\\escaped.txt",
    "C:/escaped.txt",
    "c:escaped.txt",
    "a/\x00/b",
    "",
    "/",
]


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_artifact_paths_cannot_leave_the_artifact_root(
    reliability: ReliabilityLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlmodel import Session

    from llmops.store.models import ArtifactRecord
    from llmops.tracking import artifact_bytes, download_artifact, start_run

    outside = tmp_path / "outside"
    root = outside / "artifacts"
    monkeypatch.setenv("LLMOPS_ARTIFACT_ROOT", str(root))
    store = Store(f"sqlite:///{outside / 'store.db'}")
    store.ensure_schema()
    source = tmp_path / "model.bin"
    source.write_bytes(b"weights")
    failures: list[str] = []
    runs = 0
    with start_run(experiment="traversal", store=store) as run:
        run.log_artifact(source, artifact_path="ok")
        before = _tree(tmp_path)
        for path in TRAVERSALS:
            for attempt in (
                lambda path=path: run.log_artifact(source, artifact_path=path),
                lambda path=path: artifact_bytes(store, run.id, path),
                lambda path=path: download_artifact(store, run.id, path, tmp_path / "dl" / "x"),
            ):
                runs += 1
                try:
                    attempt()
                except (InputError, LlmopsError) as exc:
                    if not str(exc):
                        failures.append(f"{path!r}: an empty error")
                    continue
                except Exception as exc:
                    failures.append(f"{path!r}: {type(exc).__name__}: {exc}")
                    continue
                if path not in ("", "/"):  # '' and '/' mean every artifact, inside dest
                    failures.append(f"{path!r} was accepted")
        # a tampered database: a record whose path climbs out of the download folder
        with Session(store.engine) as session:
            session.add(ArtifactRecord(run_id=run.id, path="../../evil", digest="0" * 64, size=1))
            session.commit()
        runs += 1
        try:
            download_artifact(store, run.id, "", tmp_path / "dl2")
            failures.append("a tampered record was downloaded")
        except LlmopsError:
            pass
    created = _tree(tmp_path) - before
    escaped = [p for p in created if not p.startswith(("dl", "outside"))]
    if escaped or (tmp_path.parent / "evil").exists():
        failures.append(f"written outside the artifact root or destination: {escaped}")
    routes = create_app(store).openapi()["paths"]
    assert not [p for p in routes if "artifact" in p], "the server has artifact routes now"
    store.close()
    reliability.record("security: artifact path traversal", runs=runs, failures=len(failures))
    assert not failures, "\n".join(failures)
