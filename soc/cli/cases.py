"""`soc cases`: open, list, annotate and close cases."""

from __future__ import annotations

import typer

app = typer.Typer(help="Open, list, annotate and close cases.", no_args_is_help=True)
