"""`soc triage`: triage an alert with a playbook."""

from __future__ import annotations

import typer

app = typer.Typer(help="Triage an alert with a playbook.", no_args_is_help=True)
