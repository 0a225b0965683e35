"""`soc config`: show the effective settings."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from soc.cli.common import console, print_json, state

app = typer.Typer(help="Show the effective settings.", no_args_is_help=True)


@app.command("show")
def show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Print every setting, its value (secrets masked) and where the value came from."""
    settings = state(ctx).settings
    masked = settings.masked()
    if as_json:
        print_json(
            {
                "config_file": settings.config_file,
                "store": settings.store_kind,
                "settings": masked,
                "origins": settings.origins,
            }
        )
        return
    table = Table(title=f"settings (store: {settings.store_kind})")
    table.add_column("setting")
    table.add_column("value")
    table.add_column("from")
    for name, value in masked.items():
        table.add_row(name, "" if value is None else str(value), settings.origins.get(name, ""))
    console.print(table)
    if settings.config_file:
        console.print(f"config file: {settings.config_file}", markup=False)
