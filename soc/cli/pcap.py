"""`soc ingest pcap` and `soc collect pcap`: packet captures to ECS network events.

The command functions are registered by soc/cli/ingest.py and soc/cli/collect.py; the work is
done in collectors/pcap/ (engine, ingest, live).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from collectors.ship import DeadLetterError, DeadLetterFile, Shipper
from soc.cli.common import EXIT_OK, EXIT_PARTIAL, console, err_console, fail, print_json, state
from soc.cli.waiting import stop_on_signals, wait_for_store
from soc.store.base import StoreError

if TYPE_CHECKING:
    from collectors.pcap.engine import EngineConfig
    from collectors.pcap.ingest import FileResult

# The capture engine (and scapy under it) is imported by the commands that use it, so that
# every other command starts without it.

#: Names a capture file found in a directory may have (files named on the command line are
#: always read).
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".dmp", ".trace", ".pcap.gz", ".pcapng.gz")

JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON object with the counts instead of text.")
]
IdleOpt = Annotated[
    float,
    typer.Option("--idle-timeout", min=0.001, help="Seconds without packets that end a flow."),
]
ActiveOpt = Annotated[
    float,
    typer.Option(
        "--active-timeout", min=0.0, help="Flows longer than this are cut into records (0: never)."
    ),
]
ClosedOpt = Annotated[
    float,
    typer.Option(
        "--closed-timeout",
        min=0.0,
        help="Seconds a closed TCP connection (FINs or RST) waits for late packets.",
    ),
]
MaxFlowsOpt = Annotated[
    int,
    typer.Option("--max-flows", min=1, help="Flow table size; the oldest idle flow is evicted."),
]
DepartmentOpt = Annotated[
    str | None, typer.Option("--department", help="labels.department of every event.")
]
HostOpt = Annotated[
    str | None, typer.Option("--host", help="host.name of the events (default: this machine).")
]


def _config(
    ctx: typer.Context,
    idle: float,
    active: float,
    max_flows: int,
    department: str | None,
    host: str | None,
    closed: float = 5.0,
) -> EngineConfig:
    from collectors.pcap.engine import EngineConfig

    settings = state(ctx).settings
    return EngineConfig(
        idle_timeout=idle,
        active_timeout=active,
        closed_timeout=closed,
        max_flows=max_flows,
        host_name=host or socket.gethostname(),
        department=department or settings.get("department"),
    )


def _expand(files: list[Path]) -> list[Path]:
    """The capture files named, with directories searched recursively for capture names.
    A path that does not exist is a usage error (exit 2, nothing ingested)."""
    out: list[Path] = []
    for path in files:
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.name.lower().endswith(CAPTURE_SUFFIXES)
            )
            if not found:
                raise fail(f"{path}: no capture files (.pcap, .pcapng, .cap...) in this directory")
            out.extend(found)
        elif path.exists():
            out.append(path)
        else:
            raise fail(f"{path}: no such file or directory")
    return out


def ingest_pcap(
    ctx: typer.Context,
    files: Annotated[
        list[Path],
        typer.Argument(
            help="pcap or pcapng files (gzip'd too), or directories of them.",
            show_default=False,
            metavar="CAPTURE",
        ),
    ],
    as_json: JsonOpt = False,
    idle_timeout: IdleOpt = 60.0,
    active_timeout: ActiveOpt = 1800.0,
    closed_timeout: ClosedOpt = 5.0,
    max_flows: MaxFlowsOpt = 100_000,
    department: DepartmentOpt = None,
    host: HostOpt = None,
) -> None:
    """Read packet captures into flows, DNS, HTTP, TLS and SSH events.

    Exit code 0 when every file was read whole and every event stored (or already present),
    1 when a file could not be read, was cut short or corrupt, or events were dead-lettered,
    2 on a usage error (a path that does not exist) or when the store is unreachable.
    """
    from collectors.pcap.ingest import ingest_files, summary

    paths = _expand(files)
    config = _config(ctx, idle_timeout, active_timeout, max_flows, department, host, closed_timeout)
    app_state = state(ctx)
    dead = DeadLetterFile.in_data_dir(app_state.settings.data_dir)
    shipper = Shipper(app_state.store, dead_letters=dead)

    def on_file(result: FileResult) -> None:
        if result.error:
            err_console.print(f"soc: error: {result.error}", markup=False, soft_wrap=True)
        elif result.warning:
            err_console.print(f"soc: warning: {result.warning}", markup=False, soft_wrap=True)

    try:
        results = ingest_files(paths, shipper, config, on_file=on_file)
        shipper.close()
    except DeadLetterError as exc:
        raise fail(str(exc)) from None
    except StoreError as exc:
        dead.close()
        raise fail(f"{exc} (stored so far: {shipper.stats.stored:,})") from None
    report = summary(shipper.stats.as_dict(), results)
    if as_json:
        print_json(report)
    else:
        _print_text(report)
    partial = report["dead_lettered"] or any(r.failed for r in results)
    raise typer.Exit(EXIT_PARTIAL if partial else EXIT_OK)


def _print_text(report: dict) -> None:
    packets = report["packets"]
    events = ", ".join(f"{n:,} {name}" for name, n in sorted(packets.get("events", {}).items()))
    console.print(
        f"{report['files']} file(s), {packets.get('read', 0):,} packets "
        f"({packets.get('malformed', 0):,} malformed, {packets.get('non_ip', 0):,} not IP), "
        f"{packets.get('flows', 0):,} flows",
        markup=False,
    )
    console.print(f"events: {events or 'none'}", markup=False)
    console.print(
        f"stored {report['stored']:,}, duplicates {report['duplicates']:,}, "
        f"dead-lettered {report['dead_lettered']:,} in {report['seconds']:.2f} s",
        markup=False,
    )


def collect_pcap(
    ctx: typer.Context,
    iface: Annotated[
        str, typer.Option("--iface", "-i", help="Interface to capture on (e.g. eth0, lo).")
    ],
    bpf: Annotated[
        str | None, typer.Option("--bpf", help="BPF capture filter, e.g. 'port 53 or port 80'.")
    ] = None,
    duration: Annotated[
        float | None, typer.Option("--duration", min=0.0, help="Stop after this many seconds.")
    ] = None,
    count: Annotated[
        int | None, typer.Option("--count", min=1, help="Stop after this many packets.")
    ] = None,
    as_json: JsonOpt = False,
    idle_timeout: IdleOpt = 60.0,
    active_timeout: ActiveOpt = 1800.0,
    closed_timeout: ClosedOpt = 5.0,
    max_flows: MaxFlowsOpt = 100_000,
    department: DepartmentOpt = None,
    host: HostOpt = None,
) -> None:
    """Capture live traffic into flows, DNS, HTTP, TLS and SSH events until Ctrl-C (or
    --duration / --count). Needs CAP_NET_RAW: run as root, or
    `setcap cap_net_raw+ep` on the python binary.

    A store that is down at the start is waited for with backoff (said on stderr each
    time); capture begins once it answers. Exit code 0 when every event was stored, 1 when
    some were dead-lettered, 2 when the interface cannot be opened or the store fails
    mid-run past the retries.
    """
    from collectors.pcap.engine import Engine
    from collectors.pcap.live import CaptureUnavailable, capture, open_interface

    config = _config(ctx, idle_timeout, active_timeout, max_flows, department, host, closed_timeout)
    try:  # a wrong interface, filter or missing permission is said at once, not after the wait
        probe, _ = open_interface(iface, bpf)
        probe.close()
    except CaptureUnavailable as exc:
        raise fail(str(exc)) from None
    dead = DeadLetterFile.in_data_dir(state(ctx).settings.data_dir)
    engine = Engine(config)
    source = f"pcap:{iface}"
    # SIGTERM (a service manager) and Ctrl-C both end the flows and store them
    with stop_on_signals() as stop:
        store = wait_for_store(ctx, stop)
        if store is None:
            raise typer.Exit(EXIT_OK)
        shipper = Shipper(store, dead_letters=dead)

        def emit(batch: list[dict]) -> None:
            for event in batch:
                shipper.send(event, source=source)

        try:
            live = capture(
                iface,
                bpf,
                engine,
                emit,
                duration=duration,
                count=count,
                on_tick=shipper.tick,
                on_start=lambda: _started(iface, bpf),
                stop=stop,
            )
            shipper.close()
        except CaptureUnavailable as exc:
            raise fail(str(exc)) from None
        except DeadLetterError as exc:
            raise fail(str(exc)) from None
        except StoreError as exc:
            dead.close()
            raise fail(f"{exc} (stored so far: {shipper.stats.stored:,})") from None
    report = shipper.stats.as_dict()
    report["packets"] = {"read": live.packets, "interface": iface, **engine.stats.as_dict()}
    if as_json:
        print_json(report)
    else:
        console.print(
            f"{iface}: {live.packets:,} packets in {live.seconds:.1f} s, "
            f"{engine.stats.flows:,} flows; stored {report['stored']:,}, "
            f"duplicates {report['duplicates']:,}, dead-lettered {report['dead_lettered']:,}",
            markup=False,
        )
    raise typer.Exit(EXIT_PARTIAL if report["dead_lettered"] else EXIT_OK)


def _started(iface: str, bpf: str | None) -> None:
    where = f"{iface} (filter: {bpf})" if bpf else iface
    err_console.print(f"soc: capturing on {where}; Ctrl-C to stop", markup=False)


__all__ = ["collect_pcap", "ingest_pcap"]
