"""Alert records in the shapes other tools read: flat rows (CSV), the record itself (JSON
Lines), and an ECS alert document (NDJSON for Elastic, Kibana, OpenSearch or a data lake)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from soc.detect.alerts import LEVELS

#: Columns of the CSV export, in order.
CSV_COLUMNS = (
    "id",
    "level",
    "status",
    "assignee",
    "rule_id",
    "rule_title",
    "first_seen",
    "last_seen",
    "created",
    "count",
    "events",
    "hosts",
    "users",
    "source_ips",
    "tags",
    "resolution",
)

#: ECS event.severity of each Sigma level (the 0-100 scale of Elastic's detection rules).
SEVERITY = {"informational": 21, "low": 21, "medium": 47, "high": 73, "critical": 99}


def _entities(alert: Mapping[str, Any], name: str) -> list[str]:
    values = (alert.get("entities") or {}).get(name) or []
    return [str(v) for v in values]


def csv_row(alert: Mapping[str, Any]) -> dict[str, Any]:
    """One flat CSV row (lists joined with "; ")."""
    return {
        "id": alert.get("id", ""),
        "level": alert.get("level", ""),
        "status": alert.get("status", ""),
        "assignee": alert.get("assignee") or "",
        "rule_id": alert.get("rule_id", ""),
        "rule_title": alert.get("rule_title", ""),
        "first_seen": alert.get("first_seen", ""),
        "last_seen": alert.get("last_seen", ""),
        "created": alert.get("created", ""),
        "count": alert.get("count") or len(alert.get("event_ids") or []),
        "events": len(alert.get("event_ids") or []),
        "hosts": "; ".join(_entities(alert, "host.name")),
        "users": "; ".join(_entities(alert, "user.name")),
        "source_ips": "; ".join(_entities(alert, "source.ip")),
        "tags": "; ".join(str(t) for t in alert.get("tags") or []),
        "resolution": alert.get("resolution") or "",
    }


def _techniques(tags: list[str]) -> list[str]:
    out = []
    for tag in tags:
        text = str(tag).lower()
        if text.startswith("attack.t") and text[8:9].isdigit():
            out.append(text[7:].upper())
    return out


def ecs_document(alert: Mapping[str, Any]) -> dict[str, Any]:
    """The alert as an ECS 8 document (``event.kind: alert``): rule, severity, times,
    entities and ``related.*``, ATT&CK techniques under ``threat``, citysoc's lifecycle
    under ``labels``; the matched events' ids under ``citysoc.event_ids``."""
    level = str(alert.get("level", ""))
    tags = [str(t) for t in alert.get("tags") or []]
    hosts, users, ips = (
        _entities(alert, "host.name"),
        _entities(alert, "user.name"),
        _entities(alert, "source.ip"),
    )
    doc: dict[str, Any] = {
        "@timestamp": alert.get("first_seen") or alert.get("created"),
        "message": alert.get("rule_title", ""),
        "event": {
            "kind": "alert",
            "id": alert.get("id"),
            "created": alert.get("created"),
            "start": alert.get("first_seen"),
            "end": alert.get("last_seen"),
            "severity": SEVERITY.get(level, 0),
            "risk_score": float(SEVERITY.get(level, 0)),
            "module": "citysoc",
            "dataset": "citysoc.alerts",
        },
        "rule": {
            "id": alert.get("rule_id"),
            "name": alert.get("rule_title"),
            "description": alert.get("description") or None,
            "ruleset": "sigma",
        },
        "log": {"level": level},
        "tags": tags,
        "labels": {
            "status": alert.get("status"),
            "assignee": alert.get("assignee"),
            "resolution": alert.get("resolution"),
            "rule_type": alert.get("rule_type"),
        },
        "related": {"hosts": hosts, "user": users, "ip": ips},
        "citysoc": {"event_ids": list(alert.get("event_ids") or []), "count": alert.get("count")},
    }
    if hosts:
        doc["host"] = {"name": hosts[0]}
    if users:
        doc["user"] = {"name": users[0]}
    if ips:
        doc["source"] = {"ip": ips[0]}
    techniques = _techniques(tags)
    if techniques:
        doc["threat"] = {"framework": "MITRE ATT&CK", "technique": {"id": techniques}}
    doc["labels"] = {k: v for k, v in doc["labels"].items() if v is not None}
    doc["rule"] = {k: v for k, v in doc["rule"].items() if v is not None}
    return doc


def level_rank(level: str) -> int:
    """0 (informational) .. 4 (critical); -1 for an unknown level."""
    return LEVELS.index(level) if level in LEVELS else -1


__all__ = ["CSV_COLUMNS", "SEVERITY", "csv_row", "ecs_document", "level_rank"]
