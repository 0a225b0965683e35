"""`soc rules`: check, test and map the coverage of Sigma rules."""

from __future__ import annotations

import typer

app = typer.Typer(help="Check, test and map the coverage of Sigma rules.", no_args_is_help=True)
