"""Fuzzing prompt templates: random template sources and variables either render or raise a
``TemplateError`` that names the template, never another exception or a hang.

``fuzz`` is the driver the other ``test_fuzz_*`` modules share: it runs a hypothesis strategy
through a check and counts every example. A check asserts the outcomes it allows (and catches
only the error types it allows); anything else propagates, so hypothesis shrinks it to a
minimal example, which the tally keeps and ``Tally.record`` raises after recording.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmops import LlmopsError, TemplateError
from llmops.prompts import render_template
from reliability.conftest import ReliabilityLog

#: One example using more CPU than this counts as a hang (CPU time, so a loaded machine does
#: not make it flaky).
SLOW_S = 5.0


@dataclass
class Tally:
    """How many examples ran, and the minimal failing example if one failed."""

    runs: int = 0
    failures: list[str] = field(default_factory=list)
    error: BaseException | None = None

    def record(self, reliability: ReliabilityLog, scenario: str) -> None:
        reliability.record(scenario, runs=self.runs, failures=len(self.failures))
        if self.error is not None:  # the shrunk failure, with hypothesis' falsifying example
            raise AssertionError(f"{scenario}: {self.failures[0]}") from self.error
        assert not self.failures, f"{len(self.failures)} of {self.runs}:\n" + "\n".join(
            self.failures[:10]
        )

    def add(self, other: Tally, label: str = "") -> None:
        self.runs += other.runs
        self.failures += [f"{label}{failure}" for failure in other.failures]
        self.error = self.error or other.error


def fuzz(strategy: st.SearchStrategy[Any], check: Callable[[Any], None], examples: int) -> Tally:
    """Run ``check`` on ``examples`` values of ``strategy``; what it raises fails the example.

    Hypothesis shrinks a failure to a minimal example before it comes back here, kept in the
    tally. Derandomized (the same examples every run: the seed is fixed) and without an
    example database, so nothing is written to the repository.
    """
    tally = Tally()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(value: Any) -> None:
        tally.runs += 1
        started = time.process_time()
        check(value)
        took = time.process_time() - started
        assert took <= SLOW_S, f"{value!r:.300}: took {took:.1f} s of CPU"

    try:
        run()
    except Exception as exc:  # already shrunk: keep it for the report, raise it in record()
        tally.failures.append(f"{type(exc).__name__}: {exc}"[:2000])
        tally.error = exc
    return tally


# ---- templates ---------------------------------------------------------------------------------

NAMES = ("question", "context", "items", "x", "loop", "cycler", "self")
FRAGMENTS = st.sampled_from(
    [
        "{{ question }}",
        "{{ context|upper }}",
        "{{ items[0] }}",
        "{{ items|join(', ') }}",
        "{{ x.attr }}",
        "{{ x + 1 }}",
        "{{ 1 / 0 }}",
        "{{ x|int }}",
        "{{ question|format(1, 2) }}",
        "{% if question %}yes{% else %}no{% endif %}",
        "{% for i in items %}{{ i }}{% endfor %}",
        "{% for i in range(x) %}.{% endfor %}",
        "{% set y = x %}{{ y }}",
        "{% raw %}{{ not rendered }}{% endraw %}",
        "{# a comment #}",
        "{{ missing }}",
        "{{ question.__class__ }}",
        "{{ ''.join }}",
        "{{ x|default('d') }}",
        "{{ items|length }}",
        "{{ question[1:3] }}",
        "{{ context.format(x) }}",
        "{{",
        "}}",
        "{%",
        "%}",
        "{#",
        "{% if %}",
        "{% endfor %}",
        "{{ ) }}",
        "{{ 'unterminated }}",
        "\n",
        "plain text ",
        "ü€😀\x00\t",
    ]
)
SOURCES = st.one_of(
    st.lists(FRAGMENTS | st.text(max_size=8), max_size=8).map("".join),
    st.text(alphabet=st.sampled_from("{}%#|.()'\"[]_ax01 \n"), max_size=40),
    st.text(max_size=60),
)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=10,
)
VARIABLES = st.dictionaries(st.sampled_from(NAMES), JSON_VALUES, max_size=5)


def _check_text(example: tuple[str, dict[str, Any], bool]) -> None:
    source, variables, allow_extra = example
    where = "prompt fuzz@1"
    try:
        rendered = render_template("text", source, variables, where=where, allow_extra=allow_extra)
    except TemplateError as exc:
        assert str(exc).startswith(f"{where}: "), f"the error does not name the template: {exc}"
        assert len(str(exc)) > len(where) + 2
        return
    assert isinstance(rendered, str)


def _check_chat(example: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    template, variables = example
    try:
        rendered = render_template("chat", template, variables, where="chat", allow_extra=True)
    except TemplateError as exc:
        assert str(exc).startswith("chat: "), str(exc)
        return
    assert isinstance(rendered, list)
    assert all(isinstance(m["content"], str) and m["role"] for m in rendered)


MESSAGES = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {"role": st.sampled_from(["system", "user", "assistant"]), "content": SOURCES}
        ),
        st.just({"placeholder": "history"}),
    ),
    min_size=1,
    max_size=4,
)
HISTORY = st.one_of(
    st.lists(
        st.fixed_dictionaries(
            {"role": st.sampled_from(["user", "assistant", "bogus"]), "content": st.text()}
        ),
        max_size=3,
    ),
    JSON_VALUES,
)


def test_random_templates_render_or_name_the_problem(reliability: ReliabilityLog) -> None:
    tally = fuzz(st.tuples(SOURCES, VARIABLES, st.booleans()), _check_text, examples=300)
    chat = fuzz(
        st.tuples(
            MESSAGES,
            st.dictionaries(st.sampled_from(NAMES), JSON_VALUES).flatmap(
                lambda v: HISTORY.map(lambda h: {**v, "history": h})
            ),
        ),
        _check_chat,
        examples=150,
    )
    tally.add(chat)
    tally.record(reliability, "fuzz: template rendering")


def test_a_prompt_file_with_a_bad_template_names_file_and_line(
    reliability: ReliabilityLog, tmp_path: Any
) -> None:
    """A registered prompt's template errors name the prompt (``prompt NAME@VERSION``)."""
    from llmops.prompts import PromptSpec, get_version, register_prompt
    from llmops.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'p.db'}")
    bad = ["{{ question ", "{% for %}", "{{ question }}{% endif %}"]
    failures = 0
    for index, source in enumerate(bad):
        try:
            register_prompt(store, PromptSpec(name=f"bad{index}", template=source))
            version = get_version(store, f"bad{index}", 1)
            version.render(question="q")
        except TemplateError as exc:
            failures += not (f"bad{index}" in str(exc) and "line 1" in str(exc))
        except LlmopsError as exc:
            failures += not str(exc)
        else:
            failures += 1
    reliability.record("fuzz: template rendering", runs=len(bad), failures=failures)
    assert failures == 0
