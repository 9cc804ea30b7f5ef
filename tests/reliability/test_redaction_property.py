"""Redaction as a property: a generated secret, placed in any field of a span, never reaches the
database, on the SDK path and through the OTLP receiver of a real server; nor one written into
eval inputs, outputs and errors, nor (when ``rag.redact_chunks`` is on) into RAG chunks.

Secrets come from every pattern family (provider keys, JWTs, AWS key pairs and labelled AWS
secret keys, PEM private keys with and without their END line, secret query parameters,
``password=``/``secret:`` labels, ``user:password@``), with look-alike separators (fullwidth,
ratio, small forms, Unicode dashes) and invisible characters in their prefix. Each secret has a
*core*, its random part, which must appear nowhere in any table; a *canary* written beside it
must appear, so a field that is not stored at all cannot pass for a redacted one.

Hypothesis runs derandomized (the same examples on every run) and a failure propagates, so it
is shrunk and printed with the falsifying example.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from _live_server import LiveServer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from llmops.server import create_app
from llmops.store import Store
from reliability.conftest import ReliabilityLog

#: Letters only (no I, l, O, o): a core can never be mistaken for an id, a time or a canary.
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz"
_canaries = itertools.count(1)


def _core(low: int, high: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=ALPHABET, min_size=low, max_size=high)


DASH = st.sampled_from(["-", "-", "\u2010", "\u2011", "\u2212", "\uff0d", "\ufe63"])
EQUALS = st.sampled_from(["=", "=", "\uff1d", "\ufe66", "\u207c", "\u208c"])
COLON = st.sampled_from([":", ":", "\uff1a", "\u2236", "\ua789", "\ufe55", "\ufe13"])
SEPARATOR = st.one_of(
    EQUALS, COLON, st.tuples(EQUALS | COLON).map(lambda s: f" {s[0]} "), st.just(": ")
)
INVISIBLE = st.sampled_from(["", "", "\u200b", "\u2060", "\ufeff", "\u00ad"])
#: (text of the secret, its core)
Secret = tuple[str, str]


@st.composite
def provider_key(draw: st.DrawFn) -> Secret:
    dash, hidden = draw(DASH), draw(INVISIBLE)
    core = draw(_core(24, 40))
    prefix = draw(
        st.sampled_from(
            [
                f"sk{hidden}{dash}proj{dash}",
                f"sk{dash}ant{dash}api03{dash}",
                f"sk{dash}",
                "sk_live_",
                "rk_test_",
                "ghp_" + "A" * 12,  # GitHub wants 36 characters after the prefix
                "github_pat_",
                f"glpat{dash}",
                f"xoxb{dash}",
                "hf_" + "B" * 6,
                "ya29.",
                f"Bearer{draw(st.sampled_from([' ', '  ', chr(0xA0)]))}",
            ]
        )
    )
    return prefix + core, core


@st.composite
def fixed_length_key(draw: st.DrawFn) -> Secret:
    kind = draw(st.sampled_from(["google", "npm"]))
    if kind == "google":
        core = draw(_core(35, 35))
        return "AIza" + core, core
    core = draw(_core(36, 36))
    return "npm_" + core, core


@st.composite
def jwt(draw: st.DrawFn) -> Secret:
    header, payload = draw(_core(10, 30)), draw(_core(10, 60))
    signature = draw(_core(20, 43))
    return f"eyJ{header}.eyJ{payload}.{signature}", signature


@st.composite
def aws_pair(draw: st.DrawFn) -> Secret:
    key_id = "AKIA" + draw(
        st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ234567", min_size=16, max_size=16)
    )
    secret = draw(_core(40, 40))
    separator = draw(st.sampled_from([" ", ",", ":", " | ", "\t", "\n", '", "', "\uff1a"]))
    return f"{key_id}{separator}{secret}", secret


@st.composite
def aws_labelled(draw: st.DrawFn) -> Secret:
    secret = draw(_core(40, 40))
    label = draw(
        st.sampled_from(
            ["aws_secret_access_key", "AWS_SECRET_ACCESS_KEY", "SecretAccessKey", "secretAccessKey"]
        )
    )
    if draw(st.booleans()):
        return f'"{label}"{draw(COLON)} "{secret}"', secret
    return f"{label}{draw(SEPARATOR)}{secret}", secret


@st.composite
def pem(draw: st.DrawFn) -> Secret:
    dashes = draw(DASH) * 5
    kind = draw(st.sampled_from(["", "RSA ", "EC ", "OPENSSH ", "ENCRYPTED ", "DSA "]))
    lines = draw(st.lists(_core(40, 64), min_size=1, max_size=4))
    body = "\n".join(lines)
    block = f"{dashes}BEGIN {kind}PRIVATE KEY{dashes}\n{body}\n"
    if draw(st.booleans()):  # otherwise cut off before its END line
        block += f"{dashes}END {kind}PRIVATE KEY{dashes}"
    return block, lines[0]


@st.composite
def query_parameter(draw: st.DrawFn) -> Secret:
    core = draw(_core(8, 30))
    name = draw(
        st.sampled_from(
            [
                "token",
                "access_token",
                "refresh_token",
                "api_key",
                "apikey",
                "key",
                "sig",
                "signature",
                "secret",
                "client_secret",
                "password",
                "code",
                "X-Amz-Signature",
            ]
        )
    )
    equals = draw(st.sampled_from(["=", "\uff1d", "\ufe66"]))
    joiner = draw(st.sampled_from(["?", "?page=2&", "?a=1&", "?a=1\uff06", "?x=1;"]))
    return f"https://api.example.com/v1/cb{joiner}{name}{equals}{core}&lang=en", core


@st.composite
def labelled(draw: st.DrawFn) -> Secret:
    core = draw(_core(8, 24))
    label = draw(
        st.sampled_from(
            [
                "password",
                "Password",
                "passwd",
                "pwd",
                "secret",
                "SECRET",
                "api_key",
                "api-key",
                "apiKey",
                "client_secret",
                "access_token",
                "auth_token",
                "token",
                "private_key",
                "secret_key",
            ]
        )
    )
    if draw(st.booleans()):
        quote = draw(st.sampled_from(['"', "'", "\u201c"]))
        return f"{quote}{label}{quote}{draw(COLON)} {quote}{core}{quote}", core
    return f"{label}{draw(SEPARATOR)}{core}", core


@st.composite
def url_password(draw: st.DrawFn) -> Secret:
    core = draw(_core(8, 20))
    scheme = draw(st.sampled_from(["postgresql", "redis", "https", "mongodb+srv"]))
    return f"{scheme}://bob:{core}@db.internal:5432/app", core


SECRETS = st.one_of(
    provider_key(),
    fixed_length_key(),
    jwt(),
    aws_pair(),
    aws_labelled(),
    pem(),
    query_parameter(),
    labelled(),
    url_password(),
)
BEFORE = st.sampled_from(["", "note: ", "401 for ", "(", "\n", "\u00ab", "config dump\n"])
AFTER = st.sampled_from(["", " end", "\n", ".", ")", "\u00bb", ", then more", " \u2014 ok"])


@st.composite
def placed(draw: st.DrawFn, fields: list[str]) -> tuple[str, str, str, str]:
    """(field, text holding the secret, the secret's core, a canary beside it)."""
    text, core = draw(SECRETS)
    canary = f"canary{next(_canaries):07d}"
    return (
        draw(st.sampled_from(fields)),
        f"{canary} {draw(BEFORE)}{text}{draw(AFTER)}",
        core,
        canary,
    )


def _dump(store: Store) -> str:
    """Every column of every row of every table, as text."""
    from sqlalchemy import inspect, text

    with store.engine.connect() as connection:
        tables = inspect(connection).get_table_names()
        parts = []
        for table in tables:
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                parts.extend(v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row)
    return "\n".join(parts)


def _property(examples: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )


def _assert_masked(store: Store, field: str, text: str, core: str, canary: str | None) -> None:
    dump = _dump(store)
    where = f"secret in the {field}: {text!r}"
    assert core not in dump, f"{where}: its core {core!r} was stored"
    if canary is not None:
        assert canary in dump, f"{where}: the field was not stored at all ({canary} missing)"


# ---- the SDK -----------------------------------------------------------------------------------

SDK_FIELDS = [
    "name",
    "kind",
    "attribute key",
    "attribute value",
    "list item",
    "nested value",
    "nested key",
    "event name",
    "event attribute",
    "event attribute key",
    "status message",
    "exception",
]


def test_a_secret_anywhere_in_an_sdk_span_is_never_stored(
    reliability: ReliabilityLog, store: Store
) -> None:
    from llmops.tracing import configure_tracing, flush, span

    configure_tracing(store)
    runs = 0

    @_property(160)
    @given(placed(SDK_FIELDS))
    def never_stored(example: tuple[str, str, str, str]) -> None:
        nonlocal runs
        runs += 1
        field, text, core, canary = example
        name, kind = (text, "llm") if field == "name" else ("call", "llm")
        if field == "kind":
            # kinds are cut to 32 characters, after masking: the canary leads, the core follows
            kind = text
        try:
            with span(name, kind=kind) as traced:
                traced.set("gen_ai.request.model", "m")
                if field == "attribute key":
                    traced.set(text, "v")
                elif field == "attribute value":
                    traced.set("note", text)
                elif field == "list item":
                    traced.set("messages", ["hello", text])
                elif field == "nested value":
                    traced.set("request", {"body": {"content": text}, "n": 1})
                elif field == "nested key":
                    traced.set("request", {"headers": {text: "x"}})
                elif field == "event name":
                    traced.add_event(text)
                elif field == "event attribute":
                    traced.add_event("retry", {"error": text})
                elif field == "event attribute key":
                    traced.add_event("retry", {text: 1})
                elif field == "status message":
                    traced.set_status("ERROR", text)
                elif field == "exception":
                    raise ValueError(text)
        except ValueError:
            pass
        assert flush(30), "the span was not written"
        _assert_masked(store, field, text, core, canary)

    never_stored()
    reliability.record("redaction: generated secret anywhere in a span (SDK)", runs=runs)


# ---- the OTLP receiver -------------------------------------------------------------------------

OTLP_FIELDS = [
    "name",
    "attribute key",
    "attribute value",
    "array item",
    "kvlist key",
    "kvlist value",
    "llmops kind",
    "event name",
    "event attribute",
    "status message",
    "resource value",
    "resource key",
    "scope name",
    "link attribute",
]
_span_ids = itertools.count(1)


def _kv(key: str, value: Any) -> dict[str, Any]:
    return {"key": key, "value": value if isinstance(value, dict) else {"stringValue": value}}


def _request(field: str, text: str) -> dict[str, Any]:
    string = {"stringValue": text}
    attributes = [_kv("gen_ai.request.model", "m")]
    attributes += {
        "attribute key": [_kv(text, "v")],
        "attribute value": [_kv("input.value", text)],
        "array item": [_kv("list", {"arrayValue": {"values": [{"intValue": "1"}, string]}})],
        "kvlist key": [_kv("map", {"kvlistValue": {"values": [_kv(text, "x")]}})],
        "kvlist value": [_kv("map", {"kvlistValue": {"values": [_kv("body", text)]}})],
        "llmops kind": [_kv("llmops.span.kind", text)],
    }.get(field, [])
    span: dict[str, Any] = {
        "traceId": "6b8efff798038103d269b633813fc60c",
        "spanId": f"{next(_span_ids):016x}",
        "name": text if field == "name" else "otlp call",
        "kind": 3,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001000000000",
        "attributes": attributes,
        "events": [
            {
                "name": text if field == "event name" else "retry",
                "timeUnixNano": "1700000000500000000",
                "attributes": [_kv("error", text)] if field == "event attribute" else [],
            }
        ],
        "status": {"code": 2, "message": text if field == "status message" else "failed"},
        "links": [
            {
                "traceId": "7b8efff798038103d269b633813fc60c",
                "spanId": "00000000000000aa",
                "attributes": [_kv("note", text)] if field == "link attribute" else [],
            }
        ],
    }
    resource = [_kv("service.name", "svc")]
    if field == "resource value":
        resource.append(_kv("deployment.note", text))
    elif field == "resource key":
        resource.append(_kv(text, "x"))
    scope = {"name": text if field == "scope name" else "scope"}
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": resource},
                "scopeSpans": [{"scope": scope, "spans": [span]}],
            }
        ]
    }


def _base64_ids(value: Any) -> Any:
    """OTLP/JSON writes ids in hex; protobuf's JSON mapping wants base64."""
    if isinstance(value, list):
        return [_base64_ids(item) for item in value]
    if not isinstance(value, dict):
        return value
    return {
        key: base64.b64encode(bytes.fromhex(item)).decode()
        if key in ("traceId", "spanId") and isinstance(item, str)
        else _base64_ids(item)
        for key, item in value.items()
    }


def test_a_secret_anywhere_in_an_otlp_request_is_never_stored(
    reliability: ReliabilityLog, store: Store
) -> None:
    runs = 0
    with LiveServer(create_app(store)) as server, httpx.Client(timeout=30) as client:

        @_property(160)
        @given(placed(OTLP_FIELDS), st.booleans())
        def never_stored(example: tuple[str, str, str, str], protobuf: bool) -> None:
            nonlocal runs
            runs += 1
            field, text, core, canary = example
            payload = _request(field, text)
            if protobuf:
                from google.protobuf.json_format import ParseDict
                from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
                    ExportTraceServiceRequest,
                )

                body = ParseDict(_base64_ids(payload), ExportTraceServiceRequest())
                body = body.SerializeToString()
                content_type = "application/x-protobuf"
            else:
                body, content_type = json.dumps(payload).encode(), "application/json"
            response = client.post(
                f"{server.url}/v1/traces", content=body, headers={"Content-Type": content_type}
            )
            assert response.status_code == 200, response.text[:300]
            # links are not stored at all: only the absence of the core is asserted there
            _assert_masked(store, field, text, core, None if field == "link attribute" else canary)

        never_stored()
    reliability.record("redaction: generated secret anywhere in a span (OTLP)", runs=runs)


LOG_FIELDS = [
    "body",
    "body key",
    "body value",
    "attribute key",
    "attribute value",
    "event name",
    "severity",
    "resource value",
    "scope name",
]


def _logs_request(field: str, text: str) -> dict[str, Any]:
    """An OTLP/JSON logs request (openai-v2's shape) with ``text`` in ``field``."""
    body: dict[str, Any] = {"kvlistValue": {"values": [_kv("content", "hello")]}}
    if field == "body":
        body = {"stringValue": text}
    elif field == "body key":
        body = {"kvlistValue": {"values": [_kv(text, "x")]}}
    elif field == "body value":
        body = {"kvlistValue": {"values": [_kv("content", text)]}}
    attributes = {"attribute key": [_kv(text, "v")], "attribute value": [_kv("note", text)]}
    record = {
        "timeUnixNano": "1700000000000000000",
        "traceId": "6b8efff798038103d269b633813fc60c",
        "spanId": f"{next(_span_ids):016x}",
        "severityText": text if field == "severity" else "INFO",
        "eventName": text if field == "event name" else "gen_ai.user.message",
        "attributes": attributes.get(field, []),
        "body": body,
    }
    resource = [_kv("service.name", "svc")]
    if field == "resource value":
        resource.append(_kv("deployment.note", text))
    scope = {"name": text if field == "scope name" else "scope"}
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": resource},
                "scopeLogs": [{"scope": scope, "logRecords": [record]}],
            }
        ]
    }


def test_a_secret_anywhere_in_an_otlp_log_record_is_never_stored(
    reliability: ReliabilityLog, store: Store
) -> None:
    runs = 0
    with LiveServer(create_app(store)) as server, httpx.Client(timeout=30) as client:

        @_property(100)
        @given(placed(LOG_FIELDS), st.booleans())
        def never_stored(example: tuple[str, str, str, str], protobuf: bool) -> None:
            nonlocal runs
            runs += 1
            field, text, core, canary = example
            payload = _logs_request(field, text)
            if protobuf:
                from google.protobuf.json_format import ParseDict
                from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
                    ExportLogsServiceRequest,
                )

                body = ParseDict(_base64_ids(payload), ExportLogsServiceRequest())
                body = body.SerializeToString()
                content_type = "application/x-protobuf"
            else:
                body, content_type = json.dumps(payload).encode(), "application/json"
            response = client.post(
                f"{server.url}/v1/logs", content=body, headers={"Content-Type": content_type}
            )
            assert response.status_code == 200, response.text[:300]
            # severities are cut to 32 characters: the canary may be all that is left of it
            _assert_masked(store, field, text, core, None if field == "severity" else canary)

        never_stored()
    reliability.record("redaction: generated secret anywhere in a log record (OTLP)", runs=runs)


# ---- eval results ------------------------------------------------------------------------------


def test_secrets_in_eval_inputs_outputs_and_errors_are_never_stored(
    reliability: ReliabilityLog, store: Store
) -> None:
    from llmops.evals import evaluate
    from llmops.evals._scoring import ScorerUnmeasured

    runs = 0

    @_property(25)
    @given(st.lists(SECRETS, min_size=4, max_size=4))
    def never_stored(secrets: list[Secret]) -> None:
        nonlocal runs
        runs += 1
        (question, q_core), (answer, a_core), (error, e_core), (reason, r_core) = secrets
        canary = f"canary{next(_canaries):07d}"
        rows = [
            {"question": f"{canary} {question}", "expected": f"see {answer}"},
            {"question": "fail", "expected": "x"},
        ]

        def target(row: dict[str, Any]) -> str:
            if row["question"] == "fail":
                raise RuntimeError(f"upstream said: {error}")
            return f"the answer is {answer}"

        def judged(output: str, expected: str) -> float:
            raise ScorerUnmeasured(f"judge saw {reason}")

        run = evaluate(rows, target, ["exact_match", judged], name="redaction", store=store)
        assert len(run.results) == 2 and run.results[1].error
        dump = _dump(store)
        for core in (q_core, a_core, e_core, r_core):
            assert core not in dump, f"the secret's core {core!r} was stored"
        assert canary in dump, "the case inputs were not stored"

    never_stored()
    reliability.record("redaction: eval inputs/outputs and errors", runs=runs)


# ---- RAG chunks --------------------------------------------------------------------------------


def _files_text(folder: Path) -> str:
    return "\n".join(
        path.read_bytes().decode("latin-1") for path in folder.rglob("*") if path.is_file()
    )


def test_secrets_in_rag_documents_are_masked_when_configured(
    reliability: ReliabilityLog, project: Path
) -> None:
    """With ``rag.redact_chunks`` no generated secret reaches the store, chromadb, the BM25
    files or the embedding cache, while the chunks' other text is there to be found."""
    from llmops import rag
    from llmops.config import load_config
    from llmops.store import open_store

    config_path = project / "configs" / "llmops.yaml"
    config_path.write_text(config_path.read_text() + "\nrag:\n  redact_chunks: true\n")
    # a derandomized sample of every generator, through one build with the real local model
    secrets: list[Secret] = []

    @settings(
        max_examples=3,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(SECRETS, min_size=12, max_size=12))
    def sample(drawn: list[Secret]) -> None:
        secrets.extend(drawn)

    sample()
    docs = project / "docs"
    docs.mkdir()
    for index, (text, _) in enumerate(secrets):
        (docs / f"note{index}.md").write_text(
            f"# Note {index}\n\nThe service account for the billing job is below.\n{text}\n"
            "Rotate it every ninety days.\n"
        )
    (project / "configs" / "rag").mkdir()
    (project / "configs" / "rag" / "notes.yaml").write_text(
        "sources:\n  - path: ../../docs\n"
        "splitter: {type: recursive, chunk_size: 120, chunk_overlap: 30}\n"
        "embedder: local/minilm\n"
    )
    info, _ = rag.build("notes")
    assert info.chunk_count >= len(secrets)
    config = load_config()
    stored = _dump(open_store(config.resolved_store_url)) + _files_text(config.data_dir)
    assert "every ninety days" in stored, "the chunks' text was not found: the search is blind"
    leaked = [core for _, core in secrets if core in stored]
    reliability.record(
        "redaction: RAG chunks (configured)", runs=len(secrets), failures=len(leaked)
    )
    assert not leaked, f"stored unmasked: {leaked}"
