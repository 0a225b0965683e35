"""Alerts as reports read them: the record in either stored shape, the events behind it
(read once per report), the assets and departments it concerns, and its detection time.

Alert records are read in both shapes in use: the detector's (``rule_id``, ``rule_title``,
``level``, ``tags``, ``count``) and the nested one of the records schema (``rule: {id, title,
level, tags}``, ``event_count``); see :class:`AlertView`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from soc import ecs
from soc.store.queries import events_by_id

#: Alert levels from least to most severe.
LEVELS = ("informational", "low", "medium", "high", "critical")

#: Maps an asset (host name or address) to its department, e.g. from the asset inventory.
DepartmentLookup = Callable[[str], str | None]


def parse_time(value: Any) -> datetime | None:
    """A stored time (ISO string or datetime) as an aware UTC datetime, or None."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not value or not isinstance(value, str):
        return None
    try:
        return ecs.parse_timestamp(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class AlertView:
    """The fields of an alert record a report reads, whichever shape it was stored in."""

    id: str
    rule_id: str
    title: str
    level: str
    tags: list[str]
    status: str
    resolution: str | None  # the closing resolution, else the triage verdict
    assignee: str | None
    event_ids: list[str]
    event_count: int
    entities: dict[str, list[str]]
    first_seen: datetime | None
    last_seen: datetime | None
    created: datetime | None
    closed_at: datetime | None
    case_id: str | None
    department: str | None

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> AlertView:
        """Read an alert record (detector shape or records-schema shape)."""
        rule = record.get("rule") if isinstance(record.get("rule"), Mapping) else {}
        event_ids = [str(e) for e in record.get("event_ids") or []]
        count = record.get("event_count", record.get("count"))
        entities_raw = record.get("entities") or {}
        entities = {
            str(k): [str(v) for v in (vals if isinstance(vals, list) else [vals]) if v]
            for k, vals in entities_raw.items()
        }
        level = str(rule.get("level") or record.get("level") or "medium").lower()
        return cls(
            id=str(record.get("id", "")),
            rule_id=str(rule.get("id") or record.get("rule_id") or ""),
            title=str(rule.get("title") or record.get("rule_title") or record.get("title") or ""),
            level=level if level in LEVELS else "medium",
            tags=[str(t) for t in (rule.get("tags") or record.get("tags") or [])],
            status=str(record.get("status") or "new"),
            resolution=(
                record.get("resolution")
                if record.get("status") == "closed"
                else record.get("verdict")
            )
            or record.get("resolution")
            or record.get("verdict")
            or None,
            assignee=record.get("assignee") or None,
            event_ids=event_ids,
            event_count=int(count) if isinstance(count, int) and count > 0 else len(event_ids),
            entities=entities,
            first_seen=parse_time(record.get("first_seen")),
            last_seen=parse_time(record.get("last_seen")),
            created=parse_time(record.get("created")),
            closed_at=parse_time(record.get("closed_at")),
            case_id=record.get("case_id") or None,
            department=record.get("department") or None,
        )

    @property
    def seen(self) -> datetime | None:
        """When the alerted activity happened (first_seen, else created)."""
        return self.first_seen or self.created

    @property
    def assets(self) -> list[str]:
        """Hosts and destinations the alert names."""
        found: list[str] = []
        for name in ("host.name", "destination.ip", "destination.domain"):
            for value in self.entities.get(name, []):
                if value not in found:
                    found.append(value)
        return found


class EventSource(Protocol):
    """Where alert helpers read matched events from (a Store, or an EventCache over one)."""

    def get_event(self, event_id: str) -> dict[str, Any] | None: ...


class EventCache:
    """Events by id from a store, each read at most once per report."""

    def __init__(self, store: EventSource) -> None:
        self._store = store
        self._events: dict[str, dict[str, Any] | None] = {}

    def get_event(self, event_id: str) -> dict[str, Any] | None:
        """The event with this id, or None (remembered either way)."""
        if event_id not in self._events:
            self._events[event_id] = self._store.get_event(event_id)
        return self._events[event_id]

    def prefetch(self, event_ids: Sequence[str]) -> None:
        """Read the events not yet remembered among ``event_ids`` in pages (one request per
        page on Elasticsearch) instead of one request each; absent ones are remembered as
        None."""
        wanted = [i for i in dict.fromkeys(event_ids) if i not in self._events]
        if not wanted:
            return
        found = events_by_id(self._store, wanted)  # type: ignore[arg-type]
        for event_id in wanted:
            self._events[event_id] = found.get(event_id)


def _first_event_department(store: EventSource, alert: AlertView) -> str | None:
    for event_id in alert.event_ids[:3]:
        event = store.get_event(event_id)
        if event:
            value = ecs.get_field(event, "labels.department")
            if value:
                return str(value)
    return None


#: Datasets of network devices: their host.name is the observer (the firewall), so the
#: attacked asset is the connection's destination.
NETWORK_DATASET_PREFIXES = ("fortinet.", "iptables.", "pcap.flow")
#: How many of an alert's events are read to find the destinations it targeted.
TARGET_EVENTS = 5


def alert_targets(store: EventSource, alert: AlertView) -> list[str]:
    """The assets an alert concerns: the destinations of its first events when they come from
    a network device (firewall, netfilter, packet capture), else its host names."""
    first = store.get_event(alert.event_ids[0]) if alert.event_ids else None
    dataset = str(ecs.get_field(first or {}, "event.dataset") or "")
    if not dataset.startswith(NETWORK_DATASET_PREFIXES):
        return alert.assets
    found: list[str] = []
    for index, event_id in enumerate(alert.event_ids[:TARGET_EVENTS]):
        event = first if index == 0 else store.get_event(event_id)
        value = ecs.get_field(event or {}, "destination.ip")
        if value and str(value) not in found:
            found.append(str(value))
    return found or alert.assets


def alert_departments(
    store: EventSource,
    alert: AlertView,
    lookup: DepartmentLookup | None = None,
    assets: list[str] | None = None,
) -> list[str]:
    """The departments an alert concerns: the inventory's for its assets (default: its host
    names) when a lookup is given, else the alert's own department, else labels.department
    of its first events."""
    found: list[str] = []
    if lookup is not None:
        for asset in alert.assets if assets is None else assets:
            dept = lookup(asset)
            if dept and dept not in found:
                found.append(dept)
    if not found and alert.department:
        found.append(alert.department)
    if not found:
        dept = _first_event_department(store, alert)
        if dept:
            found.append(dept)
    return found


#: An event is "imported" (historical data loaded in bulk, not watched live) when it reached
#: the SOC more than this long after its own timestamp; alerts on such events stay out of MTTD.
IMPORTED_AFTER = timedelta(hours=24)


@dataclass(frozen=True)
class DetectionTime:
    """How long the SOC took to raise an alert once its evidence had arrived.

    kind: "measured" (seconds set), "imported" (the evidence was historical data), or
    "unknown" (no creation time, or no ``event.ingested`` on its events)."""

    kind: str
    seconds: float | None = None


def detection_time(store: EventSource, alert: AlertView) -> DetectionTime:
    """MTTD sample of one alert: from ``event.ingested`` of its first matched event (when the
    first evidence became available to the SOC) to the alert's ``created``. Alerts whose
    event arrived more than IMPORTED_AFTER after its own ``@timestamp`` are imported history
    and give no sample."""
    if alert.created is None or not alert.event_ids:
        return DetectionTime("unknown")
    event = store.get_event(alert.event_ids[0])
    ingested = parse_time(ecs.get_field(event or {}, "event.ingested"))
    if ingested is None:
        return DetectionTime("unknown")
    happened = parse_time(ecs.get_field(event or {}, "@timestamp"))
    if happened is not None and ingested - happened > IMPORTED_AFTER:
        return DetectionTime("imported")
    return DetectionTime("measured", max(0.0, (alert.created - ingested).total_seconds()))
