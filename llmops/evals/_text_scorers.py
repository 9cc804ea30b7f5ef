"""Deterministic scorers: patterns, JSON, overlap with the expected answer, budgets, tool calls.

``bleu`` is sacrebleu's sentence BLEU (the reference implementation, imported on first use,
about 75 ms; it adds no network or data download). ``rouge_l`` is written here: rouge-score
pulls in nltk and absl-py (about 0.35 s to import) for a 20-line algorithm, has had no release
since 2022 and drops every non-ASCII letter. This one tokenizes as rouge-score does (lower case,
runs of letters and digits, no stemming) but keeps all Unicode letters, so ASCII text scores
exactly as with rouge-score.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

from pydantic import (
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from llmops._exceptions import LlmopsError
from llmops._yaml import parse_yaml
from llmops.evals._scorers import reference
from llmops.evals._scoring import (
    Sample,
    Score,
    Scorer,
    ScorerParams,
    ScorerUnmeasured,
    register_scorer,
)

if TYPE_CHECKING:
    from sacrebleu.metrics.bleu import BLEU

__all__ = ["lcs_length", "parse_json_output", "rouge_l"]

_WORD = re.compile(r"[^\W_]+")


def _expected_text(sample: Sample) -> str:
    expected = reference(sample.expected)
    if not expected.strip():
        raise ScorerUnmeasured("the expected answer is empty")
    return expected


# --- regex -----------------------------------------------------------------------------------


class RegexParams(ScorerParams):
    """``pattern`` must be found in (``search``) or match all of (``fullmatch``) the output."""

    pattern: str
    match: Literal["search", "fullmatch"] = "search"
    ignore_case: bool = False
    multiline: bool = False
    dotall: bool = False
    strip: bool = True  # drop surrounding whitespace from the output first

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return value


@register_scorer
class Regex(Scorer):
    """1 when the output matches the pattern."""

    type_name: ClassVar[str] = "regex"
    Params = RegexParams
    params: RegexParams

    def __init__(self, params: RegexParams, *, name: str | None = None) -> None:
        super().__init__(params, name=name)
        flags = (
            (re.IGNORECASE if params.ignore_case else 0)
            | (re.MULTILINE if params.multiline else 0)
            | (re.DOTALL if params.dotall else 0)
        )
        self._regex = re.compile(params.pattern, flags)

    def score(self, sample: Sample) -> Score:
        text = sample.output.strip() if self.params.strip else sample.output
        found = getattr(self._regex, self.params.match)(text)
        if found:
            return Score(1.0)
        return Score(0.0, reason=f"no {self.params.match} for {self.params.pattern!r}")


# --- JSON ------------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    """The Markdown code blocks in ``text``: (info string in lower case, body)."""
    blocks: list[tuple[str, str]] = []
    info: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if info is None and stripped.startswith("```"):
            info, body = stripped[3:].strip().lower(), []
        elif info is not None and stripped.startswith("```"):
            blocks.append((info, "\n".join(body)))
            info = None
        elif info is not None:
            body.append(line)
    return blocks


def parse_json_output(output: str, *, fenced: bool = False) -> Any:
    """The output parsed as strict JSON (no NaN); ``ValueError`` says why it is not.

    With ``fenced``, the first ```json block (else the first bare ``` block) is parsed when the
    output has one, the whole output otherwise.
    """
    text = output
    if fenced:
        blocks = _fenced_blocks(output)
        for wanted in ("json", ""):
            body = next((b for info, b in blocks if info == wanted), None)
            if body is not None:
                text = body
                break
    if not text.strip():
        raise ValueError("the output is empty")
    return json.loads(text, parse_constant=_reject_constant)


class JsonValidParams(ScorerParams):
    """``fenced``: parse the first ```json block when the output has one."""

    fenced: bool = False


@register_scorer
class JsonValid(Scorer):
    """1 when the output is valid JSON."""

    type_name: ClassVar[str] = "json_valid"
    Params = JsonValidParams
    params: JsonValidParams

    def score(self, sample: Sample) -> Score:
        try:
            parse_json_output(sample.output, fenced=self.params.fenced)
        except ValueError as exc:
            return Score(0.0, reason=f"not JSON: {exc}")
        return Score(1.0)


class JsonSchemaParams(ScorerParams):
    """A JSON schema, inline (``schema``) or in a JSON or YAML file (``schema_file``).

    A relative ``schema_file`` is read from the validation context's ``root`` when given,
    else from the working directory.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True)

    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    schema_file: str | None = None
    fenced: bool = False
    check_formats: bool = False
    _schema: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _load(self, info: ValidationInfo) -> Self:
        if (self.schema_ is None) == (self.schema_file is None):
            raise ValueError("give either schema (a mapping) or schema_file (a path)")
        schema = self.schema_ if self.schema_ is not None else self._read(info)
        from jsonschema import SchemaError, validators

        try:
            validators.validator_for(schema).check_schema(schema)
        except SchemaError as exc:
            where = "/".join(str(part) for part in exc.absolute_path) or "(root)"
            raise ValueError(f"invalid JSON schema at {where}: {exc.message}") from None
        self._schema = schema
        return self

    def _read(self, info: ValidationInfo) -> dict[str, Any]:
        path = Path(str(self.schema_file))
        root = info.context.get("root") if isinstance(info.context, Mapping) else None
        if not path.is_absolute() and root is not None:
            path = Path(root) / path
        try:  # YAML through the one loader, whose alias and size limits apply here too
            text = path.read_text(encoding="utf-8")
            schema = (
                json.loads(text) if path.suffix == ".json" else parse_yaml(text, str(path)).data
            )
        except (OSError, ValueError, LlmopsError) as exc:
            raise ValueError(f"cannot read schema_file {str(path)!r}: {exc}") from None
        if not isinstance(schema, dict):
            raise ValueError(f"schema_file {str(path)!r} does not hold a mapping")
        return schema

    @property
    def loaded_schema(self) -> dict[str, Any]:
        """The schema, inline or read from its file."""
        return self._schema


@register_scorer
class JsonSchema(Scorer):
    """1 when the output is JSON valid against the schema; the reason names the error."""

    type_name: ClassVar[str] = "json_schema"
    Params = JsonSchemaParams
    params: JsonSchemaParams

    def __init__(self, params: JsonSchemaParams, *, name: str | None = None) -> None:
        super().__init__(params, name=name)
        from jsonschema import validators

        schema = params.loaded_schema
        cls = validators.validator_for(schema)
        checker = cls.FORMAT_CHECKER if params.check_formats else None
        self._validator = cls(schema, format_checker=checker)

    def describe(self) -> dict[str, Any]:
        """Parameters with the schema itself, also when it was read from a file."""
        return {**super().describe(), "schema": self.params.loaded_schema}

    def score(self, sample: Sample) -> Score:
        from jsonschema.exceptions import best_match

        try:
            value = parse_json_output(sample.output, fenced=self.params.fenced)
        except ValueError as exc:
            return Score(0.0, reason=f"not JSON: {exc}")
        errors = list(self._validator.iter_errors(value))
        if not errors:
            return Score(1.0)
        error = best_match(errors)
        where = "/".join(str(part) for part in error.absolute_path) or "(root)"
        return Score(
            0.0,
            reason=f"at {where}: {error.message}"[:500],
            detail={"errors": len(errors), "path": where, "validator": str(error.validator)},
        )


# --- overlap with the expected answer ---------------------------------------------------------


class BleuParams(ScorerParams):
    """sacrebleu's tokenizer, case folding and smoothing (its sentence-level defaults)."""

    tokenize: Literal["13a", "intl", "char", "zh", "none"] = "13a"
    lowercase: bool = False
    smooth: Literal["exp", "floor", "add-k", "none"] = "exp"


@register_scorer
class Bleu(Scorer):
    """Sentence BLEU of the output against the expected answer, in [0, 1]."""

    type_name: ClassVar[str] = "bleu"
    Params = BleuParams
    params: BleuParams

    @cached_property
    def _bleu(self) -> BLEU:
        from sacrebleu.metrics.bleu import BLEU

        return BLEU(
            tokenize=self.params.tokenize,
            lowercase=self.params.lowercase,
            smooth_method=self.params.smooth,
            effective_order=True,
        )

    def score(self, sample: Sample) -> float:
        expected = _expected_text(sample)
        value = self._bleu.sentence_score(sample.output, [expected]).score / 100
        return min(max(value, 0.0), 1.0)


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence (bit-parallel, Crochemore et al. 2001)."""
    masks: dict[str, int] = {}
    for position, token in enumerate(a):
        masks[token] = masks.get(token, 0) | (1 << position)
    full = (1 << len(a)) - 1
    row = full
    for token in b:
        matches = row & masks.get(token, 0)
        row = ((row + matches) | (row - matches)) & full
    return len(a) - row.bit_count()


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def rouge_l(output: str, expected: str | None) -> Score:
    """ROUGE-L F-measure (precision and recall in the detail)."""
    gold = _words(reference(expected))
    if not gold:
        raise ScorerUnmeasured("the expected answer has no words")
    predicted = _words(output)
    if not predicted:
        return Score(0.0, reason="the output has no words")
    common = lcs_length(gold, predicted)
    precision, recall = common / len(predicted), common / len(gold)
    value = 0.0 if common == 0 else 2 * precision * recall / (precision + recall)
    return Score(value, detail={"precision": precision, "recall": recall})


@register_scorer
class RougeL(Scorer):
    """ROUGE-L F-measure of the output against the expected answer."""

    type_name: ClassVar[str] = "rouge_l"

    def score(self, sample: Sample) -> Score:
        return rouge_l(sample.output, sample.expected)


# --- budgets ---------------------------------------------------------------------------------


class LengthParams(ScorerParams):
    """Bounds on characters (surrounding whitespace excluded) and on words; give at least one."""

    min_chars: int | None = Field(default=None, ge=0)
    max_chars: int | None = Field(default=None, ge=0)
    min_words: int | None = Field(default=None, ge=0)
    max_words: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if all(v is None for v in (self.min_chars, self.max_chars, self.min_words, self.max_words)):
            raise ValueError("give at least one of min_chars, max_chars, min_words, max_words")
        for unit in ("chars", "words"):
            low, high = getattr(self, f"min_{unit}"), getattr(self, f"max_{unit}")
            if low is not None and high is not None and low > high:
                raise ValueError(f"min_{unit} ({low}) is greater than max_{unit} ({high})")
        return self


@register_scorer
class Length(Scorer):
    """1 when the output's length is within the bounds."""

    type_name: ClassVar[str] = "length"
    Params = LengthParams
    params: LengthParams

    def score(self, sample: Sample) -> Score:
        sizes = {"chars": len(sample.output.strip()), "words": len(sample.output.split())}
        for unit, size in sizes.items():
            low, high = getattr(self.params, f"min_{unit}"), getattr(self.params, f"max_{unit}")
            if low is not None and size < low:
                return Score(0.0, reason=f"{size} {unit}, fewer than min_{unit} {low}")
            if high is not None and size > high:
                return Score(0.0, reason=f"{size} {unit}, more than max_{unit} {high}")
        return Score(1.0)


class LatencyParams(ScorerParams):
    """The slowest acceptable answer, in milliseconds."""

    max_ms: float = Field(gt=0)


@register_scorer
class Latency(Scorer):
    """1 when the target answered within ``max_ms`` milliseconds."""

    type_name: ClassVar[str] = "latency"
    Params = LatencyParams
    params: LatencyParams

    def score(self, sample: Sample) -> Score:
        if sample.latency_ms is None:
            raise ScorerUnmeasured("the latency of this case is unknown")
        if sample.latency_ms <= self.params.max_ms:
            return Score(1.0)
        return Score(0.0, reason=f"{sample.latency_ms:.0f} ms > max_ms {self.params.max_ms:g}")


class CostParams(ScorerParams):
    """The most a case may cost, in US dollars."""

    max_usd: float = Field(ge=0)


@register_scorer
class Cost(Scorer):
    """1 when the case cost at most ``max_usd`` dollars."""

    type_name: ClassVar[str] = "cost"
    Params = CostParams
    params: CostParams

    def score(self, sample: Sample) -> Score:
        if sample.cost_usd is None:
            raise ScorerUnmeasured("the cost of this case is unknown (no price for the model)")
        if sample.cost_usd <= self.params.max_usd:
            return Score(1.0)
        return Score(0.0, reason=f"${sample.cost_usd:.6g} > max_usd ${self.params.max_usd:g}")


# --- tool calls ------------------------------------------------------------------------------

_Call = tuple[str, Any]  # name, arguments (parsed when they are JSON text)


def _arguments(value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _call(value: Any) -> _Call | None:
    """``{"function": {"name", "arguments"}}`` (OpenAI) or ``{"name", "arguments"}``."""
    if not isinstance(value, Mapping):
        return None
    function = value.get("function")
    source = function if isinstance(function, Mapping) else value
    name = source.get("name")
    if not isinstance(name, str) or not name:
        return None
    return name, _arguments(source.get("arguments"))


def _expected_calls(value: Any, field: str) -> list[_Call]:
    if value is None:
        raise ScorerUnmeasured(f"the case has no expected tool calls (row field '{field}')")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ScorerUnmeasured(f"row field '{field}' is not a JSON list of calls") from None
    if not isinstance(value, list | tuple):
        raise ScorerUnmeasured(f"row field '{field}' is not a list of calls")
    calls = [_call(item) for item in value]
    for index, found in enumerate(calls):
        if found is None:
            raise ScorerUnmeasured(f"expected tool call {index} in '{field}' has no name")
    return [c for c in calls if c is not None]


def _json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values where ``true`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and bool(a == b)


def _json_subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        return all(k in actual and _json_subset(v, actual[k]) for k, v in expected.items())
    return _json_equal(expected, actual)


def _in_order(ok: list[list[bool]]) -> list[tuple[int, int]]:
    """The most pairs (expected, actual) that match with both sides in order (an LCS)."""
    n, m = len(ok), len(ok[0]) if ok else 0
    best = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            best[i][j] = max(best[i + 1][j], best[i][j + 1], best[i + 1][j + 1] + ok[i][j])
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if ok[i][j] and best[i][j] == best[i + 1][j + 1] + 1:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif best[i + 1][j] >= best[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def _any_order(ok: list[list[bool]]) -> list[tuple[int, int]]:
    """A maximum matching of expected to actual calls (augmenting paths)."""
    owner: dict[int, int] = {}  # actual -> expected

    def augment(e: int, seen: set[int]) -> bool:
        for a, good in enumerate(ok[e]):
            if good and a not in seen:
                seen.add(a)
                if a not in owner or augment(owner[a], seen):
                    owner[a] = e
                    return True
        return False

    for e in range(len(ok)):
        augment(e, set())
    return sorted((e, a) for a, e in owner.items())


def _show(call: _Call) -> dict[str, Any]:
    return {"name": call[0], "arguments": call[1]}


class ToolCallMatchParams(ScorerParams):
    """Expected calls in row ``field``; ``order: strict`` keeps their order; ``arguments``:
    ``subset`` needs the expected keys (nested mappings too) with equal values, ``ignore``
    compares names only."""

    field: str = Field(default="expected_tool_calls", min_length=1)
    order: Literal["strict", "any"] = "any"
    arguments: Literal["exact", "subset", "ignore"] = "exact"


@register_scorer
class ToolCallMatch(Scorer):
    """Fraction of the expected tool calls the target made; the detail lists the differences.

    Extra calls do not lower the score (they are listed as unexpected). An empty expected
    list means "no call": 1 when the target made none, else 0.
    """

    type_name: ClassVar[str] = "tool_call_match"
    Params = ToolCallMatchParams
    params: ToolCallMatchParams

    def _matches(self, expected: _Call, actual: _Call) -> bool:
        if expected[0] != actual[0]:
            return False
        if self.params.arguments == "ignore":
            return True
        if self.params.arguments == "subset":
            return _json_subset(expected[1], actual[1])
        return _json_equal(expected[1], actual[1])

    def score(self, sample: Sample) -> Score:
        expected = _expected_calls(sample.row.get(self.params.field), self.params.field)
        actual = [_call(c) or ("", _arguments(None)) for c in sample.tool_calls]
        ok = [[self._matches(e, a) for a in actual] for e in expected]
        pairs = _in_order(ok) if self.params.order == "strict" else _any_order(ok)
        matched_e, matched_a = {e for e, _ in pairs}, {a for _, a in pairs}
        missing = [_show(c) for i, c in enumerate(expected) if i not in matched_e]
        unexpected = [_show(c) for i, c in enumerate(actual) if i not in matched_a]
        detail = {"matched": len(pairs), "missing": missing, "unexpected": unexpected}
        value = len(pairs) / len(expected) if expected else float(not actual)
        parts = [f"{len(pairs)} of {len(expected)} expected tool calls matched"]
        if missing:
            parts.append("missing: " + ", ".join(c["name"] for c in missing))
        if unexpected:
            parts.append("unexpected: " + ", ".join(c["name"] or "?" for c in unexpected))
        reason = "; ".join(parts) if missing or unexpected else None
        return Score(value, reason=reason, detail=detail)
