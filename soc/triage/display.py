"""What the triage, cases, audit and alert-lifecycle commands share: the analyst name, table
cells that show log values literally, and time options."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from soc import clock
from soc.safe_text import visible
from soc.timespec import parse_moment
from soc.triage.audit import analyst_name


def analyst_of(settings: Any) -> str:
    """The analyst of this invocation: --analyst / the analyst setting, else $USER."""
    return analyst_name(settings.get("analyst"))


def cell(value: Any) -> Text:
    """A table cell that shows a value literally (no markup, control characters escaped)."""
    return Text(visible(value))


def table(*columns: str) -> Table:
    """A plain table with the given column headings."""
    grid = Table(show_edge=False, header_style="bold", pad_edge=False)
    for name in columns:
        grid.add_column(name, overflow="fold")
    return grid


def print_rows(
    console: Console,
    headings: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    max_width: int = 48,
) -> None:
    """Aligned columns, one line per row and never wrapped (so ids and addresses stay whole
    and greppable); every value shown literally with control characters escaped."""
    shown = [[visible(v) for v in row] for row in rows]
    widths = [len(h) for h in headings]
    for row in shown:
        for i, value in enumerate(row[:-1]):
            widths[i] = min(max(widths[i], len(value)), max_width)
    header = Text(
        "  ".join(h.ljust(w) for h, w in zip(headings, widths, strict=True)).rstrip(), style="bold"
    )
    console.print(header, soft_wrap=True)
    for row in shown:
        cells = [v.ljust(widths[i]) if i < len(row) - 1 else v for i, v in enumerate(row)]
        console.print(Text("  ".join(cells).rstrip()), soft_wrap=True)


def parse_since(text: str | None) -> datetime | None:
    """A point in time from a duration back from now (``24h``) or an ISO time; ValueError
    with a message naming the text otherwise."""
    if text is None or not text.strip():
        return None
    try:
        return parse_moment(text, clock.now())
    except ValueError:
        raise ValueError(
            f"--since {text!r}: expected a duration such as 24h or an ISO time"
        ) from None
