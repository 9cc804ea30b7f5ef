"""The list table's column widths, computed once and handed to rich, are rich's own: for cells
of every kind (markup, escaped brackets, emoji codes, wide and combining characters, several
lines), a column is exactly as wide as its widest cell and every cell shows whole."""

from __future__ import annotations

import io
import random

import pytest
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from llmops.cli import _table
from llmops.cli._table import Col, print_table

_PIECES = [
    "plain",
    "[b]bold[/b]",
    "[red]red",
    escape("[not markup]"),
    escape("a[/b]"),
    ":smile:",
    ":not_an_emoji:",
    "12:30:45",
    "中文字",
    "e\u0301",
    "x" * 30,
    "",
    "ünïcödé",
]


def _cell(rng: random.Random) -> str:
    lines = ["".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 3)))]
    if rng.random() < 0.2:
        lines.append(rng.choice(_PIECES))
    return "\n".join(lines)


def _plain(cell: str) -> list[str]:
    return [Text.from_markup(line).plain for line in cell.split("\n")]


@pytest.mark.parametrize("seed", range(4))
def test_columns_are_as_wide_as_their_widest_cell_and_cells_show_whole(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    columns = [Col("id", 0, id="full"), Col("a", 1), Col("b", 2), Col("c", 3)]
    rows = [tuple(_cell(rng) for _ in columns) for _ in range(rng.randint(1, 25))]
    buffer = io.StringIO()
    monkeypatch.setattr(_table, "console", Console(file=buffer, width=1000, highlight=False))
    print_table(columns, rows)
    out = buffer.getvalue().splitlines()
    top = out[0]
    assert top.startswith("┏") and top.endswith("┓")
    widths = [len(part) - 2 for part in top[1:-1].split("┳")]
    expected = [
        max(
            [len(c.header)]
            + [Text.from_markup(line).cell_len for r in rows for line in r[i].split("\n")]
        )
        for i, c in enumerate(columns)
    ]
    assert widths == expected
    body = "\n".join(out)
    for row in rows:
        for cell in row:
            for line in _plain(cell):
                assert line.strip() in body
    assert len({Text(line).cell_len for line in out}) == 1  # a closed box: every line as wide
