"""``python -m llmops``: the CLI."""

from llmops.cli import _entry

_entry()
