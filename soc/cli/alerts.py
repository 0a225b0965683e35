"""`soc alerts`: list and inspect alerts."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from soc import clock, ecs
from soc.cli.common import EXIT_OK, console, fail, print_json, state
from soc.detect.alerts import LEVELS
from soc.safe_text import safe_cell, visible
from soc.store.queries import events_by_id, records_between
from soc.timespec import parse_moment
from soc.triage.lifecycle import LifecycleError, get_alert

app = typer.Typer(help="List and inspect alerts.", no_args_is_help=True)


@app.command("list")
def list_alerts(
    ctx: typer.Context,
    level: Annotated[
        str | None,
        typer.Option("--level", help="Minimum level: informational, low, medium, high, critical."),
    ] = None,
    rule: Annotated[str | None, typer.Option("--rule", help="Only this rule id.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="Only this status (new...).")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="First seen after: a duration (24h) or a time.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many (newest first).")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List alerts, newest first, filtered by level, rule, status and time."""
    if level is not None and level not in LEVELS:
        raise fail(f"--level: expected one of {', '.join(LEVELS)}, got {level!r}")
    since_text = None
    if since:
        try:
            since_text = ecs.format_timestamp(parse_moment(since, clock.now()))
        except ValueError as exc:
            raise fail(f"--since: {exc}") from None
    filters: dict[str, Any] = {}
    if rule:
        filters["rule_id"] = rule
    if status:
        filters["status"] = status
    if level:
        filters["level"] = list(LEVELS[LEVELS.index(level) :])
    # date, filters and limit go to the store's query (soc.store.queries)
    records = records_between(
        state(ctx).store,
        "alerts",
        field="first_seen",
        start=since_text,
        filters=filters,
        descending=True,
        limit=max(0, limit),
    )
    if as_json:
        print_json(records)
        raise typer.Exit(EXIT_OK)
    table = Table(title=f"{len(records)} alerts")
    for column in ("id", "level", "status", "rule", "first seen", "events", "entities"):
        table.add_column(column, overflow="fold")
    for record in records:
        entities = ", ".join(
            f"{k}={v}" for k, values in (record.get("entities") or {}).items() for v in values[:2]
        )
        table.add_row(
            safe_cell(str(record.get("id", ""))[:12]),
            safe_cell(record.get("level", "")),
            safe_cell(record.get("status", "")),
            safe_cell(record.get("rule_title", "")),
            safe_cell(record.get("first_seen", "")),
            safe_cell(len(record.get("event_ids") or [])),
            safe_cell(entities),
        )
    console.print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(help="Alert id (or a unique prefix of it).")],
    events: Annotated[int, typer.Option("--events", help="Show up to this many events.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one alert: rule, entities, times and its matched events."""
    store = state(ctx).store
    try:
        record = get_alert(store, alert_id)
    except LifecycleError as exc:
        raise fail(str(exc)) from None
    wanted = [str(i) for i in (record.get("event_ids") or [])[: max(0, events)]]
    found = events_by_id(store, wanted)
    shown = [found.get(i) for i in wanted]
    if as_json:
        print_json({"alert": record, "events": [e for e in shown if e is not None]})
        raise typer.Exit(EXIT_OK)
    table = Table(show_header=False, title=Text(f"Alert {visible(record.get('id'))}"))
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key in (
        "rule_title",
        "rule_id",
        "level",
        "status",
        "rule_type",
        "first_seen",
        "last_seen",
        "created",
        "count",
    ):
        table.add_row(key, safe_cell(record.get(key, "")))
    table.add_row("tags", safe_cell(", ".join(map(str, record.get("tags") or []))))
    for name, values in (record.get("entities") or {}).items():
        table.add_row(safe_cell(name), safe_cell(", ".join(map(str, values))))
    if record.get("group"):
        group = ", ".join(f"{k}={v}" for k, v in record["group"].items())
        table.add_row("group", safe_cell(group))
    table.add_row("events", safe_cell(len(record.get("event_ids") or [])))
    console.print(table)
    for event in shown:
        if event is None:
            continue
        original = ecs.get_field(event, "event.original")
        line = original if original else str(ecs.flatten(event))[:400]
        console.print(safe_cell(f"- {ecs.get_field(event, '@timestamp')} {line}"))
