"""`soc hunt PATH...`: every file of a bundle into a store, detection over the data's own span,
a summary a person reads at a glance, and a timeline of the matched events."""

from __future__ import annotations

import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer

from soc.cli.common import EXIT_OK, EXIT_PARTIAL, fail, print_json, state
from soc.cli.display import (
    level_cell,
    print_table,
    progress_bar,
    show_time,
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
    lang: Annotated[
        str | None,
        typer.Option("--lang", help="Summary in vi or en (default: the `language` setting, vi)."),
    ] = None,
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
    from soc.i18n import UnknownLanguage, normalize_lang

    try:
        language = normalize_lang(lang or settings.get("language"))
    except UnknownLanguage as exc:
        raise fail(f"--lang: {exc}") from None
    rule_paths = gather_rule_paths(ctx, rules, no_pack)
    from soc.cli.ingestion import build_options

    options = build_options(ctx, None, None, None)
    from soc.hunt.workers import HuntWorkers, WorkerLost, WorkerSettingError, worker_count

    try:
        workers = worker_count()
    except WorkerSettingError as exc:
        raise fail(str(exc)) from None
    if not configured:
        # Imported before the fork, so that each worker has it too (its first slice of
        # files would otherwise import it, about 10 ms, as this process does).
        from soc.store.local import LocalStore
    with ExitStack() as stack:
        # Forked first: no store connection and no progress thread is copied into them.
        pool = stack.enter_context(HuntWorkers(workers))
        scratch = Path(tempfile.mkdtemp(prefix="soc-hunt-"))
        stack.callback(shutil.rmtree, scratch, True)
        if configured:
            store = app_state.store
            dead_dir = settings.data_dir / DEAD_LETTER_DIR
        else:
            from soc.store import LOCAL_DB_NAME

            home = keep if keep is not None else scratch / "store"
            try:
                home.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise fail(f"--keep {home}: {exc.strerror or exc}") from None
            # A scratch store is deleted with the hunt: it need not wait for the disk, nor
            # keep the indexes only an analyst's later searches would use.
            store = LocalStore(home / LOCAL_DB_NAME, durable=keep is not None)
            stack.callback(store.close)
            if keep is None:
                store.drop_pivot_indexes()
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
        try:
            report = run_hunt(
                store,
                inputs,
                options=options,
                dead_dir=dead_dir,
                rules_paths=rule_paths,
                include_pack=False,
                department=settings.get("department"),
                progress=progress,
                workers=pool,
                scratch=keep is None and not configured,
            )
        except WorkerLost as exc:
            if bar is not None:
                bar.stop()
            raise fail(str(exc)) from None
        if keep is None and not configured and timeline is None:
            # The scratch store is deleted next. Closed while the workers still hold it
            # open, and they exit without closing it: no connection is the last to close,
            # so none copies the write-ahead log into the file on its way out.
            store.close()
        pool.close()  # before a kept store closes, so that its file is whole
        rows_written = None
        if timeline is not None:
            from soc.hunt import timeline as tl

            if bar is not None:
                bar.add_task("timeline", total=None)
            rows = tl.build(store, report.all_alerts(store))
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
        _print(
            report,
            out,
            zone_of(settings, utc),
            top,
            keep=keep,
            configured=configured,
            lang=language,
        )
        if report.detection is not None:
            from soc.cli.detect import name_problems

            name_problems(ctx, report.detection, None)
    det = report.detection
    problems = bool(report.not_parsed()) or bool(
        det and (det.failed or det.invalid or det.not_convertible)
    )
    raise typer.Exit(EXIT_PARTIAL if problems else EXIT_OK)


def _print(
    report: Any,
    out: dict[str, Any],
    zone: Any,
    top: int,
    *,
    keep: Path | None,
    configured: bool,
    lang: str,
) -> None:
    """The summary a person reads, in ``lang`` (the message catalogue's hunt.* keys)."""
    from rich.table import Table

    from soc.cli.common import console, err_console
    from soc.i18n import format_number, t

    files = report.files
    span = (
        t("hunt.span", lang, first=show_time(report.first, zone), last=show_time(report.last, zone))
        if report.first
        else t("hunt.no_span", lang)
    )
    seconds = format_number(report.seconds, lang, 1)
    head = t("hunt.head", lang, count=len(files), events=report.events, span=span, seconds=seconds)
    console.print(head, markup=False)
    levels = out["levels"]
    if levels:
        line = safe_cell(t("hunt.alerts", lang, count=report.alert_count) + "  ")
        for name, count in levels.items():
            line.append_text(level_cell(name))
            line.append(f" {format_number(count, lang)}  ")
        console.print(line)
    else:
        console.print(t("hunt.alerts.none", lang), markup=False)
    if out["top_rules"]:
        table = Table(title=t("hunt.top_rules", lang), title_justify="left")
        table.add_column(t("hunt.col.alerts", lang), justify="right", no_wrap=True)
        table.add_column(t("hunt.col.level", lang), no_wrap=True)
        text_column(table, t("hunt.col.rule", lang))
        token_column(table, t("hunt.col.rule_id", lang))
        for row in out["top_rules"][:top]:
            table.add_row(
                format_number(row["alerts"], lang),
                level_cell(row["level"]),
                safe_cell(row["title"]),
                safe_cell(row["id"]),
            )
        print_table(table)
    entity = Table(title=t("hunt.top_entities", lang), title_justify="left")
    lists = [
        (t("hunt.col.host", lang), report.top_entities("host.name", top)),
        (t("hunt.col.user", lang), report.top_entities("user.name", top)),
        (t("hunt.col.source_ip", lang), report.top_entities("source.ip", top)),
    ]
    if any(values for _, values in lists):
        for name, _ in lists:
            token_column(entity, name)
        for i in range(max(len(v) for _, v in lists)):
            entity.add_row(
                *(
                    safe_cell(f"{v[i][0]} ({format_number(v[i][1], lang)})") if i < len(v) else ""
                    for _, v in lists
                )
            )
        print_table(entity)
    _print_files(files, zone, lang)
    for row in report.not_parsed():
        reasons = "; ".join(
            f"{why} ({format_number(n, lang)})" if n else why for why, n in row["reasons"].items()
        ) or t("hunt.not_parsed.records", lang)
        err_console.print(
            safe_cell(t("hunt.not_parsed", lang, file=row["file"], reasons=reasons)),
            soft_wrap=True,
        )
    det = report.detection
    if det is not None:
        console.print(
            t(
                "hunt.rules",
                lang,
                rules=det.rules_run,
                seconds=format_number(det.seconds, lang, 1),
                invalid=len(det.invalid),
                not_convertible=len(det.not_convertible),
                failed=len(det.failed),
            ),
            markup=False,
        )
    if "timeline" in out:
        line_t = out["timeline"]
        console.print(
            t("hunt.timeline", lang, rows=line_t["rows"], path=line_t["path"]), markup=False
        )
    if keep is not None:
        command = f"soc --data-dir {keep} alerts list"
        console.print(
            t("hunt.kept", lang, path=str(keep), command=command), markup=False, soft_wrap=True
        )


def _print_files(files: list[Any], zone: Any, lang: str) -> None:
    from rich.table import Table

    from soc.i18n import format_number, t

    ranked = sorted(files, key=lambda f: (not (f.dead_lettered or f.reasons), f.display))
    shown = min(len(files), FILE_ROWS)
    title = (
        t("hunt.files", lang, count=len(files))
        if shown >= len(files)
        else t("hunt.files.some", lang, shown=shown, count=len(files))
    )
    table = Table(title=title, title_justify="left")
    token_column(table, t("hunt.col.file", lang))
    table.add_column(t("hunt.col.format", lang), no_wrap=True)
    table.add_column(t("hunt.col.events", lang), justify="right", no_wrap=True)
    table.add_column(t("hunt.col.not_parsed", lang), justify="right", no_wrap=True)
    table.add_column(t("hunt.col.first", lang), no_wrap=True)
    table.add_column(t("hunt.col.last", lang), no_wrap=True)
    for f in ranked[:FILE_ROWS]:
        table.add_row(
            safe_cell(f.display),
            safe_cell(f.format or f.kind),
            format_number(f.events, lang),
            format_number(f.dead_lettered, lang),
            show_time(f.first, zone),
            show_time(f.last, zone),
        )
    print_table(table)


__all__ = ["hunt"]
