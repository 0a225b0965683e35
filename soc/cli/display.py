"""How the CLI shows things to people: times in the configured zone without microseconds,
colours by alert level, tables whose identifiers never break, and progress bars on stderr."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from soc import ecs
from soc.safe_text import safe_cell

# rich is imported when something is shown to a person: a command's `--json` output (for
# scripts) starts 20 ms sooner without it.
if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text

#: Rich styles of alert levels.
LEVEL_STYLES = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "informational": "dim",
}


def zone_of(settings: Any, utc: bool = False) -> tzinfo:
    """The zone times are shown in: UTC with ``utc``, else the `timezone` setting (UTC when
    that zone is unknown)."""
    if utc:
        return UTC
    name = settings.get("timezone", "Asia/Ho_Chi_Minh") if settings is not None else "UTC"
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def show_time(value: Any, zone: tzinfo) -> str:
    """A stored time (formatted text or datetime) as ``YYYY-MM-DD HH:MM:SS±HH:MM`` in
    ``zone``, whole seconds; values that are not times come back as text."""
    if value is None or value == "":
        return ""
    moment = value
    if not isinstance(moment, datetime):
        try:
            moment = ecs.parse_timestamp(str(value))
        except ValueError:
            return str(value)
    local = moment.astimezone(zone)
    offset = local.strftime("%z")
    suffix = "Z" if offset in ("+0000", "") and zone is UTC else f"{offset[:3]}:{offset[3:]}"
    return local.strftime("%Y-%m-%d %H:%M:%S") + suffix


def level_cell(level: Any) -> Text:
    """An alert level, coloured by severity (the text is shown literally)."""
    text = str(level or "")
    return safe_cell(text, LEVEL_STYLES.get(text, ""))


def token_column(table: Table, name: str, **kwargs: Any) -> None:
    """A column for identifiers, addresses, hashes or paths: never wrapped or cut inside a
    value (the table grows instead; a terminal too narrow shows the line overflowing)."""
    table.add_column(name, no_wrap=True, overflow="ignore", **kwargs)


def text_column(table: Table, name: str, **kwargs: Any) -> None:
    """A column of prose (rule titles, messages) that may fold at word boundaries."""
    table.add_column(name, overflow="fold", **kwargs)


def print_table(table: Table) -> None:
    """Print a table at its natural width when the terminal is narrower, so that columns of
    identifiers overflow the line (the terminal wraps the line) instead of being cut."""
    from rich.cells import cell_len
    from rich.measure import Measurement
    from rich.text import Text

    from soc.cli.common import console

    for column in table.columns:
        if column.no_wrap:  # identifiers: the column is as wide as its widest value
            widest = max(
                (
                    cell_len(line)
                    for c in column.cells
                    for line in (c.plain if isinstance(c, Text) else str(c)).split("\n")
                ),
                default=0,
            )
            column.min_width = max(column.min_width or 0, widest, cell_len(str(column.header)))
    needed = Measurement.get(console, console.options.update(width=4096), table).minimum
    width = console.width
    if needed <= width:
        console.print(table)
        return
    console.width = needed
    try:
        console.print(table)
    finally:
        console.width = width


def shown_of(shown: int, total: int, noun: str) -> str:
    """ "showing N of M <noun>" (or "N <noun>" when all are shown)."""
    if shown >= total:
        return f"{total:,} {noun}"
    return f"showing {shown:,} of {total:,} {noun}"


def progress_bar(enabled: bool) -> Any:
    """A rich Progress on stderr (started by the caller with ``with``), or None when
    ``enabled`` is false or stderr is not a terminal."""
    if not enabled:
        return None
    from soc.cli.common import err_console

    if not err_console.is_terminal:
        return None
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )


__all__ = [
    "LEVEL_STYLES",
    "level_cell",
    "print_table",
    "progress_bar",
    "show_time",
    "shown_of",
    "text_column",
    "token_column",
    "zone_of",
]
