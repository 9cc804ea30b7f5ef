"""The public surface: a reviewed __all__, a fast import that loads no heavy library."""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import llmops


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in dir(llmops) if not name.startswith("_")} | {"__version__"}
    assert set(llmops.__all__) == public
    for name in llmops.__all__:
        assert getattr(llmops, name) is not None


def test_unknown_attribute_raises_attribute_error() -> None:
    try:
        llmops.no_such_thing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_import_loads_no_heavy_library() -> None:
    code = (
        "import sys, llmops; heavy = ('litellm', 'chromadb', 'torch', 'llama_cpp', 'xllamacpp', "
        "'sqlalchemy', 'opentelemetry'); print(','.join(m for m in heavy if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_exceptions_share_one_base_with_exit_codes() -> None:
    assert issubclass(llmops.YamlError, llmops.InputError)
    assert issubclass(llmops.InputError, llmops.LlmopsError)
    assert llmops.LlmopsError("x").exit_code == 2
    assert llmops.CheckFailed("x").exit_code == 1


def test_cli_help_loads_no_storage_or_model_library() -> None:
    code = (
        "import sys; from llmops.cli import main; code = main(['--help']); heavy = ('litellm', "
        "'sqlalchemy', 'chromadb', 'opentelemetry', 'xllamacpp', 'onnxruntime'); "
        "print('|' + ','.join(m for m in heavy if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().endswith("|")


def test_documented_sub_packages_are_reachable_after_import_llmops() -> None:
    # the README calls these as llmops.<package>.<name> with only `import llmops` above them
    code = (
        "import llmops\n"
        "assert callable(llmops.llm.complete) and callable(llmops.llm.Router.from_file)\n"
        "assert callable(llmops.rag.answer) and callable(llmops.tracing.stats)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# -- typing: py.typed and no Any in public signatures ---------------------------------------

#: ``Any`` is allowed only as the value type of a string-keyed mapping (JSON-like data: span
#: attributes, params, ``to_dict()``); anywhere else a public signature names a real type.
_JSON_MAPPING = re.compile(r"\b(?:dict|Mapping)\[str, (?:typing\.)?Any\]")
_ANY = re.compile(r"\bAny\b")
_SUBPACKAGES = ("evals", "gates", "llm", "prompts", "rag", "registry")
_SUBPACKAGES += ("serving", "store", "tracing", "tracking", "config")


def _functions_of(obj: object) -> list[tuple[str, Callable[..., object]]]:
    """The public callables of a function or class (methods, properties, ``__init__``)."""
    if inspect.isfunction(obj):
        return [(obj.__qualname__, obj)]
    found: list[tuple[str, Callable[..., object]]] = []
    if inspect.isclass(obj):
        for attr, member in vars(obj).items():
            if attr.startswith("_") and attr != "__init__":
                continue
            if isinstance(member, staticmethod | classmethod):
                member = member.__func__
            if isinstance(member, property) and member.fget is not None:
                member = member.fget
            if inspect.isfunction(member):
                found.append((f"{obj.__qualname__}.{attr}", member))
    return found


def _annotation_text(function: Callable[..., object], annotation: object) -> str:
    """The annotation as text, with the items of an ``Unpack[SomeTypedDict]`` spelt out."""
    text = annotation if isinstance(annotation, str) else repr(annotation)
    unpacked = re.search(r"Unpack\[(\w+)\]", text)
    if unpacked:
        typed_dict = getattr(function, "__globals__", {}).get(unpacked.group(1))
        items = getattr(typed_dict, "__annotations__", {})
        text += " {" + ", ".join(f"{k}: {v!r}" for k, v in items.items()) + "}"
    return text


def _any_in_signature(function: Callable[..., object]) -> list[str]:
    """``name: annotation`` of each parameter or return that names ``Any`` outside JSON data."""
    bad = []
    for name, annotation in inspect.get_annotations(function).items():
        text = _annotation_text(function, annotation)
        if _ANY.search(_JSON_MAPPING.sub("", text)):
            bad.append(f"{name}: {text}")
    return bad


def _public_objects() -> list[tuple[str, object]]:
    found = [(f"llmops.{name}", getattr(llmops, name)) for name in llmops.__all__]
    for package in _SUBPACKAGES:
        module = importlib.import_module(f"llmops.{package}")
        names = getattr(module, "__all__", [])
        found += [(f"llmops.{package}.{name}", getattr(module, name)) for name in names]
    return found


def test_public_signatures_name_no_any() -> None:
    offenders = []
    for where, obj in _public_objects():
        for qualname, function in _functions_of(obj):
            offenders += [f"{where} ({qualname}) {bad}" for bad in _any_in_signature(function)]
    assert offenders == []


def test_the_any_check_catches_each_form_and_spares_json_mappings() -> None:
    namespace: dict[str, object] = {}
    exec(  # the forms the check must flag, written as a module would write them
        "from __future__ import annotations\n"
        "from collections.abc import Callable, Mapping\n"
        "from typing import Any, TypedDict, Unpack\n"
        "class Opts(TypedDict, total=False):\n"
        "    cache: Any\n"
        "def bare(x: Any) -> None: ...\n"
        "def returns() -> Any: ...\n"
        "def kwargs(**kw: Any) -> None: ...\n"
        "def unpacked(**kw: Unpack[Opts]) -> None: ...\n"
        "def callback(f: Callable[..., Any]) -> None: ...\n"
        "def nested(x: list[tuple[int, Any]]) -> None: ...\n"
        "def json(x: dict[str, Any], y: Mapping[str, Any] | None) -> dict[str, Any]: ...\n"
        "def typed(x: object, **kw: int) -> str: ...\n",
        namespace,
    )
    flagged = {
        name
        for name in ("bare", "returns", "kwargs", "unpacked", "callback", "nested", "json", "typed")
        if _any_in_signature(namespace[name])  # type: ignore[arg-type]
    }
    assert flagged == {"bare", "returns", "kwargs", "unpacked", "callback", "nested"}


def test_package_ships_py_typed_in_the_wheel() -> None:
    root = Path(llmops.__file__).parent
    assert (root / "py.typed").is_file()
    config = tomllib.loads((root.parent / "pyproject.toml").read_text())
    wheel = config["tool"]["hatch"]["build"]["targets"]["wheel"]
    # hatch puts every file under a listed package in the wheel unless a pattern excludes it
    assert "llmops" in wheel["packages"]
    excluded = [*wheel.get("exclude", []), *config["tool"]["hatch"]["build"].get("exclude", [])]
    assert not [p for p in excluded if fnmatch.fnmatch("llmops/py.typed", p)]


def test_feedback_and_the_current_trace_id_are_public() -> None:
    # scores (#17): the SDK's feedback call and the id it needs, reached from the root facade
    assert {"feedback", "current_trace_id"} <= set(llmops.__all__)
    assert llmops.feedback is llmops.tracing.feedback
    assert llmops.current_trace_id() is None  # outside any span
