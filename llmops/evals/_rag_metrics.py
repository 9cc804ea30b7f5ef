"""RAG metrics as Ragas defines them: faithfulness, answer relevancy, context precision, recall.

They read ``sample.input`` (the question), ``sample.output`` (the answer),
``sample.contexts`` (retrieved, in rank order) and ``sample.expected`` (the reference
answer). Per-item verdicts are asked in one judge call returning a list whose length is
checked, not one call per claim or context as Ragas does. Definitions:
https://docs.ragas.io/en/stable/concepts/metrics/available_metrics/
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from llmops.evals._judges import (
    REASONING,
    JudgeParams,
    JudgeReply,
    JudgeScorer,
    _object,
    contexts_block,
    tagged,
)
from llmops.evals._scoring import (
    Sample,
    Score,
    ScorerParams,
    ScorerUnmeasured,
    register_scorer,
)

if TYPE_CHECKING:
    from llmops.rag import Embedder

__all__ = [
    "AnswerRelevancy",
    "ContextPrecision",
    "ContextRecall",
    "Faithfulness",
    "average_precision",
    "split_statements",
]

NO_CONTEXTS = "the target returned no contexts"

STATEMENTS_PROMPT = """Break the answer below into its atomic claims: short, self-contained \
statements of one fact each, with every pronoun replaced by what it refers to. Leave out \
anything that is not a claim (greetings, questions). Give at most {limit} claims.

{material}

Reply with a JSON object: {{"statements": ["<claim>", ...]}}"""

VERDICTS_PROMPT = """{task}

{material}

{items}

Reply with a JSON object holding one verdict per numbered {noun}, in order ({n} in all): \
{{"verdicts": [{{"reason": "<one sentence>", "verdict": "yes" or "no"}}, ...]}}"""

FAITHFULNESS_TASK = (
    "For each numbered statement, answer yes if it can be directly inferred from the context, "
    "no if it cannot (contradicted, or not stated)."
)
PRECISION_TASK = (
    "For each numbered context, answer yes if it was useful in arriving at the reference answer "
    "to the question, no if it was not."
)
RECALL_TASK = (
    "For each numbered statement of the reference answer, answer yes if it can be attributed to "
    "the context, no if it cannot."
)

QUESTIONS_PROMPT = """Write {n} different questions that the answer below answers, and say \
whether the answer is noncommittal: evasive, vague or ambiguous, such as "I don't know" or \
"it depends" (1) or a real answer (0).

{material}

Reply with a JSON object: {{"questions": ["<question>", ...], "noncommittal": 0 or 1}}"""

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
_ABBREVIATION = re.compile(
    r"(?:\b(?i:Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|vs|e\.g|i\.e|Fig|U\.S)|\b[A-Z])\.$"
)


def split_statements(text: str) -> list[str]:
    """Sentences of ``text``: split at end punctuation before a capital or digit, and at
    line breaks; a title or initial ("Dr.", "J.") does not end a sentence."""
    sentences: list[str] = []
    for line in text.splitlines():
        joined = False
        for part in _SENTENCE_END.split(line.strip()):
            if joined and _ABBREVIATION.search(sentences[-1]):
                sentences[-1] = f"{sentences[-1]} {part}"
            elif part:
                sentences.append(part)
                joined = True
    return sentences


def average_precision(relevant: Sequence[bool]) -> float:
    """Ragas context precision: mean of precision@k over the ranks k holding a relevant item.

    ``sum_k (precision@k * v_k) / sum_k v_k``; 0 when nothing is relevant.
    """
    hits, total = 0, 0.0
    for k, is_relevant in enumerate(relevant, 1):
        if is_relevant:
            hits += 1
            total += hits / k
    return total / hits if hits else 0.0


def _with_question(sample: Sample, block: str) -> str:
    return f"{tagged('question', sample.input)}\n{block}" if sample.input else block


def _numbered(tag: str, items: Sequence[str]) -> str:
    return "\n".join(tagged(f"{tag}_{i}", item) for i, item in enumerate(items, 1))


def _verdict_schema(n: int) -> dict[str, Any]:
    item = _object(reason=REASONING, verdict={"type": "string", "enum": ["yes", "no"]})
    return _object(verdicts={"type": "array", "items": item, "minItems": n, "maxItems": n})


def _with(exc: ScorerUnmeasured, **extra: Any) -> ScorerUnmeasured:
    """``exc`` with ``extra`` (what earlier steps found) added to its detail."""
    return ScorerUnmeasured(str(exc), {**(exc.detail or {}), **extra})


class _RagMetric(JudgeScorer):
    kind: ClassVar[str] = "rag"

    def _contexts(self, sample: Sample) -> str:
        if not sample.contexts:
            raise ScorerUnmeasured(NO_CONTEXTS)
        return contexts_block(sample.contexts)

    def _reference(self, sample: Sample) -> str:
        if sample.expected is None or not sample.expected.strip():
            raise ScorerUnmeasured("the case has no expected (reference) answer")
        return sample.expected

    async def _verdicts(
        self, task: str, material: str, noun: str, items: Sequence[str]
    ) -> tuple[list[dict[str, Any]], JudgeReply]:
        prompt = VERDICTS_PROMPT.format(
            task=task,
            material=material,
            items=_numbered(noun, items),
            noun=noun,
            n=len(items),
        )
        reply = await self.ask(prompt, _verdict_schema(len(items)))
        verdicts = [
            {noun: item, "verdict": v["verdict"] == "yes", "reason": v["reason"]}
            for item, v in zip(items, reply.data["verdicts"], strict=True)
        ]
        return verdicts, reply


class FaithfulnessParams(JudgeParams):
    max_claims: int = Field(20, ge=1, le=200)


@register_scorer
class Faithfulness(_RagMetric):
    """Ragas faithfulness: claims of the answer supported by the retrieved context / all claims.

    An LLM breaks the answer into atomic claims, then judges each claim against the
    contexts (yes: it can be directly inferred). An answer without claims is unmeasured.
    """

    type_name: ClassVar[str] = "faithfulness"
    Params = FaithfulnessParams
    params: FaithfulnessParams

    async def ascore(self, sample: Sample) -> Score:
        params = self.params
        context = self._contexts(sample)
        if not sample.output.strip():
            raise ScorerUnmeasured("the answer is empty")
        material = _with_question(sample, tagged("answer", sample.output))
        claim_schema = {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "maxItems": params.max_claims,
        }
        extracted = await self.ask(
            STATEMENTS_PROMPT.format(limit=params.max_claims, material=material),
            _object(statements=claim_schema),
        )
        claims = [str(claim) for claim in extracted.data["statements"]]
        if not claims:
            raise ScorerUnmeasured(
                "the judge found no claims in the answer", extracted.detail(claims=[])
            )
        try:
            verdicts, reply = await self._verdicts(
                FAITHFULNESS_TASK, tagged("context", context), "statement", claims
            )
        except ScorerUnmeasured as exc:
            raise _with(exc, claims=claims, claims_raw=list(extracted.raw)) from None
        supported = sum(v["verdict"] for v in verdicts)
        detail = reply.detail(claims=verdicts, claims_raw=list(extracted.raw))
        return Score(
            supported / len(claims), f"{supported} of {len(claims)} claims supported", detail
        )


class AnswerRelevancyParams(JudgeParams):
    questions: int = Field(3, ge=1, le=10, description="questions generated (Ragas strictness)")
    embedding_model: str = "local/minilm"


@register_scorer
class AnswerRelevancy(_RagMetric):
    """Ragas answer (response) relevancy: mean cosine similarity of the question to N
    questions an LLM writes for the answer, clipped to [0, 1]; 0 for a noncommittal answer.

    Ragas samples the N questions from N generations; at temperature 0 those would be equal,
    so one call asks for N different questions.
    """

    type_name: ClassVar[str] = "answer_relevancy"
    Params = AnswerRelevancyParams
    params: AnswerRelevancyParams

    def __init__(self, params: ScorerParams | None = None, *, name: str | None = None) -> None:
        super().__init__(params, name=name)
        self._embedder: Embedder | None = None  # found on first use, loaded lazily

    def _embed(self, texts: list[str]) -> Any:
        # lazy: keeps import llmops light
        from llmops.rag import get_embedder

        params = self.params
        if self._embedder is None:
            self._embedder = get_embedder(params.embedding_model)
        return self._embedder.embed(texts)

    async def ascore(self, sample: Sample) -> Score:
        params = self.params
        if not sample.input:
            raise ScorerUnmeasured("the case has no question (input)")
        n = params.questions
        questions = {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "minItems": n,
            "maxItems": n,
        }
        schema = _object(questions=questions, noncommittal={"type": "integer", "enum": [0, 1]})
        prompt = QUESTIONS_PROMPT.format(n=n, material=tagged("answer", sample.output))
        reply = await self.ask(prompt, schema)
        generated = [str(q) for q in reply.data["questions"]]
        vectors = await asyncio.to_thread(self._embed, [sample.input, *generated])
        similarities = [float(vectors[0] @ vector) for vector in vectors[1:]]
        noncommittal = bool(reply.data["noncommittal"])
        mean = sum(similarities) / len(similarities)
        value = 0.0 if noncommittal else min(1.0, max(0.0, mean))
        detail = reply.detail(
            questions=generated, similarities=similarities, noncommittal=noncommittal
        )
        reason = "noncommittal answer" if noncommittal else f"mean cosine similarity {mean:.3f}"
        return Score(value, reason, detail)


@register_scorer
class ContextPrecision(_RagMetric):
    """Ragas context precision (with reference): for each retrieved context in rank order, is
    it useful for reaching the reference answer (v_k)? Score = sum_k(precision@k * v_k) /
    number of useful contexts; 0 when none is useful.
    """

    type_name: ClassVar[str] = "context_precision"

    async def ascore(self, sample: Sample) -> Score:
        if not sample.contexts:
            raise ScorerUnmeasured(NO_CONTEXTS)
        reference = self._reference(sample)
        material = _with_question(sample, tagged("reference_answer", reference))
        texts = [context.text for context in sample.contexts]
        verdicts, reply = await self._verdicts(PRECISION_TASK, material, "context", texts)
        for verdict, context in zip(verdicts, sample.contexts, strict=True):
            verdict["context"] = context.id
        relevant = [bool(v["verdict"]) for v in verdicts]
        value = average_precision(relevant)
        reason = f"{sum(relevant)} of {len(relevant)} contexts useful"
        return Score(value, reason, reply.detail(contexts=verdicts))


@register_scorer
class ContextRecall(_RagMetric):
    """Ragas context recall: statements (sentences) of the reference answer attributable to the
    retrieved contexts / all its statements. Sentences are split here, not by the LLM.
    """

    type_name: ClassVar[str] = "context_recall"

    async def ascore(self, sample: Sample) -> Score:
        context = self._contexts(sample)
        statements = split_statements(self._reference(sample))
        if not statements:
            raise ScorerUnmeasured("the reference answer has no statements")
        material = _with_question(sample, tagged("context", context))
        verdicts, reply = await self._verdicts(RECALL_TASK, material, "statement", statements)
        attributed = sum(v["verdict"] for v in verdicts)
        reason = f"{attributed} of {len(statements)} reference statements attributed"
        return Score(attributed / len(statements), reason, reply.detail(statements=verdicts))
