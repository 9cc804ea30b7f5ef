"""Routing to registered model versions: serving endpoints, weighted canary, shadow calls.

Every model is a real OpenAI-compatible HTTP server on 127.0.0.1 (``FakeOpenAI``).
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from random import Random
from typing import Any

import pytest
from _fake_openai import FakeOpenAI
from sqlmodel import select

from llmops import ConfigError, ModelError, NotFoundError
from llmops.config import Config, ModelConfig
from llmops.llm import Route, Router, complete, load_routes, resolve_model, resolve_version_model
from llmops.registry import register_model_version
from llmops.store import Store, set_alias
from llmops.store.models import ServingEndpointRecord, SpanRecord
from llmops.tracing import configure_tracing, flush, get_trace

ASK = [{"role": "user", "content": "hello"}]


def _answer(text: str, status: int = 200) -> Any:
    return lambda request, count: (status, text)


@pytest.fixture
def servers() -> Iterator[tuple[FakeOpenAI, FakeOpenAI]]:
    """Two model servers that name themselves in every answer: "v1" and "v2"."""
    with FakeOpenAI(_answer("v1")) as one, FakeOpenAI(_answer("v2")) as two:
        yield one, two


def _register(store: Store, one: FakeOpenAI, two: FakeOpenAI) -> None:
    """bot@1 and bot@2 at the two servers; the alias ``stable`` points at version 1."""
    register_model_version(store, "bot", serve_model="openai/bot-v1", api_base=one.api_base)
    register_model_version(store, "bot", serve_model="openai/bot-v2", api_base=two.api_base)
    set_alias(store, "model", "bot", "stable", 1, reason="first release")


def _endpoint(store: Store, model: str, api_base: str, status: str, backend: str = "vllm") -> None:
    with store.write() as session:
        session.add(
            ServingEndpointRecord(
                id=uuid.uuid4().hex,
                model=model,
                backend=backend,
                served_model_name=f"served-{status}",
                api_base=api_base,
                host="127.0.0.1",
                port=int(api_base.rsplit(":", 1)[1].split("/")[0]),
                status=status,
            )
        )


def _spans(store: Store) -> list[SpanRecord]:
    flush()
    with store.session() as session:
        return list(session.exec(select(SpanRecord)).all())


def test_a_ready_endpoint_wins_over_the_versions_own_api_base(
    store: Store, servers: tuple[FakeOpenAI, FakeOpenAI]
) -> None:
    own, _ = servers
    _register(store, *servers)
    with FakeOpenAI(_answer("endpoint")) as endpoint, FakeOpenAI(_answer("stale")) as stale:
        _endpoint(store, "bot@1", stale.api_base, "stopped")
        _endpoint(store, "bot@2", endpoint.api_base, "ready")  # another version's endpoint
        plain = resolve_version_model(store, "bot@stable")
        assert (plain.name, plain.model, plain.api_base) == ("bot@1", "openai/bot-v1", own.api_base)
        assert complete(ASK, plain).text == "v1"

        _endpoint(store, "bot@1", endpoint.api_base, "ready")
        served = resolve_version_model(store, "bot@stable")
        assert (served.name, served.model) == ("bot@1", "hosted_vllm/served-ready")
        assert served.api_base == endpoint.api_base
        assert complete(ASK, served).text == "endpoint"
        assert endpoint.requests[-1]["model"] == "served-ready"
        assert stale.requests == []

        config = Config(store_url=store.url, models={})
        via_client = resolve_model("registry:bot@stable", config)
        assert via_client == served
        assert complete(ASK, via_client).text == "endpoint"
    assert len(own.requests) == 1


def test_a_llamacpp_endpoint_is_called_as_openai(store: Store, fake_model: FakeOpenAI) -> None:
    register_model_version(store, "tiny", serve_model="local/smollm2")
    _endpoint(store, "tiny@1", fake_model.api_base, "ready", backend="llamacpp")
    model = resolve_version_model(store, "tiny")
    assert (model.model, model.provider, model.api_base) == (
        "openai/served-ready",
        "llama.cpp",
        fake_model.api_base,
    )
    assert complete(ASK, model).cost_usd == 0.0


def test_configured_names_resolve_as_before(store: Store, fake_model: FakeOpenAI) -> None:
    config = Config(
        store_url=store.url,
        models={"registry:odd": ModelConfig(model="openai/odd", api_base=fake_model.api_base)},
    )
    assert resolve_model("registry:odd", config).model == "openai/odd"
    with pytest.raises(NotFoundError, match="model 'nobody' not found"):
        resolve_model("registry:nobody@1", config)


def _binomial_interval(n: int, p: float, level: float) -> tuple[int, int]:
    """The central ``level`` interval of Binomial(n, p), exactly."""
    tail = (1 - level) / 2
    pmf = [
        math.exp(
            math.lgamma(n + 1)
            - math.lgamma(k + 1)
            - math.lgamma(n - k + 1)
            + k * math.log(p)
            + (n - k) * math.log1p(-p)
        )
        for k in range(n + 1)
    ]
    low, total = 0, 0.0
    while total + pmf[low] < tail:
        total += pmf[low]
        low += 1
    high, total = n, 0.0
    while total + pmf[high] < tail:
        total += pmf[high]
        high -= 1
    return low, high


CANARY = Route(name="canary", weights={"bot@stable": 90, "bot@2": 10})


def test_weighted_draws_match_the_declared_shares() -> None:
    router = Router([CANARY], rng=Random(20240609))
    draws = Counter(router.choose("canary") for _ in range(2000))
    low, high = _binomial_interval(2000, 0.1, 0.999)
    assert (low, high) == (157, 245)  # 200 ± 3.3 standard deviations
    assert low <= draws["bot@2"] <= high
    assert draws["bot@stable"] + draws["bot@2"] == 2000
    first, again = Router([CANARY], rng=Random(7)), Router([CANARY], rng=Random(7))
    picks = [first.choose("canary") for _ in range(200)]
    assert picks == [again.choose("canary") for _ in range(200)]


def test_weighted_calls_reach_the_drawn_version(
    store: Store, servers: tuple[FakeOpenAI, FakeOpenAI]
) -> None:
    one, two = servers
    _register(store, one, two)
    router = Router([CANARY], store=store, rng=Random(11))
    twin = Router([CANARY], rng=Random(11))  # the same seed draws the same targets
    calls = 300

    async def run() -> list[str]:
        texts = [""] * calls
        numbers = iter(range(calls))

        async def worker() -> None:  # a call draws its target before its first await
            for number in numbers:
                texts[number] = (await router.acomplete("canary", ASK, max_tokens=4)).text

        await asyncio.gather(*(worker() for _ in range(16)))
        return texts

    answers = asyncio.run(run())
    expected = ["v1" if twin.choose("canary") == "bot@stable" else "v2" for _ in range(calls)]
    assert answers == expected
    counts = Counter(answers)
    low, high = _binomial_interval(calls, 0.1, 0.999)
    assert low <= counts["v2"] <= high
    assert (len(one.requests), len(two.requests)) == (counts["v1"], counts["v2"])
    assert {request["model"] for request in two.requests} == {"bot-v2"}
    assert two.requests[0]["max_tokens"] == 4


def test_each_span_records_the_target_that_answered(
    store: Store, servers: tuple[FakeOpenAI, FakeOpenAI]
) -> None:
    one, two = servers
    _register(store, one, two)
    configure_tracing(store)
    with FakeOpenAI(_answer("cfg")) as configured:
        config = Config(
            models={"fake": ModelConfig(model="openai/fake", api_base=configured.api_base)}
        )
        route = Route(name="ab", weights={"bot@stable": 1, "bot@2": 1, "fake": 1})
        router = Router([route], store=store, config=config, rng=Random(3))
        answers = [router.complete("ab", ASK).text for _ in range(24)]
    assert set(answers) == {"v1", "v2", "cfg"}
    llm = [span for span in _spans(store) if span.kind == "llm"]
    assert len(llm) == 24
    version_of = {"v1": "bot@1", "v2": "bot@2", "cfg": "fake"}
    target_of = {"v1": "bot@stable", "v2": "bot@2", "cfg": "fake"}
    for span in llm:
        answered = span.attributes["gen_ai.output.messages"]
        text = next(t for t in version_of if f'"content":"{t}"' in answered)
        assert span.attributes["llmops.route.name"] == "ab"
        assert span.attributes["llmops.route.version"] == version_of[text]
        assert span.attributes["llmops.route.target"] == target_of[text]
        assert span.attributes["llmops.route.shadow"] is False
        [parent] = [s for s in get_trace(store, span.trace_id) if s.span_id == span.parent_span_id]
        assert (parent.name, parent.kind) == ("route ab", "chain")
        assert parent.attributes["llmops.route.version"] == version_of[text]


def test_shadow_gets_the_call_but_the_caller_gets_the_primary(
    store: Store, servers: tuple[FakeOpenAI, FakeOpenAI]
) -> None:
    primary, shadow = servers
    _register(store, primary, shadow)
    configure_tracing(store)
    router = Router([Route(name="mirror", primary="bot@stable", shadow="bot@2")], store=store)
    answer = router.complete("mirror", ASK, temperature=0.5)
    router.drain()
    assert answer.text == "v1"
    assert [r["messages"] for r in shadow.requests] == [ASK]
    assert shadow.requests[0]["temperature"] == 0.5
    llm = {
        span.attributes["llmops.route.shadow"]: span for span in _spans(store) if span.kind == "llm"
    }
    assert llm[True].trace_id == llm[False].trace_id
    assert llm[True].parent_span_id == llm[False].parent_span_id
    assert llm[True].attributes["llmops.route.version"] == "bot@2"
    assert llm[True].status_code != "ERROR"


def test_a_failing_shadow_changes_nothing_for_the_caller(
    store: Store, fake_model: FakeOpenAI
) -> None:
    with FakeOpenAI(_answer("down", status=500)) as broken:
        register_model_version(store, "bot", serve_model="openai/bot", api_base=fake_model.api_base)
        register_model_version(store, "bot", serve_model="openai/bot", api_base=broken.api_base)
        configure_tracing(store)
        routes = [
            Route(name="mirror", primary="bot@1", shadow="bot@2"),
            Route(name="ghost", primary="bot@1", shadow="bot@9"),
        ]
        router = Router(routes, store=store)

        async def run() -> list[str]:
            texts = [(await router.acomplete(name, ASK)).text for name in ("mirror", "ghost")]
            await router.adrain()
            return texts

        assert asyncio.run(run()) == ["hello", "hello"]
        assert len(broken.requests) == 1  # a shadow is not retried by default
    shadows = [s for s in _spans(store) if s.attributes.get("llmops.route.shadow") is True]
    assert sorted((s.attributes["llmops.route.target"], s.status_code) for s in shadows) == [
        ("bot@2", "ERROR"),
        ("bot@9", "ERROR"),
    ]
    assert all(s.kind == "llm" for s in shadows)


def test_an_unknown_route_or_version_is_a_clear_error(store: Store, fake_model: FakeOpenAI) -> None:
    register_model_version(store, "bot", serve_model="openai/bot", api_base=fake_model.api_base)
    router = Router([Route(name="r", weights={"bot@7": 1})], store=store)
    with pytest.raises(NotFoundError, match=r"route 'nope' not found \(known: r\)"):
        router.complete("nope", ASK)
    with pytest.raises(NotFoundError, match="model 'bot' has no version 7"):
        router.complete("r", ASK)
    with FakeOpenAI(_answer("x", status=400)) as refusing:
        register_model_version(store, "bot", serve_model="openai/bot", api_base=refusing.api_base)
        with pytest.raises(ModelError):
            Router([Route(name="r", primary="bot@2")], store=store).complete("r", ASK)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("routes:\n  - name: a\n    weights: {m@1: -5}\n", 3, "greater than or equal to 0"),
        ("routes:\n  - name: a\n    weights: {m@1: 0}\n", 3, "at least one target"),
        ("routes:\n  - name: a\n    weights: {m@1: 1}\n    primary: m@2\n", 2, "either"),
        ("routes:\n  - name: a\n    weights: {m@1: 1}\n    shadow: m@2\n", 2, "goes with"),
        ("routes:\n  - name: a\n\n    primary: 'bad name@1'\n", 4, "invalid model name"),
        (
            "routes:\n  - name: a\n    primary: m@1\n  - name: a\n    primary: m@2\n",
            2,
            "two routes",
        ),
        ("routes:\n  - name: a\n    primary: m@1\n    color: red\n", 4, "color"),
        (
            "routes:\n  - name: a\n    weights:\n      m@1: 1\n      fake: 1\n      gpt: 1\n",
            6,
            "gpt",
        ),
        ("routes:\n  - name: a\n    primary: fake\n    shadow: gpt\n", 4, "unknown model 'gpt'"),
    ],
)
def test_route_file_errors_name_file_and_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(text)
    config = Config(models={"fake": ModelConfig(model="openai/fake")})
    with pytest.raises(ConfigError, match=message) as caught:
        load_routes(path, config)
    assert str(caught.value).startswith(f"{path}:{line}: ")


def test_the_example_routes_file_loads(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parent.parent / "configs" / "routes.yaml"
    assert load_routes(example).spec.routes == []
    commented = "\n".join(
        line.replace("#  ", "  ", 1) if line.startswith("#  ") else line
        for line in example.read_text().splitlines()
    ).replace("routes: []", "routes:")
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "routes.yaml").write_text(commented)
    router = Router.from_file(config=Config(project_dir=tmp_path, models={}))
    assert sorted(router.routes) == ["support", "support-shadow"]
    assert router.routes["support"].weights == {"support-bot@production": 90, "support-bot@4": 10}
    assert router.routes["support-shadow"].shadow == "support-bot@candidate"


def test_a_moved_alias_is_seen_after_refresh_s(
    store: Store, servers: tuple[FakeOpenAI, FakeOpenAI]
) -> None:
    _register(store, *servers)
    route = [Route(name="r", primary="bot@stable")]
    cached, fresh = Router(route, store=store), Router(route, store=store, refresh_s=0)
    assert (cached.complete("r", ASK).text, fresh.complete("r", ASK).text) == ("v1", "v1")
    set_alias(store, "model", "bot", "stable", 2, reason="promote v2")
    assert (cached.complete("r", ASK).text, fresh.complete("r", ASK).text) == ("v1", "v2")


def test_a_slow_shadow_does_not_delay_the_caller(store: Store, fake_model: FakeOpenAI) -> None:
    def slow(request: dict[str, Any], count: int) -> tuple[int, str]:
        time.sleep(0.8)
        return 200, "late"

    with FakeOpenAI(slow) as shadow:
        register_model_version(store, "bot", serve_model="openai/bot", api_base=fake_model.api_base)
        register_model_version(store, "bot", serve_model="openai/bot", api_base=shadow.api_base)
        router = Router([Route(name="m", primary="bot@1", shadow="bot@2")], store=store)
        router.complete("m", ASK)  # warm: resolved and connected
        router.drain()
        started = time.perf_counter()
        assert router.complete("m", ASK).text == "hello"
        assert time.perf_counter() - started < 0.5
        router.drain()
        assert len(shadow.requests) == 2
