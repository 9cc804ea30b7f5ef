"""YAML loading that keeps line numbers, so every error can name file and line.

Every YAML file llmops reads comes through here, so every one is bounded: at most
``MAX_YAML_BYTES``, nesting at most ``MAX_YAML_DEPTH`` deep, and aliases expanding to at most
``MAX_ALIAS_NODES`` nodes. PyYAML shares an aliased node rather than copying it, so a
"billion laughs" file loads cheaply and only explodes later, when the data is validated,
iterated or dumped: counting the expanded size while composing stops it first, at its line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import yaml

from llmops._exceptions import InputError, NotFoundError, YamlError
from llmops._suggest import did_you_mean, did_you_mean_file

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

    from llmops._exceptions import LlmopsError

__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_YAML_BYTES",
    "MAX_YAML_DEPTH",
    "YamlDocument",
    "describe_validation_error",
    "load_model",
    "load_yaml",
    "parse_yaml",
]

M = TypeVar("M", bound="BaseModel")

#: Nodes that aliases may add to a document, counted as if every alias were a copy.
MAX_ALIAS_NODES = 100_000
#: How deep collections may nest (PyYAML composes recursively).
MAX_YAML_DEPTH = 100
#: The largest YAML file read, in bytes (characters, for text already in memory).
MAX_YAML_BYTES = 10 * 1024 * 1024


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, counting nesting and the nodes aliases expand to."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._expanded: dict[int, int] = {}  # id(node) -> nodes in it, aliases expanded
        self._aliased = 0
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
        if self.check_event(yaml.AliasEvent):
            node = cast(yaml.Node, super().compose_node(parent, index))
            size = self._expanded.get(id(node))
            if size is None:  # the anchor is still being composed: a node inside itself
                raise yaml.composer.ComposerError(
                    None, None, "an alias inside its own anchor (recursive data)", mark
                )
            self._aliased += size
            if self._aliased > MAX_ALIAS_NODES:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"alias expansion over {MAX_ALIAS_NODES:,} nodes (alias bomb?)",
                    mark,
                )
            return node
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"nested over {MAX_YAML_DEPTH} levels deep", mark
            )
        try:
            node = cast(yaml.Node, super().compose_node(parent, index))
        finally:
            self._depth -= 1
        size = 1
        if isinstance(node, yaml.SequenceNode):
            size += sum(self._expanded[id(child)] for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            size += sum(self._expanded[id(k)] + self._expanded[id(v)] for k, v in node.value)
        self._expanded[id(node)] = size
        return node


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML file: its data plus the node tree used to locate keys."""

    path: str
    data: Any
    root: yaml.Node | None

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """The 1-based line of the deepest node found along ``loc``."""
        node = self.root
        line = node.start_mark.line + 1 if node is not None else None
        for key in loc:
            child = _child(node, key)
            if child is None:
                break
            node = child
            line = node.start_mark.line + 1
        return line

    def has(self, loc: Sequence[str | int]) -> bool:
        """Whether every key of ``loc`` is in the file, in that nesting."""
        node = self.root
        for key in loc:
            node = _child(node, key)
            if node is None:
                return False
        return True

    def key_line(self, loc: Sequence[str | int]) -> int | None:
        """The line of the last key of ``loc`` itself (not of its value)."""
        parent = self.root
        for key in loc[:-1]:
            parent = _child(parent, key)
        if isinstance(parent, yaml.MappingNode):
            for key_node, _ in parent.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(loc[-1]):
                    line: int = key_node.start_mark.line + 1
                    return line
        return self.line_of(loc)

    def where(self, loc: Sequence[str | int]) -> str:
        """``path:line`` for ``loc``, or just the path when the line is unknown."""
        line = self.line_of(loc)
        return f"{self.path}:{line}" if line is not None else self.path


def _child(node: yaml.Node | None, key: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(key):
                found: yaml.Node = value_node
                return found
    elif (
        isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value)
    ):
        child: yaml.Node = node.value[key]
        return child
    return None


def parse_yaml(text: str, path: str) -> YamlDocument:
    """Parse ``text``; a syntax error or a limit becomes a ``YamlError`` naming ``path`` and
    line."""
    if len(text) > MAX_YAML_BYTES:
        raise YamlError(path, None, f"over {MAX_YAML_BYTES // 1024 // 1024} MiB")
    try:  # the reader rejects control characters as soon as it is built
        loader = _BoundedLoader(text)
    except yaml.reader.ReaderError as exc:
        where = text.count("\n", 0, exc.position) + 1
        raise YamlError(path, where, f"unacceptable character #x{exc.character:04x}") from None
    try:  # one pass: the node tree locates keys, and the data is constructed from it
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise YamlError(path, line, exc.problem or str(exc)) from None
    except yaml.YAMLError as exc:
        raise YamlError(path, None, str(exc).splitlines()[0]) from None
    except RecursionError:  # a backstop: the depth limit comes first
        raise YamlError(path, None, "nested too deeply") from None
    finally:
        loader.dispose()
    return YamlDocument(path=path, data=data, root=root)


def load_yaml(path: Path) -> YamlDocument:
    """Read and parse a YAML file; a missing file is a ``NotFoundError``."""
    try:
        if path.stat().st_size > MAX_YAML_BYTES:  # before reading it all into memory
            raise YamlError(str(path), None, f"over {MAX_YAML_BYTES // 1024 // 1024} MiB")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"{path}: file not found{did_you_mean_file(path)}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    return parse_yaml(text, str(path))


def describe_validation_error(
    doc: YamlDocument, exc: ValidationError, model: type[BaseModel] | None = None
) -> str:
    """One line naming file:line, the key, what was expected and what was found.

    An unknown key comes first (a typo'd key also makes the real one "missing"), named at
    its own line with the closest key ``model`` accepts there.
    """
    errors = exc.errors()
    unknown = (  # a key of the file; not one seen through a union member the value isn't
        e for e in errors if e["type"] == "extra_forbidden" and doc.has(e["loc"])
    )
    first = next(unknown, errors[0])
    loc = [part for part in first["loc"] if isinstance(part, str | int)]
    key = ".".join(str(part) for part in loc) or "(top level)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    if first["type"] == "extra_forbidden" and loc:
        known = _keys_at(model, loc[:-1]) if model is not None else []
        hint = did_you_mean(str(loc[-1]), known)
        return f"{doc.path}:{doc.key_line(loc)}: unknown key '{key}'{hint}{more}"
    got = first.get("input")
    shown = "" if isinstance(got, dict) or first["type"] == "missing" else f" (got {got!r})"
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{doc.where(loc)}: key '{key}': {message}{shown}{more}"


def load_model(
    path: Path,
    model: type[M],
    error: type[LlmopsError],
    *,
    what: str = "settings",
    context: dict[str, Any] | None = None,
) -> tuple[M, YamlDocument]:
    """A YAML mapping validated as ``model``; every problem is one ``error`` naming file:line.

    An empty file validates as ``{}``.
    """
    from pydantic import ValidationError

    doc = load_yaml(path)
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise error(f"{doc.where([])}: expected a mapping of {what} at the top level")
    try:
        return model.model_validate(data, context=context), doc
    except ValidationError as exc:
        raise error(describe_validation_error(doc, exc, model)) from None


def _keys_at(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The keys ``model`` accepts in the mapping at ``loc`` (through nested models, dicts,
    lists and optionals); empty where that is not one model."""
    import typing

    from pydantic import BaseModel

    kind: Any = model
    for part in loc:
        kind = _model_in(kind) or kind
        origin, args = typing.get_origin(kind), typing.get_args(kind)
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            field = kind.model_fields.get(str(part))
            if field is None:
                return []
            kind = field.annotation
        elif origin is dict and len(args) == 2:
            kind = args[1]
        elif origin is list and args:
            kind = args[0]
        else:
            return []
    found = _model_in(kind)
    if found is None:
        return []
    return [name for name, field in found.model_fields.items() if not field.exclude] + [
        field.alias for field in found.model_fields.values() if field.alias
    ]


def _model_in(kind: Any) -> type[BaseModel] | None:
    """``kind`` itself, or the one model of an optional or union, when it is a model."""
    import types
    import typing

    from pydantic import BaseModel

    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return kind
    if typing.get_origin(kind) not in (typing.Union, types.UnionType):
        return None
    models = [a for a in typing.get_args(kind) if isinstance(a, type) and issubclass(a, BaseModel)]
    return models[0] if len(models) == 1 else None
