"""Comparing two stored runs, the HTML report and its escaping, and the CLI commands."""

from __future__ import annotations

import json
import random
import uuid
from html.parser import HTMLParser
from pathlib import Path

import orjson
import pytest

from llmops.cli import main
from llmops.evals import Case, CaseResult, get_run
from llmops.evals._compare import case_means, compare_runs
from llmops.evals._report import render_report
from llmops.evals._results import finish_run, start_run, write_results
from llmops.evals._stats import summarize_values
from llmops.store import Store
from llmops.store.models import EvalRunRecord

HOSTILE = (
    "[/red][bold]<script>alert(1)</script><img src=x onerror=alert(2)>"
    '<a href="javascript:alert(3)">x</a>"\'><svg onload=alert(4)>'
)
Row = tuple[int, int, str | None, dict[str, float | None]]


def _write_run(
    store: Store, rows: list[Row], *, suite: str = "qa", dataset: str = "d1", repeats: int = 1
) -> str:
    """A finished run of ``(case_index, repeat, output, scores)`` rows; returns its id."""
    run_id = uuid.uuid4().hex
    start_run(
        store,
        EvalRunRecord(
            id=run_id,
            suite=suite,
            dataset_hash=dataset,
            model_name="m",
            model="openai/m",
            repeats=repeats,
            config={"prompt": "qa@1"},
        ),
    )
    results = [
        CaseResult(
            case=Case(index=i, row={"question": f"q{i} <b>?</b>"}, expected=f"e{i}"),
            repeat=repeat,
            output=output,
            error=None if output is not None else "target failed",
            scores=dict(scores),
            score_errors={k: "unmeasured: no output" for k, v in scores.items() if v is None},
            score_reasons={k: f"reason {HOSTILE}" for k, v in scores.items() if v is not None},
        )
        for i, repeat, output, scores in rows
    ]
    write_results(store, run_id, results)
    names = list(rows[0][3])
    finish_run(
        store,
        run_id,
        status="completed",
        n_cases=len(rows),
        n_errors=0,
        summary={name: {"mean": None} for name in names},
    )
    return run_id


def _baseline(store: Store) -> str:
    # exact_match: 1 on cases 0-8, 0 on case 9; contains: 1 everywhere
    return _write_run(
        store,
        [(i, 0, f"A{i}", {"exact_match": float(i != 9), "contains": 1.0}) for i in range(10)],
    )


def _candidate(store: Store, *, dataset: str = "d1", suite: str = "qa") -> str:
    rows: list[Row] = []
    for i in range(10):
        for repeat in range(2):
            exact: float | None = 1.0
            if i in (0, 1, 2):
                exact = 0.0  # regressed by 1
            elif i == 3:
                exact = float(repeat)  # repeats 0 and 1: mean 0.5, regressed by 0.5
            elif i == 5:
                exact = None  # unmeasured in B
            output = HOSTILE if i == 0 else f"B{i}"
            scores = {"exact_match": exact, "contains": 0.0, "new_scorer": 0.5}
            rows.append((i, repeat, output, scores))
    return _write_run(store, rows, dataset=dataset, suite=suite, repeats=2)


def test_compare_pairs_cases_averages_repeats_and_lists_regressions(store: Store) -> None:
    a, b = _baseline(store), _candidate(store)
    comparison = compare_runs(store, a[:10], b[:10])
    assert (comparison.a.run.id, comparison.b.run.id) == (a, b)
    exact = comparison.scorers["exact_match"]
    # case 5 is unmeasured in B, so 9 pairs; B's mean over them: cases 4, 6-9 and 3 at 0.5
    assert (exact.stats.n, exact.unmeasured_a, exact.unmeasured_b) == (9, 0, 1)
    assert (exact.unpaired_a, exact.unpaired_b) == (1, 0)
    assert exact.stats.mean_a == pytest.approx(8 / 9)
    assert exact.stats.mean_b == pytest.approx(5.5 / 9)
    assert (exact.stats.wins, exact.stats.losses, exact.stats.ties) == (1, 4, 4)
    regressed = [(c.scorer, c.case_index, c.diff) for c in comparison.regressed]
    exact_regressed = [(i, d) for s, i, d in regressed if s == "exact_match"]
    assert exact_regressed == [(0, -1.0), (1, -1.0), (2, -1.0), (3, -0.5)]
    assert [(c.scorer, c.case_index) for c in comparison.improved] == [("exact_match", 9)]
    first = comparison.regressed[0]
    assert (first.output_a, first.output_b, first.expected) == ("A0", HOSTILE, "e0")
    assert first.inputs == {"question": "q0 <b>?</b>"}
    assert first.reason_a is not None and first.reason_a.startswith("reason")
    # contains went from 1 to 0 on every case: a regression beyond sampling noise
    contains = comparison.scorers["contains"]
    assert contains.regressed and contains.stats.ci_high == -1.0
    assert [s.scorer for s in comparison.regressed_scorers()] == ["contains"]
    assert not exact.regressed  # its CI still includes 0
    assert comparison.warnings == ["scorer(s) only in run B, not compared: new_scorer"]


def test_threshold_and_dataset_or_suite_warnings(store: Store) -> None:
    a = _baseline(store)
    b = _candidate(store, dataset="d2", suite="other")
    comparison = compare_runs(store, a, b, threshold=0.6)
    exact = [c.case_index for c in comparison.regressed if c.scorer == "exact_match"]
    assert exact == [0, 1, 2]  # case 3 moved by 0.5 only
    assert any("different datasets" in w for w in comparison.warnings)
    assert any("different suites" in w for w in comparison.warnings)
    data = json.loads(orjson.dumps(comparison.to_dict()))
    assert data["run_a"]["id"] == a and data["run_b"]["dataset_hash"] == "d2"
    assert data["scorers"]["contains"]["regressed"] is True
    assert data["scorers"]["exact_match"]["n"] == 9
    assert data["regressed"][0]["output_b"] == HOSTILE
    assert data["threshold"] == 0.6


class _Tags(HTMLParser):
    """Every tag and attribute of a page, as a browser would parse them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs.extend(attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


_SAFE_TAGS = {
    "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "div", "ul", "li",
    "table", "thead", "tbody", "tr", "th", "td", "pre", "figure", "figcaption",
    "svg", "rect", "line", "text",
}  # fmt: skip


def _assert_safe(page: str) -> _Tags:
    parsed = _Tags()
    parsed.feed(page)
    assert parsed.tags <= _SAFE_TAGS, parsed.tags - _SAFE_TAGS
    assert not [name for name, _ in parsed.attrs if name.startswith("on")]
    assert not [name for name, _ in parsed.attrs if name in ("href", "src", "xlink:href")]
    assert not [v for _, v in parsed.attrs if v and "javascript:" in v.lower()]
    assert "default-src 'none'" in page  # the CSP forbids scripts even if escaping failed
    # the hostile output is there, as text
    assert HOSTILE in "".join(parsed.text)
    return parsed


def test_reports_escape_hostile_outputs(store: Store) -> None:
    a, b = _baseline(store), _candidate(store)
    run_page = render_report(get_run(store, b))
    parsed = _assert_safe(run_page)
    assert "<svg" in run_page and "exact_match" in run_page
    assert "1.2" in "".join(parsed.text)  # case 1, repeat 2 of a run with repeats
    compare_page = render_report(compare_runs(store, a, b))
    _assert_safe(compare_page)
    assert "Regressed cases" in compare_page and "new_scorer" in compare_page


def test_cli_compare_and_report(
    store: Store, store_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("LLMOPS_STORE_URL", store_url)
    a, b = _baseline(store), _candidate(store)

    assert main(["eval", "compare", a[:8], b[:8]]) == 0
    out = capsys.readouterr().out
    assert "contains" in out and "regressed cases (14)" in out
    assert "[/red][bold]<" in out  # outputs are printed as text, never as rich markup

    assert main(["eval", "compare", a[:8], b[:8], "--fail-on-regression"]) == 1
    assert "regression: contains -1.000" in capsys.readouterr().err
    assert main(["eval", "compare", a, a, "--fail-on-regression"]) == 0
    assert "same run" in capsys.readouterr().out

    html_path = tmp_path / "cmp.html"
    assert main(["eval", "compare", a, b, "--json", "--html", str(html_path)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["scorers"]["contains"]["mean_diff"] == -1.0
    assert str(html_path) in captured.err
    _assert_safe(html_path.read_text(encoding="utf-8"))

    report = tmp_path / "run.html"
    assert main(["eval", "report", b[:8], "-o", str(report)]) == 0
    assert str(report) in capsys.readouterr().out
    assert report.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")

    assert main(["eval", "report", "ffffffff"]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["eval", "compare", a, b, "--threshold", "2"]) == 2


def _hostile_texts(seed: int) -> list[str]:
    """Texts that break naive HTML or template rendering, and a long one, shuffled together."""
    rng = random.Random(seed)
    pieces = [
        "<script>alert(1)</script>", "</pre></td></tr></table><h1>x</h1>", '"', "'", "&amp;",
        "{{ 7 * 7 }}", "{% for x in range(3) %}{{ x }}{% endfor %}", "{# c #}", "${x}",
        "<!--", "]]>", "\u202e", "é\u0301", "\t\n",
    ]  # fmt: skip
    texts = ["".join(rng.sample(pieces, k=rng.randint(2, len(pieces)))) for _ in range(6)]
    return [*texts, "<b>long</b> " * 20_000]


class _Rows(HTMLParser):
    """Each table row's cell texts (a nested pre or div joins its cell's text)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _table_rows(page: str) -> list[list[str]]:
    parser = _Rows()
    parser.feed(page)
    return parser.rows


@pytest.mark.parametrize("seed", [1, 2])
def test_reports_render_hostile_case_data_as_text_with_the_same_figures(
    store: Store, seed: int
) -> None:
    texts = _hostile_texts(seed)
    rng = random.Random(seed)
    run_ids = []
    for _ in ("A", "B"):
        run_id = uuid.uuid4().hex
        start_run(
            store,
            EvalRunRecord(
                id=run_id, suite=texts[0], dataset_hash="d", model_name=texts[1],
                model="openai/m", repeats=1, config={"prompt": texts[2]},
            ),
        )  # fmt: skip
        results = [
            CaseResult(
                case=Case(
                    index=i,
                    row={"question": texts[i % len(texts)], "context": texts[(i + 1) % 7]},
                    expected=texts[(i + 2) % len(texts)],
                ),
                repeat=0,
                output=None if i == 3 else texts[(i + 3) % len(texts)],
                error=texts[4] if i == 3 else None,
                scores={
                    "exact": None if i == 3 else float(rng.random() > 0.5),
                    "sim": rng.random(),
                },
                score_errors={"exact": texts[5]} if i == 3 else {},
                score_reasons={"sim": texts[(i + 4) % len(texts)]},
            )
            for i in range(12)
        ]
        write_results(store, run_id, results)
        finish_run(store, run_id, status="completed", n_cases=12, n_errors=1, summary={})
        run_ids.append(run_id)

    detail = get_run(store, run_ids[1])
    comparison = compare_runs(store, run_ids[0], run_ids[1])
    for page in (render_report(detail), render_report(comparison)):
        parsed = _Tags()
        parsed.feed(page)
        assert parsed.tags <= _SAFE_TAGS, parsed.tags - _SAFE_TAGS
        assert not [name for name, _ in parsed.attrs if name.startswith("on")]
        shown = "".join(parsed.text)
        for text in texts:  # each text is on the page as text, templates syntax untouched
            assert text in shown
        assert "{{ 7 * 7 }}" in shown and "<script>" not in page

    # the figures are those of the statistics, as the f-string pages printed them
    rows = _table_rows(render_report(detail))
    for name, by_case in case_means(detail).items():
        stats = summarize_values([v for v in by_case.values() if v is not None])
        ci = f"[{stats.ci_low:.3f}, {stats.ci_high:.3f}]" if stats.ci_low is not None else "-"
        expected = [name, f"{stats.mean:.3f}", f"{stats.stderr:.3f}", ci, str(stats.n)]
        assert [*expected, str(len(by_case) - stats.n)] in rows
    rows = _table_rows(render_report(comparison))
    for name, s in comparison.scorers.items():
        st = s.stats
        assert [
            name, f"{st.mean_a:.3f}", f"{st.mean_b:.3f}", f"{st.mean_diff:+.3f}",
            f"[{st.ci_low:+.3f}, {st.ci_high:+.3f}]", f"{st.p_value:.4f}",
            f"{st.wins} / {st.losses} / {st.ties}", str(st.n),
            f"{s.unpaired_a} / {s.unpaired_b}", f"{s.unmeasured_a} / {s.unmeasured_b}",
        ] in rows  # fmt: skip
    changed = {(c.case_index + 1, c.scorer) for c in [*comparison.regressed, *comparison.improved]}
    listed = {(int(row[0]), row[1]) for row in rows if len(row) == 9 and row[0].isdigit()}
    assert listed == changed
