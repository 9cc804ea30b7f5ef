"""The one table of every list command: columns drop by priority to fit the terminal, ids
never shrink below the short form their ``show`` command resolves, ``--wide`` shows all."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import typer

from llmops.cli._output import console

__all__ = ["WIDE", "Col", "print_table", "short_ids"]

WIDE = typer.Option(False, "--wide", "-w", help="Every column, nothing truncated.")

#: A short id is never shorter than this, even when fewer characters are unique among the
#: rows shown: the ids beyond the table (the rest of the store) must stay distinct too.
_MIN_ID = 8
_CELL_OVERHEAD = 3  # a rich table pads each cell by one space per side plus one border
_TEXT_CAP = 20  # a narrowed text column keeps this much (or its header); below, columns drop


@dataclass(frozen=True)
class Col:
    """A column: ``priority`` 0 is never dropped, higher numbers drop first; ``id`` says how
    the ``show`` command resolves a short form (``prefix`` or ``suffix``; ``full``: it takes
    only the whole id, which is never cut)."""

    header: str
    priority: int = 1
    id: Literal["prefix", "suffix", "full"] | None = None
    justify: Literal["left", "right"] = "left"


def short_ids(ids: Sequence[str], kind: Literal["prefix", "suffix"]) -> list[str]:
    """The ids cut to one common length at which every one is still unique (and at least
    ``_MIN_ID``), keeping the start (``prefix``) or the end (``suffix``)."""
    distinct = set(ids)
    longest = max((len(i) for i in distinct), default=0)
    for length in range(min(_MIN_ID, longest), longest + 1):
        cut = {(i[:length] if kind == "prefix" else i[-length:]) for i in distinct}
        if len(cut) == len(distinct):
            break
    else:
        length = longest
    return [i[:length] if kind == "prefix" else i[-length:] for i in ids]


def _width(cell: str) -> int:
    from rich.cells import cell_len
    from rich.text import Text

    # text without markup or emoji codes is measured as it is: parsing it costs a 200-row
    # listing several milliseconds
    return max(
        (
            cell_len(line)
            if "[" not in line and ":" not in line
            else Text.from_markup(line).cell_len
            for line in cell.split("\n")
        ),
        default=0,
    )


def print_table(
    columns: Sequence[Col],
    rows: Sequence[Sequence[str]],
    *,
    wide: bool = False,
    title: str | None = None,
    empty: str | None = None,
) -> None:
    """Print ``rows`` (rich markup cells) under ``columns``: at the terminal's width, the
    lowest-priority columns drop first and a footer names them; ``wide`` keeps all, untruncated."""
    from rich.table import Table

    if not rows and empty is not None:
        console.print(empty)
        return
    cells = [list(row) for row in rows]
    keep = list(range(len(columns)))
    natural = [
        max([len(c.header)] + [_width(row[i]) for row in cells]) for i, c in enumerate(columns)
    ]
    width = list(natural)
    available = console.width
    if not wide and _needed(natural, keep) > available:
        for i, column in enumerate(columns):
            if column.id in ("prefix", "suffix"):  # unique among the rows, pasteable into `show`
                ids = [row[i] for row in cells]
                for row, cut in zip(cells, short_ids(ids, column.id), strict=True):
                    row[i] = cut
                natural[i] = max([len(column.header)] + [len(row[i]) for row in cells])
        # text beyond _TEXT_CAP is cut with an ellipsis; ids, dates and numbers fit under it
        width = [
            natural[i] if c.id is not None else min(natural[i], max(len(c.header), _TEXT_CAP))
            for i, c in enumerate(columns)
        ]
        droppable = sorted(
            (i for i, c in enumerate(columns) if c.priority > 0),
            key=lambda i: (columns[i].priority, i),
        )
        while _needed(width, keep) > available and droppable:
            keep.remove(droppable.pop())
    # widths known to fit are given to rich, which then measures no cell again (a third of
    # the time of a 200-row table); a table that does not fit is left to rich's collapsing
    fits = wide or _needed(width, keep) <= available
    table = Table(title=title, title_justify="left")
    for i in keep:
        column = columns[i]
        table.add_column(
            column.header,
            justify=column.justify,
            no_wrap=True,
            width=width[i] if fits else None,
            min_width=width[i] if column.id is not None else None,
            max_width=None if wide else width[i],
            overflow="ellipsis",
        )
    for row in cells:
        table.add_row(*(row[i] for i in keep))
    if wide:  # wider than the terminal: lines run on, as in a pager or a file
        from rich.console import Console

        Console(
            file=console.file,
            width=max(available, _needed(natural, keep)),
            highlight=False,
            force_terminal=console.is_terminal,
        ).print(table)
    else:
        console.print(table)
    hidden = [columns[i].header for i in range(len(columns)) if i not in keep]
    if hidden:
        console.print(f"[dim]hidden: {', '.join(hidden)} (--wide shows all)", soft_wrap=True)


def _needed(widths: Sequence[int], keep: Sequence[int]) -> int:
    return sum(widths[i] for i in keep) + _CELL_OVERHEAD * len(keep) + 1
