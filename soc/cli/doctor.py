"""`soc doctor`: which store is in use and whether it answers."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from soc.cli.common import console, print_json, state


def doctor(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Check the configured store: kind, location, reachability, versions and counts.

    Exits 2 with one line naming the store and the cause when it cannot be used.
    """
    app_state = state(ctx)
    info = app_state.store.info()
    if as_json:
        print_json(info)
        return
    table = Table(title="soc doctor", show_header=False)
    table.add_column("what")
    table.add_column("value")
    for key, value in info.items():
        table.add_row(key, str(value))
    console.print(table)
