"""What the commands that read logs share (`soc ingest`, `soc collect`, `soc hunt`, the demo):
the ingest options from flags and settings, and the end-of-run summary table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from collectors.parsers import get_parser
from collectors.ship import ShipStats
from collectors.sources.logs import IngestOptions
from soc.cli.common import fail, state
from soc.cli.display import print_table, shown_of, token_column
from soc.safe_text import safe_cell

if TYPE_CHECKING:  # rich is imported when a table is printed (see soc.cli.common)
    from rich.table import Table


def build_options(
    ctx: typer.Context, fmt: str | None, department: str | None, host: str | None
) -> IngestOptions:
    """The ingest options from command-line flags and settings; raises a usage Exit for an
    unknown format or zone."""
    settings = state(ctx).settings
    if fmt is not None and fmt.lower() != "evtx":
        try:
            get_parser(fmt)
        except ValueError as exc:
            raise fail(f"--format: {exc}") from None
    zone_name = settings.get("timezone", "Asia/Ho_Chi_Minh")
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise fail(f"timezone: unknown zone {zone_name!r}") from None
    return IngestOptions(
        format=fmt,
        department=department or settings.get("department"),
        host_name=host,
        timezone=zone,
        keep_original=bool(settings.get("keep_original", True)),
    )


def print_summary(stats: ShipStats, *, dead_letter_dir: Path | None = None) -> None:
    """The end-of-run table: read, parsed, stored, duplicates, dead-lettered, duration, rate."""
    from rich.table import Table

    from soc.cli.common import console

    table = Table(title="Ingestion summary", title_justify="left")
    for name in ("read", "parsed", "stored", "duplicates", "dead-lettered", "seconds", "events/s"):
        table.add_column(name, justify="right")
    table.add_row(
        f"{stats.read:,}",
        f"{stats.parsed:,}",
        f"{stats.stored:,}",
        f"{stats.duplicates:,}",
        f"{stats.dead_lettered:,}",
        f"{stats.seconds:.2f}",
        f"{stats.events_per_second:,.0f}",
    )
    console.print(table)
    if len(stats.sources) > 1:
        print_table(_source_table(stats))
    if stats.dead_lettered and dead_letter_dir is not None:
        console.print(f"dead letters (with reasons): {dead_letter_dir}", markup=False)


#: At most this many sources are listed one by one (those with dead letters first).
MAX_SOURCE_ROWS = 25


def _source_table(stats: ShipStats) -> Table:
    from rich.table import Table

    shown = min(len(stats.sources), MAX_SOURCE_ROWS)
    title = f"Per source ({shown_of(shown, len(stats.sources), 'sources')}; --json lists all)"
    detail = Table(title=title, title_justify="left")
    token_column(detail, "source")  # whole paths: two files must never look alike
    detail.add_column("format", no_wrap=True)
    for name in ("read", "stored", "dups", "dead"):
        detail.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    rows = sorted(stats.sources.items(), key=lambda kv: (-kv[1].dead_lettered, kv[0]))
    for source, s in rows[:MAX_SOURCE_ROWS]:
        detail.add_row(
            safe_cell(source),
            s.format or "-",
            f"{s.read:,}",
            f"{s.stored:,}",
            f"{s.duplicates:,}",
            f"{s.dead_lettered:,}",
        )
    return detail
