"""`soc detect`: run Sigma detection once or on a schedule."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from soc import clock, ecs
from soc.cli.common import EXIT_OK, EXIT_PARTIAL, console, err_console, fail, print_json, state
from soc.cli.rules import JsonOpt, NoPackOpt, RulesOpt, gather_rule_paths
from soc.safe_text import safe_cell
from soc.store.base import StoreError
from soc.timespec import parse_duration, parse_moment

if TYPE_CHECKING:
    from soc.detect.runner import DetectionSummary

app = typer.Typer(help="Run Sigma detection once or on a schedule.", no_args_is_help=True)


def _print_summary(summary: DetectionSummary, *, title: str) -> None:
    if summary.alerts:
        table = Table(title=title)
        for column in ("level", "rule", "first seen", "entities", "alert id"):
            table.add_column(column, overflow="fold")
        for alert in summary.alerts[:200]:
            entities = ", ".join(v for values in alert["entities"].values() for v in values[:2])
            table.add_row(
                safe_cell(alert["level"]),
                safe_cell(alert["rule_title"]),
                safe_cell(alert["first_seen"]),
                safe_cell(entities),
                safe_cell(alert["id"]),
            )
        console.print(table)
    for row in summary.failed:
        err_console.print(safe_cell(f"rule {row['id']} ({row['title']}): {row['error']}"))
    problems = len(summary.invalid) + len(summary.not_convertible)
    console.print(
        f"{summary.rules_run} rules run in {summary.seconds:.1f}s: {summary.alerts_new} new "
        f"alerts, {summary.alerts_existing} already raised, {summary.suppressed} suppressed; "
        f"{len(summary.failed)} rules failed, {problems} could not run "
        f"({len(summary.invalid)} invalid, {len(summary.not_convertible)} not convertible)",
        markup=False,
    )


@app.command("run")
def run(
    ctx: typer.Context,
    since: Annotated[
        str, typer.Option("--since", help="Window start: a duration back from now or a time.")
    ] = "24h",
    until: Annotated[
        str | None, typer.Option("--until", help="Window end (default now).", show_default=False)
    ] = None,
    rules: RulesOpt = None,
    no_pack: NoPackOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Run the rules once over [since, until) and store the alerts. Exit 0 when every rule
    ran, 1 when some were invalid, not convertible or rejected by the store."""
    now = clock.now()
    try:
        start = parse_moment(since, now)
        end = parse_moment(until, now) if until else now
    except ValueError as exc:
        raise fail(f"--since/--until: {exc}") from None
    if start >= end:
        raise fail("--since must be before --until")
    from soc.detect.compile import compile_all, target_for
    from soc.detect.loader import load_rules
    from soc.detect.runner import run_compiled

    paths = gather_rule_paths(ctx, rules, no_pack)
    store = state(ctx).store
    ruleset = load_rules(paths)
    compiled = compile_all(ruleset.rules, target_for(store.kind))
    summary = run_compiled(store, compiled, start, end, now=now, load_errors=ruleset.errors)
    if as_json:
        print_json(summary.to_dict())
    else:
        _print_summary(summary, title=f"Alerts {ecs.format_timestamp(start)} .. now")
    problems = summary.failed or summary.invalid or summary.not_convertible
    raise typer.Exit(EXIT_PARTIAL if problems else EXIT_OK)


@app.command("schedule")
def schedule(
    ctx: typer.Context,
    every: Annotated[str, typer.Option("--every", help="Cycle period, e.g. 5m.")] = "5m",
    overlap: Annotated[
        str, typer.Option("--overlap", help="How far each cycle re-reads before its watermark.")
    ] = "10m",
    settle: Annotated[
        str, typer.Option("--settle", help="Leave out the newest events younger than this.")
    ] = "30s",
    lookback: Annotated[
        str, typer.Option("--lookback", help="Window of a rule's first cycle.")
    ] = "24h",
    cycles: Annotated[
        int, typer.Option("--cycles", help="Stop after this many cycles (0 = run until stopped).")
    ] = 0,
    rules: RulesOpt = None,
    no_pack: NoPackOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON line per cycle.")] = False,
) -> None:
    """Run detection every period until SIGTERM/Ctrl-C (a cycle in progress finishes first).
    Each rule keeps a watermark in the store; a restart resumes where it stopped."""
    from soc.detect.compile import compile_all, target_for
    from soc.detect.loader import load_rules
    from soc.detect.runner import Schedule, run_cycle

    try:
        period = parse_duration(every)
        plan = Schedule(parse_duration(overlap), parse_duration(settle), parse_duration(lookback))
    except ValueError as exc:
        raise fail(str(exc)) from None
    paths = gather_rule_paths(ctx, rules, no_pack)
    store = state(ctx).store
    ruleset = load_rules(paths)
    compiled = compile_all(ruleset.rules, target_for(store.kind))
    stop = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    done = 0
    try:
        while not stop.is_set():
            started = time.monotonic()
            try:
                summary = run_cycle(store, compiled, clock.now(), plan)
            except StoreError as exc:  # keep running: the next cycle resumes from watermarks
                err_console.print(f"soc: cycle failed: {exc}", markup=False)
                done += 1
                if cycles and done >= cycles:
                    break
                stop.wait(period.total_seconds())
                continue
            done += 1
            if as_json:
                sys.stdout.write(json.dumps(summary.to_dict(), default=str) + "\n")
                sys.stdout.flush()
            else:
                _print_summary(summary, title=f"Cycle {done}")
            if cycles and done >= cycles:
                break
            stop.wait(max(0.0, period.total_seconds() - (time.monotonic() - started)))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    raise typer.Exit(EXIT_OK)


__all__ = ["app", "parse_moment"]
