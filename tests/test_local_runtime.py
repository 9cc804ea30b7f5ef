"""The local model's runtime settings (``models.NAME.local``): read from the config, refused
by key and line when wrong, and given to the llama.cpp server that runs the model."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from llmops import ConfigError
from llmops.config import LocalRuntime, load_config


def _write(root: Path, text: str) -> Path:
    path = root / "configs" / "llmops.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_settings_are_read_and_default_to_the_measured_ones(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "models:\n  local:\n    model: local/smollm2\n"
        "    local: {threads: 2, batch_size: 64, ctx_size: 1024}\n"
        "  plain: {model: local/smollm2}\n",
    )
    config = load_config(tmp_path)
    assert config.models["local"].local == LocalRuntime(threads=2, batch_size=64, ctx_size=1024)
    assert config.models["plain"].local is None  # the server then runs LocalRuntime()
    assert LocalRuntime() == LocalRuntime(threads=1, batch_size=512, ctx_size=4096)
    # the shipped project config states the defaults it runs with
    shipped = load_config(Path(__file__).resolve().parents[1])
    assert shipped.models["local"].local == LocalRuntime()


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        ("threads: 0", "threads"),
        ("threads: -1", "threads"),
        ("threads: two", "threads"),
        ("threads: 1.5", "threads"),
        ("threads: 100000000000000000000", "threads"),
        ("threads: [1]", "threads"),
        ("batch_size: 0", "batch_size"),
        ("ctx_size: 99999999999", "ctx_size"),
        ("ctx_size: null", "ctx_size"),
        ("thread: 1", "thread"),
    ],
)
def test_a_bad_setting_is_named_by_file_line_and_key(
    tmp_path: Path, setting: str, key: str
) -> None:
    path = _write(
        tmp_path, f"models:\n  local:\n    model: local/smollm2\n    local:\n      {setting}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{path}:5: ") and f"key 'models.local.local.{key}'" in message


@pytest.mark.parametrize("value", ["3", "[1, 2]", "'fast'"])
def test_local_settings_are_a_mapping(tmp_path: Path, value: str) -> None:
    path = _write(tmp_path, f"models:\n  local:\n    model: local/smollm2\n    local: {value}\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert str(info.value).startswith(f"{path}:4: key 'models.local.local'")


def test_local_settings_on_a_remote_model_are_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "models:\n  gpt:\n    model: openai/gpt-4o-mini\n    local: {threads: 1}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{path}:") and "models.gpt" in message
    assert "local/ models only" in message


@pytest.mark.e2e
def test_the_server_runs_with_the_settings_one_server_per_setting() -> None:
    from llmops.llm import local_server

    small = LocalRuntime(threads=1, batch_size=64, ctx_size=1024)
    server = local_server("smollm2", small)
    assert local_server("smollm2", LocalRuntime(threads=1, batch_size=64, ctx_size=1024)) is server
    other = local_server("smollm2", LocalRuntime(ctx_size=2048))
    assert other is not server and other.url != server.url
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for running, ctx_size in ((server, 1024), (other, 2048)):
        assert running.runtime.ctx_size == ctx_size
        with direct.open(f"{running.url}/props", timeout=30) as response:
            props = json.load(response)
        # llama.cpp splits the context between its 2 parallel slots
        assert props["total_slots"] == 2
        assert props["default_generation_settings"]["n_ctx"] == ctx_size // 2
