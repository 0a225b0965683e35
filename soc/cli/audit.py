"""`soc audit`: the audit trail of every change analysts and playbooks made."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from soc.cli.common import console, fail, print_json, state
from soc.cli.display import show_time, shown_of, zone_of
from soc.store.base import Store
from soc.triage.audit import list_audit
from soc.triage.display import parse_since, print_rows
from soc.triage.lifecycle import MIN_PREFIX

app = typer.Typer(
    subcommand_metavar="",
    context_settings={"allow_interspersed_args": True},
)


def _change(before: Any, after: Any) -> str:
    def short(value: Any) -> str:
        if isinstance(value, dict):
            return ", ".join(f"{k}={v}" for k, v in value.items() if v is not None) or "-"
        return "-" if value is None else str(value)

    return f"{short(before)} -> {short(after)}"


def resolve_object(store: Store, given: str) -> str:
    """The full id of the alert or case that ``given`` names (a whole id, or the short id
    that listings show); exits with one line when a prefix is ambiguous. An id matching
    nothing is kept as given (its audit records may outlive the object)."""
    if store.get_record("alerts", given) or store.get_record("cases", given):
        return given
    matches = [
        str(r.get("id"))
        for kind in ("alerts", "cases")
        for r in store.list_records(kind)
        if str(r.get("id", "")).startswith(given)
    ]
    if len(matches) > 1 and len(given) < MIN_PREFIX:
        raise fail(f"--object {given!r}: prefix too short, {len(matches)} alerts or cases match")
    if len(matches) > 1:
        raise fail(f"--object {given!r}: ambiguous, {len(matches)} alerts or cases match")
    return matches[0] if matches else given


@app.callback(invoke_without_command=True)
def audit(
    ctx: typer.Context,
    object_id: Annotated[
        str | None, typer.Option("--object", help="Only changes to this alert or case id.")
    ] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="alerts or cases.")] = None,
    analyst: Annotated[
        str | None, typer.Option("--by", help="Only changes made by this analyst.")
    ] = None,
    action: Annotated[
        str | None,
        typer.Option("--action", help="e.g. alert.status, or a prefix ending in '.': case."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="A duration back from now (24h) or a time.")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Only the newest N.")] = None,
    utc: Annotated[bool, typer.Option("--utc", help="Show times in UTC.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """The audit trail of every change analysts and playbooks made.

    Lists audit records (who, when, what, before -> after), oldest first. Exit 0, or 2 on a
    bad option."""
    if ctx.invoked_subcommand is not None:
        return
    if kind is not None and kind not in ("alerts", "cases"):
        raise fail(f"--kind {kind!r}: expected alerts or cases")
    try:
        start = parse_since(since)
    except ValueError as exc:
        raise fail(str(exc)) from None
    store = state(ctx).store
    if object_id:
        object_id = resolve_object(store, object_id)
    everything = list_audit(
        store,
        object_id=object_id,
        object_kind=kind,
        analyst=analyst,
        action=action,
        since=start,
    )
    rows = everything[-limit:] if limit and limit > 0 else [] if limit == 0 else everything
    if as_json:
        print_json(rows)
        return
    zone = zone_of(state(ctx).settings, utc)
    print_rows(
        console,
        ("at", "analyst", "action", "object", "change"),
        [
            (
                show_time(r.get("at"), zone),
                r.get("analyst"),
                r.get("action"),
                r.get("object_id"),
                _change(r.get("before"), r.get("after")),
            )
            for r in rows
        ],
    )
    console.print(shown_of(len(rows), len(everything), "audit records"), markup=False)
