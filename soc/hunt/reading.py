"""Reading the files of a hunt into a store, one after another: per-file outcomes (events,
dead letters and why, time span) for the summary.

soc.hunt.workers runs the same reading over several processes, one file per task.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from collectors.ship import DeadLetterFile, Position, Shipper
from collectors.sources.logs import IngestOptions, LogIngestor
from soc.hunt.inputs import InputFile
from soc.store.base import Store

if TYPE_CHECKING:
    from collectors.pcap.engine import EngineConfig


@dataclass
class FileOutcome:
    """What one input file gave: its kind and format, events, dead letters and why, and the
    time span of its events."""

    display: str
    kind: str
    size: int = 0
    format: str | None = None
    events: int = 0
    dead_lettered: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    first: str | None = None
    last: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "file": self.display,
            "kind": self.kind,
            "format": self.format,
            "bytes": self.size,
            "events": self.events,
            "not_parsed": self.dead_lettered,
            "reasons": dict(self.reasons.most_common()),
            "first_event": self.first,
            "last_event": self.last,
        }


class HuntDeadLetters(DeadLetterFile):
    """Dead letters written as usual, and their reasons counted per source for the summary."""

    def __init__(self, directory: Path | str) -> None:
        super().__init__(directory)
        self.reasons: dict[str, Counter[str]] = {}

    def write(self, source: str, original: str | bytes, reason: str, **kwargs: Any) -> None:
        """Count the reason (its first clause, so offsets do not split it), then write."""
        short = reason.split(";")[0].split(" at offset")[0][:120]
        self.reasons.setdefault(source, Counter())[short] += 1
        super().write(source, original, reason, **kwargs)


class HuntShipper(Shipper):
    """A Shipper that also keeps the first and last @timestamp of each source."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spans: dict[str, list[str]] = {}

    def send(self, event: dict[str, Any], *, source: str, position: Position | None = None) -> None:
        """Queue the event (see Shipper.send) and widen its source's time span."""
        stamp = event.get("@timestamp")
        if isinstance(stamp, str) and stamp:
            span = self.spans.get(source)
            if span is None:
                self.spans[source] = [stamp, stamp]
            elif stamp < span[0]:
                span[0] = stamp
            elif stamp > span[1]:
                span[1] = stamp
        super().send(event, source=source, position=position)


@dataclass
class HuntProgress:
    """Callbacks a display may give: a file starts (name, bytes), bytes read, and rules
    done out of total."""

    on_file: Callable[[str, int], None] | None = None
    on_bytes: Callable[[int], None] | None = None
    on_rules: Callable[[int, int], None] | None = None
    on_phase: Callable[[str], None] | None = None


def ingest(
    store: Store,
    inputs: Sequence[InputFile],
    *,
    options: IngestOptions,
    dead_dir: Path,
    department: str | None = None,
    progress: HuntProgress | None = None,
) -> tuple[list[FileOutcome], HuntShipper]:
    """Read every input into ``store``; returns the per-file outcomes (in input order)."""
    progress = progress or HuntProgress()
    dead = HuntDeadLetters(dead_dir)
    shipper = HuntShipper(store, dead_letters=dead)
    logs = LogIngestor(shipper, options, on_bytes=progress.on_bytes)
    pcap_config: EngineConfig | None = None
    source_of: dict[int, str] = {}
    try:
        for index, item in enumerate(inputs):
            if progress.on_file:
                progress.on_file(item.display, item.size)
            if item.kind in ("evtx", "log"):
                logs.ingest_file(item.path)
            elif item.kind == "pcap":
                # the capture engine is imported for captures only (evtx and logs are most)
                from collectors.pcap.engine import EngineConfig
                from collectors.pcap.ingest import ingest_files

                if pcap_config is None:
                    pcap_config = EngineConfig(
                        host_name=socket.gethostname(), department=department
                    )
                ingest_files([item.path], shipper, pcap_config)
                if progress.on_bytes:
                    progress.on_bytes(item.size)
            elif progress.on_bytes:
                progress.on_bytes(item.size)
            source_of[index] = str(item.path)
        shipper.close()
    finally:
        dead.close()
    outcomes = []
    for index, item in enumerate(inputs):
        source = source_of.get(index, str(item.path))
        stats = shipper.stats.sources.get(source)
        outcome = FileOutcome(item.display, item.kind, item.size)
        if item.reason:
            outcome.reasons[item.reason] += 0 if item.kind == "empty" else 1
        if stats is not None:
            outcome.format = stats.format or (item.kind if item.kind == "pcap" else None)
            outcome.events = stats.stored + stats.duplicates
            outcome.dead_lettered = stats.dead_lettered
            outcome.reasons.update(dead.reasons.get(source, Counter()))
        elif item.kind == "pcap":
            outcome.format = "pcap"
        span = shipper.spans.get(source)
        if span:
            outcome.first, outcome.last = span
        if item.kind == "empty" and not outcome.reasons:
            outcome.reasons[item.reason or "empty file"] = 0
        outcomes.append(outcome)
    return outcomes, shipper


__all__ = ["FileOutcome", "HuntDeadLetters", "HuntProgress", "HuntShipper", "ingest"]
