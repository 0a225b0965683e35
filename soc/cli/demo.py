"""`soc demo`: the main job on the embedded store with bundled sample data."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table
from rich.text import Text

from soc import ecs
from soc.cli.common import console, print_json, state
from soc.cli.ingestion import print_summary
from soc.demo import DEMO_SOURCES, open_demo_store, run_demo
from soc.safe_text import visible
from soc.triage.console import ConsoleOutput

LEVEL_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}


def demo(
    ctx: typer.Context,
    report_format: Annotated[
        str, typer.Option("--format", help="Format of the closing report: html, pdf or md.")
    ] = "html",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary.")] = False,
) -> None:
    """Run the daily job on the bundled sample in the embedded store: ingest the sample city
    logs, detect with the city rule pack, triage the top alert unattended and write a period
    report. Safe to repeat: nothing is stored or raised twice."""
    settings = state(ctx).settings
    store = open_demo_store(settings)
    try:
        if not as_json:
            console.print(
                f"citysoc demo: {len(DEMO_SOURCES)} sample files -> {settings.data_dir}",
                markup=False,
            )
        result = run_demo(settings, store, report_format=report_format)
    finally:
        store.close()
    if as_json:
        print_json(
            {
                "store": result.store_path,
                "ingest": result.ingest.as_dict(),
                "detection": result.detection.to_dict(),
                "alerts": len(result.alerts),
                "triaged_alert": result.triaged_alert and result.triaged_alert["id"],
                "triage": result.triage.as_dict() if result.triage else None,
                "report": result.report,
            }
        )
        return

    console.rule("1. Ingestion")
    print_summary(result.ingest)

    console.rule("2. Detection")
    console.print(_alert_table(result.alerts, ZoneInfo(settings["timezone"])))
    detection = result.detection
    console.print(
        f"{detection.rules_run} rules run: {detection.alerts_new} new alerts, "
        f"{detection.alerts_existing} already raised by an earlier run",
        markup=False,
    )

    console.rule("3. Triage of the top alert")
    top = result.triaged_alert
    if top is None:
        console.print("no alert to triage")
    elif result.triage is None:
        console.print(
            Text.assemble(
                "top alert ",
                (visible(top.get("rule_title")), "bold"),
                f" was triaged before: status {visible(top.get('status'))}, "
                f"case {visible(top.get('case_id') or '-')}",
            )
        )
    else:
        _print_triage(result.triage)

    console.rule("4. Report")
    console.print(f"period report: {result.report}", markup=False)


def _local_time(value: object, zone: ZoneInfo) -> str:
    try:
        return ecs.parse_timestamp(str(value)).astimezone(zone).strftime("%d/%m/%Y %H:%M:%S")
    except ValueError:
        return visible(value)


def _alert_table(alerts: list[dict], zone: ZoneInfo) -> Table:
    table = Table(title=f"{len(alerts)} alerts on the sample (times in {zone.key})")
    for column in ("level", "rule", "first seen", "events", "entities"):
        table.add_column(column, overflow="fold")
    for alert in alerts:
        level = str(alert.get("level", ""))
        entities = ", ".join(
            visible(v) for values in (alert.get("entities") or {}).values() for v in values[:2]
        )
        table.add_row(
            Text(level, style=LEVEL_STYLE.get(level, "")),
            Text(visible(alert.get("rule_title", ""))),
            Text(_local_time(alert.get("first_seen", ""), zone)),
            Text(str(len(alert.get("event_ids") or []))),
            Text(entities),
        )
    return table


def _print_triage(result) -> None:  # soc.triage.TriageResult
    out = ConsoleOutput(console)
    out.line(("playbook ", ""), (result.playbook, "bold"), f" on alert {result.alert_id}")
    out.line(
        f"verdict {result.verdict or '-'}, severity {result.severity or '-'}, "
        f"status {result.status or '-'}, case {result.case_id or '-'}"
    )
    for rec in result.recommendations:
        out.line("recommended: ", visible(rec.get("text") or rec), indent=2)
