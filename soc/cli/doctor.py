"""`soc doctor`: which store is in use and whether it answers."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from soc import ecs
from soc.cli.common import console, print_json, state
from soc.cli.display import show_time, zone_of
from soc.store.base import Store, StoreError


def doctor(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Check the configured store: kind, location, reachability, versions and counts.

    Exits 2 with one line naming the store and the cause when it cannot be used.
    """
    app_state = state(ctx)
    store = app_state.store
    info = dict(store.info())
    first, last = event_span(store)
    info["first_event"], info["last_event"] = first, last
    if as_json:
        print_json(info)
        return
    table = Table(title="soc doctor", show_header=False)
    table.add_column("what")
    table.add_column("value")
    zone = zone_of(app_state.settings)
    for key, value in info.items():
        shown = show_time(value, zone) if key in ("first_event", "last_event") and value else value
        table.add_row(key, str(shown if shown is not None else "-"))
    console.print(table)
    if first:
        console.print(
            f"events span {show_time(first, zone)} .. {show_time(last, zone)}: "
            f"soc detect run --since {str(first)[:10]} covers them all",
            markup=False,
            soft_wrap=True,
        )


def event_span(store: Store) -> tuple[str | None, str | None]:
    """The @timestamp of the store's first and last event (None, None when it is empty)."""
    try:
        first = store.search(size=1, ascending=True).hits
        last = store.search(size=1, ascending=False).hits
    except StoreError:
        return None, None
    if not first or not last:
        return None, None
    return (
        ecs.get_field(first[0].source, "@timestamp"),
        ecs.get_field(last[0].source, "@timestamp"),
    )
