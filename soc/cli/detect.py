"""`soc detect`: run Sigma detection once or on a schedule."""

from __future__ import annotations

import typer

app = typer.Typer(help="Run Sigma detection once or on a schedule.", no_args_is_help=True)
