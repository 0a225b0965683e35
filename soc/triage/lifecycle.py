"""The alert lifecycle: new -> in_progress -> escalated -> closed (true_positive |
false_positive | benign), with an assignee. Every change is written to the audit trail.

Allowed moves (anything else is refused with one line):
- new -> in_progress, escalated or closed
- in_progress -> escalated or closed
- escalated -> closed
- closed -> in_progress (reopen; the resolution is cleared)
Closing needs a resolution; a resolution is only given when closing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from soc import clock, ecs
from soc.store.base import Store
from soc.triage import audit

STATUSES = ("new", "in_progress", "escalated", "closed")
RESOLUTIONS = ("true_positive", "false_positive", "benign")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("in_progress", "escalated", "closed"),
    "in_progress": ("escalated", "closed"),
    "escalated": ("closed",),
    "closed": ("in_progress",),
}


class LifecycleError(ValueError):
    """A change to an alert is not allowed or the alert does not exist (one line)."""


def now() -> str:
    """The current time as stored in records."""
    return ecs.format_timestamp(clock.now())


#: Shortest alert id prefix accepted in place of the whole id.
MIN_PREFIX = 6


def get_alert(store: Store, alert_id: str) -> dict[str, Any]:
    """The alert with this id, or with this unique id prefix (at least 6 characters);
    raises LifecycleError when there is none or the prefix is ambiguous."""
    found = store.get_record("alerts", alert_id)
    if found is not None:
        return found
    if len(alert_id) < MIN_PREFIX:
        raise LifecycleError(
            f"no alert {alert_id!r}: prefix too short (an id prefix needs at least "
            f"{MIN_PREFIX} characters; see `soc alerts list`)"
        )
    if len(alert_id) >= MIN_PREFIX:
        matches = [
            a for a in store.list_records("alerts") if str(a.get("id", "")).startswith(alert_id)
        ]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise LifecycleError(
                f"alert id prefix {alert_id!r} is ambiguous ({len(matches)} alerts)"
            )
    raise LifecycleError(f"no alert {alert_id!r} (see `soc alerts list`)")


def check_transition(current: str, target: str, resolution: str | None) -> None:
    """Raise LifecycleError unless an alert may move from ``current`` to ``target``."""
    if target not in STATUSES:
        raise LifecycleError(f"unknown status {target!r} (expected {', '.join(STATUSES)})")
    if target == "closed":
        if resolution is None:
            raise LifecycleError(
                f"closing needs a resolution ({', '.join(RESOLUTIONS)}): --resolution"
            )
        if resolution not in RESOLUTIONS:
            raise LifecycleError(
                f"unknown resolution {resolution!r} (expected {', '.join(RESOLUTIONS)})"
            )
    elif resolution is not None:
        raise LifecycleError("a resolution is only given when closing")
    allowed = TRANSITIONS.get(current, ())
    if target not in allowed:
        moves = ", ".join(allowed) or "none"
        raise LifecycleError(
            f"cannot move an alert from {current} to {target} (from {current}: {moves})"
        )


def set_status(
    store: Store,
    alert_id: str,
    status: str,
    *,
    analyst: str,
    resolution: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Move an alert to ``status`` (with ``resolution`` when closing), audit it, return the
    updated alert; LifecycleError for a move the lifecycle forbids."""
    alert = get_alert(store, alert_id)
    current = str(alert.get("status") or "new")
    check_transition(current, status, resolution)
    stamp = now()
    changes: dict[str, Any] = {"status": status, "updated": stamp}
    if status == "closed":
        changes["resolution"] = resolution
        changes["closed_at"] = stamp
    elif current == "closed":
        changes["resolution"] = None
        changes["closed_at"] = None
    updated = store.update_record("alerts", alert["id"], changes)
    audit.record(
        store,
        analyst=analyst,
        action="alert.status",
        object_kind="alerts",
        object_id=alert["id"],
        before={"status": current, "resolution": alert.get("resolution")},
        after={"status": status, "resolution": changes.get("resolution")},
        detail={"reason": reason} if reason else None,
        at=stamp,
    )
    return updated


def _change(
    store: Store,
    alert: Mapping[str, Any],
    field: str,
    value: Any,
    *,
    analyst: str,
    action: str,
    detail: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    before = alert.get(field)
    if before == value:
        return dict(alert)
    stamp = now()
    updated = store.update_record("alerts", alert["id"], {field: value, "updated": stamp})
    audit.record(
        store,
        analyst=analyst,
        action=action,
        object_kind="alerts",
        object_id=alert["id"],
        before=before,
        after=value,
        detail=detail,
        at=stamp,
    )
    return updated


def assign(store: Store, alert_id: str, assignee: str | None, *, analyst: str) -> dict[str, Any]:
    """Give an alert to an analyst (None or "" unassigns); audited; a closed alert cannot be
    reassigned."""
    alert = get_alert(store, alert_id)
    if alert.get("status") == "closed":
        raise LifecycleError(f"alert {alert['id']} is closed; reopen it before reassigning")
    name = (assignee or "").strip() or None
    return _change(store, alert, "assignee", name, analyst=analyst, action="alert.assign")


def add_tag(store: Store, alert_id: str, tag: str, *, analyst: str) -> dict[str, Any]:
    """Add an analyst tag to an alert (kept in its ``labels`` list: ``tags`` are the rule's
    ATT&CK tags); audited."""
    alert = get_alert(store, alert_id)
    labels = list(alert.get("labels") or [])
    if tag in labels:
        return alert
    return _change(store, alert, "labels", [*labels, tag], analyst=analyst, action="alert.tag")


def set_verdict(
    store: Store, alert_id: str, verdict: str | None, *, analyst: str, severity: str | None = None
) -> dict[str, Any]:
    """Record the triage verdict (and severity) on an alert; audited."""
    if verdict is not None and verdict not in RESOLUTIONS:
        raise LifecycleError(f"unknown verdict {verdict!r} (expected {', '.join(RESOLUTIONS)})")
    alert = get_alert(store, alert_id)
    updated = _change(store, alert, "verdict", verdict, analyst=analyst, action="alert.verdict")
    if severity is not None:
        updated = _change(
            store, updated, "severity", severity, analyst=analyst, action="alert.severity"
        )
    return updated


def link_case(store: Store, alert_id: str, case_id: str | None, *, analyst: str) -> dict[str, Any]:
    """Record which case an alert belongs to; audited."""
    alert = get_alert(store, alert_id)
    return _change(store, alert, "case_id", case_id, analyst=analyst, action="alert.case")


def add_note(store: Store, alert_id: str, text: str, *, analyst: str) -> dict[str, Any]:
    """Add a note to an alert (its ``notes`` list); audited."""
    alert = get_alert(store, alert_id)
    note = {"at": now(), "by": analyst, "text": text}
    return _change(
        store,
        alert,
        "notes",
        [*(alert.get("notes") or []), note],
        analyst=analyst,
        action="alert.note",
    )


def rule_of(alert: Mapping[str, Any]) -> dict[str, Any]:
    """The rule of an alert as {id, title, level, tags, description}, whether the alert
    nests it (``rule: {...}``) or keeps it flat as the detection engine writes it
    (``rule_id``, ``rule_title``, ``level``, ``tags``)."""
    nested = alert.get("rule")
    if isinstance(nested, Mapping):
        return {
            "id": nested.get("id"),
            "title": nested.get("title"),
            "level": nested.get("level"),
            "tags": list(nested.get("tags") or []),
            "description": nested.get("description") or "",
        }
    return {
        "id": alert.get("rule_id"),
        "title": alert.get("rule_title"),
        "level": alert.get("level"),
        "tags": list(alert.get("tags") or []),
        "description": alert.get("description") or "",
    }


def event_count_of(alert: Mapping[str, Any]) -> int:
    """How many events an alert matched."""
    for key in ("event_count", "count"):
        value = alert.get(key)
        if isinstance(value, int) and value:
            return value
    return len(alert.get("event_ids") or [])


def department_of(store: Store, alert: Mapping[str, Any]) -> str | None:
    """The alert's department, or labels.department of its first matched event."""
    if alert.get("department"):
        return str(alert["department"])
    ids = alert.get("event_ids") or []
    if not ids:
        return None
    event = store.get_event(str(ids[0])) or {}
    value = ecs.get_field(event, "labels.department")
    return str(value) if value else None


def alert_view(store: Store, alert: Mapping[str, Any]) -> dict[str, Any]:
    """The alert with its rule nested under ``rule``, ``event_count`` and ``department``
    filled in: the one shape playbook templates and conditions see."""
    view = dict(alert)
    view["rule"] = rule_of(alert)
    view["event_count"] = event_count_of(alert)
    view["department"] = department_of(store, alert)
    view.setdefault("entities", {})
    return view
