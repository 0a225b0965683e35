"""`soc collect`: long-running collectors: follow files, syslog server, live capture."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from collectors.checkpoint import CheckpointError, CheckpointRegistry
from collectors.ship import DeadLetterError, DeadLetterFile, RetryPolicy, Shipper
from collectors.sources.logs import IngestOptions
from collectors.sources.tail import FileFollower
from soc.cli import pcap
from soc.cli.common import EXIT_OK, EXIT_PARTIAL, err_console, fail, print_json, state
from soc.cli.ingestion import build_options, print_summary
from soc.cli.waiting import stop_on_signals, wait_for_store

app = typer.Typer(
    help="Long-running collectors: follow files, syslog server, live capture.", no_args_is_help=True
)

DepartmentOpt = Annotated[
    str | None, typer.Option("--department", help="labels.department of every event.")
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="At exit, print one JSON object with the counts.")
]
BatchOpt = Annotated[int, typer.Option("--batch-size", hidden=True, min=1)]


def run_follow(
    ctx: typer.Context,
    patterns: list[str],
    options: IngestOptions,
    *,
    batch_size: int,
    poll: float,
    as_json: bool,
) -> None:
    """Follow files until SIGINT/SIGTERM, then print the summary and exit 0 or 1."""
    app_state = state(ctx)
    settings = app_state.settings
    try:
        registry = CheckpointRegistry.in_data_dir(settings.data_dir)
    except CheckpointError as exc:
        raise fail(str(exc)) from None
    with stop_on_signals() as stop:
        store = wait_for_store(ctx, stop)
        if store is None:
            raise typer.Exit(EXIT_OK)
        shipper = Shipper(
            store,
            dead_letters=DeadLetterFile.in_data_dir(settings.data_dir),
            checkpoints=registry,
            batch_events=batch_size,
            retry=RetryPolicy(attempts=None),
        )
        follower = FileFollower(patterns, shipper, registry, options, poll=poll, stop=stop)
        if not as_json:
            err_console.print(
                f"following {len(patterns)} path(s); Ctrl-C to stop", markup=False, highlight=False
            )
            for pattern in patterns:
                if not any(ch in pattern for ch in "*?[") and not Path(pattern).exists():
                    err_console.print(f"{pattern}: not there yet; waiting for it", markup=False)
        try:
            try:
                follower.run()
            finally:
                shipper.close()
        except (DeadLetterError, CheckpointError) as exc:
            raise fail(str(exc)) from None
    stats = shipper.stats
    if as_json:
        print_json(stats.as_dict())
    else:
        print_summary(stats)
    raise typer.Exit(EXIT_PARTIAL if stats.dead_lettered else EXIT_OK)


@app.command("files")
def collect_files(
    ctx: typer.Context,
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Files, directories or globs to follow (quote globs so new files are found).",
            show_default=False,
        ),
    ],
    fmt: Annotated[
        str | None,
        typer.Option("--format", "-f", help="Format of every file (default: detect per file)."),
    ] = None,
    department: DepartmentOpt = None,
    host: Annotated[
        str | None, typer.Option("--host", help="host.name for lines that name no host.")
    ] = None,
    poll: Annotated[float, typer.Option("--poll", help="Seconds between polls.", min=0.01)] = 0.25,
    as_json: JsonOpt = False,
    batch_size: BatchOpt = 2000,
) -> None:
    """Follow log files across rotation, resuming from checkpoints after a restart.

    Runs until Ctrl-C or SIGTERM, then flushes and checkpoints what was read.
    """
    options = build_options(ctx, fmt, department, host)
    run_follow(ctx, paths, options, batch_size=batch_size, poll=poll, as_json=as_json)


@app.command("syslog")
def collect_syslog(
    ctx: typer.Context,
    udp: Annotated[
        list[str] | None,
        typer.Option("--udp", help="Listen for UDP syslog on HOST:PORT (repeatable)."),
    ] = None,
    tcp: Annotated[
        list[str] | None,
        typer.Option("--tcp", help="Listen for TCP syslog on HOST:PORT (repeatable)."),
    ] = None,
    department: DepartmentOpt = None,
    host: Annotated[
        str | None,
        typer.Option("--host", help="host.name for messages that name no host (default: peer IP)."),
    ] = None,
    as_json: JsonOpt = False,
    queue_mb: Annotated[
        int,
        typer.Option(
            "--queue-max-mb",
            help="Size cap of the disk queue (<data_dir>/syslog-queue); when full, TCP "
            "senders are held back and UDP datagrams are dropped (counted).",
            min=1,
        ),
    ] = 1024,
    stats_every: Annotated[float, typer.Option("--stats-every", hidden=True, min=0.05)] = 10.0,
    batch_size: BatchOpt = 2000,
) -> None:
    """Receive syslog (RFC 5424 / RFC 3164) over UDP and TCP and ship it until Ctrl-C/SIGTERM.

    TCP framing (newline or RFC 6587 octet counting) is detected per connection. Every
    message is written to a disk queue before it counts as received; what is not shipped
    at a stop is shipped after the next start. Queue counters are printed every 10 s.
    """
    from collectors.sources.spool import DiskQueue, QueueBusy
    from collectors.sources.syslog import AddressError, SyslogServer, parse_address

    if not udp and not tcp:
        raise fail("give at least one --udp or --tcp HOST:PORT")
    try:
        udp_addrs = [parse_address(a) for a in udp or []]
        tcp_addrs = [parse_address(a) for a in tcp or []]
    except AddressError as exc:
        raise fail(str(exc)) from None
    options = build_options(ctx, None, department, host)
    app_state = state(ctx)
    data_dir = app_state.settings.data_dir
    try:
        spool = DiskQueue(Path(data_dir) / "syslog-queue", max_bytes=queue_mb << 20)
    except (QueueBusy, CheckpointError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"{data_dir}: cannot use the syslog queue: {exc.strerror or exc}") from None

    def show(counters: dict) -> None:
        err_console.print(_queue_line(counters), markup=False, highlight=False)

    with stop_on_signals() as stop:
        server = SyslogServer(
            None,
            options,
            udp=udp_addrs,
            tcp=tcp_addrs,
            stop=stop,
            queue=spool,
            on_stats=show,
            stats_every=stats_every,
        )
        try:
            server.start()
        except OSError as exc:
            spool.close()
            raise fail(exc.strerror or str(exc)) from None
        # Always said (on stderr, so --json output stays one object): scripts wait for it.
        listening = ", ".join(f"{p} {h}:{port}" for p, h, port in server.bound)
        err_console.print(f"listening on {listening}; Ctrl-C to stop", markup=False, soft_wrap=True)
        # Messages are queued on disk while the store is awaited.
        store = wait_for_store(ctx, stop, lambda: show(server.counters()))
        if store is None:  # stopped while waiting: what arrived stays queued
            server.close()
            show(server.counters())
            raise typer.Exit(EXIT_OK)
        shipper = Shipper(
            store,
            dead_letters=DeadLetterFile.in_data_dir(data_dir),
            checkpoints=spool.acks,
            batch_events=batch_size,
            retry=RetryPolicy(attempts=None),
        )
        server.shipper = shipper
        try:
            try:
                server.run()
            finally:
                shipper.close()
        except (DeadLetterError, CheckpointError) as exc:
            raise fail(str(exc)) from None
    stats = shipper.stats
    counters = server.counters()
    show(counters)
    if as_json:
        print_json({**stats.as_dict(), "queue": counters})
    else:
        print_summary(stats)
    raise typer.Exit(EXIT_PARTIAL if stats.dead_lettered else EXIT_OK)


def _queue_line(c: dict) -> str:
    """One line of syslog queue counters for a person."""
    return (
        f"syslog queue: received {c['received']:,}, shipped {c['shipped']:,}, "
        f"backlog {c['backlog_bytes']:,} bytes of {c['max_bytes']:,}, "
        f"udp dropped {c['udp_dropped']:,}, tcp paused {c['tcp_paused']:,}, "
        f"corrupt {c['corrupt']:,}"
    )


app.command("pcap")(pcap.collect_pcap)
