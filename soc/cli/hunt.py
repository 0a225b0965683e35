"""`soc hunt PATH...`: every file of a bundle into a store, detection over the data's own span,
a summary a person reads at a glance, and a timeline of the matched events."""

from __future__ import annotations

import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

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
from soc.cli.rules import NoPackOpt, RulesOpt, gather_rule_paths
from soc.safe_text import safe_cell

#: Files listed one by one in the summary (those with problems first); --json has them all.
FILE_ROWS = 30


def hunt(
    ctx: typer.Context,
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Files and folders: text logs, EVTX, pcap/pcapng, .gz, .zip (by content).",
            show_default=False,
        ),
    ],
    keep: Annotated[
        Path | None,
        typer.Option(
            "--keep", help="Keep the hunt's store in this folder (default: a temporary one)."
        ),
    ] = None,
    configured: Annotated[
        bool,
        typer.Option("--into-store", help="Use the configured store instead of a scratch one."),
    ] = False,
    rules: RulesOpt = None,
    no_pack: NoPackOpt = False,
    timeline: Annotated[
        Path | None,
        typer.Option("--timeline", help="Write matched events in time order to a .csv or .jsonl."),
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Rows in each top list.")] = 10,
    utc: Annotated[bool, typer.Option("--utc", help="Show times in UTC.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Hunt through a bundle of files with the rule pack (plus --rules), nothing configured.

    Exit code 0 when everything was read and every rule ran, 1 when some input was not
    parsed or some rule could not run, 2 on a usage error.
    """
    from collectors.ship import DEAD_LETTER_DIR
    from soc.hunt.inputs import HuntInputError, classify, expand_named
    from soc.hunt.run import HuntProgress
    from soc.hunt.run import hunt as run_hunt

    if keep is not None and configured:
        raise fail("--keep and --into-store: choose one")
    if timeline is not None and timeline.suffix.lower() not in (".csv", ".jsonl", ".ndjson"):
        raise fail(f"--timeline {timeline}: write a .csv or .jsonl file")
    try:
        files = expand_named(paths)
    except HuntInputError as exc:
        raise fail(str(exc)) from None
    if not files:
        raise fail(f"{' '.join(paths)}: no files to read")
    app_state = state(ctx)
    settings = app_state.settings
    rule_paths = gather_rule_paths(ctx, rules, no_pack)
    from soc.cli.ingest import build_options

    options = build_options(ctx, None, None, None)
    with ExitStack() as stack:
        scratch = Path(tempfile.mkdtemp(prefix="soc-hunt-"))
        stack.callback(shutil.rmtree, scratch, True)
        if configured:
            store = app_state.store
            dead_dir = settings.data_dir / DEAD_LETTER_DIR
        else:
            from soc.store import LOCAL_DB_NAME
            from soc.store.local import LocalStore

            home = keep if keep is not None else scratch / "store"
            try:
                home.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise fail(f"--keep {home}: {exc.strerror or exc}") from None
            store = LocalStore(home / LOCAL_DB_NAME)
            stack.callback(store.close)
            dead_dir = home / DEAD_LETTER_DIR
        inputs = classify(list(files), scratch, displays=files)
        bar = progress_bar(not as_json)
        progress = HuntProgress()
        if bar is not None:
            stack.enter_context(bar)
            reading = bar.add_task("reading", total=len(inputs))
            rules_task: list[Any] = []

            def on_file(name: str, size: int) -> None:
                bar.update(reading, description=f"reading {Path(name).name[:40]}")
                bar.advance(reading)

            def on_phase(phase: str) -> None:
                if phase == "detecting":
                    bar.update(reading, completed=len(inputs), description="read")
                if phase == "compiling rules":
                    rules_task.append(bar.add_task("compiling rules", total=None))

            def on_rules(done: int, total: int) -> None:
                bar.update(rules_task[0], description="detecting", completed=done, total=total)

            progress = HuntProgress(on_file=on_file, on_rules=on_rules, on_phase=on_phase)
        report = run_hunt(
            store,
            inputs,
            options=options,
            dead_dir=dead_dir,
            rules_paths=rule_paths,
            include_pack=False,
            department=settings.get("department"),
            progress=progress,
        )
        rows_written = None
        if timeline is not None:
            from soc.hunt import timeline as tl

            if bar is not None:
                bar.add_task("timeline", total=None)
            rows = tl.build(store, report.alerts)
            try:
                tl.write(rows, timeline)
            except OSError as exc:
                raise fail(f"--timeline {timeline}: {exc.strerror or exc}") from None
            rows_written = len(rows)
        if bar is not None:
            bar.stop()
    out = report.to_dict()
    if keep is None and not configured:
        out["store"] = None
    if timeline is not None:
        out["timeline"] = {"path": str(timeline), "rows": rows_written}
    if as_json:
        print_json(out)
    else:
        _print(report, out, zone_of(settings, utc), top, keep=keep, configured=configured)
        if report.detection is not None:
            from soc.cli.detect import name_problems

            name_problems(ctx, report.detection, None)
    det = report.detection
    problems = bool(report.not_parsed()) or bool(
        det and (det.failed or det.invalid or det.not_convertible)
    )
    raise typer.Exit(EXIT_PARTIAL if problems else EXIT_OK)


def _print(
    report: Any, out: dict[str, Any], zone: Any, top: int, *, keep: Path | None, configured: bool
) -> None:
    files = report.files
    span = (
        f"from {show_time(report.first, zone)} to {show_time(report.last, zone)}"
        if report.first
        else "no timestamped events"
    )
    console.print(
        f"Hunt: {len(files):,} files, {report.events:,} events {span}, {report.seconds:.1f} s",
        markup=False,
    )
    levels = out["levels"]
    if levels:
        line = safe_cell(f"Alerts: {len(report.alerts):,}  ")
        for name, count in levels.items():
            line.append_text(level_cell(name))
            line.append(f" {count:,}  ")
        console.print(line)
    else:
        console.print("Alerts: none", markup=False)
    if out["top_rules"]:
        table = Table(title="Top rules", title_justify="left")
        table.add_column("alerts", justify="right", no_wrap=True)
        table.add_column("level", no_wrap=True)
        text_column(table, "rule")
        token_column(table, "rule id")
        for row in out["top_rules"][:top]:
            table.add_row(
                f"{row['alerts']:,}",
                level_cell(row["level"]),
                safe_cell(row["title"]),
                safe_cell(row["id"]),
            )
        print_table(table)
    entity = Table(title="Top entities (alerts)", title_justify="left")
    lists = [
        ("host", report.top_entities("host.name", top)),
        ("user", report.top_entities("user.name", top)),
        ("source ip", report.top_entities("source.ip", top)),
    ]
    if any(values for _, values in lists):
        for name, _ in lists:
            token_column(entity, name)
        for i in range(max(len(v) for _, v in lists)):
            entity.add_row(
                *(safe_cell(f"{v[i][0]} ({v[i][1]:,})") if i < len(v) else "" for _, v in lists)
            )
        print_table(entity)
    _print_files(files, zone)
    for row in report.not_parsed():
        reasons = (
            "; ".join(f"{why} ({n:,})" if n else why for why, n in row["reasons"].items())
            or "records not parsed"
        )
        err_console.print(safe_cell(f"not parsed: {row['file']}: {reasons}"), soft_wrap=True)
    det = report.detection
    if det is not None:
        console.print(
            f"{det.rules_run:,} rules run in {det.seconds:.1f} s; "
            f"{len(det.invalid):,} invalid, {len(det.not_convertible):,} not convertible, "
            f"{len(det.failed):,} failed",
            markup=False,
        )
    if "timeline" in out:
        t = out["timeline"]
        console.print(f"timeline: {t['rows']:,} events written to {t['path']}", markup=False)
    if keep is not None:
        console.print(
            f"store kept in {keep}: soc --data-dir {keep} alerts list", markup=False, soft_wrap=True
        )


def _print_files(files: list[Any], zone: Any) -> None:
    ranked = sorted(files, key=lambda f: (not (f.dead_lettered or f.reasons), f.display))
    table = Table(
        title=f"Files ({shown_of(min(len(files), FILE_ROWS), len(files), 'files')})",
        title_justify="left",
    )
    token_column(table, "file")
    table.add_column("format", no_wrap=True)
    table.add_column("events", justify="right", no_wrap=True)
    table.add_column("not parsed", justify="right", no_wrap=True)
    table.add_column("first", no_wrap=True)
    table.add_column("last", no_wrap=True)
    for f in ranked[:FILE_ROWS]:
        table.add_row(
            safe_cell(f.display),
            safe_cell(f.format or f.kind),
            f"{f.events:,}",
            f"{f.dead_lettered:,}",
            show_time(f.first, zone),
            show_time(f.last, zone),
        )
    print_table(table)


__all__ = ["hunt"]
