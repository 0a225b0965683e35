"""`soc ingest`: one-shot ingestion of log files, directories, stdin, EVTX and packet captures."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from collectors.ship import DeadLetterError, DeadLetterFile, Shipper, ShipStats
from collectors.sources.files import STDIN, InputError, expand_paths
from collectors.sources.logs import IngestOptions, LogIngestor
from soc.cli import pcap
from soc.cli.common import (
    EXIT_OK,
    EXIT_PARTIAL,
    err_console,
    fail,
    print_json,
    state,
)
from soc.cli.ingestion import build_options, print_summary
from soc.store.base import StoreError

app = typer.Typer(
    help="One-shot ingestion of log files, directories, stdin, EVTX and packet captures.",
    no_args_is_help=True,
)

PathsArg = Annotated[
    list[str],
    typer.Argument(
        help="Files, directories (recursive), globs, .gz files, .evtx files, or - for stdin.",
        show_default=False,
    ),
]
FormatOpt = Annotated[
    str | None,
    typer.Option("--format", "-f", help="Format of every text file (default: detect per file)."),
]
DepartmentOpt = Annotated[
    str | None, typer.Option("--department", help="labels.department of every event.")
]
HostOpt = Annotated[
    str | None, typer.Option("--host", help="host.name for lines that name no host.")
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON object with the counts instead of a table.")
]
BatchOpt = Annotated[int | None, typer.Option("--batch-size", hidden=True, min=1)]
#: Events per store write when neither --batch-size nor the store says otherwise.
DEFAULT_BATCH = 2000


def expand_or_fail(paths: list[str]) -> list[str]:
    """The expanded inputs, or a usage error (exit 2) naming the first bad argument."""
    try:
        return expand_paths(paths)
    except InputError as exc:
        raise fail(str(exc)) from None


def _total_bytes(items: list[str]) -> int | None:
    total = 0
    for item in items:
        if item == STDIN:
            return None
        with contextlib.suppress(OSError):
            total += Path(item).stat().st_size
    return total


def run_ingest(
    ctx: typer.Context,
    items: list[str],
    options: IngestOptions,
    *,
    as_json: bool,
    batch_size: int | None,
) -> None:
    """Ingest every item once, print the summary (table or JSON) and exit 0 or 1. Without
    ``batch_size`` each store write carries what the store takes at once
    (``write_batch_events``: the Elasticsearch store's bulk size times bulks in flight)."""
    app_state = state(ctx)
    settings = app_state.settings
    store = app_state.store
    dead = DeadLetterFile.in_data_dir(settings.data_dir)
    show_progress = not as_json and err_console.is_terminal
    progress = (
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[rate]} events/s"),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        )
        if show_progress
        else None
    )
    task = (
        progress.add_task("ingesting", total=_total_bytes(items), rate="0")
        if progress is not None
        else None
    )

    def on_bytes(n: int) -> None:
        if progress is not None and task is not None:
            progress.advance(task, n)

    def on_batch(stats: ShipStats) -> None:
        if progress is not None and task is not None:
            progress.update(task, rate=f"{stats.events_per_second:,.0f}")

    batch_events = batch_size or int(getattr(store, "write_batch_events", DEFAULT_BATCH))
    shipper = Shipper(store, dead_letters=dead, batch_events=batch_events, on_batch=on_batch)
    ingestor = LogIngestor(shipper, options, on_bytes=on_bytes)
    interrupted = False
    try:
        if progress is not None:
            progress.start()
        try:
            for item in items:
                if progress is not None and task is not None:
                    progress.update(task, description=_short(item))
                if _empty_evtx(item, options):
                    reason = "empty file (zero bytes), not an EVTX file"
                    shipper.reject(item, b"", reason)
                    err_console.print(f"soc: error: {item}: {reason}", markup=False, soft_wrap=True)
                    continue
                ingestor.ingest(item)
        except KeyboardInterrupt:
            interrupted = True
        shipper.close()
    except DeadLetterError as exc:
        raise fail(str(exc)) from None
    except StoreError as exc:
        # The store stayed unreachable (after the retries) or failed: what it acknowledged
        # stays stored; do not try the same batch again on the way out.
        dead.close()
        raise fail(f"{exc} (stored so far: {shipper.stats.stored:,})") from None
    finally:
        if progress is not None:
            progress.stop()
    stats = shipper.stats
    if as_json:
        print_json(stats.as_dict())
    else:
        print_summary(stats, dead_letter_dir=dead.directory)
    if interrupted:
        raise typer.Exit(130)
    raise typer.Exit(EXIT_PARTIAL if stats.dead_lettered else EXIT_OK)


def _empty_evtx(item: str, options: IngestOptions) -> bool:
    """An EVTX input (named .evtx, or read with --format evtx) that holds no byte at all:
    reported like an empty capture, never passed over in silence."""
    if item == STDIN or not (options.format == "evtx" or item.lower().endswith(".evtx")):
        return False
    try:
        return Path(item).stat().st_size == 0
    except OSError:
        return False


def _short(item: str) -> str:
    name = "stdin" if item == STDIN else Path(item).name
    return name if len(name) <= 24 else name[:21] + "..."


@app.command("logs")
def ingest_logs(
    ctx: typer.Context,
    paths: PathsArg,
    fmt: FormatOpt = None,
    department: DepartmentOpt = None,
    host: HostOpt = None,
    as_json: JsonOpt = False,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow", help="Keep following the files (as `soc collect files`) after reading."
        ),
    ] = False,
    batch_size: BatchOpt = None,
) -> None:
    """Ingest log files once: text logs of any known format, .gz, .evtx, or - for stdin.

    Exit code 0 when every record was stored (or already present), 1 when some were
    dead-lettered, 2 on a usage error.
    """
    options = build_options(ctx, fmt, department, host)
    if follow:
        from soc.cli.collect import run_follow  # the follower only when asked for

        if STDIN in paths:
            raise fail("--follow: stdin (-) cannot be followed")
        run_follow(
            ctx, paths, options, batch_size=batch_size or DEFAULT_BATCH, poll=0.25, as_json=as_json
        )
        return
    items = expand_or_fail(paths)
    if items.count(STDIN) and sys.stdin is None:
        raise fail("-: no standard input")
    run_ingest(ctx, items, options, as_json=as_json, batch_size=batch_size)


@app.command("evtx")
def ingest_evtx_files(
    ctx: typer.Context,
    paths: Annotated[
        list[str],
        typer.Argument(help="EVTX files, directories or globs.", show_default=False),
    ],
    department: DepartmentOpt = None,
    as_json: JsonOpt = False,
    batch_size: BatchOpt = None,
) -> None:
    """Ingest Windows .evtx files (directories are searched for *.evtx)."""
    options = build_options(ctx, "evtx", department, None)
    items: list[str] = []
    for item in expand_or_fail(paths):
        if item == STDIN:
            raise fail("-: EVTX cannot be read from stdin")
        if Path(item).suffix.lower() == ".evtx" or Path(item) in map(Path, paths):
            items.append(item)
    if not items:
        raise fail(f"{' '.join(paths)}: no .evtx files")
    run_ingest(ctx, items, options, as_json=as_json, batch_size=batch_size)


app.command("pcap")(pcap.ingest_pcap)

__all__ = ["app", "build_options", "expand_or_fail", "run_ingest"]
