"""`soc detect`: run Sigma detection once or on a schedule."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from soc import clock, ecs
from soc.cli.common import EXIT_OK, EXIT_PARTIAL, console, err_console, fail, print_json, state
from soc.cli.display import (
    level_cell,
    print_table,
    progress_bar,
    show_time,
    shown_of,
    text_column,
    token_column,
    zone_of,
)
from soc.cli.rules import JsonOpt, NoPackOpt, RulesOpt, gather_rule_paths
from soc.cli.waiting import SignalStop, signals_set
from soc.safe_text import safe_cell
from soc.store.base import Store, StoreError
from soc.timespec import parse_duration, parse_moment

if TYPE_CHECKING:
    from soc.detect.compile import CompiledRule
    from soc.detect.group_scan import GroupScanner
    from soc.detect.leases import Lease
    from soc.detect.runner import DetectionSummary, Schedule


#: The shortest default lease: a scheduler that runs its cycles back to back still holds
#: its rules long enough to renew them.
MIN_DEFAULT_LEASE = timedelta(minutes=2)

app = typer.Typer(help="Run Sigma detection once or on a schedule.", no_args_is_help=True)


def _print_summary(summary: DetectionSummary, *, title: str, zone: tzinfo = UTC) -> None:
    if summary.alerts:
        shown = summary.alerts[:200]
        total = len(summary.alert_ids)
        table = Table(title=f"{title} ({shown_of(len(shown), total, 'alerts')})")
        table.add_column("level", no_wrap=True)
        text_column(table, "rule")
        table.add_column("first seen", no_wrap=True)
        token_column(table, "entities")
        token_column(table, "alert id")
        for alert in shown:
            entities = ", ".join(v for values in alert["entities"].values() for v in values[:2])
            table.add_row(
                level_cell(alert["level"]),
                safe_cell(alert["rule_title"]),
                show_time(alert["first_seen"], zone),
                safe_cell(entities),
                safe_cell(alert["id"]),
            )
        print_table(table)
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
    problems_file: Annotated[
        Path | None,
        typer.Option(
            "--problems",
            help="Write invalid and not-convertible rules (with reasons) to this file.",
            show_default=False,
        ),
    ] = None,
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
    from soc.detect.rule_cache import target_for
    from soc.detect.runner import load_and_compile, run_compiled
    from soc.hunt.workers import HuntWorkers, WorkerLost, WorkerSettingError, worker_count

    paths = gather_rule_paths(ctx, rules, no_pack)
    try:
        workers = worker_count()
    except WorkerSettingError as exc:
        raise fail(str(exc)) from None
    # Forked before the store is opened and the progress display starts (see soc.hunt.workers):
    # they load and convert the rules new to the caches and scan the local store's groups.
    with HuntWorkers(workers) as pool:
        store = state(ctx).store
        local = Path(store.path) if store.kind == "local" else None  # type: ignore[attr-defined]
        bar = progress_bar(not as_json)
        with bar if bar is not None else contextlib.nullcontext():
            task = bar.add_task("compiling rules", total=None) if bar is not None else None

            def on_progress(done: int, total: int) -> None:
                if bar is not None:
                    bar.update(task, description="detecting", completed=done, total=total)

            try:
                if pool.active:
                    pool.warm_rules(paths, target_for(store.kind))
                ruleset, compiled = load_and_compile(
                    store.kind,
                    paths,
                    include_pack=False,
                    convert_many=pool.convert if pool.active else None,
                )
                summary = run_compiled(
                    store,
                    compiled,
                    start,
                    end,
                    now=now,
                    load_errors=ruleset.errors,
                    on_progress=on_progress,
                    scanner=pool.scanner(local) if local is not None else None,
                )
            except WorkerLost as exc:
                if bar is not None:
                    bar.stop()
                raise fail(str(exc)) from None
    empty_window = _empty_window_hint(store, start, end) if not summary.alerts_new else None
    if as_json:
        out = summary.to_dict()
        if empty_window:
            out["hint"] = empty_window
        print_json(out)
    else:
        zone = zone_of(state(ctx).settings)
        _print_summary(
            summary, title=f"Alerts {show_time(start, zone)} .. {show_time(end, zone)}", zone=zone
        )
        name_problems(ctx, summary, problems_file)
        if empty_window:
            err_console.print(f"soc: {empty_window}", markup=False, soft_wrap=True)
    from soc.cli.outputs import deliver_after_detection

    delivered = deliver_after_detection(ctx)
    problems = summary.failed or summary.invalid or summary.not_convertible or not delivered
    raise typer.Exit(EXIT_PARTIAL if problems else EXIT_OK)


def _empty_window_hint(store: Store, start: datetime, end: datetime) -> str | None:
    """When the window holds no event but the store does: a sentence with the store's span
    and the flags that cover it; else None."""
    try:
        if store.count(start=start, end=end) > 0:
            return None
        first = store.search(size=1, ascending=True).hits
        last = store.search(size=1, ascending=False).hits
    except StoreError:
        return None
    if not first or not last:
        return None
    low = ecs.get_field(first[0].source, "@timestamp")
    high = ecs.get_field(last[0].source, "@timestamp")
    day = str(low)[:10]
    after = ecs.format_timestamp(ecs.parse_timestamp(str(high)) + timedelta(seconds=1))
    return (
        f"no event between {ecs.format_timestamp(start)} and {ecs.format_timestamp(end)}, but "
        f"the store holds events from {low} to {high}: run with --since {day} "
        f"--until {after[:19]}Z (or `soc hunt` over the files)"
    )


#: Problem rules named one per line up to this many; beyond, they go to a file.
PROBLEM_LINES = 20


def name_problems(ctx: typer.Context, summary: DetectionSummary, path: Path | None) -> None:
    """Name every invalid or not-convertible rule with its reason: on stderr when few (or
    no --problems file was asked for), else in a file whose path is printed."""
    rows = [("invalid", r) for r in summary.invalid]
    rows += [("not convertible", r) for r in summary.not_convertible]
    if not rows:
        return
    lines = [
        f"{kind}: {r.get('path') or '-'} {r.get('id') or ''} {r.get('title') or ''}: {r['error']}"
        for kind, r in rows
    ]
    lines = [" ".join(line.split()) for line in lines]
    if path is None and len(lines) <= PROBLEM_LINES:
        for line in lines:
            err_console.print(safe_cell(line), soft_wrap=True)
        return
    if path is None:
        path = state(ctx).settings.data_dir / "rule-problems.txt"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    except OSError as exc:
        for line in lines:
            err_console.print(safe_cell(line), soft_wrap=True)
        err_console.print(f"soc: {path}: {exc.strerror or exc}", markup=False)
        return
    err_console.print(
        f"soc: {len(lines):,} rules could not run; each with its reason in {path}",
        markup=False,
        soft_wrap=True,
    )


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
    scheduler_id: Annotated[
        str | None,
        typer.Option(
            "--scheduler-id", help="This scheduler's name among those sharing the store (host:pid)."
        ),
    ] = None,
    lease: Annotated[
        str | None,
        typer.Option(
            "--lease",
            help="How long this scheduler's claim on its rules lasts unrenewed "
            "(3 x --every, at least 2m).",
        ),
    ] = None,
) -> None:
    """Run detection every period until SIGTERM/Ctrl-C (a cycle in progress finishes first).
    Each rule keeps a watermark in the store; a restart resumes where it stopped. Several
    schedulers on one store share the rules (leases renewed every cycle); the rules of one
    that stops are taken over when its lease expires."""
    from soc.detect.leases import Lease, default_scheduler_id
    from soc.detect.rule_cache import target_for
    from soc.detect.runner import Schedule, load_and_compile
    from soc.hunt.workers import HuntWorkers, WorkerLost, WorkerSettingError, worker_count

    try:
        period = parse_duration(every)
        plan = Schedule(parse_duration(overlap), parse_duration(settle), parse_duration(lookback))
        held = parse_duration(lease) if lease else max(3 * period, MIN_DEFAULT_LEASE)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if held <= period:
        raise fail(f"--lease {lease}: must be longer than --every {every}")
    paths = gather_rule_paths(ctx, rules, no_pack)
    try:
        workers = worker_count()
    except WorkerSettingError as exc:
        raise fail(str(exc)) from None
    # Forked before the store is opened or a thread starts (see soc.hunt.workers); they
    # convert the rules new to the caches, then scan the local store's rule groups of every
    # cycle. They ignore SIGINT (Ctrl-C): this process finishes the cycle, then closes them.
    with HuntWorkers(workers, finish_on_stop=True) as pool:
        store = state(ctx).store
        try:
            if pool.active:
                pool.warm_rules(paths, target_for(store.kind))
            _ruleset, compiled = load_and_compile(
                store.kind,
                paths,
                include_pack=False,
                convert_many=pool.convert if pool.active else None,
            )
        except WorkerLost as exc:
            raise fail(str(exc)) from None
        local = Path(store.path) if store.kind == "local" else None  # type: ignore[attr-defined]
        scanner = pool.scanner(local) if local is not None else None
        claim = Lease(store, scheduler_id or default_scheduler_id(), held)
        _run_cycles(
            ctx, store, compiled, plan, claim, scanner, period=period, cycles=cycles,
            as_json=as_json,
        )  # fmt: skip
    raise typer.Exit(EXIT_OK)


def _run_cycles(
    ctx: typer.Context,
    store: Store,
    compiled: list[CompiledRule],
    plan: Schedule,
    claim: Lease,
    scanner: GroupScanner | None,
    *,
    period: timedelta,
    cycles: int,
    as_json: bool,
) -> None:
    """The cycles of `soc detect schedule`, one per period until stopped (SIGTERM/SIGINT:
    after the cycle in progress) or ``cycles`` are done; then the lease is released and a
    closing line printed. A cycle that fails (the store, a lost worker) is reported and the
    next one resumes from the watermarks; after a lost worker, cycles run in this process."""
    from soc.cli.outputs import configured_outputs, print_delivery
    from soc.detect.runner import run_cycle
    from soc.hunt.workers import WorkerLost

    outputs = configured_outputs(ctx)
    worker = None
    if outputs:
        from soc.outputs.deliver import OutputWorker

        worker = OutputWorker(store, outputs, on_report=print_delivery)
    stop = SignalStop()
    restore_signals = contextlib.ExitStack()  # SIGTERM/SIGINT end the loop after the cycle
    restore_signals.enter_context(signals_set(stop))
    done = 0
    total_alerts = 0
    try:
        while not stop.is_set():
            started = time.monotonic()
            try:
                summary = run_cycle(store, compiled, clock.now(), plan, claim, scanner=scanner)
            except (StoreError, WorkerLost) as exc:  # the next cycle resumes from watermarks
                err_console.print(f"soc: cycle failed: {exc}", markup=False, soft_wrap=True)
                if isinstance(exc, WorkerLost):
                    scanner = None
                done += 1
                if cycles and done >= cycles:
                    break
                stop.wait(period.total_seconds())
                continue
            done += 1
            total_alerts += summary.alerts_new
            if as_json:
                sys.stdout.write(json.dumps(summary.to_dict(), default=str) + "\n")
                sys.stdout.flush()
            else:
                console.print(cycle_line(done, summary, clock.now()), markup=False, soft_wrap=True)
                for row in summary.failed:
                    err_console.print(
                        safe_cell(f"rule {row['id']} ({row['title']}): {row['error']}")
                    )
            if worker is not None:
                worker.kick()  # delivery runs beside detection, never in its way
            if cycles and done >= cycles:
                break
            stop.wait(max(0.0, period.total_seconds() - (time.monotonic() - started)))
    finally:
        try:
            claim.release()
        except StoreError as exc:
            err_console.print(f"soc: could not release the lease: {exc}", markup=False)
        if worker is not None:
            worker.close()
        restore_signals.close()
        why = "stop requested" if stop.is_set() else "cycles done"
        err_console.print(
            f"soc: detect schedule stopped ({why}) after {done:,} cycles, "
            f"{total_alerts:,} new alerts in all",
            markup=False,
            soft_wrap=True,
        )
        stop.close()


def cycle_line(number: int, summary: DetectionSummary, now: datetime) -> str:
    """One log line of a scheduled cycle: when, rules run, alerts, duration and lag (how far
    the newest moment the cycle covered is behind now)."""
    lag = (now - summary.until).total_seconds() if summary.until is not None else 0.0
    failed = f", {len(summary.failed)} rules failed" if summary.failed else ""
    return (
        f"{ecs.format_timestamp(now)[:19]}Z cycle {number}: {summary.rules_run} rules, "
        f"{summary.alerts_new} new alerts ({summary.alerts_existing} already raised), "
        f"{summary.seconds:.1f}s, lag {lag:.0f}s{failed}"
    )


__all__ = ["app", "cycle_line", "name_problems", "parse_moment"]
