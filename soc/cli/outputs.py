"""`soc outputs`: deliver alerts to the configured webhook, e-mail and syslog outputs, and
show what was delivered (docs/outputs.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from soc.cli.common import EXIT_OK, EXIT_PARTIAL, console, err_console, fail, print_json, state

if TYPE_CHECKING:
    from soc.outputs.config import OutputConfig
    from soc.outputs.deliver import DeliveryReport

app = typer.Typer(help="Send alerts to webhook, e-mail and syslog outputs.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def configured_outputs(ctx: typer.Context) -> list[OutputConfig]:
    """The enabled outputs of the `outputs` setting; a bad setting exits with one line."""
    from soc.outputs.config import OutputConfigError, parse_outputs

    try:
        return parse_outputs(state(ctx).settings.get("outputs"))
    except OutputConfigError as exc:
        raise fail(str(exc)) from None


def print_delivery(report: DeliveryReport) -> None:
    """One line per output on stderr (sent, failed with the first reason)."""
    for line in report.lines():
        err_console.print(f"soc: {line}", markup=False, soft_wrap=True)


def deliver_after_detection(ctx: typer.Context, *, quiet: bool = False) -> bool:
    """Deliver pending alerts when outputs are configured (after `detect run`); failures are
    reported, never raised. True when nothing failed."""
    outputs = configured_outputs(ctx)
    if not outputs:
        return True
    from soc.outputs.deliver import deliver_pending
    from soc.store.base import StoreError

    try:
        report = deliver_pending(state(ctx).store, outputs)
    except StoreError as exc:
        err_console.print(f"soc: outputs: {exc}", markup=False)
        return False
    if not quiet:
        print_delivery(report)
    return report.ok


@app.command("send")
def send(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Deliver every pending alert now (each alert once per output, even across restarts).
    Exit 0 when all went out, 1 when some failed (they are retried next time)."""
    outputs = configured_outputs(ctx)
    if not outputs:
        raise fail("no outputs configured (soc.yaml: outputs.webhook / .email / .syslog)")
    from soc.outputs.deliver import deliver_pending

    report = deliver_pending(state(ctx).store, outputs)
    if as_json:
        print_json(report.to_dict())
    else:
        for line in report.lines():
            console.print(line, markup=False, soft_wrap=True)
    raise typer.Exit(EXIT_OK if report.ok else EXIT_PARTIAL)


@app.command("status")
def status(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Per output: alerts sent, failing (with the last reason), given up."""
    outputs = configured_outputs(ctx)
    from soc.outputs.deliver import delivery_status

    found: dict[str, Any] = delivery_status(state(ctx).store, outputs)
    if as_json:
        print_json(found)
        raise typer.Exit(EXIT_OK)
    if not found:
        console.print("no outputs configured", markup=False)
    for name, row in found.items():
        console.print(
            f"{name}: {row['sent']} sent, {row['failed']} failing, {row['gave_up']} given up"
            + (f", {row['sending']} being sent" if row.get("sending") else "")
            + (f"; last error: {row['last_error']}" if row["last_error"] else ""),
            markup=False,
            soft_wrap=True,
        )


@app.command("test")
def test(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="webhook, email or syslog.")],
) -> None:
    """Send a made-up alert through one output to check its settings (nothing recorded)."""
    from soc import clock, ecs
    from soc.outputs.senders import SENDERS, SendError

    chosen = [o for o in configured_outputs(ctx) if o.name == name]
    if not chosen:
        raise fail(f"{name}: not a configured output")
    stamp = ecs.format_timestamp(clock.now())
    alert = {
        "id": "test-" + stamp,
        "rule_id": "citysoc-output-test",
        "rule_title": "citysoc output test",
        "level": "informational",
        "first_seen": stamp,
        "last_seen": stamp,
        "created": stamp,
        "event_ids": [],
        "entities": {},
        "tags": [],
        "status": "new",
    }
    try:
        SENDERS[name](alert, chosen[0].options)
    except SendError as exc:
        raise fail(str(exc)) from None
    console.print(f"{name}: test alert delivered", markup=False)


__all__ = ["app", "configured_outputs", "deliver_after_detection", "print_delivery"]
