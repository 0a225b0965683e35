"""`soc events search`: find events with a Sigma detection (the compiler of the rules and the
playbook pivots, so it runs on either store) or the store's native query."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from soc import clock, ecs
from soc.cli.common import EXIT_OK, fail, print_json, state
from soc.cli.display import print_table, show_time, shown_of, text_column, token_column, zone_of
from soc.hunt.timeline import as_text, message_of
from soc.safe_text import safe_cell
from soc.store.base import StoreError
from soc.timespec import parse_moment

app = typer.Typer(help="Search events.", no_args_is_help=True)

#: Fields shown when none are asked for.
DEFAULT_FIELDS = ("host.name", "user.name", "source.ip", "event.dataset", "message")
#: Columns whose values are identifiers (never wrapped or cut).
_TOKEN_FIELDS = ("ip", "id", "hash", "path", "name", "address", "domain", "port")


def read_detection(text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(detection, logsource) from a YAML snippet or a Sigma rule file's text. A mapping with
    no ``condition`` is one selection (``field|modifier: value`` pairs); a document with a
    ``detection`` key is a Sigma rule (its logsource is used too). Raises ValueError."""
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"not YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(doc, dict) or not doc:
        raise ValueError("expected a Sigma detection (a YAML mapping)")
    logsource: dict[str, Any] = {}
    if "detection" in doc:
        logsource = doc.get("logsource") or {}
        doc = doc["detection"]
        if not isinstance(doc, dict):
            raise ValueError("detection: expected a mapping")
    if "condition" not in doc:
        doc = {"selection": doc, "condition": "selection"}
    return doc, logsource if isinstance(logsource, dict) else {}


def _logsource(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or key not in ("product", "service", "category"):
            raise fail(f"--logsource {pair!r}: expected product=..., service=... or category=...")
        out[key] = value
    return out


@app.command("search")
def search(
    ctx: typer.Context,
    detection: Annotated[
        str | None,
        typer.Argument(
            help="A Sigma detection as YAML, e.g. 'source.ip: 203.0.113.5' or "
            "'{sel: {user.name: root}, condition: sel}'.",
            show_default=False,
        ),
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--file", "-f", help="Read the detection (or a whole Sigma rule) from a file."
        ),
    ] = None,
    query: Annotated[
        str | None,
        typer.Option("--query", "-q", help="The store's native query (SQL condition or Lucene)."),
    ] = None,
    logsource: Annotated[
        list[str] | None,
        typer.Option("--logsource", help="product=linux, service=sshd... (Sigma field names)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="From: a duration back (24h) or a time.")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="Until (exclusive).")] = None,
    fields: Annotated[
        list[str] | None, typer.Option("--field", "-F", help="A field to show (repeatable).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many events.")] = 50,
    newest: Annotated[bool, typer.Option("--newest", help="Newest first.")] = False,
    utc: Annotated[bool, typer.Option("--utc", help="Show times in UTC.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
) -> None:
    """Search events by a Sigma detection or a native query, in time order.

    Exit code 0 (also when nothing matched), 2 when the detection or query is not valid."""
    given = [x is not None for x in (detection, from_file, query)]
    if sum(given) != 1:
        raise fail("give one of: a detection, --file FILE, or --query QUERY")
    if as_json and as_csv:
        raise fail("--json and --csv: choose one")
    app_state = state(ctx)
    store = app_state.store
    native = query
    if native is None:
        label = "detection"
        if from_file is not None:
            label = str(from_file)
            try:
                text = from_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise fail(f"{from_file}: {exc.strerror or exc}") from None
        else:
            text = detection or ""
        from soc.triage.pivot import PivotError, compile_pivot

        try:
            det, source = read_detection(text)
            source = {**source, **_logsource(logsource)}
            native = compile_pivot(det, source, store.kind)
        except (ValueError, PivotError) as exc:
            raise fail(f"{label}: {exc}") from None
    now = clock.now()
    try:
        start = parse_moment(since, now) if since else None
        end = parse_moment(until, now) if until else None
    except ValueError as exc:
        raise fail(f"--since/--until: {exc}") from None
    try:
        total = store.count(native, start=start, end=end)
        page = store.search(native, start=start, end=end, size=limit, ascending=not newest)
    except StoreError as exc:
        raise fail(f"query: {exc}") from None
    names = list(fields or DEFAULT_FIELDS)
    rows = []
    for hit in page.hits:
        row: dict[str, Any] = {"@timestamp": ecs.get_field(hit.source, "@timestamp")}
        for name in names:
            value = ecs.get_field(hit.source, name)
            if value is None and name == "message":
                value = message_of(hit.source)
            row[name] = value
        row["_id"] = hit.id
        rows.append(row)
    if as_json:
        print_json({"query": native, "total": total, "shown": len(rows), "events": rows})
        raise typer.Exit(EXIT_OK)
    if as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=["@timestamp", *names, "_id"])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: as_text(v) for k, v in row.items()})
        sys.stdout.flush()
        raise typer.Exit(EXIT_OK)
    zone = zone_of(app_state.settings, utc)
    table = Table(title=shown_of(len(rows), total, "events"), title_justify="left")
    table.add_column("time", no_wrap=True)
    for name in names:
        if any(part in name.lower() for part in _TOKEN_FIELDS):
            token_column(table, name)
        else:
            text_column(table, name)
    for row in rows:
        table.add_row(
            show_time(row["@timestamp"], zone), *(safe_cell(as_text(row[n])) for n in names)
        )
    print_table(table)
    raise typer.Exit(EXIT_OK)


__all__ = ["app", "read_detection", "search"]
