"""Live capture from a network interface with scapy's listening socket, without dissection.

scapy opens the PF_PACKET socket and attaches the BPF filter (``conf.L2listen``); frames are
then read as raw bytes from the socket and handed to the same engine as capture files, with
wall-clock timestamps. Flows are swept for timeouts about once a second even when no packet
arrives, and events are shipped as they come. Needs CAP_NET_RAW: run as root, or give the
Python binary the capability (``setcap cap_net_raw+ep $(readlink -f .venv/bin/python)``).
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from collectors.pcap.engine import Engine

SWEEP_EVERY_NS = 1_000_000_000
BUFFER = 262144
PACKET_OUTGOING = 4
#: Linux ARPHRD_* hardware types -> pcap link types of the frames a packet socket returns.
HATYPE_LINKTYPES = {
    1: 1,  # Ethernet
    772: 1,  # loopback: frames carry an (all-zero) Ethernet header
    65534: 101,  # no header (tun, wireguard): raw IP
    768: 101,  # IP-in-IP tunnel
    769: 101,  # IPv6-in-IPv6 tunnel
    776: 101,  # sit
    778: 101,  # GRE
    823: 101,  # ip6gre
    512: 101,  # PPP
    801: 105,  # 802.11
    803: 127,  # 802.11 + radiotap
}


class CaptureUnavailable(Exception):
    """The interface cannot be opened for capture; the message says why in one line."""


@dataclass
class LiveStats:
    """What one live run saw."""

    packets: int = 0
    seconds: float = 0.0
    interface: str = ""
    link_type: int = 1


def open_interface(iface: str, bpf: str | None) -> tuple[Any, int]:
    """scapy's listening socket on ``iface`` with the BPF filter, and its link type.

    Raises CaptureUnavailable (permission, unknown interface, bad filter) with one line."""
    try:
        import scapy.arch  # noqa: F401 - sets conf.L2listen for this platform
        from scapy.config import conf
    except ImportError as exc:  # pragma: no cover - scapy is a dependency
        raise CaptureUnavailable(f"scapy is not available: {exc}") from None
    scapy_log = logging.getLogger("scapy.runtime")
    level = scapy_log.level
    scapy_log.setLevel(logging.ERROR)  # scapy warns it cannot guess a layer: we need none
    try:
        sock = conf.L2listen(iface=iface, filter=bpf)
    except PermissionError:
        raise CaptureUnavailable(
            f"interface {iface}: permission denied; capturing needs CAP_NET_RAW "
            "(run as root or setcap cap_net_raw+ep on the python binary)"
        ) from None
    except OSError as exc:
        raise CaptureUnavailable(f"interface {iface}: {exc.strerror or exc}") from None
    except Exception as exc:  # scapy raises its own exceptions for bad filters
        raise CaptureUnavailable(f"interface {iface}: {str(exc).splitlines()[0]}") from None
    finally:
        scapy_log.setLevel(level)
    return sock, _interface_linktype(iface)


def _interface_linktype(iface: str) -> int:
    """The pcap link type of frames read on ``iface`` (Linux: from its hardware type)."""
    try:
        with open(f"/sys/class/net/{iface}/type", encoding="ascii") as handle:
            return HATYPE_LINKTYPES.get(int(handle.read().strip()), 1)
    except (OSError, ValueError):
        return 1


def capture(
    iface: str,
    bpf: str | None,
    engine: Engine,
    emit: Callable[[list[dict[str, Any]]], None],
    *,
    duration: float | None = None,
    count: int | None = None,
    stop: threading.Event | None = None,
    on_tick: Callable[[], None] | None = None,
    on_start: Callable[[], None] | None = None,
) -> LiveStats:
    """Capture until ``duration`` seconds passed, ``count`` packets were seen, ``stop`` is
    set or KeyboardInterrupt; then end every flow and emit the rest. Returns the counts.
    ``on_start`` is called once the socket is open, ``on_tick`` about five times a second."""
    sock, linktype = open_interface(iface, bpf)
    raw: socket.socket = sock.ins
    loopback = iface == "lo"
    stats = LiveStats(interface=iface, link_type=linktype)
    started = time.monotonic()
    last_sweep = time.time_ns()
    if on_start is not None:
        on_start()
    try:
        while True:
            if stop is not None and stop.is_set():
                break
            if duration is not None and time.monotonic() - started >= duration:
                break
            if count is not None and stats.packets >= count:
                break
            ready, _, _ = select.select([raw], [], [], 0.2)
            if ready:
                for _ in range(1024):
                    try:
                        data, addr = raw.recvfrom(BUFFER, socket.MSG_DONTWAIT)
                    except (BlockingIOError, InterruptedError):
                        break
                    if loopback and len(addr) > 2 and addr[2] == PACKET_OUTGOING:
                        continue  # lo shows every packet twice; keep the incoming copy
                    stats.packets += 1
                    kind = HATYPE_LINKTYPES.get(addr[3], linktype) if len(addr) > 3 else linktype
                    engine.packet(time.time_ns(), kind, data, len(data))
                    if count is not None and stats.packets >= count:
                        break
            now = time.time_ns()
            if now - last_sweep >= SWEEP_EVERY_NS:
                last_sweep = now
                engine.sweep(now)
            if engine.events:
                emit(engine.take_events())
            if on_tick is not None:
                on_tick()
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
        engine.finish()
        if engine.events:
            emit(engine.take_events())
        stats.seconds = time.monotonic() - started
    return stats
