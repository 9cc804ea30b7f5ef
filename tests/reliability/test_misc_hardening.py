"""Hardening of smaller failure classes: RAG sources that escape their folders through
symlinks, judged text that closes its wrapper tag, judge replies with several JSON objects,
and the test suite's own randomness (one printed, replayable seed)."""

from __future__ import annotations

import json
import os
import re
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from llmops.evals._judges import (
    REASONING,
    Scale,
    _material,
    _object,
    _problem,
    json_objects,
    tagged,
)
from llmops.evals._scoring import Context, Sample
from llmops.rag._loaders import load_sources
from llmops.rag._spec import SourceSpec
from reliability.conftest import ReliabilityLog

SECRET = "TOP-SECRET-OUTSIDE"

# ---- RAG sources: symlinks and patterns escaping the roots ---------------------------------


def _tree(base: Path) -> tuple[Path, Path]:
    """A source folder ``docs`` and, beside it, a folder ``outside`` it links to."""
    docs, outside = base / "docs", base / "outside"
    (docs / "sub").mkdir(parents=True)
    (outside / "deeper").mkdir(parents=True)
    (docs / "inside.md").write_text("inside text")
    (docs / "other").mkdir()
    (docs / "other" / "kept.md").write_text("kept text")
    (outside / "secret.txt").write_text(SECRET)
    (outside / "deeper" / "secret.md").write_text(SECRET)
    (outside / "back").symlink_to(docs)  # outside, a way back in
    links = {
        "file_out.txt": "../outside/secret.txt",  # file, relative target
        "abs_out.md": str(outside / "deeper" / "secret.md"),  # file, absolute target
        "dir_out": "../outside",  # folder
        "sub/dir_out_abs": str(outside / "deeper"),
        "sub/up_out": "../../outside",
        "loop": ".",  # loops back to the root
        "sub/parent": "..",
        "a.md": "b.md",  # a loop of file links
        "b.md": "a.md",
        "dangling.md": "missing.md",
        "in_file.md": "inside.md",  # stays inside: allowed
        "sub/in_dir": "../other",
    }
    for name, target in links.items():
        (docs / name).symlink_to(target)
    return docs, outside


def _load(base: Path, **options: object) -> tuple[dict[str, str], dict[str, str]]:
    documents, report = load_sources([SourceSpec(path="docs", **options)], base)  # type: ignore[arg-type]
    skipped = {str(Path(path).relative_to(base / "docs")): why for path, why in report.skipped}
    return {d.id: d.text for d in documents}, skipped


def test_symlinks_out_of_the_source_folder_are_skipped_with_the_reason(
    tmp_path: Path, reliability: ReliabilityLog
) -> None:
    _tree(tmp_path)
    documents, skipped = _load(tmp_path)
    assert documents == {
        "inside.md": "inside text",
        "in_file.md": "inside text",
        "other/kept.md": "kept text",
        "sub/in_dir/kept.md": "kept text",
    }
    escaping = {"file_out.txt", "abs_out.md", "dir_out", "sub/dir_out_abs", "sub/up_out"}
    for name in escaping:
        assert "outside the source root" in skipped[name], (name, skipped)
    assert str((tmp_path / "outside" / "secret.txt").resolve()) in skipped["file_out.txt"]
    assert "symlink loop" in skipped["loop"] and "symlink loop" in skipped["sub/parent"]
    assert all("looping" in skipped[n] for n in ("a.md", "b.md", "dangling.md"))
    assert set(skipped) == escaping | {"loop", "sub/parent", "a.md", "b.md", "dangling.md"}

    # the opt-in follows them, and still stops at the loops (outside/back leads in again)
    opted, skipped_opted = _load(tmp_path, follow_symlinks_outside=True)
    assert opted["file_out.txt"] == SECRET and opted["dir_out/deeper/secret.md"] == SECRET
    assert (
        "symlink loop" in skipped_opted["dir_out/back"] and "symlink loop" in skipped_opted["loop"]
    )
    reliability.record("RAG sources: symlinks/paths escaping the roots", runs=len(escaping) + 6)


@pytest.mark.parametrize(
    "glob", ["../*", "../../etc/passwd", "sub/../../*", "**/../../*", "/etc/*", ".."]
)
def test_a_pattern_cannot_reach_above_the_source_folder(glob: str) -> None:
    with pytest.raises(ValidationError, match="relative pattern below the folder"):
        SourceSpec(path="docs", glob=glob)


_NAMES = st.sampled_from(["a", "b", "c.md", "d.txt"])
_TARGETS = st.sampled_from(
    [".", "..", "../..", "../../..", "a", "c.md", "../outside", "../outside/x.md", "/", "nope"]
)
_ENTRY = st.tuples(st.lists(_NAMES, min_size=1, max_size=3), st.one_of(st.none(), _TARGETS))


def test_random_trees_of_symlinks_never_index_outside_the_root(
    reliability: ReliabilityLog,
) -> None:
    """Random trees of files and links (to the root, parents, outside, ``/``, loops, nothing):
    every loaded document lies inside the root and the walk ends."""
    runs = 0

    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        st.lists(_ENTRY, min_size=1, max_size=12),
        st.sampled_from(["**/*", "*/*", "*/*/*.md"]),
    )
    def never_escapes(entries: list[tuple[list[str], str | None]], glob: str) -> None:
        nonlocal runs
        runs += 1
        with tempfile.TemporaryDirectory() as folder:
            base = Path(folder)
            docs, outside = base / "docs", base / "outside"
            docs.mkdir()
            outside.mkdir()
            (outside / "x.md").write_text(SECRET)
            for parts, target in entries:
                path = docs.joinpath(*parts)
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    if target is None:
                        path.write_text("text")
                    else:
                        path.symlink_to(target)
                except OSError:  # the name is taken by a file or a link: keep the tree as is
                    continue
            documents, _ = load_sources([SourceSpec(path="docs", glob=glob)], base)
            root = str(docs.resolve())
            for document in documents:
                real = os.path.realpath(docs / document.id)
                assert real.startswith(root + os.sep), (document.id, real)
                assert SECRET not in document.text

    never_escapes()  # the first escape raises, shrunk by hypothesis
    reliability.record("RAG sources: symlinks/paths escaping the roots", runs=runs)


# ---- judges: judged text closing its wrapper, replies with several JSON objects -----------

_WRAPPERS = ["question", "context", "context_1", "reference_answer", "response", "answer_A"]
_OPENERS = ["<", "\uff1c", "\ufe64", "\u2039", "\u27e8", "\u3008", "\u2329", "\u02c2", "\u276e"]
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"


def _fold(text: str) -> str:
    """What a lenient reader makes of ``text``: look-alikes as ``<``, invisible marks gone."""
    text = unicodedata.normalize("NFKC", text)
    for opener in _OPENERS:
        text = text.replace(opener, "<")
    return text.translate({ord(c): None for c in _ZERO_WIDTH})


def _tags(prompt: str) -> list[str]:
    return [
        f"{slash}{name.lower()}"
        for slash, name in re.findall(r"<\s*(/?)\s*([A-Za-z_][\w-]*)", _fold(prompt))
    ]


@st.composite
def _tag_variant(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(_WRAPPERS))
    cased = "".join(c.upper() if draw(st.booleans()) else c for c in name)
    space = st.sampled_from(["", " ", "\t", "\n", "  ", *_ZERO_WIDTH])
    return "".join(
        [
            draw(st.sampled_from(_OPENERS)),
            draw(space),
            draw(st.sampled_from(["", "/", "/ "])),
            draw(space),
            cased,
            draw(st.sampled_from(["", " ", " x='1'", "\n"])),
            draw(st.sampled_from([">", "/>", " >", "\uff1e", ""])),
        ]
    )


_HOSTILE = st.lists(st.one_of(_tag_variant(), st.text(max_size=20)), max_size=8).map("".join)


def test_judged_text_never_escapes_its_wrapper_tag(reliability: ReliabilityLog) -> None:
    """Whatever tag variants the judged text holds (any case, spacing, attributes,
    look-alike openers, invisible marks), a lenient reader of the prompt sees exactly the
    wrapper tags the judge put there."""
    runs = 0

    def material(text: str) -> str:
        text = f"a{text}"  # an empty input would leave out its tag
        sample = Sample(
            output=text,
            expected=text,
            input=text,
            row={},
            contexts=(Context(id="c", text=text), Context(id="d", text=text)),
        )
        return "\n".join([_material(sample, contexts=True), tagged("answer_A", text)])

    expected = _tags(material("plain"))

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(_HOSTILE)
    def never_escapes(text: str) -> None:
        nonlocal runs
        runs += 1
        assert _tags(material(text)) == expected

    never_escapes()
    reliability.record("judges: tag-closing variants defused", runs=runs)


_RUBRIC_SCHEMA = _object(reasoning=REASONING, score=Scale().as_json_schema())
_VALID = jsonschema.Draft202012Validator(_RUBRIC_SCHEMA)
_VERDICT = st.fixed_dictionaries(
    {"reasoning": st.text(max_size=30), "score": st.integers(min_value=1, max_value=5)}
)
_JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_NOISE = st.one_of(
    st.dictionaries(st.text(max_size=10), _JSON_VALUE, max_size=4),
    _VERDICT.map(lambda v: {**v, "score": v["score"] + 10}),  # out of the scale
    _VERDICT.map(lambda v: {**v, "score": str(v["score"])}),  # a string
    _VERDICT.map(lambda v: {"score": v["score"]}),  # no reasoning
).filter(lambda noise: not any(map(_VALID.is_valid, json_objects(json.dumps(noise)))))
_PROSE = st.one_of(
    st.text(alphabet=st.characters(blacklist_characters='{}"'), max_size=20),
    st.sampled_from(["{as asked}", "```json", "```", "{", "}", "Sure:", "\n"]),
)


def _reply(draw: st.DrawFn, verdicts: list[dict[str, Any]]) -> str:
    parts = [json.dumps(v) for v in verdicts]
    parts += [json.dumps(n) for n in draw(st.lists(_NOISE, max_size=4))]
    parts += draw(st.lists(_PROSE, max_size=4))
    return "\n".join(draw(st.permutations(parts)))


def test_a_reply_with_several_json_objects_yields_only_its_one_valid_verdict(
    reliability: ReliabilityLog,
) -> None:
    """Among injected objects (invalid ones, prose, fences), the one schema-valid verdict is
    taken; two different valid verdicts give none (the case is unmeasured), never the first."""
    runs = 0

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(st.data(), _VERDICT, _VERDICT, st.booleans())
    def unique_or_nothing(
        data: st.DataObject, verdict: dict[str, Any], other: dict[str, Any], two: bool
    ) -> None:
        nonlocal runs
        runs += 1
        reply = _reply(data.draw, [verdict, other] if two else [verdict])
        parsed, problem = _problem(reply, _RUBRIC_SCHEMA)
        if two and other["score"] != verdict["score"]:
            assert (parsed, problem) == (None, "it has 2 conflicting verdicts"), reply
        else:
            assert problem is None and parsed is not None, reply
            assert parsed["score"] == verdict["score"], reply

    unique_or_nothing()
    reliability.record("judges: several JSON objects in a reply", runs=runs)


# ---- test-suite reliability: one seed per session, printed, replayable -----------------------

_DRAWS = """
import random

def test_draws(rng: random.Random) -> None:
    print("DRAW", rng.getrandbits(64))
    assert {fail}, "the kill point was wrong"
"""


def _session(tmp_path: Path, seed: str | None, *, fail: bool = False) -> tuple[str, str]:
    """A pytest session of one test that draws from ``rng``; its output and its first draw."""
    import subprocess
    import sys

    tests = Path(__file__).resolve().parent.parent
    (tmp_path / "test_draws.py").write_text(_DRAWS.format(fail=not fail))
    # a session of its own, not one more xdist worker of this one
    env = {
        k: v
        for k, v in os.environ.items()
        if "TEST_SEED" not in k and not k.startswith("PYTEST_") and k != "LLMOPS_RELIABILITY_REPORT"
    }
    env["PYTHONPATH"] = str(tests)
    if seed is not None:
        env["LLMOPS_TEST_SEED"] = seed
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "conftest", "-s", "-n", "0", "test_draws.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == (1 if fail else 0), done.stdout + done.stderr
    draws = re.findall(r"DRAW (\d+)", done.stdout)
    assert len(draws) == 1, done.stdout
    return done.stdout, draws[0]


def test_random_choices_come_from_one_printed_seed_and_replay(
    tmp_path: Path, reliability: ReliabilityLog
) -> None:
    """Unseeded, a session picks a seed and prints it; the same LLMOPS_TEST_SEED draws the
    same values; a failing test that drew from it names the seed that replays it."""
    out, first = _session(tmp_path, None)
    [chosen] = re.findall(r"LLMOPS_TEST_SEED=(\d+) \(set it to replay", out)
    failed, replayed = _session(tmp_path, chosen, fail=True)
    assert replayed == first and f"LLMOPS_TEST_SEED={chosen} " in failed
    assert f"replay with LLMOPS_TEST_SEED={chosen}" in failed and "kill point was wrong" in failed
    _, other = _session(tmp_path, str(int(chosen) + 1))
    assert other != first
    reliability.record("test suite: seeded, printed, replayable randomness", runs=3)
