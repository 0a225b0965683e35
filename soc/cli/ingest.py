"""`soc ingest`: one-shot ingestion of log files, directories, stdin, EVTX and packet captures."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="One-shot ingestion of log files, directories, stdin, EVTX and packet captures.",
    no_args_is_help=True,
)
