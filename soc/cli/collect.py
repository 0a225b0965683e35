"""`soc collect`: long-running collectors: follow files, syslog server, live capture."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Long-running collectors: follow files, syslog server, live capture.", no_args_is_help=True
)
