"""`soc store`: housekeeping of the Elasticsearch store (retention, layout migration)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from soc.cli.common import EXIT_OK, console, fail, print_json, state
from soc.store.base import Store, StoreError
from soc.timespec import parse_duration

if TYPE_CHECKING:
    from soc.store.elastic import ElasticStore

app = typer.Typer(help="Elasticsearch store housekeeping.", no_args_is_help=True)


def _elastic(store: Store, command: str) -> ElasticStore:
    """The store as an ElasticStore, or a one-line error for other stores."""
    from soc.store.elastic import ElasticStore

    if not isinstance(store, ElasticStore):
        raise fail(
            f"soc store {command}: only the Elasticsearch store keeps events in indices "
            "(set elasticsearch.url); the local store has nothing to do"
        )
    return store


@app.command("prune")
def prune_cmd(
    ctx: typer.Context,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            help="Delete event indices older than this (90d); default: elasticsearch.retention.",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list them.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Delete whole event indices older than the retention period: ingest-day indices by
    their day, rollover indices once the next index was created before the cutoff."""
    from soc.store.es_layout import prune

    app_state = state(ctx)
    text = older_than or str(app_state.settings.get("elasticsearch.retention") or "90d")
    try:
        age = parse_duration(text)
    except ValueError as exc:
        raise fail(f"--older-than: {exc}") from None
    if age.days < 1:
        raise fail(f"--older-than: {text!r} is less than a day; indices hold whole days")
    store = _elastic(app_state.store, "prune")
    try:
        names = prune(store, age, dry_run=dry_run)
    except StoreError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json({"deleted": [] if dry_run else names, "would_delete": names if dry_run else []})
        raise typer.Exit(EXIT_OK)
    verb = "would delete" if dry_run else "deleted"
    console.print(f"{verb} {len(names)} event indices older than {text}")
    for name in names:
        console.print(f"  {name}")


@app.command("migrate")
def migrate_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Bring an Elasticsearch store written by an earlier version to this layout, in place."""
    from soc.store.es_layout import migrate

    store = _elastic(state(ctx).store, "migrate")
    try:
        report = migrate(store)
    except StoreError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(report.as_dict())
        raise typer.Exit(EXIT_OK)
    console.print(f"index template version {report.template_version} installed")
    console.print(
        f"{report.indices} event indices; {len(report.aliased)} added to the read alias; "
        f"settings applied to {report.settings_updated}"
    )
    console.print(f"lifecycle: {report.lifecycle}")
    if report.write_index:
        console.print(
            f"rollover layout: events now go through {store.prefix}-events-write "
            f"to {report.write_index}; older indices keep the read alias"
        )
    if report.old_layout:
        console.print(
            f"{len(report.old_layout)} indices from the event-day layout stay readable "
            "as they are; `soc store prune` removes them by their day"
        )
