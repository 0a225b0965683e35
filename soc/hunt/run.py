"""`soc hunt`: read a bundle of files into a store, detect over the data's own time span, and
sum up what was found.

The store is whatever the caller opened (a scratch SQLite file by default). Detection runs
over ``[first event, last event]`` of the events this hunt read, never over "the last 24
hours", so old evidence is judged like fresh logs.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from collectors.pcap.engine import EngineConfig
from collectors.pcap.ingest import ingest_files
from collectors.ship import DeadLetterFile, Position, Shipper
from collectors.sources.logs import IngestOptions, LogIngestor
from soc import clock, ecs
from soc.detect.alerts import LEVELS
from soc.detect.runner import DetectionSummary, load_and_compile, run_compiled
from soc.hunt.inputs import InputFile
from soc.store.base import Store


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


@dataclass
class HuntReport:
    """Everything `soc hunt` found: per-file results, the data's span, the detection
    summary and the alerts it raised."""

    files: list[FileOutcome]
    first: str | None
    last: str | None
    detection: DetectionSummary | None
    alerts: list[dict[str, Any]]
    store: str
    events: int = 0
    seconds: float = 0.0

    def levels(self) -> dict[str, int]:
        """Alert counts per level, most severe first (levels with none left out)."""
        counts = Counter(str(a.get("level", "")) for a in self.alerts)
        order = [lvl for lvl in reversed(LEVELS) if counts.get(lvl)]
        order += sorted(k for k in counts if k not in LEVELS)
        return {lvl: counts[lvl] for lvl in order}

    def top_rules(self, n: int = 10) -> list[dict[str, Any]]:
        """The rules with the most alerts: title, id, level, alerts."""
        counts: Counter[str] = Counter()
        meta: dict[str, dict[str, Any]] = {}
        for alert in self.alerts:
            rid = str(alert.get("rule_id", ""))
            counts[rid] += 1
            meta[rid] = {"title": alert.get("rule_title", ""), "level": alert.get("level", "")}
        return [{"id": rid, **meta[rid], "alerts": c} for rid, c in _ranked(counts, n)]

    def top_entities(self, name: str, n: int = 10) -> list[tuple[str, int]]:
        """The values of an entity field (host.name, user.name, source.ip) in most alerts."""
        counts: Counter[str] = Counter()
        for alert in self.alerts:
            for value in (alert.get("entities") or {}).get(name, []):
                counts[str(value)] += 1
        return _ranked(counts, n)

    def not_parsed(self) -> list[dict[str, Any]]:
        """Files (or parts of files) that gave no events or dead letters, with the reasons."""
        rows = []
        for f in self.files:
            if f.dead_lettered or f.kind in ("skipped", "empty") or (f.events == 0 and f.reasons):
                reasons = dict(f.reasons.most_common(3))
                if not reasons and f.kind == "empty":
                    reasons = {"empty file": 0}
                rows.append({"file": f.display, "records": f.dead_lettered, "reasons": reasons})
        return rows

    def to_dict(self) -> dict[str, Any]:
        """The `--json` object."""
        det = self.detection
        return {
            "store": self.store,
            "events": self.events,
            "first_event": self.first,
            "last_event": self.last,
            "seconds": round(self.seconds, 3),
            "alerts": len(self.alerts),
            "levels": self.levels(),
            "top_rules": self.top_rules(),
            "top_hosts": self.top_entities("host.name"),
            "top_users": self.top_entities("user.name"),
            "top_sources": self.top_entities("source.ip"),
            "files": [f.to_dict() for f in self.files],
            "not_parsed": self.not_parsed(),
            "detection": det.to_dict() if det is not None else None,
        }


def _ranked(counts: Counter[str], n: int) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


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
    pcap_config = EngineConfig(host_name=socket.gethostname(), department=department)
    source_of: dict[int, str] = {}
    try:
        for index, item in enumerate(inputs):
            if progress.on_file:
                progress.on_file(item.display, item.size)
            if item.kind in ("evtx", "log"):
                logs.ingest_file(item.path)
            elif item.kind == "pcap":
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


def hunt(
    store: Store,
    inputs: Sequence[InputFile],
    *,
    options: IngestOptions,
    dead_dir: Path,
    rules_paths: Sequence[Path] = (),
    include_pack: bool = True,
    department: str | None = None,
    progress: HuntProgress | None = None,
) -> HuntReport:
    """Ingest ``inputs`` into ``store``, then run the pack plus ``rules_paths`` over the
    span of the events read (first to last event, inclusive). Alerts raised by this hunt are
    in the report; an empty span means no detection ran."""
    progress = progress or HuntProgress()
    started = clock.now()
    if progress.on_phase:
        progress.on_phase("reading")
    files, shipper = ingest(
        store,
        inputs,
        options=options,
        dead_dir=dead_dir,
        department=department,
        progress=progress,
    )
    firsts = [f.first for f in files if f.first]
    lasts = [f.last for f in files if f.last]
    first = min(firsts) if firsts else None
    last = max(lasts) if lasts else None
    detection = None
    if first and last:
        if progress.on_phase:
            progress.on_phase("compiling rules")
        store.refresh()
        ruleset, compiled = load_and_compile(store.kind, rules_paths, include_pack=include_pack)
        if progress.on_phase:
            progress.on_phase("detecting")
        since = ecs.parse_timestamp(first)
        until = ecs.parse_timestamp(last) + timedelta(microseconds=1)
        detection = run_compiled(
            store,
            compiled,
            since,
            until,
            load_errors=ruleset.errors,
            on_progress=progress.on_rules,
        )
    alerts = sorted(
        detection.alerts if detection else [], key=lambda a: str(a.get("first_seen", ""))
    )
    return HuntReport(
        files=files,
        first=first,
        last=last,
        detection=detection,
        alerts=alerts,
        store=_where(store),
        events=shipper.stats.stored + shipper.stats.duplicates,
        seconds=(clock.now() - started).total_seconds(),
    )


def _where(store: Store) -> str:
    info = store.info()
    return str(info.get("location") or info.get("path") or info.get("url") or store.kind)


__all__ = ["FileOutcome", "HuntProgress", "HuntReport", "hunt", "ingest"]
