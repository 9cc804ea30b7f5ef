"""Hostile prompt templates: every way of running away (loops over anything, padding and
format widths, repetition and concatenation, recursion, output) ends in a ``TemplateError``
naming the template, quickly, in the library and at the CLI (exit 2, one line).

Classes, not single payloads: each class is a family of templates generated over sizes and
shapes (seeded; the seed is in the failure message), and a hypothesis property composes the
same building blocks at random. CPU time is measured with ``time.process_time`` in-process
and asserted generously, so a loaded machine does not make it flaky.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

from llmops import TemplateError
from llmops.prompts import render_template
from llmops.prompts._sandbox import MAX_DEPTH, MAX_OUTPUT, MAX_VALUE, MAX_WIDTH
from reliability.conftest import ReliabilityLog
from reliability.test_fuzz_templates import fuzz

#: Generous: the limits stop every class here in well under half a second of CPU.
CPU_S = 1.0
SEED = int(os.environ.get("LLMOPS_TEST_SEED", "20261206"))
BIG = "'a' * 1000000"  # allowed: a million characters


def _hostile(source: str, where: str = "evil@1") -> tuple[str, float]:
    """Render ``source``; the TemplateError message and the CPU seconds it took."""
    started = time.process_time()
    with pytest.raises(TemplateError) as caught:
        render_template("text", source, {}, where=where)
    took = time.process_time() - started
    message = str(caught.value)
    assert message.startswith(f"{where}: "), message
    assert "\n" not in message, message
    return message, took


def _family(name: str, make: Any, count: int = 6) -> list[tuple[str, str]]:
    """``count`` sources of one class, from sizes drawn with a seeded generator."""
    rng = random.Random(f"{SEED}-{name}")
    return [(f"{name} (seed {SEED})", make(rng)) for _ in range(count)]


def _loops(rng: random.Random) -> str:
    over = rng.choice(
        [
            f"range({rng.randint(5000, 99999)})",
            BIG,
            f"[1] * {rng.randint(300000, 600000)}",
            f"lipsum({rng.randint(1, 100)}, max={rng.randint(100, 1000)}).split()",
            f"({BIG})|list",
            f"range({rng.randint(5000, 99999)})|map('string')",
        ]
    )
    inner = rng.choice(["x", "{{ i }}", "{% if i %}{% endif %}", ""])
    cond = rng.choice(["", " if false", " if i"])
    return (
        f"{{% for i in {over} %}}{{% for j in {over}{cond} %}}{inner}{{% endfor %}}{{% endfor %}}"
    )


def _widths(rng: random.Random) -> str:
    width = rng.randint(MAX_WIDTH + 1, 10**10)
    return rng.choice(
        [
            f"{{{{ 'x'|center({width}) }}}}",
            f"{{{{ 'x'.ljust({width}) }}}}",
            f"{{{{ 'x'.rjust({width}) }}}}",
            f"{{{{ '1'.zfill({width}) }}}}",
            f"{{{{ 'a\\nb'|indent({width}) }}}}",
            f"{{{{ '%{width}s'|format('x') }}}}",
            f"{{{{ '%{width}s' % 'x' }}}}",
            f"{{{{ '%-0{width}d' % 3 }}}}",
            f"{{{{ '%*s' % ({width}, 'x') }}}}",
            f"{{{{ '%.{width}f' % 1.5 }}}}",
            f"{{{{ '{{:>{width}}}'.format(1) }}}}",
            f"{{{{ '{{:>{{}}}}'.format(1, {width}) }}}}",
            f"{{{{ '{{0:.{width}}}'.format(2.5) }}}}",
            f"{{{{ [1]|batch({width}, 'x')|list }}}}",
            f"{{{{ [1]|slice({width})|list }}}}",
            f"{{{{ ('\\t' * 1000).expandtabs({width}) }}}}",
            f"{{{{ lipsum(5, max={width}) }}}}",
        ]
    )


def _sizes(rng: random.Random) -> str:
    times = rng.randint(3, 60)
    return rng.choice(
        [
            f"{{{{ 'a' * {rng.randint(MAX_VALUE + 1, 10**12)} }}}}",
            f"{{% set s = {BIG} %}}{{{{ [s] * {times} }}}}",
            f"{{% set s = {BIG} %}}{{{{ ([s] * {times})|join }}}}",
            f"{{% set s = {BIG} %}}{{{{ [{', '.join(['s'] * times)}]|join(',') }}}}",
            f"{{% set s = {BIG} %}}{{{{ s.join([{', '.join(['s'] * times)}]) }}}}",
            f"{{% set s = {BIG} %}}{{{{ s|replace('a', 'bbb') }}}}",
            f"{{% set s = {BIG} %}}{{{{ s.replace('', 'x') }}}}",
            f"{{% set s = {BIG} %}}{{{{ s.translate({{97: 'xyz'}}) }}}}",
            f"{{% set s = {BIG} %}}{{{{ ('{{0}}' * {times}).format(s) }}}}",
            f"{{% set s = {BIG} %}}{{{{ ('%(a)s' * {times}) % {{'a': s}} }}}}",
            f"{{% set s = {BIG} %}}{{{{ s ~ s ~ s }}}}",
            f"{{% set s = {BIG} %}}{{% set x = [{', '.join(['s'] * times)}] %}}{{{{ x ~ '' }}}}",
            f"{{% set s = {BIG} %}}{{% set x = [{', '.join(['s'] * times)}] %}}"
            + rng.choice(["{{ x|upper }}", "{{ x|safe }}", "{{ x|wordcount }}", "{{ x|trim }}"]),
            f"{{% set s = {BIG} %}}{{{{ s + s + s }}}}",
            "{% set ns = namespace(s='ab') %}{% for i in range(" + str(times + 30) + ") %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
            "{% set ns = namespace(s=[0]) %}{% for i in range(" + str(times + 30) + ") %}"
            "{% set ns.s = ns.s + ns.s %}{% endfor %}",
            f"{{{{ 7 ** {rng.randint(10**6, 10**9)} }}}}",
            f"{{{{ (1).to_bytes({rng.randint(MAX_VALUE + 1, 10**10)}, 'big') }}}}",
            # summing lists copies the running total each time: quadratic in the list count
            f"{{{{ ([[1] * 100] * {times * 100})|sum(start=[])|length }}}}",
        ]
    )


def _recursion(rng: random.Random) -> str:
    fan = rng.randint(2, 5)
    return rng.choice(
        [
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
            "{% macro f(n) %}{% if n %}" + "{{ f(n - 1) }}" * fan + "{% endif %}{% endmacro %}"
            f"{{{{ f({rng.randint(20, 200)}) }}}}",
            "{% for x in [1] recursive %}{{ loop([x]) }}{% endfor %}",
            "{% for x in [1, 2] recursive %}" + "{{ loop([x, x]) }}" * fan + "{% endfor %}",
            "{% block a %}{{ self.a() }}{% endblock %}",
            "{% macro m() %}{% call m() %}{% endcall %}{% endmacro %}{{ m() }}",
            "{% macro m() %}{{ caller() }}{% endmacro %}"
            + "{% call m() %}" * fan
            + "{{ m() }}"
            + "{% endcall %}" * fan,
        ]
    )


def _output(rng: random.Random) -> str:
    width = rng.randint(100, 5000)
    return rng.choice(
        [
            f"{{% for i in range(99999) %}}{'z' * width}{{% endfor %}}",
            f"{{% set x %}}{{% for i in range(99999) %}}{'y' * width}{{% endfor %}}{{% endset %}}",
            f"{{% macro m() %}}{'y' * width}{{% endmacro %}}"
            "{% for i in range(99999) %}{{ m() }}{% endfor %}",
            f"{{% for i in range(99999) %}}{{{{ {BIG} }}}}{{% endfor %}}",
            f"{{% filter upper %}}{{% for i in range(99999) %}}{'q' * width}"
            "{% endfor %}{% endfilter %}",
        ]
    )


CLASSES = {
    "hostile templates: every loop kind (step budget)": _loops,
    "hostile templates: padding and format widths": _widths,
    "hostile templates: repeat/concat/join/replace sizes": _sizes,
    "hostile templates: recursion (depth and fan-out)": _recursion,
    "hostile templates: output and emitted text caps": _output,
}


@pytest.mark.parametrize("scenario", list(CLASSES))
def test_each_hostile_class_ends_in_a_template_error(
    reliability: ReliabilityLog, scenario: str
) -> None:
    failures: list[str] = []
    cases = _family(scenario, CLASSES[scenario], count=10)
    for label, source in cases:
        try:
            message, took = _hostile(source)
        except (AssertionError, pytest.fail.Exception) as exc:
            failures.append(f"{label}: {source[:150]!r}: {exc}")
            continue
        if took > CPU_S:
            failures.append(f"{label}: {source[:150]!r}: {took:.2f} s of CPU ({message})")
    reliability.record(scenario, runs=len(cases), failures=len(failures))
    assert not failures, "\n".join(failures)


def test_deep_nesting_fails_to_compile_with_a_template_error() -> None:
    for depth in (200, 2000, 20000):
        for source in (
            "{{ " + "(" * depth + "1" + ")" * depth + " }}",
            "{{ " + "[" * depth + "]" * depth + " }}",
            "{% if 1 %}" * depth + "{% endif %}" * depth,
        ):
            message, took = _hostile(source, where="deep@1")
            assert took < CPU_S * 5, (depth, took)
            assert "nests too deeply" in message or "blocked" in message, message


def test_the_limits_name_what_stopped_the_template() -> None:
    assert (
        "steps"
        in _hostile("{% for c in " + BIG + " %}{% for d in 'ab' * 9 %}{% endfor %}{% endfor %}")[0]
    )
    assert f"over {MAX_WIDTH:,}" in _hostile("{{ 'x'|center(99999) }}")[0]
    assert (
        f"over {MAX_DEPTH} deep" in _hostile("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}")[0]
    )
    assert (
        f"output over {MAX_OUTPUT:,}"
        in _hostile("{% for i in range(50000) %}" + "o" * 100 + "{% endfor %}")[0]
    )


def test_ordinary_templates_still_render() -> None:
    """Limits leave room for real prompts: big loops, padding, formatting, shallow recursion."""
    tree = {"name": "root", "children": [{"name": f"c{i}", "children": []} for i in range(50)]}
    cases: list[tuple[str, dict[str, Any], str | None]] = [
        ("{% for i in range(90000) %}x{% endfor %}", {}, "x" * 90000),
        ("{{ 'ab'|center(6) }}|{{ 'x'.ljust(3) }}|{{ '%5.2f' % 3.14159 }}", {}, "  ab  |x  | 3.14"),
        ("{{ '{:>5}|{:.3}'.format('a', 2.71828) }}", {}, "    a|2.72"),
        ("{{ '%s-%s'|format(1, 2) }} {{ 'a-b'|replace('-', '+') }}", {}, "1-2 a+b"),
        ("{{ items|join(', ') }} {{ items|sort|first }}", {"items": ["b", "a"]}, "b, a a"),
        ("{{ (['x'] * 3)|join }}{{ 'y' * 3 }}{{ 2 ** 10 }}", {}, "xxxyyy1024"),
        (
            "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{% endif %}{{ n }}{% endmacro %}{{ f(40) }}",
            {},
            "".join(str(n) for n in range(41)),
        ),
        (
            "{% for n in [tree] recursive %}{{ n.name }}{{ loop(n.children) }}{% endfor %}",
            {"tree": tree},
            "root" + "".join(f"c{i}" for i in range(50)),
        ),
        ("{{ lipsum(2, html=False)|length > 10 }}", {}, "True"),
        ("{{ context }}", {"context": "c" * (MAX_OUTPUT - 10)}, None),
        (
            "{% set ns = namespace(t='') %}{% for i in range(1000) %}{% set ns.t = ns.t ~ i %}"
            "{% endfor %}{{ ns.t|length }}",
            {},
            str(len("".join(map(str, range(1000))))),
        ),
    ]
    for source, variables, expected in cases:
        rendered = render_template("text", source, variables, allow_extra=True)
        if expected is not None:
            assert rendered == expected, source
        else:
            assert rendered == variables["context"]


def test_one_budget_covers_every_message_of_a_chat_template() -> None:
    chat = [
        {"role": "system", "content": "{% for i in range(90000) %}x{% endfor %}"},
        {"role": "user", "content": "{% for i in range(90000) %}y{% endfor %}"},
    ]
    rendered = render_template("chat", chat, {})  # each message alone fits, and together
    assert [len(m["content"]) for m in rendered] == [90000, 90000]
    many = chat * 12  # together over the steps of one render
    with pytest.raises(TemplateError, match=r"^chat@1: .*steps"):
        render_template("chat", many, {}, where="chat@1")


# ---- composed at random ---------------------------------------------------------------------

BLOCKS = st.sampled_from(
    [
        "{{ s }}",
        "{{ s|center(W) }}",
        "{{ s.ljust(W) }}",
        "{{ '%*s' % (W, s) }}",
        "{{ '{:>{}}'.format(s, W) }}",
        "{{ s * N }}",
        "{{ [s] * N }}",
        "{{ ([s] * N)|join }}",
        "{{ s ~ s }}",
        "{{ s + s }}",
        "{{ s|replace('a', s) }}",
        "{{ lipsum(N, max=W) }}",
        "{% for c in s %}{{ c }}{% endfor %}",
        "{% for i in range(N) %}BODY{% endfor %}",
        "{% for c in s|list %}BODY{% endfor %}",
        "{% set ns.v = ns.v ~ ns.v %}",
        "{% set ns.v = ns.v + s %}",
        "{{ f(N) }}",
        "{% for x in [s] recursive %}{{ loop([x]) if x|length < N else '' }}{% endfor %}",
    ]
)
SIZES = st.sampled_from([0, 1, 7, 100, 9999, 10001, 99999, 10**6, 10**9])


@st.composite
def hostile_template(draw: st.DrawFn) -> str:
    body = "".join(draw(st.lists(BLOCKS, min_size=1, max_size=3)))
    for _ in range(draw(st.integers(0, 2))):  # nest: a block inside a loop body
        body = draw(BLOCKS).replace("BODY", body) if "BODY" not in body else body
    body = body.replace("BODY", draw(BLOCKS).replace("BODY", "x"))
    body = body.replace("W", str(draw(SIZES))).replace("N", str(draw(SIZES)))
    prelude = (
        "{% set s = 'a' * " + str(draw(st.sampled_from([1, 100, 10**5, 10**6]))) + " %}"
        "{% set ns = namespace(v=s) %}"
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
    )
    return prelude + body


def test_composed_hostile_templates_render_in_budget_or_fail_cleanly(
    reliability: ReliabilityLog,
) -> None:
    def check(source: str) -> None:
        started = time.process_time()
        try:
            rendered = render_template("text", source, {}, where="composed@1")
        except TemplateError as exc:
            assert str(exc).startswith("composed@1: "), str(exc)
        else:
            assert len(rendered) <= MAX_OUTPUT
        took = time.process_time() - started
        assert took < CPU_S * 2, f"{took:.2f} s of CPU"

    tally = fuzz(hostile_template(), check, examples=150)
    tally.record(reliability, "hostile templates: random compositions (budget)")


def test_the_fuzz_harness_shrinks_a_failure_to_a_minimal_example() -> None:
    """A failing check propagates, so hypothesis shrinks it: the smallest failing int is 11."""

    seen: list[int] = []

    def check(value: int) -> None:
        seen.append(value)
        assert value <= 10

    tally = fuzz(st.integers(0, 10**6), check, examples=100)
    assert tally.error is not None and tally.failures
    assert seen[-1] == 11, seen[-5:]  # hypothesis replays the minimal example last
    assert any("value=" in note for note in getattr(tally.error, "__notes__", []))
    log = ReliabilityLog("harness")
    with pytest.raises(AssertionError):
        tally.record(log, "harness")
    assert [(o.runs > 0, o.failures) for o in log.outcomes] == [(True, 1)]


# ---- the CLI --------------------------------------------------------------------------------

PUSH_HOSTILE = {  # cannot compile: push refuses them
    "deep": "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",
    "filter": "{{ question|no_such_filter }}",
}
RENDER_HOSTILE = {  # compile, and are stopped while rendering
    "loops": "{% for i in range(99999) %}{% for c in question * 99 %}x{% endfor %}{% endfor %}",
    "width": "{{ question|center(999999999) }}",
    "recursion": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}{{ question }}",
    "output": "{% for i in range(99999) %}{{ question * 99 }}{% endfor %}",
    "concat": "{% set ns = namespace(s=question) %}{% for i in range(60) %}"
    "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
}


def _llmops(project: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmops", *argv],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LLMOPS_HOME": str(project / "home")},
    )


def test_cli_push_and_render_of_hostile_templates_exit_2_with_one_line(
    reliability: ReliabilityLog, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    (project / "configs").mkdir(parents=True)
    (project / "configs" / "llmops.yaml").write_text(
        f"store_url: sqlite:///{project / 'store.db'}\n", encoding="utf-8"
    )
    failures: list[str] = []
    runs = 0

    def write(name: str, template: str) -> Path:
        path = project / f"{name}.yaml"
        quoted = template.replace("'", "''")
        path.write_text(f"name: {name}\ntemplate: '{quoted}'\n", encoding="utf-8")
        return path

    for name, template in PUSH_HOSTILE.items():
        runs += 1
        done = _llmops(project, "prompts", "push", str(write(f"bad_{name}", template)))
        lines = done.stderr.strip().splitlines()
        if done.returncode != 2 or len(lines) != 1 or f"bad_{name}" not in lines[0]:
            failures.append(f"push {name}: exit {done.returncode}: {done.stderr[-500:]!r}")

    for name, template in RENDER_HOSTILE.items():
        runs += 1
        pushed = _llmops(project, "prompts", "push", str(write(f"evil_{name}", template)))
        assert pushed.returncode == 0, pushed.stderr
        done = _llmops(project, "prompts", "render", f"evil_{name}", "--var", "question=q")
        lines = done.stderr.strip().splitlines()
        if (
            done.returncode != 2
            or len(lines) != 1
            or f"prompt evil_{name}@1: " not in lines[0]
            or done.stdout
        ):
            failures.append(f"render {name}: exit {done.returncode}: {done.stderr[-500:]!r}")
    reliability.record(
        "hostile templates: CLI push/render exit 2", runs=runs, failures=len(failures)
    )
    assert not failures, "\n".join(failures)


def test_render_of_each_cli_case_takes_under_a_second_of_cpu() -> None:
    """The CLI's render time, measured in-process (an interpreter start is not the render)."""
    for name, template in RENDER_HOSTILE.items():
        started = time.process_time()
        with pytest.raises(TemplateError):
            render_template("text", template, {"question": "q"}, where=name)
        assert time.process_time() - started < CPU_S, name
