"""Alerts: what a rule match becomes, with a deterministic id so it is never raised twice.

Single-event rules: id = hash(rule id, event id). Correlation rules: id = hash(rule id, group
key, id of the first event of the window). Alerts are stored with ``put_record("alerts", ...)``
whose create semantics turn a repeat into a no-op.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from soc import ecs

#: The entity fields every alert carries (values taken from its events).
ENTITY_FIELDS = ("host.name", "source.ip", "user.name")

#: Alert levels from Sigma, least to most severe.
LEVELS = ("informational", "low", "medium", "high", "critical")


def alert_id(rule_id: str, *parts: str) -> str:
    """A deterministic alert id from the rule id and the match's identity."""
    digest = hashlib.blake2b("\x1f".join((rule_id, *parts)).encode(), digest_size=16)
    return digest.hexdigest()


def group_key_text(group: Mapping[str, Any]) -> str:
    """A stable text form of a correlation's group key."""
    return json.dumps(dict(sorted(group.items())), sort_keys=True, default=str)


@dataclass
class Alert:
    """One alert as stored in the "alerts" records (see to_record)."""

    id: str
    rule_id: str
    rule_title: str
    level: str
    tags: list[str]
    rule_type: str  # "single" or the correlation type (event_count, value_count, ...)
    event_ids: list[str]
    entities: dict[str, list[str]]
    first_seen: str
    last_seen: str
    created: str
    status: str = "new"
    group: dict[str, Any] = field(default_factory=dict)
    count: int = 0
    description: str = ""

    def to_record(self) -> dict[str, Any]:
        """The JSON document stored for this alert (its lists and mappings copied, so the
        record and the alert change independently)."""
        return {
            "id": self.id,
            "rule_id": self.rule_id,
            "rule_title": self.rule_title,
            "level": self.level,
            "tags": list(self.tags),
            "rule_type": self.rule_type,
            "event_ids": list(self.event_ids),
            "entities": {name: list(values) for name, values in self.entities.items()},
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "created": self.created,
            "status": self.status,
            "group": copy.deepcopy(self.group) if self.group else {},
            "count": self.count,
            "description": self.description,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Alert:
        """An Alert from a stored record (unknown keys ignored)."""
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in record.items() if k in known})


def entities_of(events: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """The distinct host, source ip and user values of events, in order of first sight."""
    found: dict[str, list[str]] = {name: [] for name in ENTITY_FIELDS}
    for event in events:
        for name in ENTITY_FIELDS:
            value = ecs.get_field(event, name)
            values = value if isinstance(value, list) else [value]
            for v in values:
                if v is None or v == "":
                    continue
                text = str(v)
                if text not in found[name]:
                    found[name].append(text)
    return {k: v for k, v in found.items() if v}


@dataclass
class AlertTally:
    """Counts over any number of alert records, in memory that grows with the rules and
    entity values seen, not with the alerts: per level, per rule (its title, level and
    alerts) and per entity value (each name of the records' ``entities``)."""

    levels: Counter[str] = field(default_factory=Counter)
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    entities: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, record: Mapping[str, Any]) -> None:
        """Count one alert record."""
        self.levels[str(record.get("level", ""))] += 1
        rule_id = str(record.get("rule_id", ""))
        rule = self.rules.get(rule_id)
        if rule is None:
            rule = self.rules[rule_id] = {
                "title": record.get("rule_title", ""),
                "level": record.get("level", ""),
                "alerts": 0,
            }
        rule["alerts"] += 1
        for name, values in (record.get("entities") or {}).items():
            counts = self.entities.get(name)
            if counts is None:
                counts = self.entities[name] = Counter()
            for value in values:
                counts[str(value)] += 1


#: Fields that a correlation's group-by can make the entity of its alert, beside
#: ENTITY_FIELDS: the target of a flood.
GROUP_ENTITY_FIELDS = (*ENTITY_FIELDS, "destination.ip")


def correlation_entities(
    events: Sequence[Mapping[str, Any]], group: Mapping[str, Any]
) -> dict[str, list[str]]:
    """The entities of a correlation alert: a group-by field that names an entity gives its
    one value (the group is who the alert is about); the other entity fields come from the
    events. A group by destination without the source is about the target (a flood from
    many, often spoofed, sources): its sources are left to the events, not named as
    entities."""
    entities = entities_of(events)
    for name in GROUP_ENTITY_FIELDS:
        value = group.get(name)
        if value is None or value == "":
            continue
        values = value if isinstance(value, list | tuple) else [value]
        entities[name] = [str(v) for v in values]
    if "destination.ip" in group and "source.ip" not in group:
        entities.pop("source.ip", None)
    return entities


def event_time(event: Mapping[str, Any]) -> datetime | None:
    """The @timestamp of an event as an aware datetime, or None."""
    value = ecs.get_field(event, "@timestamp")
    if isinstance(value, datetime):
        return value
    if not value:
        return None
    try:
        return ecs.parse_timestamp(str(value))
    except ValueError:
        return None


def level_at_least(level: str, minimum: str) -> bool:
    """True when ``level`` is as severe as ``minimum`` or more."""
    try:
        return LEVELS.index(level) >= LEVELS.index(minimum)
    except ValueError:
        return False
