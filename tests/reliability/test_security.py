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
from _browser import attach_watch, browser_fixture
from _live_server import LiveServer

from llmops import InputError, LlmopsError, TemplateError
from llmops.prompts import PromptSpec, get_version, register_prompt, render_template
from llmops.server import create_app
from llmops.store import Store
from reliability.conftest import ReliabilityLog

if TYPE_CHECKING:
    from playwright.sync_api import Browser

browser = browser_fixture()  # a module-scoped headless Chromium, as the UI tests have

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
        watch = attach_watch(page, server.url)
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


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


#: (text, what must not survive) for every pattern family, with look-alike separators and
#: invisible characters; None: prose that must be stored unchanged.
PATTERN_CASES: list[tuple[str, str | None]] = [
    ("GET /cb?token=abc123def456&x=1", "abc123def456"),
    ("https://h/p?a=1&access_token=Zq9Zq9&b=2", "Zq9Zq9"),
    ("https://h/p?sig=Xy7Xy7Xy7;X-Amz-Signature=Wv5Wv5Wv5", "Wv5Wv5Wv5"),
    ("https://h/p?api_key\uff1dKk3Kk3Kk3", "Kk3Kk3Kk3"),  # fullwidth =
    ("https://h/p?a=1\uff06code=Cc1Cc1Cc1", "Cc1Cc1Cc1"),  # fullwidth &
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
    ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
    ('{"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}', "wJalrXUtnFEMI"),
    ("AKIAIOSFODNN7EXAMPLE,wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n", "wJalrXUtnFEMI"),
    ("ASIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "IOSFODNN7"),
    (
        "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7x\nQk9fQk9f\n"
        "-----END RSA PRIVATE KEY-----\nend",
        "MIIEpAIBAAKCAQEA7x",
    ),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA (cut", "b3BlbnNzaC1rZXkt"),
    (
        "\uff0d" * 5 + "BEGIN PRIVATE KEY" + "\uff0d" * 5 + "\nMIIEvQIBADANBgkqhkiG9w0B",
        "MIIEvQIBADANBg",
    ),
    ("secret=hunter22x and secret: banana99x", "hunter22x"),
    ("secret: banana99x", "banana99x"),
    ("password\uff1dhunter22x", "hunter22x"),  # U+FF1D
    ("password\u2236hunter22x", "hunter22x"),  # U+2236 RATIO
    ("password\ua789hunter22x", "hunter22x"),  # U+A789
    ("password\ufe55hunter22x", "hunter22x"),  # U+FE55
    ("\u201cpassword\u201d: \u201chunter22x\u201d", "hunter22x"),  # curly quotes
    ("api_key\u00a0=\u00a0Ak4Ak4Ak4", "Ak4Ak4Ak4"),  # no-break spaces
    ("sk\u2010proj\u2010abcdefghijklmnopqrstuv", "abcdefghijklmnopqrstuv"),  # U+2010 dashes
    (
        _fullwidth("sk-proj-abcdefghijklmnopqr"),  # a key typed in fullwidth forms
        _fullwidth("mnopqr"),
    ),
    ("sk\u200b-proj-abcdefghijklmnopqrstuv", "abcdefghijklmnopqrstuv"),  # zero-width space
    (
        "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "dozjgNryP4J3",
    ),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA"),
    ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyjWDarjtT1zdp7dc"),
    ("github_pat_11ABCDEFG0abcdefghijkl_mnopqrstuvwx", "abcdefghijkl_mnop"),
    ("glpat-abcdefghijklmnopqrst", "abcdefghijklmnopqrst"),
    ("ya29.a0AfH6SMBabcdefghijklmnop", "a0AfH6SMBabcdefghijklmnop"),
    ("npm_abcdefghijklmnopqrstuvwxyz0123456789", "abcdefghijklmnopqrstuvwxyz0123456789"),
    ("SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wxyz0123456789"),
    ("token usage: 512", None),
    ("what is the password? reset it in settings", None),
    ("Basic understanding of internationalization", None),
    ("max_tokens=4096 and the secret of good tea", None),
    ("caf\u00e9 \u2615 \u00abna\u00efve\u00bb \u2013 \uff15\uff10\uff4d\uff12", None),
    (
        "\U0001f468\u200d\U0001f469\u200d\U0001f467 family",
        None,
    ),  # zero-width joiners kept where nothing is hidden
    ("https://example.com/search?q=tea&page=2", None),
    ("sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709", None),
]


def test_every_secret_pattern_family_is_masked_and_prose_is_kept(
    reliability: ReliabilityLog,
) -> None:
    from llmops.tracing import Redactor

    redactor = Redactor()
    failures = []
    for text, secret in PATTERN_CASES:
        masked = redactor.text(text)
        if secret is None and masked != text:
            failures.append(f"prose changed: {text!r} -> {masked!r}")
        elif secret is not None and (secret in masked or "[REDACTED]" not in masked):
            failures.append(f"not masked: {text!r} -> {masked!r}")
    reliability.record(
        "redaction: secret pattern families, look-alike separators",
        runs=len(PATTERN_CASES),
        failures=len(failures),
    )
    assert not failures, "\n".join(failures)


def test_one_redaction_of_span_rows_for_names_keys_events_links_and_resource() -> None:
    from llmops.tracing import Redactor

    secret = "sk-proj-abcdefghijklmnopqrstuvwx"
    row = Redactor().span(
        {
            "trace_id": "5b8efff798038103d269b633813fc60c",
            "span_id": "0000000000000001",
            "name": f"call {secret}",
            "kind": f"llm {secret}",
            "status_message": f"failed: {secret}",
            "attributes": {secret: 1, f"{secret}x": 2, "note": {"deep": [secret]}},
            "events": [{"name": f"retry {secret}", "time_ns": 5, "attributes": {secret: "a"}}],
            "links": [{"trace_id": "ab" * 16, "trace_state": f"k={secret}", "attributes": {}}],
            "resource": {"service.name": "svc", "deployment": secret},
            "scope": f"lib {secret}",
        }
    )
    assert "abcdefghijklmnop" not in json.dumps(row)
    assert row["name"] == "call [REDACTED]" and row["kind"] == "llm [REDACTED]"
    assert set(row["attributes"]) == {"[REDACTED]", "[REDACTED] #2", "note"}  # no key lost
    assert row["events"][0]["time_ns"] == 5 and row["links"][0]["trace_id"] == "ab" * 16
    assert row["trace_id"] == "5b8efff798038103d269b633813fc60c"


def test_a_secret_across_the_truncation_limit_is_masked_whole() -> None:
    from llmops.tracing import Redactor

    redactor = Redactor(max_chars=300)
    for start in range(280, 301, 4):
        text = "x" * start + " sk-proj-abcdefghijklmnopqrstuvwxyz " + "y" * 500
        masked = redactor.text(text)
        assert "abcdefghijklmnop"[:8] not in masked and "…[truncated" in masked, (start, masked)
    # a PEM block that shrinks to the marker lets the kept part read further, still masked
    text = "-----BEGIN PRIVATE KEY-----\n" + "A" * 5000 + "\n-----END PRIVATE KEY-----"
    masked = redactor.text(text + " " + "sk-proj-" + "q" * 400 + " tail")
    assert "qqqq" not in masked and masked.startswith("[REDACTED] [REDACTED]")


def test_otel_sdk_spans_and_otlp_export_are_redacted(store: Store) -> None:
    """The OTel SDK exporter into the store and the OTLP export sink see masked spans only."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from llmops.tracing import SpanPipeline, span
    from llmops.tracing._exporter import StoreSpanExporter
    from llmops.tracing._pipeline import set_pipeline
    from llmops.tracing._sinks import OTelExporterSink

    secret = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
    provider = TracerProvider(resource=Resource.create({"deploy.key": f"token={secret}"}))
    provider.add_span_processor(SimpleSpanProcessor(StoreSpanExporter(store)))
    with provider.get_tracer("t").start_as_current_span(f"otel {secret}") as otel:
        otel.set_attribute(secret, "v")
        otel.add_event(f"event {secret}", {"k": secret})
    provider.shutdown()
    stored = _raw_spans(store)
    assert "otel [REDACTED]" in stored and "abcdefghijklmnop" not in stored

    memory = InMemorySpanExporter()
    pipeline = SpanPipeline([OTelExporterSink(memory)])
    previous = set_pipeline(pipeline)
    try:
        with span(f"sdk {secret}") as sdk:
            sdk.set({"note": secret, secret: 1})
            sdk.add_event(f"e {secret}")
        assert pipeline.flush(10)
    finally:
        set_pipeline(previous)
        pipeline.shutdown()
    [exported] = memory.get_finished_spans()
    text = json.dumps(
        [exported.name, dict(exported.attributes or {}), [e.name for e in exported.events]]
    )
    assert "sdk [REDACTED]" in text and "abcdefghijklmnop" not in text


def test_tracking_params_and_tags_are_redacted(store: Store) -> None:
    from llmops.tracking import start_run

    secret = "sk-ant-api03-abcdefghijklmnopqrstuv"
    with start_run("exp", tags={"note": f"key {secret}"}, store=store) as run:
        run.log_params({"api_key": "plain-value", "prompt": f"use {secret}", "n": 3})
        run.log_params({"prompt": f"use {secret}"})  # the same param again: no conflict
        run.set_tag("token", "t0k3n-value")
    assert run.params == {"api_key": "[REDACTED]", "prompt": "use [REDACTED]", "n": 3}
    from sqlalchemy import text

    with store.engine.connect() as connection:
        rows = connection.execute(text("SELECT params, tags FROM tracking_runs")).all()
    dump = json.dumps([[str(v) for v in row] for row in rows])
    assert "abcdefghijklmnop" not in dump and "plain-value" not in dump
    assert "t0k3n-value" not in dump and "use [REDACTED]" in dump


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
    # the server's artifact routes: every traversal (raw and percent-encoded) is a 4xx, and
    # only the artifact logged above is ever served
    app = create_app(store)
    routes = [p for p in app.openapi()["paths"] if "artifact" in p]
    assert routes == [
        "/api/v1/tracking/runs/{run_id}/artifacts",
        "/api/v1/tracking/runs/{run_id}/artifacts/{path}",
    ], routes
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        base = f"/api/v1/tracking/runs/{run.id}/artifacts"
        listed = client.get(base).json()
        assert "ok/model.bin" in [a["path"] for a in listed["items"]], listed
        assert client.get(f"{base}/ok/model.bin").content == b"weights"
        for path in [*TRAVERSALS, "../../evil"]:  # and the tampered record's own path
            if path in ("", "/"):  # the listing itself, not a file
                continue
            raw = quote(path, safe="/\\:")  # as typed (a NUL can only travel encoded)
            for form in {raw, quote(path, safe=""), quote(quote(path, safe=""), safe="")}:
                runs += 1
                response = client.get(f"{base}/{form}")
                # the client itself resolves a bare '..' (then the route is not reached)
                routed = response.url.path.startswith(f"{base}/")
                code = response.status_code
                if (
                    code >= 500
                    or response.content == b"weights"
                    or (routed and not 400 <= code < 500)
                ):
                    failures.append(f"GET artifacts/{form!r}: {code}")
    store.close()
    reliability.record("security: artifact path traversal", runs=runs, failures=len(failures))
    assert not failures, "\n".join(failures)
