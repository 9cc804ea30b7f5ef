"""The Jinja2 sandbox prompt templates render in, bounded in CPU, memory and recursion.

Jinja's immutable sandbox stops templates reaching Python internals, but not running away:
``{% for %}`` over big ranges nested, ``'x'|center(10**9)``, a string doubled in a loop,
a macro calling itself twice per level. Every render here gets one :class:`Budget`:

- **steps**: loop iterations (every ``{% for %}``, over anything), calls, filters, tests and
  the items or kilo-characters they work through. A loop body or macro charges its size (in
  syntax nodes) each time it runs, so no template does more work than its steps allow.
- **size**: a value the template builds (by an operator, ``~``, a filter or a call) holds at
  most ``MAX_VALUE`` characters or items, counted through nested lists; operations that could
  build more in one go (padding, ``replace``, ``join``, ``%``, ``format``, ``*``) are checked
  before they run. Widths and precisions are at most ``MAX_WIDTH``.
- **emitted**: every ``{{ ... }}`` and the literal text of every loop iteration counts the
  characters it emits, captured blocks and macro bodies included; the rendered text itself
  stops at ``MAX_OUTPUT``.
- **depth**: calls (macros, ``loop()``, ``caller()``, blocks) nest at most ``MAX_DEPTH`` deep.

Each limit raises :class:`LimitError`, a Jinja ``SecurityError``, which the renderer turns into
a ``TemplateError`` naming the template.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from functools import wraps
from typing import Any, cast

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame, operators, optimizeconst
from jinja2.exceptions import SecurityError
from jinja2.runtime import LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter, safe_range
from jinja2.utils import _PassArg, generate_lorem_ipsum
from jinja2.visitor import NodeTransformer
from markupsafe import EscapeFormatter, Markup

__all__ = [
    "MAX_DEPTH",
    "MAX_OUTPUT",
    "MAX_STEPS",
    "MAX_VALUE",
    "MAX_WIDTH",
    "Budget",
    "LimitError",
    "Sandbox",
    "budget_scope",
]

#: Steps one render may take: loop iterations, calls, filters, and the items (or thousands of
#: characters) they work through. About half a second of CPU at most.
MAX_STEPS = 400_000
#: Characters or items in one value a template builds (a prompt is far smaller).
MAX_VALUE = 2_000_000
#: Characters one render returns, all messages of a chat template together.
MAX_OUTPUT = 2_000_000
#: Characters emitted anywhere (blocks captured by ``set``, macro bodies, loops), all together.
MAX_EMITTED = 5 * MAX_OUTPUT
#: The widest padding, indent, field width or precision (``center``, ``'%9999s'``, ``{:>9999}``).
MAX_WIDTH = 10_000
#: How deep calls may nest: recursive macros, ``loop(...)`` in a recursive for, blocks.
MAX_DEPTH = 100
#: The most bits ``**`` may build.
MAX_POWER_BITS = 100_000
#: ``lipsum(n, ..., max=...)``: at most this many words.
MAX_LIPSUM_WORDS = 100_000
#: Characters of string work that count as one step (a C-speed scan of 1,000 characters costs
#: about what one loop iteration does).
_CHARS_PER_STEP = 1_000
#: A macro call costs this many steps (Jinja spends about twenty times a loop iteration on one).
_MACRO_STEPS = 20
#: A loop body or macro body costs one step per this many syntax nodes, each time it runs.
_NODES_PER_STEP = 4


class LimitError(SecurityError):
    """A template went over one of its render limits."""


class Budget:
    """What one render may still spend; see the module docstring."""

    __slots__ = ("depth", "emitted", "output", "steps")

    def __init__(self) -> None:
        self.steps = MAX_STEPS
        self.emitted = MAX_EMITTED
        self.output = MAX_OUTPUT
        self.depth = 0

    def step(self, count: int = 1) -> None:
        self.steps -= count
        if self.steps < 0:
            raise LimitError(f"template ran over {MAX_STEPS:,} steps (loops, calls, filters)")

    def emit(self, chars: int) -> None:
        self.emitted -= chars
        if self.emitted < 0:
            raise LimitError(f"template emitted over {MAX_EMITTED:,} characters")

    def iterate(self, values: Iterable[Any], steps: int = 1, chars: int = 0) -> Iterator[Any]:
        """``values``, each item costing ``steps`` and emitting ``chars``."""
        for value in values:
            self.steps -= steps
            self.emitted -= chars
            if self.steps < 0 or self.emitted < 0:
                self.step(0)
                self.emit(0)
            yield value


_current: ContextVar[Budget | None] = ContextVar("llmops_template_budget", default=None)


def budget() -> Budget:
    """The running render's budget; outside a render (constant folding while compiling) a
    fresh one, so a folded expression is held to the same limits."""
    return _current.get() or Budget()


class budget_scope:  # a context manager, named like a function
    """Give the renders inside the ``with`` block one fresh budget."""

    def __enter__(self) -> Budget:
        self._budget = Budget()
        self._token = _current.set(self._budget)
        return self._budget

    def __exit__(self, *exc: object) -> None:
        _current.reset(self._token)


# ---- sizes ------------------------------------------------------------------------------------


def weight(value: Any, limit: int = MAX_VALUE) -> int:
    """The characters or items in ``value``, counted through nested containers (a shared item
    counts each time it appears, as it would when printed); stops counting past ``limit``."""
    spend = budget()
    total = 0
    pending = [value]
    while pending and total <= limit:
        item = pending.pop()
        if isinstance(item, str | bytes | bytearray):
            total += len(item)
        elif isinstance(item, Mapping):
            spend.step(len(item))
            total += 2 + len(item)
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            spend.step(len(item))
            total += 2 + len(item)
            pending.extend(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 3 + 1
        else:
            total += 8
    return total


def _scan_cost(value: Any) -> int:
    """Steps for an operation that reads ``value`` once."""
    if isinstance(value, str | bytes | bytearray):
        return len(value) // _CHARS_PER_STEP
    if isinstance(value, list | tuple | Mapping | set | frozenset):
        return len(value)
    return 0


def checked(value: Any) -> Any:
    """``value``, when it is no bigger than ``MAX_VALUE``."""
    if isinstance(value, str | bytes | bytearray):  # the common case, without the walk
        if len(value) > MAX_VALUE:
            raise LimitError(f"a template value would hold over {MAX_VALUE:,} characters")
    elif isinstance(value, list | tuple | Mapping | set | frozenset):
        if weight(value) > MAX_VALUE:
            raise LimitError(f"a template value would hold over {MAX_VALUE:,} items/characters")
    elif isinstance(value, Iterator) and not isinstance(value, LoopContext):
        return budget().iterate(value)  # lazy results of map/select/...: each item a step
    return value


def _fits(estimate: int, what: str) -> None:
    if estimate > MAX_VALUE:
        raise LimitError(f"{what} would build over {MAX_VALUE:,} characters")


def _width(value: Any, what: str) -> None:
    if isinstance(value, int) and abs(value) > MAX_WIDTH:
        raise LimitError(f"{what} over {MAX_WIDTH:,}")
    if isinstance(value, str) and len(value) > MAX_WIDTH:
        raise LimitError(f"{what} over {MAX_WIDTH:,} characters")


def _replaced(text: Any, old: Any, new: Any, count: Any = -1) -> None:
    if (
        isinstance(text, str | bytes)
        and isinstance(new, type(text))
        and isinstance(old, type(text))
    ):
        found = cast(Any, text).count(old) if old else len(text) + 1
        if isinstance(count, int) and count >= 0:
            found = min(found, count)
        _fits(len(text) + found * max(len(new) - len(old), 0), "replace()")


# printf-style conversions: %(key)-08.3f, %*s, %%
_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.S)


def printf(text: Any, args: Any) -> None:
    """Check ``text % args`` before it runs: widths and the size of the result."""
    if not isinstance(text, str | bytes):
        return
    fmt = text if isinstance(text, str) else text.decode("latin-1")
    spend = budget()
    spend.step(1 + len(fmt) // _CHARS_PER_STEP)
    positional = list(args) if isinstance(args, tuple) else [args]
    at = 0
    fields = 0
    padding = 0
    for match in _PRINTF.finditer(fmt):
        if match.group(3) == "%":
            continue
        fields += 1
        for size in (match.group(1), match.group(2)):
            if size == "*":
                size = positional[at] if at < len(positional) else 0
                at += 1
            elif size is None:
                continue
            number = int(size) if isinstance(size, str) else size
            _width(number, "a '%' width or precision")
            padding += number if isinstance(number, int) else 0
        at += 1
    _fits(len(fmt) + padding + fields * weight(args), "'%' formatting")


class _BoundedFormatter(SandboxedFormatter):
    """``str.format`` in the sandbox, with bounded widths and a bounded result."""

    def __init__(self, env: Any, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self._left = MAX_VALUE

    def format_field(self, value: Any, format_spec: str) -> Any:
        for number in re.findall(r"\d+", format_spec):
            _width(int(number) if len(number) < 12 else MAX_WIDTH + 1, "a format width")
        budget().step()
        if weight(value) > self._left:
            raise LimitError(f"str.format() would build over {MAX_VALUE:,} characters")
        field = super().format_field(value, format_spec)
        self._left -= len(field)
        if self._left < 0:
            raise LimitError(f"str.format() would build over {MAX_VALUE:,} characters")
        return field


class _BoundedEscapeFormatter(_BoundedFormatter, EscapeFormatter):
    pass


# ---- filters and methods ----------------------------------------------------------------------


def _filter_checks(name: str, value: Any, a: Mapping[str, Any]) -> None:
    """Checks before the filters that can build much more than they are given; ``a`` holds
    the arguments by name (empty for filters written in C)."""
    if name == "center":
        _width(a.get("width", 80), "center() width")
    elif name == "indent":
        width = a.get("width", 4)
        _width(width, "indent() width")
        text = value if isinstance(value, str) else ""
        size = width if isinstance(width, int) else len(str(width))
        _fits(len(text) + (text.count("\n") + 1) * max(size, 0), "indent()")
    elif name == "format":
        printf(value, a.get("kwargs") or a.get("args") or ())
    elif name == "replace":
        _replaced(value, a.get("old"), a.get("new"), a.get("count"))
    elif name == "wordwrap":
        text = value if isinstance(value, str) else ""
        wrap = a.get("wrapstring") or "\n"
        width = a.get("width", 79)
        lines = len(text) // max(width if isinstance(width, int) else 1, 1) + text.count("\n") + 1
        _fits(len(text) + 2 * lines * len(str(wrap)), "wordwrap()")
    elif name in ("batch", "slice"):
        count = a.get("linecount", a.get("slices", 0))
        _width(count, f"{name}() size")
    elif name == "tojson":
        if isinstance(a.get("indent"), int) and a["indent"] > 16:  # every line is indented
            raise LimitError("tojson() indent over 16")
        _fits(weight(value), "tojson()")
    elif name == "sum":
        start = a.get("start", 0)
        if not isinstance(start, int | float):  # list or string sums copy quadratically
            total = weight(value) + weight(start)
            _fits(total * max(len(value) if isinstance(value, Sequence) else 1, 1), "sum()")
    elif name == "urlize":
        extra = sum(len(str(a.get(key) or "")) for key in ("target", "rel"))
        _fits(len(str(value)) * (1 + extra), "urlize()")
    elif name == "join":
        items = value if isinstance(value, Sequence) else []
        _fits(weight(items) + len(items) * len(str(a.get("d", ""))), "join()")


_SORTING = frozenset(["sort", "dictsort", "unique", "groupby"])
#: Filters that never make text of a whole container value (the others do, so its size, shared
#: items counted each time, is checked first: ``[s, s, s, ...]|upper``).
_STRUCTURAL = _SORTING | {
    "length",
    "count",
    "first",
    "last",
    "random",
    "default",
    "d",
    "attr",
    "map",
    "select",
    "reject",
    "selectattr",
    "rejectattr",
    "min",
    "max",
    "sum",
    "reverse",
    "batch",
    "slice",
    "items",
    "list",
    "abs",
    "int",
    "float",
    "round",
    "join",
    "tojson",
}


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    passes = _PassArg.from_obj(function) is not None  # context/environment comes first
    try:
        signature: inspect.Signature | None = inspect.signature(function)
    except ValueError:  # written in C (escape): no argument names, only the value
        signature = None
    # Jinja's async variants pass the eval context without naming it in the signature
    names_head = signature is not None and next(iter(signature.parameters), "") in (
        "eval_ctx",
        "context",
        "environment",
    )

    @wraps(function)  # keeps Jinja's pass_* marker
    def run(*args: Any, **kwargs: Any) -> Any:
        spend = budget()
        head, rest = args[: int(passes)], list(args[int(passes) :])
        rest = [
            spend.iterate(arg)
            if isinstance(arg, Iterator) and not isinstance(arg, LoopContext)
            else arg
            for arg in rest
        ]
        scans = _scan_cost(rest[0]) if rest else 0
        spend.step(1 + (4 * scans if name in _SORTING else scans))  # n log n
        if rest and name not in _STRUCTURAL:  # it makes text of its value: size that first
            _fits(weight(rest[0]), f"{name}()")
        if name in _FILTER_CHECKED:
            if rest and isinstance(rest[0], Iterator):  # join/sum of a generator: size it first
                rest[0] = list(rest[0])
            try:
                bound = (*head, *rest) if names_head else rest
                named = signature.bind(*bound, **kwargs).arguments if signature else {}
            except TypeError:
                named = {}  # the call itself fails with Jinja's message
            _filter_checks(name, rest[0] if rest else None, named)
        return checked(function(*head, *rest, **kwargs))

    return run


_FILTER_CHECKED = {
    "center",
    "indent",
    "format",
    "replace",
    "wordwrap",
    "batch",
    "slice",
    "sum",
    "urlize",
    "join",
    "tojson",
}


def _bounded_test(function: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        budget().step(1 + sum(_scan_cost(arg) for arg in args))
        return function(*args, **kwargs)

    return run


def _method_checks(owner: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Checks before the str/bytes/int methods that can build much more than they are given."""
    first = args[0] if args else None
    if isinstance(owner, str | bytes | bytearray):
        if name in ("center", "ljust", "rjust", "zfill"):
            _width(first, f"{name}() width")
        elif name == "expandtabs":
            size = kwargs.get("tabsize", first if first is not None else 8)
            _width(size, "expandtabs() size")
            tabs = cast(Any, owner).count("\t" if isinstance(owner, str) else b"\t")
            _fits(len(owner) + tabs * (size if isinstance(size, int) else 0), "expandtabs()")
        elif name == "replace" and len(args) >= 2:
            _replaced(
                owner, args[0], args[1], args[2] if len(args) > 2 else kwargs.get("count", -1)
            )
        elif name == "join" and isinstance(first, Sequence):
            _fits(weight(first) + len(first) * len(owner), "join()")
        elif name == "translate" and isinstance(first, Mapping):
            longest = max((len(v) for v in first.values() if isinstance(v, str)), default=1)
            _fits(len(owner) * max(longest, 1), "translate()")
    elif isinstance(owner, int) and name == "to_bytes":
        size = kwargs.get("length", first if first is not None else 1)
        if isinstance(size, int):
            _fits(size, "to_bytes()")


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    """Jinja's ``lipsum`` with a bounded number of words."""
    if n < 0 or min < 0 or n * max > MAX_LIPSUM_WORDS:
        raise LimitError(f"lipsum() over {MAX_LIPSUM_WORDS:,} words")
    # one step per word it may write: generating a word costs about what a loop step does
    budget().step(n * max)
    return generate_lorem_ipsum(n=n, html=html, min=min, max=max)


class _CountedRange(Sequence[int]):
    """``range()`` in a template: iterating it counts against the render's steps."""

    def __init__(self, numbers: range) -> None:
        self.numbers = numbers

    def __len__(self) -> int:
        return len(self.numbers)

    def __getitem__(self, index: Any) -> Any:
        return self.numbers[index]

    def __contains__(self, item: object) -> bool:
        return item in self.numbers

    def __iter__(self) -> Iterator[int]:
        return budget().iterate(self.numbers)

    def __repr__(self) -> str:
        return repr(self.numbers)


def _counted_range(*args: int) -> _CountedRange:
    return _CountedRange(safe_range(*args))  # Jinja's own cap on one range still applies


# ---- compiling --------------------------------------------------------------------------------


def _env_call(name: str, args: list[nodes.Expr], lineno: int) -> nodes.Call:
    call = nodes.Call(nodes.EnvironmentAttribute(name), args, [], None, None)
    call.set_lineno(lineno)
    return call


class _Metered(NodeTransformer):
    """Make every loop body and macro charge its size each time it runs, and every loop count
    its iterations, whatever it iterates over."""

    @staticmethod
    def _cost(body: list[nodes.Node]) -> list[nodes.Expr]:
        """Steps and characters of literal text one run of ``body`` costs."""
        size = text = 0
        for node in body:
            for found in (node, *node.find_all(nodes.Node)):
                size += 1
                if isinstance(found, nodes.TemplateData):  # literal text, and constants,
                    text += len(found.data)  # printed as text each time the body runs
                elif isinstance(found, nodes.Const) and isinstance(found.value, str):
                    text += len(found.value)
        return [nodes.Const(1 + size // _NODES_PER_STEP), nodes.Const(text)]

    def _charge(self, body: list[nodes.Node], lineno: int) -> list[nodes.Node]:
        charge = nodes.ExprStmt(_env_call("llmops_charge", self._cost(body), lineno))
        charge.set_lineno(lineno)
        return [charge, *body]

    def visit_For(self, node: nodes.For) -> nodes.Node:
        node = cast(nodes.For, self.generic_visit(node))  # each iteration charges the body's cost
        node.iter = _env_call(
            "llmops_iterate", [cast(nodes.Expr, node.iter), *self._cost(node.body)], node.lineno
        )
        return node

    def visit_Macro(self, node: nodes.Macro) -> nodes.Node:
        node = cast(nodes.Macro, self.generic_visit(node))
        node.body = self._charge(node.body, node.lineno)
        return node

    def visit_CallBlock(self, node: nodes.CallBlock) -> nodes.Node:
        node = cast(nodes.CallBlock, self.generic_visit(node))
        node.body = self._charge(node.body, node.lineno)
        return node

    def visit_Block(self, node: nodes.Block) -> nodes.Node:
        node = cast(nodes.Block, self.generic_visit(node))
        node.body = self._charge(node.body, node.lineno)
        return node


class _MeteredCode(CodeGenerator):
    """Generated code that sizes the operands of comparisons (``in``, ``==`` scan their
    operands) and the result of ``~``."""

    @optimizeconst
    def visit_Compare(self, node: nodes.Compare, frame: Frame) -> None:
        self.write("(environment.llmops_scanned(")
        self.visit(node.expr, frame)
        self.write(")")
        for op in node.ops:
            self.visit(op, frame)
        self.write(")")

    def visit_Operand(self, node: nodes.Operand, frame: Frame) -> None:
        self.write(f" {operators[node.op]} environment.llmops_scanned(")
        self.visit(node.expr, frame)
        self.write(")")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # Jinja's, with each operand sized before it is made text and the result sized after
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            join = "markup_join"
        else:
            join = "str_join"
        self.write(f"environment.llmops_value({join}((")
        for arg in node.nodes:
            self.write("environment.llmops_text(")
            self.visit(arg, frame)
            self.write("), ")
        self.write(")))")


class Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with every render held to a :class:`Budget`."""

    code_generator_class = _MeteredCode
    # intercepted operators are never folded at compile time, and all go through call_binop
    intercepted_binops = frozenset({"*", "**", "+", "-", "/", "//", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=self._finalize, **options)
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}
        self.tests = {name: _bounded_test(cast(Any, f)) for name, f in self.tests.items()}
        self.globals["range"] = _counted_range
        self.globals["lipsum"] = _lipsum

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = _Metered().visit(super()._parse(source, name, filename))
        tree.set_environment(self)
        return tree  # type: ignore[no-any-return]

    # -- hooks the generated code calls (environment.llmops_*)

    @staticmethod
    def llmops_charge(steps: int, chars: int) -> None:
        spend = budget()
        spend.step(steps)
        spend.emit(chars)

    @staticmethod
    def llmops_iterate(values: Any, steps: int, chars: int) -> Any:
        if isinstance(values, _CountedRange):
            values = values.numbers  # counted here instead
        if isinstance(values, Iterable):
            return budget().iterate(values, steps, chars)
        return values  # not iterable: let the loop fail with its own message

    @staticmethod
    def llmops_scanned(value: Any) -> Any:
        budget().step(_scan_cost(value))
        return value

    @staticmethod
    def llmops_text(value: Any) -> Any:
        if not isinstance(value, str):
            _fits(weight(value), "'~'")
        return value

    @staticmethod
    def llmops_value(value: Any) -> Any:
        budget().step(1 + _scan_cost(value))
        return checked(value)

    @staticmethod
    def _finalize(value: Any) -> Any:
        spend = budget()
        size = len(value) if isinstance(value, str) else weight(value, spend.emitted + 1)
        spend.emit(size)
        return value

    # -- the sandbox's own hooks

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        spend = budget()
        spend.step(1 + _scan_cost(left) + _scan_cost(right))
        if operator == "**":
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and right > 0
                and left.bit_length() * right > MAX_POWER_BITS
            ):
                raise LimitError(f"'**' would build a number of over {MAX_POWER_BITS:,} bits")
        elif operator == "*":
            for count, sequence in ((left, right), (right, left)):
                if isinstance(count, int) and isinstance(sequence, str | bytes | list | tuple):
                    _fits(count * weight(sequence), "'*'")
        elif operator == "%":
            printf(left, right)
        return checked(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        spend = budget()
        spend.step(_MACRO_STEPS if isinstance(__obj, Macro) else 1)
        if isinstance(__obj, LoopContext) and args:  # loop(children) in a recursive for
            args = (spend.iterate(args[0]), *args[1:])
        owner = getattr(__obj, "__self__", None)
        if owner is not None and not isinstance(owner, type):
            spend.step(_scan_cost(owner))
            _method_checks(owner, getattr(__obj, "__name__", ""), args, kwargs)
        if spend.depth >= MAX_DEPTH:
            raise LimitError(f"calls nest over {MAX_DEPTH} deep (a recursive macro?)")
        spend.depth += 1
        try:
            result = super().call(__context, __obj, *args, **kwargs)
        finally:
            spend.depth -= 1
        return checked(result)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(argument, slice):  # a slice copies
            budget().step(1 + _scan_cost(obj))
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        owner: str = value.__self__
        is_map = value.__name__ == "format_map"
        escaping = isinstance(owner, Markup)

        @wraps(wrapped)
        def bounded(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    return wrapped(*args, **kwargs)  # the same TypeError as Python's
                kwargs, args = args[0], ()
            formatter = (
                _BoundedEscapeFormatter(self, escape=owner.escape)  # type: ignore[attr-defined]
                if escaping
                else _BoundedFormatter(self)
            )
            return type(owner)(formatter.vformat(owner, args, kwargs))

        return bounded
