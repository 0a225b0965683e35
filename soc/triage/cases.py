"""Cases: groups of alerts under investigation, with a timeline (alerts, pivots run, answers,
actions, notes), recommendations (written down, never executed) and a verdict. Every change is
written to the audit trail."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from soc import clock, ecs
from soc.store.base import Store
from soc.triage import audit, lifecycle
from soc.triage.lifecycle import LifecycleError

CASE_STATUSES = ("open", "closed")
SEVERITIES = ("low", "medium", "high", "critical")
VERDICTS = lifecycle.RESOLUTIONS
TIMELINE_KINDS = ("alert", "pivot", "stats", "enrich", "answer", "action", "note", "status")
RECOMMENDATION_KINDS = ("block_ip", "disable_account", "patch", "other")
_ENTITY_KEYS = ("source.ip", "user.name", "host.name")


class CaseError(LifecycleError):
    """A case change is not allowed or the case does not exist (one line)."""


def timeline_entry(
    kind: str,
    summary: str,
    *,
    by: str,
    detail: Mapping[str, Any] | None = None,
    at: str | None = None,
) -> dict[str, Any]:
    """One entry of a case timeline."""
    return {
        "at": at or lifecycle.now(),
        "kind": kind,
        "by": by,
        "summary": summary,
        "detail": dict(detail or {}),
    }


def get_case(store: Store, case_id: str) -> dict[str, Any]:
    """The case with this id (case-insensitive); CaseError when there is none."""
    found = store.get_record("cases", case_id) or store.get_record("cases", case_id.upper())
    if found is None:
        raise CaseError(f"no case {case_id!r} (see `soc cases list`)")
    return found


def list_cases(
    store: Store,
    *,
    status: str | None = None,
    severity: str | None = None,
    owner: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Cases matching the filters, newest first."""
    filters: dict[str, Any] = {}
    if status:
        filters["status"] = status
    if severity:
        filters["severity"] = severity
    if owner:
        filters["owner"] = owner
    return store.list_records(
        "cases", filters=filters, order_by="opened_at", descending=True, limit=limit
    )


def _new_id(store: Store, moment: datetime) -> Iterable[str]:
    day = moment.strftime("%Y%m%d")
    prefix = f"CASE-{day}-"
    taken = [
        str(c.get("id", ""))[len(prefix) :]
        for c in store.list_records("cases")
        if str(c.get("id", "")).startswith(prefix)
    ]
    number = max((int(t) for t in taken if t.isdigit()), default=0)
    while True:
        number += 1
        yield f"{prefix}{number:04d}"


def open_case(
    store: Store,
    *,
    title: str,
    analyst: str,
    severity: str = "medium",
    owner: str | None = None,
    alert_ids: Sequence[str] = (),
    departments: Sequence[str] = (),
    assets: Sequence[str] = (),
    description: str | None = None,
    titles: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Open a case (id ``CASE-YYYYMMDD-NNNN``, sequential per UTC day, safe against two
    analysts opening at once) with the given alerts attached; audited. ``titles``: the
    title per language when a playbook wrote it in several (reports show their
    language's)."""
    if severity not in SEVERITIES:
        raise CaseError(f"unknown severity {severity!r} (expected {', '.join(SEVERITIES)})")
    if not title.strip():
        raise CaseError("a case needs a title")
    alerts = [lifecycle.get_alert(store, a) for a in alert_ids]
    moment = clock.now()
    stamp = ecs.format_timestamp(moment)
    case: dict[str, Any] = {}
    for case_id in _new_id(store, moment):
        case = {
            "id": case_id,
            "title": title.strip(),
            "titles": {k: v.strip() for k, v in (titles or {}).items()},
            "description": description,
            "status": "open",
            "severity": severity,
            "verdict": None,
            "owner": owner or analyst,
            "alert_ids": [],
            "departments": sorted(set(departments)),
            "assets": sorted(set(assets)),
            "opened_at": stamp,
            "updated_at": stamp,
            "closed_at": None,
            "timeline": [
                timeline_entry(
                    "status",
                    f"case opened: {title.strip()}",
                    by=analyst,
                    at=stamp,
                    detail={"opened": True, "titles": dict(titles or {})},
                )
            ],
            "recommendations": [],
            "notes": [],
        }
        if store.put_record("cases", case_id, case):
            break
    audit.record(
        store,
        analyst=analyst,
        action="case.open",
        object_kind="cases",
        object_id=case["id"],
        before=None,
        after={"title": case["title"], "severity": severity, "owner": case["owner"]},
        at=stamp,
    )
    for alert in alerts:
        case = attach_alert(store, case["id"], alert["id"], analyst=analyst)
    return case


def _entities(alert: Mapping[str, Any]) -> dict[str, list[str]]:
    raw = alert.get("entities") or {}
    return {k: [str(v) for v in raw.get(k) or []] for k in _ENTITY_KEYS}


def attach_alert(store: Store, case_id: str, alert_id: str, *, analyst: str) -> dict[str, Any]:
    """Attach an alert to an open case (its department joins the case's); audited on both."""
    case = get_case(store, case_id)
    if case.get("status") == "closed":
        raise CaseError(f"case {case['id']} is closed")
    alert = lifecycle.get_alert(store, alert_id)
    if alert.get("case_id") and alert["case_id"] != case["id"]:
        raise CaseError(f"alert {alert['id']} already belongs to case {alert['case_id']}")
    if alert["id"] in case.get("alert_ids", []):
        return case
    rule = lifecycle.rule_of(alert)
    entry = timeline_entry(
        "alert",
        f"alert {rule.get('title') or rule.get('id') or alert['id']} "
        f"({rule.get('level') or '-'}, {lifecycle.event_count_of(alert)} events)",
        by=analyst,
        detail={
            "alert_id": alert["id"],
            "rule_id": rule.get("id"),
            "rule_title": rule.get("title"),
            "level": rule.get("level"),
            "count": lifecycle.event_count_of(alert),
            "entities": _entities(alert),
            "first_seen": alert.get("first_seen"),
            "last_seen": alert.get("last_seen"),
        },
    )
    departments = set(case.get("departments") or [])
    department = lifecycle.department_of(store, alert)
    if department:
        departments.add(department)
    updated = store.update_record(
        "cases",
        case["id"],
        {
            "alert_ids": [*case.get("alert_ids", []), alert["id"]],
            "departments": sorted(departments),
            "timeline": [*case.get("timeline", []), entry],
            "updated_at": entry["at"],
        },
    )
    audit.record(
        store,
        analyst=analyst,
        action="case.attach",
        object_kind="cases",
        object_id=case["id"],
        before=None,
        after=alert["id"],
        at=entry["at"],
    )
    lifecycle.link_case(store, alert["id"], case["id"], analyst=analyst)
    return updated


def find_case_for(store: Store, alert: Mapping[str, Any]) -> dict[str, Any] | None:
    """An open case that already holds this alert, or one holding an alert from the same
    source address (or, for alerts without one, on the same host), most recently opened
    first; None when there is none."""
    if alert.get("case_id"):
        try:
            case = get_case(store, str(alert["case_id"]))
        except CaseError:
            case = None
        if case and case.get("status") == "open":
            return case
    entities = _entities(alert)
    # the attacker's address ties alerts together; without one, the host concerned does
    key = "source.ip" if entities["source.ip"] else "host.name"
    wanted = {(key, v) for v in entities[key]}
    if not wanted:
        return None
    for case in list_cases(store, status="open"):
        for entry in case.get("timeline", []):
            if entry.get("kind") != "alert":
                continue
            ents = (entry.get("detail") or {}).get("entities") or {}
            if any((k, v) in wanted for k, vs in ents.items() for v in vs or []):
                return case
    return None


def add_timeline(
    store: Store, case_id: str, entries: Sequence[Mapping[str, Any]], *, analyst: str
) -> dict[str, Any]:
    """Append entries to a case's timeline (and enrichment's departments/assets); audited
    as one change."""
    if not entries:
        return get_case(store, case_id)
    case = get_case(store, case_id)
    departments = set(case.get("departments") or [])
    assets = set(case.get("assets") or [])
    for entry in entries:
        detail = entry.get("detail") or {}
        departments.update(detail.get("departments") or [])
        assets.update(detail.get("assets") or [])
    stamp = lifecycle.now()
    updated = store.update_record(
        "cases",
        case["id"],
        {
            "timeline": sorted(
                [*case.get("timeline", []), *entries], key=lambda e: str(e.get("at", ""))
            ),
            "departments": sorted(departments),
            "assets": sorted(assets),
            "updated_at": stamp,
        },
    )
    audit.record(
        store,
        analyst=analyst,
        action="case.timeline",
        object_kind="cases",
        object_id=case["id"],
        before=len(case.get("timeline", [])),
        after=len(updated["timeline"]),
        detail={"added": len(entries)},
        at=stamp,
    )
    return updated


def add_note(
    store: Store,
    case_id: str,
    text: str,
    *,
    analyst: str,
    texts: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Add an analyst note to a case (and its timeline); audited. ``texts``: the note per
    language when a playbook wrote it in several (reports show their language's)."""
    if not text.strip():
        raise CaseError("a note needs some text")
    case = get_case(store, case_id)
    stamp = lifecycle.now()
    note = {"at": stamp, "by": analyst, "text": text}
    if texts:
        note["texts"] = dict(texts)
    updated = store.update_record(
        "cases",
        case["id"],
        {
            "notes": [*case.get("notes", []), note],
            "timeline": [
                *case.get("timeline", []),
                timeline_entry(
                    "note", text, by=analyst, at=stamp, detail={"texts": dict(texts or {})}
                ),
            ],
            "updated_at": stamp,
        },
    )
    audit.record(
        store,
        analyst=analyst,
        action="case.note",
        object_kind="cases",
        object_id=case["id"],
        before=None,
        after=text,
        at=stamp,
    )
    return updated


def recommend(
    store: Store,
    case_id: str,
    *,
    kind: str,
    target: str | None,
    text: str,
    analyst: str,
    texts: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Write a recommendation (block an IP, disable an account, patch...) into a case. It is
    a record for people to act on; citysoc never carries it out. ``texts``: the text per
    language (``{"en": ..., "vi": ...}``) when the playbook wrote it in several; reports
    show the one of their language."""
    if kind not in RECOMMENDATION_KINDS:
        raise CaseError(
            f"unknown recommendation {kind!r} (expected {', '.join(RECOMMENDATION_KINDS)})"
        )
    case = get_case(store, case_id)
    stamp = lifecycle.now()
    item = {"at": stamp, "by": analyst, "text": text, "kind": kind, "target": target}
    if texts:
        item["texts"] = dict(texts)
    shown = {"kind": kind, "target": target, "text": text}
    if any(
        r.get("kind") == kind and r.get("target") == target and r.get("text") == text
        for r in case.get("recommendations", [])
    ):
        return case
    updated = store.update_record(
        "cases",
        case["id"],
        {
            "recommendations": [*case.get("recommendations", []), item],
            "timeline": [
                *case.get("timeline", []),
                timeline_entry(
                    "action",
                    f"recommendation: {text}",
                    by=analyst,
                    at=stamp,
                    detail={"kind": kind, "target": target},
                ),
            ],
            "updated_at": stamp,
        },
    )
    audit.record(
        store,
        analyst=analyst,
        action="case.recommend",
        object_kind="cases",
        object_id=case["id"],
        before=None,
        after=shown,
        at=stamp,
    )
    return updated


def set_case_fields(
    store: Store,
    case_id: str,
    *,
    analyst: str,
    severity: str | None = None,
    verdict: str | None = None,
    owner: str | None = None,
) -> dict[str, Any]:
    """Change a case's severity, verdict or owner; each change audited."""
    case = get_case(store, case_id)
    changes: dict[str, Any] = {}
    if severity is not None:
        if severity not in SEVERITIES:
            raise CaseError(f"unknown severity {severity!r} (expected {', '.join(SEVERITIES)})")
        changes["severity"] = severity
    if verdict is not None:
        if verdict not in VERDICTS:
            raise CaseError(f"unknown verdict {verdict!r} (expected {', '.join(VERDICTS)})")
        changes["verdict"] = verdict
    if owner is not None:
        changes["owner"] = owner
    changes = {k: v for k, v in changes.items() if case.get(k) != v}
    if not changes:
        return case
    stamp = lifecycle.now()
    updated = store.update_record("cases", case["id"], {**changes, "updated_at": stamp})
    for key, value in changes.items():
        audit.record(
            store,
            analyst=analyst,
            action=f"case.{key}",
            object_kind="cases",
            object_id=case["id"],
            before=case.get(key),
            after=value,
            at=stamp,
        )
    return updated


def close_case(
    store: Store,
    case_id: str,
    *,
    verdict: str,
    analyst: str,
    note: str | None = None,
    close_alerts: bool = True,
) -> dict[str, Any]:
    """Close a case with a verdict; its alerts that are still open are closed with the same
    resolution (each change audited). CaseError if it is already closed."""
    if verdict not in VERDICTS:
        raise CaseError(f"unknown verdict {verdict!r} (expected {', '.join(VERDICTS)})")
    case = get_case(store, case_id)
    if case.get("status") == "closed":
        raise CaseError(f"case {case['id']} is already closed")
    if note:
        case = add_note(store, case["id"], note, analyst=analyst)
    if close_alerts:
        for alert_id in case.get("alert_ids", []):
            alert = store.get_record("alerts", alert_id)
            if alert is not None and alert.get("status") != "closed":
                lifecycle.set_status(
                    store,
                    alert_id,
                    "closed",
                    resolution=verdict,
                    analyst=analyst,
                    reason=f"case {case['id']} closed",
                )
    stamp = lifecycle.now()
    updated = store.update_record(
        "cases",
        case["id"],
        {
            "status": "closed",
            "verdict": verdict,
            "closed_at": stamp,
            "updated_at": stamp,
            "timeline": [
                *case.get("timeline", []),
                timeline_entry(
                    "status",
                    f"case closed: {verdict}",
                    by=analyst,
                    at=stamp,
                    detail={"closed": True, "verdict": verdict},
                ),
            ],
        },
    )
    audit.record(
        store,
        analyst=analyst,
        action="case.close",
        object_kind="cases",
        object_id=case["id"],
        before={"status": case.get("status"), "verdict": case.get("verdict")},
        after={"status": "closed", "verdict": verdict},
        at=stamp,
    )
    return updated
