"""Alert lifecycle commands for the `soc alerts` group: `status` and `assign` (plus `note`).

soc/cli/alerts.py (the detection engine's) registers them with ``register(app)``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from soc.cli.common import console, fail, print_json, state
from soc.triage import lifecycle
from soc.triage.display import analyst_of
from soc.triage.lifecycle import LifecycleError


def status(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(help="Alert id (or unique prefix).")],
    new_status: Annotated[
        str, typer.Argument(metavar="STATUS", help="in_progress, escalated or closed.")
    ],
    resolution: Annotated[
        str | None,
        typer.Option("--resolution", help="true_positive, false_positive or benign (closing)."),
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (audited).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the alert as JSON.")] = False,
) -> None:
    """Move an alert through its lifecycle: new -> in_progress -> escalated -> closed
    (with --resolution); closed -> in_progress reopens. Exit 2 on a refused move."""
    app_state = state(ctx)
    try:
        alert = lifecycle.set_status(
            app_state.store,
            alert_id,
            new_status,
            analyst=analyst_of(app_state.settings),
            resolution=resolution,
            reason=reason,
        )
    except LifecycleError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(alert)
    else:
        suffix = f" ({alert['resolution']})" if alert.get("resolution") else ""
        console.print(f"{alert['id']}: {alert['status']}{suffix}", markup=False)


def assign(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(help="Alert id (or unique prefix).")],
    name: Annotated[str, typer.Argument(help="Analyst to assign ('' to unassign).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the alert as JSON.")] = False,
) -> None:
    """Assign an alert to an analyst (audited)."""
    app_state = state(ctx)
    try:
        alert = lifecycle.assign(
            app_state.store, alert_id, name, analyst=analyst_of(app_state.settings)
        )
    except LifecycleError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(alert)
    else:
        console.print(
            f"{alert['id']}: assigned to {alert.get('assignee') or 'nobody'}", markup=False
        )


def note(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(help="Alert id (or unique prefix).")],
    text: Annotated[str, typer.Argument(help="The note.")],
) -> None:
    """Add a note to an alert (audited)."""
    app_state = state(ctx)
    try:
        alert = lifecycle.add_note(
            app_state.store, alert_id, text, analyst=analyst_of(app_state.settings)
        )
    except LifecycleError as exc:
        raise fail(str(exc)) from None
    console.print(f"{alert['id']}: note added", markup=False)


COMMANDS = {"status": status, "assign": assign, "note": note}


def register(app: typer.Typer) -> None:
    """Add the lifecycle commands to the `soc alerts` Typer app (once)."""
    present = {c.name for c in app.registered_commands}
    for name, function in COMMANDS.items():
        if name not in present:
            app.command(name)(function)
