"""Helpers of the pcap tests: run the engine over frames crafted with scapy."""

from __future__ import annotations

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
