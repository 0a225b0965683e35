"""`soc alerts`: list and inspect alerts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from soc import clock, ecs
from soc.cli.common import EXIT_OK, console, err_console, fail, print_json, state
from soc.cli.display import (
    level_cell,
    print_table,
    show_time,
    shown_of,
    text_column,
    token_column,
    zone_of,
)
from soc.detect.alerts import LEVELS
from soc.safe_text import safe_cell, visible
from soc.store.queries import count_records_between, events_by_id, records_between
from soc.timespec import parse_moment
from soc.triage.lifecycle import LifecycleError, get_alert

app = typer.Typer(help="List and inspect alerts.", no_args_is_help=True)


LevelOpt = Annotated[
    str | None,
    typer.Option("--level", help="Minimum level: informational, low, medium, high, critical."),
]
RuleOpt = Annotated[str | None, typer.Option("--rule", help="Only this rule id.")]
StatusOpt = Annotated[str | None, typer.Option("--status", help="Only this status (new...).")]
SinceOpt = Annotated[
    str | None, typer.Option("--since", help="First seen after: a duration (24h) or a time.")
]


def select_alerts(
    ctx: typer.Context,
    level: str | None,
    rule: str | None,
    status: str | None,
    since: str | None,
    limit: int | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """The newest ``limit`` alerts matching the filters (all with None), and how many match
    in all; the store does the filtering, ordering, limit and count. A bad option exits
    with one line."""
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
        limit=None if limit is None else max(0, limit),
    )
    if limit is None or len(records) < limit:
        return records, len(records)
    total = count_records_between(
        state(ctx).store, "alerts", field="first_seen", start=since_text, filters=filters
    )
    return records, total


@app.command("list")
def list_alerts(
    ctx: typer.Context,
    level: LevelOpt = None,
    rule: RuleOpt = None,
    status: StatusOpt = None,
    since: SinceOpt = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many (newest first).")] = 100,
    utc: Annotated[bool, typer.Option("--utc", help="Show times in UTC.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List alerts, newest first, filtered by level, rule, status and time; the title says
    how many of how many are shown."""
    records, total = select_alerts(ctx, level, rule, status, since, max(0, limit))
    if as_json:
        print_json(records)
        raise typer.Exit(EXIT_OK)
    zone = zone_of(state(ctx).settings, utc)
    title = shown_of(len(records), total, "alerts")
    if len(records) < total:
        title += " (--limit for more)"
    table = Table(title=title, title_justify="left")
    token_column(table, "id")
    table.add_column("level", no_wrap=True)
    table.add_column("status", no_wrap=True)
    token_column(table, "assignee")
    text_column(table, "rule")
    table.add_column("first seen", no_wrap=True)
    table.add_column("events", justify="right", no_wrap=True)
    token_column(table, "entities")
    for record in records:
        entities = Text("\n").join(
            safe_cell(f"{k}={v}")
            for k, values in (record.get("entities") or {}).items()
            for v in values[:2]
        )
        table.add_row(
            safe_cell(str(record.get("id", ""))[:12]),
            level_cell(record.get("level", "")),
            safe_cell(record.get("status", "")),
            safe_cell(record.get("assignee") or "-"),
            safe_cell(record.get("rule_title", "")),
            show_time(record.get("first_seen"), zone),
            f"{len(record.get('event_ids') or []):,}",
            entities,
        )
    print_table(table)


@app.command("export")
def export(
    ctx: typer.Context,
    fmt: Annotated[
        str, typer.Option("--format", help="csv, jsonl (the records) or ndjson-ecs (ECS alerts).")
    ] = "jsonl",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file (default: stdout).")
    ] = None,
    level: LevelOpt = None,
    rule: RuleOpt = None,
    status: StatusOpt = None,
    since: SinceOpt = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="At most this many (newest first).")
    ] = None,
) -> None:
    """Export alerts (newest first) as CSV, JSON Lines or ECS NDJSON, for a spreadsheet, a
    SIEM or a data lake."""
    import csv
    import json

    from soc.outputs.formats import CSV_COLUMNS, csv_row, ecs_document

    if fmt not in ("csv", "jsonl", "ndjson-ecs"):
        raise fail(f"--format {fmt!r}: expected csv, jsonl or ndjson-ecs")
    records, _total = select_alerts(ctx, level, rule, status, since, limit)
    try:
        handle = open(out, "w", encoding="utf-8", newline="") if out else sys.stdout  # noqa: SIM115
    except OSError as exc:
        raise fail(f"--out {out}: {exc.strerror or exc}") from None
    try:
        if fmt == "csv":
            writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            for record in records:
                writer.writerow(csv_row(record))
        else:
            for record in records:
                doc = ecs_document(record) if fmt == "ndjson-ecs" else record
                handle.write(json.dumps(doc, ensure_ascii=False, default=str) + "\n")
    finally:
        if out:
            handle.close()
        else:
            handle.flush()
    if out:
        err_console.print(f"{len(records):,} alerts written to {out}", markup=False)


@app.command("show")
def show(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(help="Alert id (or a unique prefix of it).")],
    events: Annotated[int, typer.Option("--events", help="Show up to this many events.")] = 5,
    utc: Annotated[bool, typer.Option("--utc", help="Show times in UTC.")] = False,
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
    zone = zone_of(state(ctx).settings, utc)
    for key in ("rule_title", "rule_id", "level", "status", "assignee", "resolution"):
        if key == "level":
            table.add_row(key, level_cell(record.get(key, "")))
        elif key in ("assignee", "resolution") and not record.get(key):
            if key == "assignee":
                table.add_row(key, "-")
        else:
            table.add_row(key, safe_cell(record.get(key, "")))
    table.add_row("rule_type", safe_cell(record.get("rule_type", "")))
    for key in ("first_seen", "last_seen", "created"):
        table.add_row(key, show_time(record.get(key), zone))
    table.add_row("count", safe_cell(record.get("count", "")))
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
        stamp = show_time(ecs.get_field(event, "@timestamp"), zone)
        console.print(safe_cell(f"- {stamp} {line}"))
