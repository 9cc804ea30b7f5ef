"""What every scorer shares: the sample it scores, the score it returns, its registry.

A scorer sees a :class:`Sample` (the target's output with the dataset row, retrieved
contexts, tool calls, latency and cost) and returns a :class:`Score` in [0, 1] with an
optional reason and detail (a judge's raw output, the claims it checked...). It raises
:class:`ScorerUnmeasured` when it cannot score a case: the case is then "unmeasured, with
reason", excluded from the mean and counted, never scored 0 or NaN silently.

Suites name scorers by type, with parameters::

    scorers:
      - exact_match
      - regex: {pattern: "^[0-9]+$", name: is_number, threshold: 0.9}
      - python: my_project.scorers:brevity
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from llmops._plugins import load_plugin, plugin_names, wrong_kind

if TYPE_CHECKING:
    from llmops.config import Config
    from llmops.llm import ResponseCache
    from llmops.store import Store

__all__ = [
    "SCORER_TYPES",
    "Context",
    "FunctionScorer",
    "Sample",
    "Score",
    "Scorer",
    "ScorerEnv",
    "ScorerParams",
    "ScorerUnmeasured",
    "build_scorer",
    "register_scorer",
    "scorer",
]


class ScorerUnmeasured(Exception):
    """A scorer could not measure this case; the message says why.

    ``detail`` keeps what the scorer saw (a judge's unparsable raw output...) so it is stored.
    """

    def __init__(self, message: str, detail: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.detail = detail


@dataclass(frozen=True)
class Context:
    """A retrieved passage the target used: its id, text, retrieval score and source document."""

    id: str
    text: str
    score: float | None = None
    doc_id: str | None = None


@dataclass(frozen=True)
class Sample:
    """Everything a scorer may look at for one case."""

    output: str
    expected: str | None = None
    input: str | None = None
    row: Mapping[str, Any] = field(default_factory=dict)
    contexts: tuple[Context, ...] = ()
    tool_calls: tuple[Mapping[str, Any], ...] = ()
    latency_ms: float | None = None
    cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True)
class Score:
    """A value in [0, 1], why, and what the scorer saw (a judge's raw output...)."""

    value: float
    reason: str | None = None
    detail: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ScorerEnv:
    """What scorers may need from the run: the configuration (models), the store, and the
    run's response cache (judges reuse identical earlier verdicts through it)."""

    config: Config
    store: Store | None = None
    cache: ResponseCache | None = None


class ScorerParams(BaseModel):
    """Parameters of a scorer type; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Scorer:
    """Base of every scorer. Subclasses set ``type_name`` and implement ``score`` or ``ascore``.

    ``kind`` groups scorers in listings: deterministic, embedding, judge, rag, retrieval or
    custom. ``Params`` validates the suite's parameters.
    """

    type_name: ClassVar[str] = ""
    kind: ClassVar[str] = "deterministic"
    Params: ClassVar[type[ScorerParams]] = ScorerParams

    def __init__(self, params: ScorerParams | None = None, *, name: str | None = None) -> None:
        self.params = params if params is not None else self.Params()
        self.name = name or self.type_name

    def setup(self, env: ScorerEnv) -> None:
        """Called once before a run; judges resolve their model here."""

    def score(self, sample: Sample) -> Score | float:
        """Score one sample (synchronous scorers implement this)."""
        raise NotImplementedError(f"{type(self).__name__} implements neither score nor ascore")

    async def ascore(self, sample: Sample) -> Score:
        """Score one sample (scorers that call models implement this)."""
        return as_score(self.score(sample))

    @property
    def is_async(self) -> bool:
        """True when the scorer overrides ``ascore`` (it awaits something)."""
        return type(self).ascore is not Scorer.ascore

    def describe(self) -> dict[str, Any]:
        """Type and parameters, as stored with a run."""
        return {"type": self.type_name, **self.params.model_dump(mode="json")}


def as_score(value: Score | float | bool) -> Score:
    """A scorer's return value as a :class:`Score`."""
    if isinstance(value, Score):
        return value
    return Score(float(value))


SCORER_TYPES: dict[str, type[Scorer]] = {}

S = TypeVar("S", bound=type[Scorer])


def register_scorer(cls: S) -> S:
    """Class decorator: make a scorer type available by its ``type_name`` in suites."""
    if not cls.type_name:
        raise ValueError(f"{cls.__name__} has no type_name")
    SCORER_TYPES[cls.type_name] = cls
    return cls


class FunctionScorer(Scorer):
    """A plain function as a scorer: ``f(output, expected)`` or ``f(sample)``, sync or async."""

    kind: ClassVar[str] = "custom"

    def __init__(self, function: Callable[..., object], *, name: str | None = None) -> None:
        super().__init__(name=name or getattr(function, "__name__", "custom"))
        # sync or async: what it returns is checked by as_score after the call
        self.function: Callable[..., Any] = function
        parameters = [
            p
            for p in inspect.signature(function).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        self._takes_sample = len(parameters) == 1
        self._awaits = inspect.iscoroutinefunction(function)

    def _call(self, sample: Sample) -> Any:
        if self._takes_sample:
            return self.function(sample)
        return self.function(sample.output, sample.expected)

    def score(self, sample: Sample) -> Score | float:
        return as_score(self._call(sample))

    async def ascore(self, sample: Sample) -> Score:
        value = self._call(sample)
        if self._awaits:
            value = await value
        return as_score(value)

    @property
    def is_async(self) -> bool:
        return self._awaits

    def describe(self) -> dict[str, Any]:
        function = self.function
        return {"type": "python", "function": f"{function.__module__}:{function.__qualname__}"}


def scorer(
    name: str | None = None,
) -> Callable[[Callable[..., float | Score | Awaitable[float | Score]]], FunctionScorer]:
    """Decorator: turn ``f(output, expected)`` or ``f(sample)`` into a named scorer.

    The returned object is a :class:`Scorer`; pass it to ``llmops.evaluate`` or name its
    ``module:function`` in a suite.
    """

    def wrap(function: Callable[..., Any]) -> FunctionScorer:
        return FunctionScorer(function, name=name)

    return wrap


@contextlib.contextmanager
def _on_path(root: Path | None) -> Iterator[None]:
    """The suite's folder first on ``sys.path`` for the import only (with the modules beside
    it), then removed: the library leaves the app's import path as it found it."""
    folder = None if root is None else str(root)
    if folder is None or folder in sys.path:
        yield
        return
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)


def _import_function(path: str, root: Path | None) -> Callable[..., Any]:
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"'{path}' is not of the form module:function")
    try:
        with _on_path(root):
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module '{module_name}': {exc}") from None
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ValueError(f"module '{module_name}' has no attribute '{attribute}'")
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"'{path}' is not callable")
    return target  # type: ignore[no-any-return]


def _python_scorer(path: str, name: str | None, root: Path | None) -> Scorer:
    function = _import_function(path, root)
    if isinstance(function, Scorer):
        if name:
            function.name = name
        return function
    return FunctionScorer(function, name=name or path.rpartition(":")[2].rpartition(".")[2])


def build_scorer(item: str | Mapping[str, Any], *, root: Path | None = None) -> Scorer:
    """A scorer from a suite entry: ``type``, ``{type: {params}}``, ``mod:fn``, ``{python: ...}``.

    Raises ``ValueError`` with a message fit for the user (the suite loader adds file and
    line). ``threshold`` inside the parameters is read by the suite, not the scorer.
    """
    if isinstance(item, str):
        if ":" in item:
            return _python_scorer(item, None, root)
        type_name, raw = item, dict[str, Any]()
    elif isinstance(item, Mapping) and len(item) == 1:
        type_name, raw = next(iter(item.items()))
        if raw is None:
            raw = {}
        if type_name == "python" and isinstance(raw, str):
            return _python_scorer(raw, None, root)
        if not isinstance(raw, Mapping):
            raise ValueError(f"the parameters of scorer '{type_name}' must be a mapping")
    elif isinstance(item, Mapping) and "python" in item:
        extra = set(item) - {"python", "name", "threshold"}
        if extra:
            raise ValueError(f"unknown keys for a python scorer: {', '.join(sorted(extra))}")
        return _python_scorer(str(item["python"]), item.get("name"), root)
    else:
        raise ValueError(
            "a scorer is a name ('exact_match') or a one-key mapping ({regex: {pattern: ...}})"
        )
    params = {k: v for k, v in raw.items() if k not in ("name", "threshold")}
    name = raw.get("name")
    if type_name == "python":
        if set(params) != {"function"}:
            raise ValueError("a python scorer takes 'function: module:function' (and 'name')")
        return _python_scorer(str(params["function"]), name, root)
    cls = SCORER_TYPES.get(str(type_name))
    if cls is None:
        plugin = _plugin_scorer(str(type_name))
        if plugin is None:
            known = ", ".join(sorted({*SCORER_TYPES, "python", *plugin_names("llmops.scorers")}))
            raise ValueError(f"unknown scorer '{type_name}'; known scorers: {known}")
        if not isinstance(plugin, type):
            if params:
                raise ValueError(f"scorer '{type_name}' is a function: it takes no parameters")
            return FunctionScorer(plugin, name=str(name) if name else str(type_name))
        cls = plugin
    try:
        validated = cls.Params.model_validate(params, context={"root": root})
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        raise ValueError(
            f"scorer '{type_name}': {where + ': ' if where else ''}{message}"
        ) from None
    return cls(validated, name=str(name) if name else None)


def _plugin_scorer(type_name: str) -> type[Scorer] | Callable[..., object] | None:
    """What an installed plugin registers as ``type_name`` (``llmops.scorers``), if anything:
    a :class:`Scorer` subclass (registered like a built-in type from now on) or a function
    ``f(output, expected)`` / ``f(sample)``."""
    found = load_plugin("llmops.scorers", type_name)
    if found is None:
        return None
    if isinstance(found, type) and issubclass(found, Scorer):
        return SCORER_TYPES.setdefault(type_name, found)
    if isinstance(found, type | Scorer) or not callable(found):
        raise wrong_kind("llmops.scorers", type_name, "a Scorer subclass or a function")
    return found


def scorer_threshold(item: str | Mapping[str, Any]) -> float | None:
    """The ``threshold`` written inside a scorer entry, if any."""
    if isinstance(item, Mapping):
        if "python" in item and len(item) > 1:
            value = item.get("threshold")
        else:
            raw = next(iter(item.values())) if len(item) == 1 else None
            value = raw.get("threshold") if isinstance(raw, Mapping) else None
        if value is not None:
            return float(value)
    return None
