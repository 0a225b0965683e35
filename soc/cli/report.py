"""`soc report`: reports for the city's leadership."""

from __future__ import annotations

import typer

app = typer.Typer(help="Reports for the city's leadership.", no_args_is_help=True)
