"""Config loading: defaults, validation errors naming file, line and key, env overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmops import ConfigError, UnknownModelError, YamlError
from llmops.config import SETTINGS, find_project_dir, load_config


def _write(root: Path, text: str) -> Path:
    path = root / "configs" / "llmops.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_without_a_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config()
    assert config.project_dir is None
    assert config.resolved_store_url == f"sqlite:///{tmp_path / 'home' / 'llmops.db'}"
    name, model = config.model()
    assert (name, model.model) == ("local", "local/smollm2")


def test_project_found_by_walking_up(tmp_path: Path) -> None:
    _write(tmp_path, "default_model: local\n")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert find_project_dir(nested) == tmp_path
    config = load_config(nested)
    assert config.project_dir == tmp_path
    assert config.resolved_store_url == f"sqlite:///{tmp_path / '.llmops' / 'llmops.db'}"
    assert config.path("prompts") == tmp_path / "prompts"


def test_env_overrides_store_url_and_default_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path, "models:\n  a: {model: openai/a}\n  b: {model: openai/b}\ndefault_model: a\n")
    monkeypatch.setenv("LLMOPS_STORE_URL", "sqlite:////elsewhere.db")
    monkeypatch.setenv("LLMOPS_DEFAULT_MODEL", "b")
    config = load_config(tmp_path)
    assert config.resolved_store_url == "sqlite:////elsewhere.db"
    assert config.model()[0] == "b"


def test_wrong_type_names_file_line_and_key(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "default_model: local\nmodels:\n  local:\n    model: local/smollm2\n    params: 3\n",
    )
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{path}:5: key 'models.local.params'")
    assert "dictionary" in message


@pytest.mark.parametrize(
    ("body", "line", "key", "meant"),
    [
        ("default_model: local\nstore_ulr: sqlite:///x.db\n", 2, "store_ulr", "store_url"),
        ("tracng:\n  enabled: false\n", 1, "tracng", "tracing"),
        (
            "tracing:\n  enabled: true\n  redact_emals: true\n",
            3,
            "tracing.redact_emals",
            "redact_emails",
        ),
        # the typo also leaves `model` missing: the unknown key is what is named
        ("models:\n  local:\n    modl: local/smollm2\n", 3, "models.local.modl", "model"),
        ("paths:\n  prompt: p\n", 2, "paths.prompt", "prompts"),
    ],
)
def test_an_unknown_key_is_named_at_its_line_with_the_closest_key(
    tmp_path: Path, body: str, line: int, key: str, meant: str
) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: unknown key '{key}' (did you mean '{meant}'?)")
    assert "Field required" not in message


def test_an_unknown_key_far_from_any_is_named_without_a_guess(tmp_path: Path) -> None:
    path = _write(tmp_path, "default_model: local\nxyzzy: 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert str(info.value) == f"{path}:2: unknown key 'xyzzy'"


def test_default_model_must_be_configured(tmp_path: Path) -> None:
    path = _write(tmp_path, "default_model: gpt\n")
    with pytest.raises(ConfigError, match=rf"^{path}:1: key 'default_model': 'gpt' is not one of"):
        load_config(tmp_path)


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "default_model: local\nmodels:\n  local: [unclosed\n")
    with pytest.raises(YamlError) as info:
        load_config(tmp_path)
    assert str(info.value).startswith(f"{path}:4: invalid YAML")


def test_unknown_model_lists_known_ones(tmp_path: Path) -> None:
    _write(tmp_path, "models:\n  local: {model: local/smollm2}\n  big: {model: openai/gpt-4o}\n")
    with pytest.raises(
        UnknownModelError, match=r"unknown model 'nope'; configured models: big, local"
    ):
        load_config(tmp_path).model("nope")


def test_every_setting_is_documented_in_readme() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for setting in SETTINGS:
        assert setting.env in readme, f"{setting.env} is not documented in README.md"
