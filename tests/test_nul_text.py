"""NUL (U+0000) anywhere a sender can put text: every read of the trace still answers.

PostgreSQL stores the ``\\u0000`` escape in a ``json`` column but its ``->>`` and casts fail
on the row, so one such span would break every listing over it. The one rule: on PostgreSQL
NUL is stored as U+FFFD (text and JSON columns alike); SQLite keeps it as sent. The class is
tested, not one position: NUL in every string field of OTLP spans and logs (names, keys,
values, events, links, resource, scope, status; scores refuse control characters), then
every read route.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from _live_server import LiveServer
from sqlalchemy import text

from llmops import InputError
from llmops.config import load_config
from llmops.server import create_app
from llmops.store import Store
from llmops.tracing import feedback

NUL = "a\x00b"
TRACE = "5" * 32
ROOT, CHILD = "1" * 16, "2" * 16


def _kv(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, list):
        return {
            "key": key,
            "value": {"arrayValue": {"values": [{"stringValue": v} for v in value]}},
        }
    return {"key": key, "value": {"stringValue": value}}


def _traces_payload() -> bytes:
    """Every string position of an OTLP span holds NUL, GenAI keys included (the dashboard and
    the trace list read model, tokens, prompt and session from them)."""
    attributes = [
        _kv(NUL, NUL),
        _kv("gen_ai.request.model", NUL),
        _kv("gen_ai.usage.input_tokens", 3),
        _kv("llmops.prompt.name", NUL),
        _kv("session.id", NUL),
        _kv("user.id", NUL),
        _kv("input.value", NUL),
        _kv("output.value", NUL),
        _kv("llmops.tags", [NUL]),
        # a JSON document inside a string: its escaped NUL is text until the viewer parses it
        _kv(
            "gen_ai.input.messages", orjson.dumps([{"role": "user", "content": "m\x00n"}]).decode()
        ),
    ]
    span = {
        "traceId": TRACE,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001000000000",
        "attributes": attributes,
        "events": [
            {"name": NUL, "timeUnixNano": "1700000000500000000", "attributes": [_kv(NUL, NUL)]}
        ],
        "links": [{"traceId": "6" * 32, "spanId": "3" * 16, "attributes": [_kv(NUL, NUL)]}],
        "status": {"code": 2, "message": NUL},
        "traceState": "k=v",
    }
    spans = [
        {**span, "spanId": ROOT, "name": NUL},
        {**span, "spanId": CHILD, "parentSpanId": ROOT, "name": f"chat {NUL}", "kind": 3},
    ]
    scope = {"name": NUL, "version": NUL, "attributes": [_kv(NUL, NUL)]}
    resource = {"attributes": [_kv("service.name", NUL), _kv(NUL, NUL)]}
    return orjson.dumps(
        {
            "resourceSpans": [
                {"resource": resource, "scopeSpans": [{"scope": scope, "spans": spans}]}
            ]
        }
    )


def _logs_payload() -> bytes:
    record = {
        "timeUnixNano": "1700000000600000000",
        "traceId": TRACE,
        "spanId": CHILD,
        "severityText": NUL,
        "eventName": NUL,
        "body": {"kvlistValue": {"values": [_kv(NUL, NUL)]}},
        "attributes": [_kv(NUL, NUL)],
    }
    resource = {"attributes": [_kv("service.name", NUL)]}
    return orjson.dumps(
        {"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": [record]}]}]}
    )


@pytest.fixture
def client(store: Store) -> Iterator[httpx.Client]:
    with LiveServer(create_app(store)) as live, httpx.Client(base_url=live.url, timeout=30) as c:
        yield c


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_nul_in_every_text_field_is_stored_and_every_read_answers(
    store: Store, client: httpx.Client
) -> None:
    json_body = {"Content-Type": "application/json"}
    sent = client.post("/v1/traces", content=_traces_payload(), headers=json_body)
    assert sent.status_code == 200, sent.text
    logged = client.post("/v1/logs", content=_logs_payload(), headers=json_body)
    assert logged.status_code == 200, logged.text
    with pytest.raises(InputError, match="control characters"):  # scores refuse it outright
        feedback(TRACE, "helpful", True, comment=NUL, store=store)
    feedback(TRACE, "helpful", True, comment="ok", store=store)

    routes = [
        "/api/v1/traces",
        "/api/v1/traces?q=a",
        "/api/v1/traces?model=a",
        f"/api/v1/traces/{TRACE}",
        f"/api/v1/traces/{TRACE}/spans?parent=ROOT",
        f"/api/v1/traces/{TRACE}/spans?parent={ROOT}",
        f"/api/v1/traces/{TRACE}/spans/{ROOT}",
        f"/api/v1/traces/{TRACE}/spans/{CHILD}",
        f"/api/v1/traces/{TRACE}/timeline",
        f"/api/v1/traces/{TRACE}/scores",
        "/api/v1/sessions",
        "/api/v1/users",
        "/api/v1/stats?since=1700000000&until=1700003600",
        "/api/v1/stats?since=1700000000&until=1700003600&by=model",
    ]
    seen: list[str] = []
    for route in routes:
        response = client.get(route)
        assert response.status_code == 200, f"{route}: {response.status_code} {response.text}"
        seen.extend(_strings(response.json()))

    # what comes back is the sender's text, NUL kept on SQLite and U+FFFD on PostgreSQL
    stored = "a\ufffdb" if store.dialect == "postgresql" else NUL
    other = NUL if store.dialect == "postgresql" else "a\ufffdb"
    assert any(stored in text for text in seen)
    assert not [text for text in seen if other in text]
    detail = client.get(f"/api/v1/traces/{TRACE}/spans/{ROOT}").json()
    assert detail["name"] == stored and detail["attributes"][stored] == stored
    assert detail["input"] == [{"role": "user", "content": "m\x00n"}]


def test_nul_in_values_written_through_the_orm_follows_the_same_rule(store: Store) -> None:
    """A model's output (a text column of eval cases: the driver refused NUL there on
    PostgreSQL, failing the run), the dataset row (JSON), and a tracking run's params (JSON)
    and tags: every write on PostgreSQL takes U+FFFD, whatever the owner of the table."""
    from llmops.evals import evaluate
    from llmops.tracking import get_tracking_run, start_run

    stored = "a\ufffdb" if store.dialect == "postgresql" else NUL
    made = evaluate(
        [{"input": NUL, "expected": NUL}],
        lambda row: row["input"],
        ["exact_match"],
        store=store,
        config=load_config(),
    )
    assert [case.output for case in made.results] == [NUL]  # in memory: as the target said
    with store.read() as connection:
        output, inputs = connection.execute(
            text("SELECT output, inputs FROM eval_cases WHERE run_id = :r"), {"r": made.id}
        ).one()
    if isinstance(inputs, str):  # SQLite hands JSON back as text to a plain SELECT
        inputs = orjson.loads(inputs)
    assert output == stored and inputs == {"input": stored, "expected": stored}

    run = start_run("nul", name="run", tags={"t": NUL}, store=store)
    run.log_params({"p": NUL, "nested": {"k": [NUL]}})
    run.set_tag("u", NUL)
    run.end()
    detail = get_tracking_run(store, run.id).run
    assert detail.params == {"p": stored, "nested": {"k": [stored]}}
    assert detail.tags["t"] == stored and detail.tags["u"] == stored
