"""The scorer catalog: text, JSON, overlap, budget, tool-call, retrieval and embedding scorers."""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from llmops._exceptions import ConfigError
from llmops.config import Config
from llmops.evals import _catalog  # noqa: F401  (registers every scorer type)
from llmops.evals._embedding_scorers import EmbeddingSimilarity
from llmops.evals._retrieval_scorers import gold_ids
from llmops.evals._scoring import (
    SCORER_TYPES,
    Context,
    Sample,
    Score,
    Scorer,
    ScorerEnv,
    ScorerUnmeasured,
    as_score,
    build_scorer,
)
from llmops.evals._text_scorers import JsonSchemaParams, lcs_length, parse_json_output


def run(item: str | Mapping[str, Any], **sample: Any) -> Score:
    sample.setdefault("output", "")
    return as_score(build_scorer(item).score(Sample(**sample)))


def value(item: str | Mapping[str, Any], **sample: Any) -> float:
    return run(item, **sample).value


def unmeasured(item: str | Mapping[str, Any], **sample: Any) -> str:
    with pytest.raises(ScorerUnmeasured) as caught:
        run(item, **sample)
    return str(caught.value)


def test_catalog_registers_every_type_with_its_kind() -> None:
    kinds = {name: cls.kind for name, cls in SCORER_TYPES.items()}
    deterministic = "regex json_valid json_schema bleu rouge_l length latency cost tool_call_match"
    for name in [*deterministic.split(), "exact_match", "contains", "token_f1"]:
        assert kinds[name] == "deterministic"
    assert kinds["embedding_similarity"] == "embedding"
    assert {kinds[n] for n in ("hit_at_k", "mrr", "ndcg")} == {"retrieval"}
    for name, cls in SCORER_TYPES.items():
        assert cls.__doc__, f"scorer {name} has no docstring"


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            {"regex": {"pattern": "(unclosed"}},
            "scorer 'regex': pattern: invalid regular expression",
        ),
        ({"regex": {}}, "scorer 'regex': pattern: Field required"),
        ({"regex": {"pattern": "x", "match": "prefix"}}, "scorer 'regex': match: Input should be"),
        ({"json_valid": {"fence": True}}, "scorer 'json_valid': fence: Extra inputs"),
        ({"json_schema": {}}, "scorer 'json_schema': give either schema"),
        (
            {"json_schema": {"schema": {"type": "object"}, "schema_file": "s.json"}},
            "scorer 'json_schema': give either schema",
        ),
        (
            {"json_schema": {"schema": {"type": 7}}},
            "scorer 'json_schema': invalid JSON schema at type",
        ),
        ({"json_schema": {"schema_file": "none.json"}}, "cannot read schema_file 'none.json'"),
        ({"bleu": {"tokenize": "spm"}}, "scorer 'bleu': tokenize: Input should be"),
        ({"length": {}}, "scorer 'length': give at least one of"),
        ({"length": {"min_chars": 9, "max_chars": 3}}, "min_chars (9) is greater than max_chars"),
        ({"length": {"max_words": -1}}, "scorer 'length': max_words: Input should be greater"),
        ("latency", "scorer 'latency': max_ms: Field required"),
        ({"latency": {"max_ms": 0}}, "scorer 'latency': max_ms: Input should be greater than 0"),
        ({"cost": {"max_usd": -0.5}}, "scorer 'cost': max_usd: Input should be greater"),
        ({"tool_call_match": {"order": "loose"}}, "scorer 'tool_call_match': order:"),
        ({"tool_call_match": {"arguments": "fuzzy"}}, "scorer 'tool_call_match': arguments:"),
        (
            {"hit_at_k": {"k": 0}},
            "scorer 'hit_at_k': k: Input should be greater than or equal to 1",
        ),
        ({"ndcg": {"field": ""}}, "scorer 'ndcg': field: String should have at least 1"),
        ({"embedding_similarity": {"model": ""}}, "scorer 'embedding_similarity': model:"),
    ],
)
def test_bad_parameters_name_scorer_and_parameter(item: Mapping[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        build_scorer(item)
    assert message in str(caught.value)


# --- regex and JSON ---------------------------------------------------------------------------


def test_regex_search_fullmatch_flags_and_name() -> None:
    assert value({"regex": {"pattern": r"\d+"}}, output="about 42 apples") == 1.0
    assert value({"regex": {"pattern": r"\d+", "match": "fullmatch"}}, output="about 42") == 0.0
    assert value({"regex": {"pattern": r"\d+", "match": "fullmatch"}}, output=" 42\n") == 1.0
    strict = {"regex": {"pattern": r"\d+", "match": "fullmatch", "strip": False}}
    assert value(strict, output=" 42\n") == 0.0
    assert value({"regex": {"pattern": "paris"}}, output="Paris") == 0.0
    assert value({"regex": {"pattern": "paris", "ignore_case": True}}, output="Paris") == 1.0
    assert value({"regex": {"pattern": "^b$", "multiline": True}}, output="a\nb\nc") == 1.0
    miss = run({"regex": {"pattern": "^yes$"}}, output="no")
    assert miss.value == 0.0 and miss.reason == "no search for '^yes$'"
    named = build_scorer({"regex": {"pattern": "x", "name": "has_x", "threshold": 0.9}})
    assert named.name == "has_x" and named.describe()["pattern"] == "x"


def test_json_valid_strict_and_fenced() -> None:
    assert value("json_valid", output='{"a": [1, 2.5, null]}') == 1.0
    assert value("json_valid", output=" 3 ") == 1.0
    bad = run("json_valid", output="{'a': 1}")
    assert bad.value == 0.0 and bad.reason is not None and bad.reason.startswith("not JSON:")
    assert run("json_valid", output='{"a": NaN}').reason == "not JSON: NaN is not valid JSON"
    assert run("json_valid", output="  ").reason == "not JSON: the output is empty"
    fenced_output = 'Here it is:\n```json\n{"a": 1}\n```\nDone.'
    assert value("json_valid", output=fenced_output) == 0.0
    assert value({"json_valid": {"fenced": True}}, output=fenced_output) == 1.0
    assert value({"json_valid": {"fenced": True}}, output='{"plain": true}') == 1.0


def test_parse_json_output_prefers_the_json_block() -> None:
    text = "```python\nx = 1\n```\n```\n[1]\n```\n```JSON\n[2]\n```"
    assert parse_json_output(text, fenced=True) == [2]
    assert parse_json_output("```\n[1]\n```", fenced=True) == [1]


SCHEMA = {
    "type": "object",
    "required": ["name", "age"],
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
}


def test_json_schema_inline() -> None:
    item = {"json_schema": {"schema": SCHEMA}}
    assert value(item, output='{"name": "Ada", "age": 36}') == 1.0
    wrong = run(item, output='{"name": "Ada", "age": -1}')
    assert wrong.value == 0.0
    assert wrong.reason == "at age: -1 is less than the minimum of 0"
    assert wrong.detail == {"errors": 1, "path": "age", "validator": "minimum"}
    missing = run(item, output='{"name": "Ada"}')
    assert missing.reason == "at (root): 'age' is a required property"
    assert (
        run(item, output="Ada, 36").reason == "not JSON: Expecting value: line 1 column 1 (char 0)"
    )
    assert build_scorer(item).describe()["schema"] == SCHEMA


def test_json_schema_from_files_and_formats(tmp_path: Path) -> None:
    (tmp_path / "person.json").write_text(json.dumps(SCHEMA))
    (tmp_path / "person.yaml").write_text("type: object\nrequired: [name]\n")
    for name in ("person.json", "person.yaml"):  # relative to the working directory
        scorer = build_scorer({"json_schema": {"schema_file": name}})
        assert as_score(scorer.score(Sample(output='{"age": 3}'))).value == 0.0
        assert scorer.describe()["schema"]["type"] == "object"
    elsewhere = tmp_path / "suite"
    elsewhere.mkdir()
    (elsewhere / "s.json").write_text('{"type": "array"}')
    params = JsonSchemaParams.model_validate({"schema_file": "s.json"}, context={"root": elsewhere})
    assert params.loaded_schema == {"type": "array"}
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ValueError, match="does not hold a mapping"):
        build_scorer({"json_schema": {"schema_file": "list.yaml"}})
    email = {"type": "string", "format": "email"}
    assert value({"json_schema": {"schema": email}}, output='"nope"') == 1.0
    assert value({"json_schema": {"schema": email, "check_formats": True}}, output='"nope"') == 0.0


# --- overlap with the expected answer ---------------------------------------------------------


def test_bleu_matches_hand_computed_sentence_bleu() -> None:
    # Precisions 5/6, 3/5, 1/4 and 0/3 (exp smoothing makes it 1/6), brevity penalty 1.
    expected = (5 / 6 * 3 / 5 * 1 / 4 * 1 / 6) ** 0.25
    got = value("bleu", output="the cat sat on the mat", expected="the cat is on the mat")
    assert got == pytest.approx(expected, abs=1e-9)
    assert value("bleu", output="the cat is on the mat", expected="the cat is on the mat") == 1.0
    assert value("bleu", output="", expected="the cat") == 0.0
    assert value("bleu", output="THE CAT", expected="the cat") < 0.5
    assert value({"bleu": {"lowercase": True}}, output="THE CAT", expected="the cat") == 1.0
    assert unmeasured("bleu", output="x") == "the case has no expected answer"
    assert unmeasured("bleu", output="x", expected=" ") == "the expected answer is empty"


@pytest.mark.parametrize(
    ("output", "expected", "score"),
    [
        ("the cat sat on the mat", "the cat is on the mat", 5 / 6),
        ("the gunman police killed", "police killed the gunman", 0.5),
        # LCS "quick brown jumps the" = 4 of 9 output and 8 expected words: F = 8/17
        (
            "The quick brown fox jumps over the lazy dog",
            "A quick brown dog jumps on the log.",
            8 / 17,
        ),
        ("Le café, très_bon!", "le CAFÉ très bon", 1.0),
        ("nothing shared", "the cat", 0.0),
        ("...", "the cat", 0.0),
    ],
)
def test_rouge_l(output: str, expected: str, score: float) -> None:
    assert value("rouge_l", output=output, expected=expected) == pytest.approx(score)


def test_rouge_l_detail_and_unmeasured() -> None:
    result = run("rouge_l", output="a b c d", expected="a b")
    assert result.value == pytest.approx(2 / 3)
    assert result.detail == {"precision": 0.5, "recall": 1.0}
    assert unmeasured("rouge_l", output="a", expected="?!") == "the expected answer has no words"
    assert unmeasured("rouge_l", output="a") == "the case has no expected answer"


def test_lcs_length_agrees_with_dynamic_programming() -> None:
    def slow(a: list[str], b: list[str]) -> int:
        table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
        for i, x in enumerate(a):
            for j, y in enumerate(b):
                table[i + 1][j + 1] = (
                    table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
                )
        return table[-1][-1]

    rng = random.Random(7)
    for _ in range(300):
        a = [rng.choice("abcde") for _ in range(rng.randint(0, 70))]
        b = [rng.choice("abcde") for _ in range(rng.randint(0, 70))]
        assert lcs_length(a, b) == slow(a, b)


# --- budgets ----------------------------------------------------------------------------------


def test_length_bounds() -> None:
    words = {"length": {"min_words": 2, "max_words": 3}}
    assert value(words, output="one two three") == 1.0
    assert run(words, output="one").reason == "1 words, fewer than min_words 2"
    assert run(words, output="a b c d").reason == "4 words, more than max_words 3"
    chars = {"length": {"max_chars": 5}}
    assert value(chars, output="  hello \n") == 1.0
    assert run(chars, output="hello!").reason == "6 chars, more than max_chars 5"
    both = {"length": {"min_chars": 1, "max_words": 1}}
    assert value(both, output="") == 0.0
    assert value(both, output="ok") == 1.0


def test_latency_and_cost_budgets() -> None:
    assert value({"latency": {"max_ms": 500}}, output="x", latency_ms=500.0) == 1.0
    slow = run({"latency": {"max_ms": 500}}, output="x", latency_ms=812.4)
    assert slow.value == 0.0 and slow.reason == "812 ms > max_ms 500"
    assert unmeasured({"latency": {"max_ms": 500}}) == "the latency of this case is unknown"
    assert value({"cost": {"max_usd": 0.01}}, cost_usd=0.0) == 1.0
    assert value({"cost": {"max_usd": 0.01}}, cost_usd=0.0125) == 0.0
    assert "cost of this case is unknown" in unmeasured({"cost": {"max_usd": 0.01}})


# --- tool calls -------------------------------------------------------------------------------


def openai_call(name: str, arguments: Any) -> dict[str, Any]:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": "call_1", "type": "function", "function": {"name": name, "arguments": text}}


EXPECTED_CALLS = [
    {"name": "search", "arguments": {"query": "weather", "units": "metric"}},
    {"name": "send", "arguments": {"to": "ada"}},
]


def tool_score(
    params: Mapping[str, Any], calls: list[Any], expected: Any = EXPECTED_CALLS
) -> Score:
    return run(
        {"tool_call_match": dict(params)},
        row={"expected_tool_calls": expected},
        tool_calls=tuple(calls),
    )


def test_tool_calls_all_matched_in_either_shape() -> None:
    calls = [
        openai_call("search", {"units": "metric", "query": "weather"}),
        {"name": "send", "arguments": {"to": "ada"}},
    ]
    result = tool_score({}, calls)
    assert result.value == 1.0 and result.reason is None
    assert result.detail == {"matched": 2, "missing": [], "unexpected": []}


def test_tool_calls_missing_and_unexpected_are_listed() -> None:
    calls = [openai_call("search", {"query": "weather", "units": "metric"}), openai_call("rm", "")]
    result = tool_score({}, calls)
    assert result.value == 0.5
    assert result.reason == "1 of 2 expected tool calls matched; missing: send; unexpected: rm"
    assert result.detail is not None
    assert result.detail["missing"] == [{"name": "send", "arguments": {"to": "ada"}}]
    assert result.detail["unexpected"] == [{"name": "rm", "arguments": {}}]


def test_tool_call_argument_modes() -> None:
    calls = [
        openai_call("search", {"query": "weather", "units": "metric", "limit": 3}),
        openai_call("send", {"to": "bob"}),
    ]
    assert tool_score({"arguments": "exact"}, calls).value == 0.0
    assert tool_score({"arguments": "subset"}, calls).value == 0.5
    assert tool_score({"arguments": "ignore"}, calls).value == 1.0
    flag = [{"name": "set", "arguments": {"on": True}}]
    assert tool_score({}, [openai_call("set", {"on": 1})], flag).value == 0.0
    assert tool_score({}, [openai_call("set", {"on": True})], flag).value == 1.0
    assert tool_score({}, [openai_call("set", "{not json")], flag).value == 0.0


def test_tool_call_order() -> None:
    reversed_calls = [
        openai_call("send", {"to": "ada"}),
        openai_call("search", EXPECTED_CALLS[0]["arguments"]),
    ]
    assert tool_score({"order": "any"}, reversed_calls).value == 1.0
    strict = tool_score({"order": "strict"}, reversed_calls)
    assert strict.value == 0.5
    assert strict.detail is not None and strict.detail["matched"] == 1
    interleaved = [reversed_calls[1], openai_call("log", {}), reversed_calls[0]]
    assert tool_score({"order": "strict"}, interleaved).value == 1.0


def test_tool_call_any_order_finds_the_best_matching() -> None:
    # A greedy pass gives the first actual call to the first expected one and scores 0.5.
    expected = [{"name": "f"}, {"name": "f", "arguments": {"x": 1}}]
    calls = [openai_call("f", {"x": 1}), openai_call("f", {"x": 2})]
    assert tool_score({"arguments": "subset"}, calls, expected).value == 1.0


def test_tool_call_expected_forms_and_unmeasured() -> None:
    assert tool_score({}, [], []).value == 1.0
    assert tool_score({}, [openai_call("x", {})], []).value == 0.0
    as_text = json.dumps([{"name": "ping"}])
    assert tool_score({}, [{"name": "ping"}], as_text).value == 1.0
    calls = ({"name": "ping"},)
    ping = Sample(output="", row={"calls": [{"name": "ping"}]}, tool_calls=calls)
    assert as_score(build_scorer({"tool_call_match": {"field": "calls"}}).score(ping)).value == 1.0
    missing = unmeasured("tool_call_match", row={})
    assert missing == "the case has no expected tool calls (row field 'expected_tool_calls')"
    no_name = unmeasured("tool_call_match", row={"expected_tool_calls": [{"arguments": {}}]})
    assert no_name == "expected tool call 0 in 'expected_tool_calls' has no name"
    assert "not a JSON list" in unmeasured("tool_call_match", row={"expected_tool_calls": "ping"})


# --- retrieval --------------------------------------------------------------------------------


def retrieved(*ids: str) -> tuple[Context, ...]:
    return tuple(Context(id=i, text=f"text of {i}") for i in ids)


@pytest.mark.parametrize(
    ("name", "params", "score"),
    [
        ("hit_at_k", {}, 1.0),
        ("hit_at_k", {"k": 2}, 0.0),
        ("mrr", {}, 1 / 3),
        ("mrr", {"k": 2}, 0.0),
        # gold d3 and d5 at ranks 3 and 5; ideal: ranks 1 and 2
        ("ndcg", {}, (1 / 2 + 1 / 2.584962500721156) / (1 + 1 / 1.584962500721156)),
        ("ndcg", {"k": 3}, (1 / 2) / (1 + 1 / 1.584962500721156)),
    ],
)
def test_retrieval_metrics(name: str, params: dict[str, Any], score: float) -> None:
    sample = {
        "row": {"gold_ids": ["d3", "d5"]},
        "contexts": retrieved("d1", "d2", "d3", "d4", "d5"),
    }
    assert value({name: params}, **sample) == pytest.approx(score)


def test_retrieval_perfect_duplicates_and_field() -> None:
    row = {"relevant": "d1"}
    contexts = retrieved("d1", "d1", "d2")
    assert value({"ndcg": {"field": "relevant"}}, row=row, contexts=contexts) == 1.0
    result = run({"mrr": {"field": "relevant", "k": 2}}, row=row, contexts=contexts)
    assert result.detail == {"retrieved": ["d1", "d2"], "gold": ["d1"]}


def test_retrieval_no_contexts_is_a_miss_and_no_gold_is_unmeasured() -> None:
    for name in ("hit_at_k", "mrr", "ndcg"):
        miss = run(name, row={"gold_ids": ["d1"]})
        assert miss.value == 0.0 and miss.reason == "the target retrieved no contexts"
        for row in ({}, {"gold_ids": []}, {"gold_ids": " , "}):
            text = unmeasured(name, row=row, contexts=retrieved("d1"))
            assert text == "the case has no gold ids (row field 'gold_ids')"


@pytest.mark.parametrize(
    ("raw", "ids"),
    [
        (["a", "b", "a"], ["a", "b"]),
        ("a, b ,c", ["a", "b", "c"]),
        ('["a", "b"]', ["a", "b"]),
        ("doc-1", ["doc-1"]),
        (7, ["7"]),
        ([1, 2], ["1", "2"]),
    ],
)
def test_gold_id_forms(raw: Any, ids: list[str]) -> None:
    assert gold_ids(raw) == ids


# --- embeddings (the real offline MiniLM) -----------------------------------------------------


@pytest.fixture(scope="module")
def similarity() -> EmbeddingSimilarity:
    scorer = build_scorer("embedding_similarity")
    assert isinstance(scorer, EmbeddingSimilarity)
    scorer.setup(ScorerEnv(config=Config()))
    return scorer


def test_embedding_similarity_ranks_paraphrase_above_unrelated(
    similarity: EmbeddingSimilarity,
) -> None:
    expected = "A man is eating food."
    same = as_score(similarity.score(Sample(output=expected, expected=expected))).value
    paraphrase = similarity.similarity("A man is eating a piece of bread.", expected)
    unrelated = similarity.similarity("The girl is carrying a baby.", expected)
    assert same == pytest.approx(1.0, abs=1e-4)
    assert 0.0 <= unrelated < paraphrase < same <= 1.0
    assert paraphrase > 0.5 > unrelated


def test_embedding_similarity_async_in_a_thread_with_cached_expected(
    similarity: EmbeddingSimilarity, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert similarity.is_async and similarity.kind == "embedding"
    embedder = similarity._resolve()
    batches: list[list[str]] = []
    threads: set[int] = set()
    original = embedder.embed

    def spy(texts: Any) -> Any:
        batches.append(list(texts))
        threads.add(threading.get_ident())
        return original(texts)

    monkeypatch.setattr(embedder, "embed", spy)

    async def score_all() -> list[Score]:
        samples = [Sample(output=f"answer {i}", expected="Cached gold answer") for i in range(3)]
        return [await similarity.ascore(sample) for sample in samples]

    scores = asyncio.run(score_all())
    assert all(0.0 <= s.value <= 1.0 for s in scores)
    assert batches[0] == ["answer 0", "Cached gold answer"]
    assert batches[1:] == [["answer 1"], ["answer 2"]]
    assert threading.get_ident() not in threads


def test_embedding_similarity_edge_cases(similarity: EmbeddingSimilarity) -> None:
    with pytest.raises(ScorerUnmeasured, match="no expected answer"):
        similarity.score(Sample(output="x"))
    with pytest.raises(ScorerUnmeasured, match="expected answer is empty"):
        similarity.score(Sample(output="x", expected=" "))
    empty = as_score(similarity.score(Sample(output=" ", expected="Paris")))
    assert empty.value == 0.0 and empty.reason == "the output is empty"
    unknown = build_scorer({"embedding_similarity": {"model": "local/nope"}})
    with pytest.raises(ConfigError, match="unknown local embedder"):
        unknown.setup(ScorerEnv(config=Config()))


def test_every_catalog_scorer_is_a_scorer() -> None:
    assert all(
        issubclass(cls, Scorer) and cls.type_name == name for name, cls in SCORER_TYPES.items()
    )


def test_retrieval_at_document_level_counts_a_document_once() -> None:
    from llmops.evals import Context
    from llmops.evals._scoring import as_score

    contexts = (
        Context("a#0", "x", doc_id="a"),
        Context("a#1", "y", doc_id="a"),
        Context("b#0", "z", doc_id="b"),
    )
    sample = Sample(output="", row={"gold_ids": ["b"]}, contexts=contexts)
    chunk = as_score(build_scorer({"mrr": {"level": "chunk"}}).score(sample))
    document = as_score(build_scorer({"mrr": {"level": "document"}}).score(sample))
    assert (chunk.value, document.value) == (0.0, 0.5)
