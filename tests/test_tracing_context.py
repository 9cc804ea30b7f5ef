"""One context for llmops and OpenTelemetry: any mix of llmops spans and OTel SDK spans (from
the global provider and from a provider that is not global) nests exactly as it ran, at any
depth, in sync code, asyncio tasks, threads with copied context and generators."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlmodel import select

from llmops.store import Store
from llmops.store.models import SpanRecord
from llmops.tracing import configure_tracing, current_span, flush, get_trace, list_traces, span
from llmops.tracing import trace as llmops_trace


@dataclass
class Tracers:
    """The global provider's tracer and a non-global provider's, each with its exporter."""

    global_tracer: otel_trace.Tracer
    local_tracer: otel_trace.Tracer
    exporters: tuple[InMemorySpanExporter, InMemorySpanExporter]


@pytest.fixture
def tracers(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tracers]:
    configure_tracing(store)
    global_exporter, local_exporter = InMemorySpanExporter(), InMemorySpanExporter()
    global_provider, local_provider = TracerProvider(), TracerProvider()
    global_provider.add_span_processor(SimpleSpanProcessor(global_exporter))
    local_provider.add_span_processor(SimpleSpanProcessor(local_exporter))
    # as trace.set_tracer_provider does (which refuses a second provider in one process)
    monkeypatch.setattr(otel_trace, "_TRACER_PROVIDER", global_provider)
    yield Tracers(
        otel_trace.get_tracer("app"),
        local_provider.get_tracer("library"),
        (global_exporter, local_exporter),
    )
    global_provider.shutdown()
    local_provider.shutdown()


# -- random nesting programs ---------------------------------------------------------------

#: How a span is made: an llmops span, a @trace function, an OTel span from the global or the
#: non-global provider, or a @trace generator (some children inside it, some in its consumer).
KINDS = ("llmops", "decorated", "otel_global", "otel_local", "generator")
#: How a span runs its children: in order, as concurrent asyncio tasks, in threads with the
#: context copied, or in threads without it (the children start new traces; drawn less often,
#: as they cut the nesting short).
MODES = ("inline", "concurrent", "thread", "thread_plain")
MODE_WEIGHTS = (3, 2, 2, 1)


@dataclass
class Node:
    name: str
    kind: str
    mode: str
    stop_early: bool
    children: list[Node] = field(default_factory=list)


def build_program(rng: random.Random, depth: int, prefix: str) -> Node:
    """A random tree ``depth`` spans deep (its first child always goes deepest)."""
    count = iter(range(1_000_000))

    def node(levels: int) -> Node:
        name = f"{prefix}{next(count)}"
        built = Node(name, rng.choice(KINDS), *rng.choices(MODES, MODE_WEIGHTS), rng.random() < 0.2)
        if levels > 1:
            built.children.append(node(levels - 1))
            for _ in range(rng.randrange(3)):
                built.children.append(node(rng.randrange(1, levels)))
        return built

    return node(depth)


class Program:
    """Runs a tree, recording each span's expected parent (from the tree, not the context)."""

    def __init__(self, tracers: Tracers) -> None:
        self.tracers = tracers
        self.expected: dict[str, str | None] = {}

    def _tracer(self, kind: str) -> otel_trace.Tracer:
        return self.tracers.global_tracer if kind == "otel_global" else self.tracers.local_tracer

    # -- sync ------------------------------------------------------------------------------
    def run(self, node: Node, parent: str | None) -> None:
        if node.kind == "generator":
            self._run_generator(node, parent)
            return
        self.expected[node.name] = parent
        if node.kind == "llmops":
            with span(node.name):
                self._children(node)
        elif node.kind == "decorated":
            llmops_trace(name=node.name)(lambda: self._children(node))()
        else:
            with self._tracer(node.kind).start_as_current_span(node.name):
                self._children(node)

    def _run_generator(self, node: Node, parent: str | None) -> None:
        self.expected[node.name] = parent
        inside, outside = node.children[::2], node.children[1::2]

        @llmops_trace(name=node.name)
        def produce() -> Iterator[int]:
            for i, child in enumerate(inside):
                self._run_children(node.mode, [child], node.name)
                yield i
            yield len(inside)

        items = produce()
        done = 0
        for i in items:
            if i < len(outside):  # between items the consumer's span is current, not this one
                self.run(outside[i], parent)
                done += 1
            if node.stop_early:
                items.close()  # type: ignore[attr-defined]
                break
        for child in outside[done:]:
            self.run(child, parent)

    def _children(self, node: Node) -> None:
        self._run_children(node.mode, node.children, node.name)

    def _run_children(self, mode: str, children: list[Node], parent: str) -> None:
        if mode == "inline":
            for child in children:
                self.run(child, parent)
        elif mode == "concurrent":
            asyncio.run(self._gather(children, parent))
        elif mode == "thread":
            with ThreadPoolExecutor(2) as pool:
                runs = [
                    pool.submit(contextvars.copy_context().run, self.run, c, parent)
                    for c in children
                ]
                for run in runs:
                    run.result()
        else:
            with ThreadPoolExecutor(2) as pool:
                for run in [pool.submit(self.run, c, None) for c in children]:
                    run.result()

    # -- async -----------------------------------------------------------------------------
    async def arun(self, node: Node, parent: str | None) -> None:
        if node.kind == "generator":
            await self._arun_generator(node, parent)
            return
        self.expected[node.name] = parent
        if node.kind == "llmops":
            with span(node.name):
                await self._achildren(node.mode, node.children, node.name)
        elif node.kind == "decorated":

            async def body() -> None:
                await self._achildren(node.mode, node.children, node.name)

            await llmops_trace(name=node.name)(body)()
        else:
            with self._tracer(node.kind).start_as_current_span(node.name):
                await self._achildren(node.mode, node.children, node.name)

    async def _arun_generator(self, node: Node, parent: str | None) -> None:
        self.expected[node.name] = parent
        inside, outside = node.children[::2], node.children[1::2]

        @llmops_trace(name=node.name)
        async def produce() -> AsyncIterator[int]:
            for i, child in enumerate(inside):
                await self._achildren(node.mode, [child], node.name)
                yield i
            yield len(inside)

        items = produce()
        done = 0
        async for i in items:
            if i < len(outside):
                await self.arun(outside[i], parent)
                done += 1
            if node.stop_early:
                await items.aclose()  # type: ignore[attr-defined]
                break
        for child in outside[done:]:
            await self.arun(child, parent)

    async def _gather(self, children: list[Node], parent: str) -> None:
        await asyncio.gather(*(self.arun(child, parent) for child in children))

    async def _achildren(self, mode: str, children: list[Node], parent: str) -> None:
        await asyncio.sleep(0)  # let concurrent tasks interleave inside open spans
        if mode == "inline":
            for child in children:
                await self.arun(child, parent)
        elif mode == "concurrent":
            await self._gather(children, parent)
        elif mode == "thread":  # to_thread copies the context
            await asyncio.gather(*(asyncio.to_thread(self.run, c, parent) for c in children))
        else:  # run_in_executor does not
            loop = asyncio.get_running_loop()
            await asyncio.gather(*(loop.run_in_executor(None, self.run, c, None) for c in children))


@dataclass(frozen=True)
class Stored:
    trace_id: str
    span_id: str
    parent_id: str | None


def stored_spans(store: Store, tracers: Tracers) -> dict[str, Stored]:
    """Every span by name: OTel's from both exporters, llmops' from the SQLite store."""
    assert flush()
    found: dict[str, Stored] = {}
    for item in [s for e in tracers.exporters for s in e.get_finished_spans()]:
        context = item.get_span_context()
        assert context is not None
        parent = f"{item.parent.span_id:016x}" if item.parent is not None else None
        found[item.name] = Stored(f"{context.trace_id:032x}", f"{context.span_id:016x}", parent)
    with store.session() as session:  # every row: a trace may start with an OTel span
        for row in session.exec(select(SpanRecord)):
            found[row.name] = Stored(row.trace_id, row.span_id, row.parent_span_id)
    return found


def check(expected: dict[str, str | None], found: dict[str, Stored]) -> None:
    assert sorted(found) == sorted(expected)
    for name, parent in expected.items():
        got = found[name]
        if parent is None:
            assert got.parent_id is None, f"{name} should start a trace"
        else:
            want = found[parent]
            assert (got.trace_id, got.parent_id) == (want.trace_id, want.span_id), (
                f"{name} should be a child of {parent}"
            )


@pytest.mark.parametrize("entry", ["sync", "async"])
def test_random_mixed_nesting_matches_the_program(
    tracers: Tracers, store: Store, rng: random.Random, entry: str
) -> None:
    programs = []
    for number in range(20):
        seed = rng.randrange(1 << 32)
        program_rng = random.Random(seed)
        root = build_program(program_rng, program_rng.randint(4, 8), f"p{number}.")
        runner = Program(tracers)
        if entry == "sync":
            runner.run(root, None)
        else:
            asyncio.run(runner.arun(root, None))
        assert current_span() is None
        assert otel_trace.get_current_span() is otel_trace.INVALID_SPAN
        programs.append((seed, root, runner.expected))
    found = stored_spans(store, tracers)
    for seed, root, expected in programs:
        try:
            check(expected, {name: row for name, row in found.items() if name in expected})
        except AssertionError as exc:
            exc.add_note(f"program seed {seed}: {root}")
            raise


# -- the same, spelled out -----------------------------------------------------------------


def test_depth_five_across_both_providers(tracers: Tracers, store: Store) -> None:
    with (
        span("a") as a,
        tracers.global_tracer.start_as_current_span("b"),
        span("c") as c,
        tracers.local_tracer.start_as_current_span("d"),
        span("e") as e,
    ):
        assert current_span() is e
        assert otel_trace.get_current_span() is e
    found = stored_spans(store, tracers)
    check({"a": None, "b": "a", "c": "b", "d": "c", "e": "d"}, found)
    assert {found[n].trace_id for n in "abcde"} == {a.trace_id_hex} == {c.trace_id_hex}


def test_otel_api_calls_write_onto_the_llmops_span(tracers: Tracers, store: Store) -> None:
    with span("step") as step:
        current = otel_trace.get_current_span()
        current.set_attribute("http.status_code", 200)
        current.add_event("retry", {"attempt": 2})
        current.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR, "boom"))
        assert current is step and current.is_recording()
        assert current.get_span_context().span_id == step.span_id
    assert not step.is_recording()
    assert flush()
    [row] = [r for t in list_traces(store) for r in get_trace(store, t.trace_id)]
    assert row.attributes["http.status_code"] == 200
    assert row.events is not None and row.events[0]["attributes"] == {"attempt": 2}
    assert (row.status_code, row.status_message) == ("ERROR", "boom")


def test_current_span_is_none_inside_an_otel_span(tracers: Tracers) -> None:
    with span("outer"), tracers.local_tracer.start_as_current_span("otel"):
        assert current_span() is None
    assert current_span() is None


def test_threads_nest_only_with_copied_context(tracers: Tracers, store: Store) -> None:
    def child(name: str) -> None:
        with span(name):
            pass

    with span("root"), ThreadPoolExecutor(1) as pool:
        pool.submit(contextvars.copy_context().run, child, "copied").result()
        pool.submit(child, "plain").result()
    check({"root": None, "copied": "root", "plain": None}, stored_spans(store, tracers))


def test_a_span_around_yield_closed_out_of_order_leaves_no_span_behind(
    tracers: Tracers, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    def numbers() -> Iterator[int]:
        with span("generator"):
            yield 1
            yield 2

    items = numbers()
    with span("root"):
        next(items)  # "generator" is now current here: the with block spans the yield
        with span("consumer"):
            next(items)
            with pytest.raises(StopIteration):
                next(items)  # "generator" ends while "consumer" is current
            with span("after"):
                pass
    assert current_span() is None
    assert otel_trace.get_current_span() is otel_trace.INVALID_SPAN
    found = stored_spans(store, tracers)
    check({"root": None, "generator": "root", "consumer": "generator", "after": "consumer"}, found)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_generator_finished_in_another_context_does_not_raise(
    tracers: Tracers, caplog: pytest.LogCaptureFixture
) -> None:
    def numbers() -> Iterator[int]:
        with span("generator"):
            yield 1
            yield 2

    items = numbers()
    next(items)
    contextvars.copy_context().run(list, items)  # ends in a copy: its token is not for it
    assert current_span() is None  # still in this context's OTel slot, but ended: passed over
    with span("next") as following:
        assert following.parent_id is None
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_traced_generators_are_current_only_while_they_run(tracers: Tracers, store: Store) -> None:
    @llmops_trace(name="produce")
    def produce() -> Iterator[int]:
        with span("inside"):
            pass
        yield 1
        yield 2

    @llmops_trace(name="aproduce")
    async def aproduce() -> AsyncIterator[int]:
        with span("ainside"):
            pass
        yield 1

    async def consume() -> None:
        async for _ in aproduce():
            with span("abetween"):
                pass

    with span("root"):
        for _ in produce():
            with span("between"):
                pass
        asyncio.run(consume())
    found = stored_spans(store, tracers)
    expected: dict[str, str | None] = {
        "root": None,
        "produce": "root",
        "inside": "produce",
        "aproduce": "root",
        "ainside": "aproduce",
        "abetween": "root",
    }
    assert found["between"].parent_id == found["root"].span_id
    check(expected, {k: v for k, v in found.items() if k != "between"})
