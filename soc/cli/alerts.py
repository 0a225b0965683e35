"""`soc alerts`: list and inspect alerts."""

from __future__ import annotations

import typer

app = typer.Typer(help="List and inspect alerts.", no_args_is_help=True)
