"""`soc cases`: open, list, show, annotate, attach alerts to and close cases."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from soc.cli.common import EXIT_OK, console, fail, print_json, state
from soc.cli.display import show_time, shown_of, zone_of
from soc.safe_text import visible
from soc.triage import cases as case_ops
from soc.triage.display import analyst_of, print_rows
from soc.triage.lifecycle import LifecycleError

app = typer.Typer(help="Open, list, annotate and close cases.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _show_summary(case: dict[str, Any]) -> None:
    console.print(
        Text.assemble(
            ("case ", "dim"),
            (visible(case["id"]), "bold"),
            "  ",
            visible(case.get("title")),
        ),
        soft_wrap=True,
    )


@app.command("open")
def open_(
    ctx: typer.Context,
    title: Annotated[str, typer.Option("--title", "-t", help="What the case is about.")],
    alert: Annotated[
        list[str] | None, typer.Option("--alert", "-a", help="Alert to attach (repeatable).")
    ] = None,
    severity: Annotated[
        str, typer.Option("--severity", help="low, medium, high or critical.")
    ] = "medium",
    owner: Annotated[
        str | None, typer.Option("--owner", help="Analyst in charge (default: you).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Open a case (id CASE-YYYYMMDD-NNNN), optionally with alerts attached."""
    app_state = state(ctx)
    try:
        case = case_ops.open_case(
            app_state.store,
            title=title,
            analyst=analyst_of(app_state.settings),
            severity=severity,
            owner=owner,
            alert_ids=list(alert or []),
        )
    except LifecycleError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(case)
    else:
        _show_summary(case)


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status", help="open or closed.")] = None,
    severity: Annotated[str | None, typer.Option("--severity", help="Only this severity.")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Only this analyst's.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many.")] = None,
    utc: Annotated[bool, typer.Option("--utc", help="Show times in UTC.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List cases, newest first."""
    if status is not None and status not in case_ops.CASE_STATUSES:
        raise fail(f"--status {status!r}: expected open or closed")
    everything = case_ops.list_cases(
        state(ctx).store, status=status, severity=severity, owner=owner
    )
    rows = everything[: max(0, limit)] if limit is not None else everything
    if as_json:
        print_json(rows)
        return
    zone = zone_of(state(ctx).settings, utc)
    print_rows(
        console,
        ("id", "status", "severity", "verdict", "owner", "opened", "alerts", "title"),
        [
            (
                c.get("id"),
                c.get("status"),
                c.get("severity"),
                c.get("verdict") or "-",
                c.get("owner") or "-",
                show_time(c.get("opened_at"), zone) or "-",
                len(c.get("alert_ids") or []),
                c.get("title"),
            )
            for c in rows
        ],
    )
    console.print(shown_of(len(rows), len(everything), "cases"), markup=False)


@app.command("show")
def show(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(help="Case id.")],
    as_json: JsonOpt = False,
) -> None:
    """Show a case: its alerts, timeline (alerts, pivots, answers, actions), recommendations
    and notes."""
    try:
        case = case_ops.get_case(state(ctx).store, case_id)
    except LifecycleError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(case)
        return
    _show_summary(case)
    for key in ("status", "severity", "verdict", "owner", "opened_at", "closed_at"):
        console.print(Text.assemble((f"  {key}: ", "dim"), visible(case.get(key))), soft_wrap=True)
    for key in ("departments", "assets", "alert_ids"):
        console.print(
            Text.assemble((f"  {key}: ", "dim"), visible(", ".join(case.get(key) or []) or "-")),
            soft_wrap=True,
        )
    console.print(Text("Timeline", style="bold"))
    for entry in case.get("timeline") or []:
        console.print(
            Text.assemble(
                "  ",
                visible(entry.get("at")),
                " ",
                (f"{visible(entry.get('kind')):<7}", "cyan"),
                " ",
                visible(entry.get("summary")),
                (f"  ({visible(entry.get('by'))})", "dim"),
            ),
            soft_wrap=True,
        )
    if case.get("recommendations"):
        console.print(Text("Recommendations (not executed)", style="bold"))
        for rec in case["recommendations"]:
            console.print(
                Text.assemble(
                    "  ",
                    (f"[{visible(rec.get('kind'))}] ", "yellow"),
                    visible(rec.get("text")),
                    (f"  target: {visible(rec.get('target'))}", "dim"),
                ),
                soft_wrap=True,
            )
    if case.get("notes"):
        console.print(Text("Notes", style="bold"))
        for note in case["notes"]:
            console.print(
                Text.assemble(
                    "  ",
                    visible(note.get("at")),
                    " ",
                    visible(note.get("by")),
                    ": ",
                    visible(note.get("text"), multiline=True),
                ),
                soft_wrap=True,
            )


@app.command("note")
def note(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(help="Case id.")],
    text: Annotated[str, typer.Argument(help="The note.")],
    as_json: JsonOpt = False,
) -> None:
    """Add a note to a case (it joins the timeline)."""
    app_state = state(ctx)
    try:
        case = case_ops.add_note(
            app_state.store, case_id, text, analyst=analyst_of(app_state.settings)
        )
    except LifecycleError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(case)
    else:
        console.print(f"note added to {case['id']}", markup=False)


@app.command("attach")
def attach(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(help="Case id.")],
    alert_ids: Annotated[list[str], typer.Argument(help="Alert ids to attach.")],
    as_json: JsonOpt = False,
) -> None:
    """Attach alerts to an open case."""
    app_state = state(ctx)
    analyst = analyst_of(app_state.settings)
    try:
        case: dict[str, Any] = {}
        for alert_id in alert_ids:
            case = case_ops.attach_alert(app_state.store, case_id, alert_id, analyst=analyst)
    except LifecycleError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(case)
    else:
        console.print(f"{case['id']}: {len(case.get('alert_ids') or [])} alerts", markup=False)


@app.command("close")
def close(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(help="Case id.")],
    verdict: Annotated[
        str, typer.Option("--verdict", help="true_positive, false_positive or benign.")
    ],
    note_text: Annotated[str | None, typer.Option("--note", help="A closing note.")] = None,
    keep_alerts: Annotated[
        bool, typer.Option("--keep-alerts-open", help="Leave the case's alerts as they are.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Close a case with a verdict; its open alerts are closed with the same resolution."""
    app_state = state(ctx)
    try:
        case = case_ops.close_case(
            app_state.store,
            case_id,
            verdict=verdict,
            analyst=analyst_of(app_state.settings),
            note=note_text,
            close_alerts=not keep_alerts,
        )
    except LifecycleError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(case)
    else:
        console.print(f"{case['id']} closed: {verdict}", markup=False)
    raise typer.Exit(EXIT_OK)
