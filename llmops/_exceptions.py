"""The one exception hierarchy of llmops.

Every error a user can cause or meet is an ``LlmopsError`` with a message written for
that user; the CLI prints it on one line and exits with ``exit_code``::

    LlmopsError                   exit 2: bad input or environment
    ├── ConfigError               a config file is invalid (file, key, what was expected)
    │   └── PluginError           an installed plugin fails to load (names the plugin)
    ├── InputError                a file or argument given by the user is wrong
    │   ├── YamlError             malformed YAML (file:line)
    │   ├── SuiteError            an eval suite is inconsistent
    │   ├── GateRequired          a protected alias moved without a valid gate decision
    │   ├── ConflictError         the thing was changed by someone else (another annotator)
    │   └── NotFoundError         a named thing (run, trace, prompt, file) does not exist
    ├── TemplateError             a prompt template cannot render (names the variable)
    ├── OutputParseError          a model output does not parse or match its JSON schema
    ├── UnknownModelError         a model name is not configured (lists the known ones)
    ├── ModelError                a model call failed after its retries
    ├── StoreError                the store cannot be opened or is at the wrong revision
    └── CheckFailed               exit 1: a threshold or gate was not met

    KeyboardInterrupt
    └── Interrupted               exit 130 (Ctrl-C) or 143 (SIGTERM): says what was kept
"""

from __future__ import annotations

__all__ = [
    "CheckFailed",
    "ConfigError",
    "ConflictError",
    "GateRequired",
    "InputError",
    "Interrupted",
    "LlmopsError",
    "ModelError",
    "NotFoundError",
    "OutputParseError",
    "PluginError",
    "StoreError",
    "SuiteError",
    "TemplateError",
    "UnknownModelError",
    "YamlError",
]


class LlmopsError(Exception):
    """Base class: a user-facing error with a one-line message and an exit code."""

    exit_code: int = 2


class ConfigError(LlmopsError):
    """The project config is invalid."""


class PluginError(ConfigError):
    """An installed plugin (an ``llmops.*`` entry point) fails to load or is of the wrong kind."""


class InputError(LlmopsError):
    """A file or argument given by the user is wrong."""


class YamlError(InputError):
    """A YAML file cannot be parsed; the message names file and line."""

    def __init__(self, path: str, line: int | None, problem: str) -> None:
        self.path = path
        self.line = line
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: invalid YAML: {problem}")


class SuiteError(InputError):
    """An eval suite is inconsistent (missing dataset, unknown scorer, bad field)."""


class GateRequired(InputError):
    """A protected alias (``production``) was moved without a valid gate decision."""


class ConflictError(InputError):
    """The request conflicts with what someone else did (a queue item another annotator
    labelled); the API answers 409."""


class NotFoundError(InputError):
    """A named object (run, trace, prompt, file) does not exist."""


class TemplateError(LlmopsError):
    """A prompt template cannot be compiled or rendered."""


class OutputParseError(LlmopsError):
    """A model output is not valid JSON or does not match the prompt's JSON schema."""


class UnknownModelError(LlmopsError):
    """A model name is not configured."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        from llmops._suggest import did_you_mean  # core, like this module; import-light

        listed = ", ".join(sorted(known)) or "(none)"
        super().__init__(
            f"unknown model '{name}'; configured models: {listed}{did_you_mean(name, known)}"
        )


class ModelError(LlmopsError):
    """A model call failed after its retries."""


class StoreError(LlmopsError):
    """The store cannot be opened, reached or migrated."""


class CheckFailed(LlmopsError):
    """A threshold or gate was evaluated and not met (exit 1)."""

    exit_code = 1


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped the work; the message says what was kept and how to go on.

    A ``KeyboardInterrupt``, not an ``LlmopsError``: code that catches ``Exception`` (a
    failing case, a scorer) must never swallow it.
    """

    def __init__(self, message: str = "interrupted", *, exit_code: int = 130) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
