"""A timeline of the events that alerts matched, in time order, for Timesketch or a
spreadsheet: CSV or JSON Lines with Timesketch's required columns (``message``,
``datetime``, ``timestamp_desc``) plus ``timestamp`` (microseconds since the epoch) and the
alert's rule, level, host, user, source address and the file the event came from.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from soc import ecs
from soc.detect.alerts import LEVELS
from soc.store.base import Store

COLUMNS = (
    "datetime",
    "timestamp",
    "timestamp_desc",
    "message",
    "level",
    "rule",
    "rule_id",
    "alert_id",
    "host",
    "user",
    "source_ip",
    "dataset",
    "file",
    "event_id",
)


def as_text(value: Any) -> str:
    """A field value as one text: lists joined with ", ", None as ""."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(as_text(v) for v in value)
    return str(value)


def message_of(event: Mapping[str, Any]) -> str:
    """The line a person reads: the message or original log line; for Windows events the
    channel, event id and event data as key=value (the raw record is JSON, not for reading)."""
    winlog = ecs.get_field(event, "winlog")
    if isinstance(winlog, dict) and winlog.get("event_id") is not None:
        data = winlog.get("event_data") or winlog.get("user_data") or {}
        pairs = (
            " ".join(f"{k}={as_text(v)}" for k, v in data.items() if v not in (None, "", "-"))
            if isinstance(data, dict)
            else as_text(data)
        )
        head = f"{winlog.get('channel', '')} {winlog.get('event_id')}".strip()
        return " ".join(f"[{head}] {pairs}".split())
    for name in ("message", "event.original"):
        value = ecs.get_field(event, name)
        if value:
            return " ".join(as_text(value).split())
    parts = [
        f"{k}={as_text(ecs.get_field(event, k))}"
        for k in ("event.action", "event.code", "source.ip", "destination.ip", "url.original")
        if ecs.get_field(event, k)
    ]
    return " ".join(parts) or as_text(ecs.get_field(event, "event.dataset"))


def _more_severe(a: str, b: str) -> bool:
    rank = {lvl: i for i, lvl in enumerate(LEVELS)}
    return rank.get(a, -1) > rank.get(b, -1)


def build(store: Store, alerts: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per event matched by any of ``alerts``, oldest first (ties by event id);
    an event matched by several rules lists them all, with the most severe level."""
    by_event: dict[str, dict[str, Any]] = {}
    for alert in alerts:
        for event_id in alert.get("event_ids") or []:
            row = by_event.get(event_id)
            if row is None:
                by_event[event_id] = {
                    "rules": [str(alert.get("rule_title", ""))],
                    "rule_ids": [str(alert.get("rule_id", ""))],
                    "alerts": [str(alert.get("id", ""))],
                    "level": str(alert.get("level", "")),
                }
                continue
            if alert.get("rule_id") not in row["rule_ids"]:
                row["rules"].append(str(alert.get("rule_title", "")))
                row["rule_ids"].append(str(alert.get("rule_id", "")))
            row["alerts"].append(str(alert.get("id", "")))
            if _more_severe(str(alert.get("level", "")), row["level"]):
                row["level"] = str(alert.get("level", ""))
    rows = []
    for event_id, meta in by_event.items():
        event = store.get_event(event_id)
        if event is None:
            continue
        stamp = as_text(ecs.get_field(event, "@timestamp"))
        moment = ecs.parse_timestamp(stamp) if stamp else None
        rows.append(
            {
                "datetime": stamp,
                "timestamp": int(moment.timestamp() * 1_000_000) if moment else "",
                "timestamp_desc": "Event Recorded",
                "message": message_of(event),
                "level": meta["level"],
                "rule": "; ".join(meta["rules"]),
                "rule_id": "; ".join(meta["rule_ids"]),
                "alert_id": "; ".join(meta["alerts"]),
                "host": as_text(ecs.get_field(event, "host.name")),
                "user": as_text(ecs.get_field(event, "user.name")),
                "source_ip": as_text(ecs.get_field(event, "source.ip")),
                "dataset": as_text(ecs.get_field(event, "event.dataset")),
                "file": as_text(ecs.get_field(event, "log.file.path")),
                "event_id": event_id,
            }
        )
    rows.sort(key=lambda r: (r["datetime"], r["event_id"]))
    return rows


def write(rows: Sequence[Mapping[str, Any]], path: Path) -> str:
    """Write rows to ``path`` as CSV (``.csv``) or JSON Lines (``.jsonl``/``.ndjson``);
    returns the format used. Raises ValueError for another extension."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow(row)
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        with open(path, "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps({k: row.get(k) for k in COLUMNS}, ensure_ascii=False))
                handle.write("\n")
        return "jsonl"
    raise ValueError(f"{path}: a timeline is written as .csv or .jsonl")


__all__ = ["COLUMNS", "as_text", "build", "message_of", "write"]
