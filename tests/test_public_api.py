"""The public surface: a reviewed __all__, a fast import that loads no heavy library."""

from __future__ import annotations

import subprocess
import sys

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
