"""Terminal output shared by the commands: one console, JSON printing, small formatters."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import orjson
from rich.console import Console

__all__ = ["console", "err_console", "fmt_ms", "fmt_score", "fmt_time", "print_json", "short"]

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    """Write ``data`` as indented JSON to stdout (no colour, no wrapping)."""
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")


def fmt_score(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} ms" if value < 10_000 else f"{value / 1000:.1f} s"


def fmt_time(value: datetime | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        value = datetime.fromtimestamp(value / 1e9)
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return value.strftime("%Y-%m-%d %H:%M:%S")


def short(text: Any, width: int = 60) -> str:
    """One line of at most ``width`` characters."""
    line = " ".join(str(text if text is not None else "").split())
    return line if len(line) <= width else line[: width - 1] + "…"
