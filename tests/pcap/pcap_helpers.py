"""Helpers of the pcap tests: run the engine over frames crafted with scapy."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from collectors.pcap.engine import Engine, EngineConfig

SECOND = 1_000_000_000
T0 = 1_700_000_000 * SECOND  # 2023-11-14T22:13:20Z


def run_frames(
    frames: Iterable[tuple[int, Any]], linktype: int = 1, config: EngineConfig | None = None
) -> tuple[list[dict[str, Any]], Engine]:
    """Feed (ts_ns, frame) pairs (scapy packets or bytes) to a fresh engine, end it, and
    return its events and the engine."""
    engine = Engine(config or EngineConfig(host_name="sensor-1"))
    for ts, frame in frames:
        data = bytes(frame)
        engine.packet(ts, linktype, data, len(data))
    engine.finish()
    return engine.take_events(), engine


def of(events: list[dict[str, Any]], dataset: str) -> list[dict[str, Any]]:
    """The events of one dataset."""
    return [e for e in events if e["event"]["dataset"] == dataset]


def client_hello(sni: str) -> bytes:
    """A TLS 1.3 ClientHello record with GREASE values, built by hand."""

    def ext(kind: int, body: bytes) -> bytes:
        return struct.pack("!HH", kind, len(body)) + body

    name = sni.encode()
    sni_body = struct.pack("!HBH", len(name) + 3, 0, len(name)) + name
    groups = struct.pack("!H", 6) + struct.pack("!HHH", 0x2A2A, 0x001D, 0x0017)
    alpn_list = b"\x02h2\x08http/1.1"
    extensions = (
        ext(0x0A0A, b"")
        + ext(0, sni_body)
        + ext(10, groups)
        + ext(11, b"\x01\x00")
        + ext(13, struct.pack("!HHH", 4, 0x0403, 0x0804))
        + ext(16, struct.pack("!H", len(alpn_list)) + alpn_list)
        + ext(43, b"\x04" + struct.pack("!HH", 0x0304, 0x0303))
    )
    ciphers = struct.pack("!HHHH", 0x0A0A, 0x1301, 0x1302, 0xC02B)
    body = (
        struct.pack("!H", 0x0303)
        + b"\x11" * 32
        + b"\x00"
        + struct.pack("!H", len(ciphers))
        + ciphers
        + b"\x01\x00"
        + struct.pack("!H", len(extensions))
        + extensions
    )
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake
