"""`soc audit`: the audit trail of every change analysts and playbooks made."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="The audit trail of every change analysts and playbooks made.", no_args_is_help=True
)
