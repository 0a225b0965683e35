"""Capture files into the store: read each file, run the engine, ship the events.

Each file gets its own engine (flows do not span files), so the events of a file depend on
that file alone and re-ingesting it yields the same ids. A file that cannot be read at all is
dead-lettered through the Shipper and reported in one line; the other files go on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors.pcap.engine import Engine, EngineConfig
from collectors.pcap.reader import CaptureError, ReadStats, iter_records
from collectors.ship import Shipper

#: Events are handed to the shipper every this many packets (and at the end).
SHIP_EVERY = 2048


@dataclass
class FileResult:
    """What one capture file gave."""

    path: str
    error: str | None = None
    read: ReadStats = field(default_factory=ReadStats)
    engine: dict[str, Any] = field(default_factory=dict)
    events: int = 0

    @property
    def warning(self) -> str | None:
        """One line for a person when the file had problems but was (partly) read."""
        if self.error:
            return None
        problems = []
        e = self.engine
        if self.read.truncated:
            problems.append("capture cut short at the end")
        if self.read.corrupt:
            problems.append(f"{self.read.corrupt} corrupt record(s)")
        if e.get("malformed"):
            problems.append(f"{e['malformed']} malformed packet(s)")
        if e.get("skipped_link_type"):
            types = ", ".join(str(t) for t in e.get("unknown_link_types", []))
            problems.append(f"{e['skipped_link_type']} packet(s) of unsupported link type {types}")
        if e.get("errors"):
            problems.append(f"{e['errors']} packet(s) or flow(s) that failed to decode, skipped")
        if e.get("evicted"):
            problems.append(f"{e['evicted']} flow(s) evicted from a full flow table")
        if not problems:
            return None
        detail = f" ({self.read.problem})" if self.read.problem else ""
        return f"{self.path}: {self.read.records} packets read; " + "; ".join(problems) + detail

    @property
    def failed(self) -> bool:
        """True when the file could not be read, or reading stopped early."""
        return bool(self.error or self.read.truncated or self.read.corrupt)

    def packet_counts(self) -> dict[str, Any]:
        """Packet-level counters for JSON output."""
        out = {
            "read": self.read.records,
            "captured_bytes": self.read.bytes,
            "truncated": self.read.truncated,
            "corrupt": self.read.corrupt,
        }
        for key in (
            "decoded",
            "non_ip",
            "malformed",
            "skipped_link_type",
            "fragments",
            "reassembled",
            "fragments_dropped",
            "flows",
            "evicted",
        ):
            out[key] = self.engine.get(key, 0)
        if self.engine.get("unknown_link_types"):
            out["unknown_link_types"] = self.engine["unknown_link_types"]
        out["events"] = self.engine.get("events", {})
        if self.error:
            out["error"] = self.error
        return out


def process_file(
    path: Path, config: EngineConfig, emit: Callable[[list[dict[str, Any]]], None]
) -> FileResult:
    """Run the engine over one capture file, handing events to ``emit`` in batches.

    Never raises for bad input: an unreadable file comes back with ``error`` set, damage
    inside the file with the counts in ``read`` and ``engine``."""
    result = FileResult(path=str(path))
    engine = Engine(config)
    packet = engine.packet
    countdown = SHIP_EVERY
    try:
        for ts, linktype, data, wirelen in iter_records(path, result.read):
            packet(ts, linktype, data, wirelen)
            countdown -= 1
            if not countdown:
                countdown = SHIP_EVERY
                if engine.events:
                    batch = engine.take_events()
                    result.events += len(batch)
                    emit(batch)
    except CaptureError as exc:
        result.error = str(exc)
    except Exception as exc:  # a damaged file the reader did not foresee: report, go on
        result.error = f"{path}: unreadable capture after {result.read.records} records: {exc}"
    engine.finish()
    batch = engine.take_events()
    result.events += len(batch)
    if batch:
        emit(batch)
    result.engine = engine.stats.as_dict()
    return result


def ingest_files(
    paths: Iterable[Path],
    shipper: Shipper,
    config: EngineConfig,
    on_file: Callable[[FileResult], None] | None = None,
) -> list[FileResult]:
    """Ingest capture files through ``shipper``; one FileResult per path, in order.

    The source name of a file's events is its path as given. Unreadable files are rejected
    (dead-lettered) with their reason."""
    results = []
    for path in paths:
        source = str(path)

        def emit(batch: list[dict[str, Any]], source: str = source) -> None:
            for event in batch:
                shipper.send(event, source=source)

        result = process_file(path, config, emit)
        if result.error:
            shipper.reject(source, b"", result.error, position_text="file")
        shipper.flush()
        results.append(result)
        if on_file is not None:
            on_file(result)
    return results


def summary(shipper_stats: dict[str, Any], results: list[FileResult]) -> dict[str, Any]:
    """The ``--json`` object: the shipper's counts (read, parsed, stored, duplicates,
    dead_lettered, seconds, sources) plus packet counts in total and per source."""
    out = dict(shipper_stats)
    totals: dict[str, Any] = {}
    for result in results:
        counts = result.packet_counts()
        for key, value in counts.items():
            if isinstance(value, int):
                totals[key] = totals.get(key, 0) + value
            elif key == "events":
                merged = totals.setdefault("events", {})
                for name, n in value.items():
                    merged[name] = merged.get(name, 0) + n
        sources = out.setdefault("sources", {})
        entry = sources.setdefault(result.path, {})
        entry["packets"] = counts
        if result.warning:
            entry["warning"] = result.warning
    out["packets"] = totals
    out["files"] = len(results)
    out["failed_files"] = sum(1 for r in results if r.error)
    return out
