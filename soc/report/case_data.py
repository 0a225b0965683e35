"""The numbers of an incident (case) report, gathered from a store through the Store protocol
only: the case, its alerts and their events (repeated ones grouped, see soc.report.timeline),
the analysts' timeline, notes and recommendations, and who handled it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from soc import clock, ecs
from soc.report.alerts import (
    AlertView,
    DepartmentLookup,
    EventCache,
    alert_departments,
    alert_targets,
    parse_time,
)
from soc.report.attack import AttackCell, attack_summary
from soc.report.data import Recommendation, recommendations_of, texts_of
from soc.report.timeline import group_events
from soc.store.base import Store

#: How many raw matched events a case report lists in its appendix.
CASE_EVENTS_SHOWN = 50
#: How many matched events a case report reads (grouped in its timeline).
CASE_EVENTS_READ = 200


@dataclass(frozen=True)
class CaseAlert:
    """An alert attached to a case, as the case report lists it."""

    id: str
    title: str
    level: str
    status: str
    first_seen: datetime | None
    last_seen: datetime | None
    event_count: int


@dataclass(frozen=True)
class TimelineEntry:
    """One moment of an incident: an event, an alert, or something the analysts did."""

    at: datetime | None
    kind: str  # event|events|alert|pivot|stats|enrich|answer|action|note|status
    by: str | None
    summary: str  # as recorded (English for entries written by triage)
    detail: dict[str, Any] = field(default_factory=dict)  # the values it is rendered from


@dataclass
class CaseReport:
    """Everything a case (incident) report shows."""

    id: str
    title: str
    status: str
    severity: str
    verdict: str | None
    owner: str | None
    opened_at: datetime | None
    updated_at: datetime | None
    closed_at: datetime | None
    timezone: str
    generated_at: datetime
    store_kind: str = "local"
    departments: list[str] = field(default_factory=list)
    assets: list[str] = field(default_factory=list)
    entities: dict[str, list[str]] = field(default_factory=dict)
    alerts: list[CaseAlert] = field(default_factory=list)
    events_total: int = 0
    events_shown: int = 0
    timeline: list[TimelineEntry] = field(default_factory=list)
    recommendations: list[Recommendation] = field(default_factory=list)
    notes: list[TimelineEntry] = field(default_factory=list)
    handlers: list[str] = field(default_factory=list)
    raw_events: list[TimelineEntry] = field(default_factory=list)  # the appendix
    titles: dict[str, str] = field(default_factory=dict)
    attack: list[AttackCell] = field(default_factory=list)
    attack_tactics: dict[str, int] = field(default_factory=dict)
    attack_alerts: int = 0
    attack_version: str = ""

    @property
    def first_activity(self) -> datetime | None:
        """The earliest alert first_seen of the case."""
        times = [a.first_seen for a in self.alerts if a.first_seen]
        return min(times) if times else None


class CaseNotFound(LookupError):
    """No case with the given id."""


def event_summary(event: Mapping[str, Any]) -> str:
    """A one-line description of an event from its ECS fields, each as ``field=value`` (the
    values as logged, in any report language)."""
    parts: list[str] = []
    for name in (
        "event.dataset",
        "event.action",
        "event.outcome",
        "user.name",
        "source.ip",
        "destination.ip",
        "destination.port",
        "http.request.method",
        "url.original",
        "http.response.status_code",
        "dns.question.name",
        "process.command_line",
    ):
        value = ecs.get_field(event, name)
        if value not in (None, "", []):
            text = str(value)
            if len(text) > 120:
                text = text[:117] + "..."
            parts.append(f"{name}={text}")
    if len(parts) <= 1:
        message = ecs.get_field(event, "message") or ecs.get_field(event, "event.original")
        if message:
            parts.append(f"“{str(message)[:160]}”")
    return " ".join(parts)


def gather_case(
    store: Store,
    case_id: str,
    *,
    tz: tzinfo = UTC,
    lookup: DepartmentLookup | None = None,
    now: datetime | None = None,
) -> CaseReport:
    """Everything about one case: its alerts and their first events, the analysts' timeline,
    notes and recommendations, the audit trail's handlers. Raises CaseNotFound."""
    case = store.get_record("cases", case_id) or store.get_record("cases", case_id.upper())
    if case is None:
        raise CaseNotFound(case_id)
    report = CaseReport(
        id=str(case.get("id") or case_id),
        title=str(case.get("title") or ""),
        status=str(case.get("status") or "open"),
        severity=str(case.get("severity") or "medium").lower(),
        verdict=case.get("verdict") or None,
        owner=case.get("owner") or None,
        opened_at=parse_time(case.get("opened_at")),
        updated_at=parse_time(case.get("updated_at")),
        closed_at=parse_time(case.get("closed_at")),
        timezone=str(getattr(tz, "key", tz)),
        generated_at=(now or clock.now()).astimezone(UTC),
        store_kind=store.kind,
    )
    departments = [str(d) for d in case.get("departments") or []]
    assets = [str(a) for a in case.get("assets") or []]
    entities: dict[str, list[str]] = {}
    event_cache = EventCache(store)
    alert_views: list[AlertView] = []
    for alert_id in dict.fromkeys(str(i) for i in case.get("alert_ids") or []):
        record = store.get_record("alerts", alert_id)
        if record is None:
            continue
        alert = AlertView.from_record(record)
        alert_views.append(alert)
        for name, values in alert.entities.items():
            bucket = entities.setdefault(name, [])
            bucket.extend(v for v in values if v not in bucket)
        targets = alert_targets(event_cache, alert)
        for asset in targets:
            if asset not in assets:
                assets.append(asset)
        for dept in alert_departments(event_cache, alert, lookup, targets):
            if dept not in departments:
                departments.append(dept)
    report.departments, report.assets, report.entities = departments, assets, entities
    summary = attack_summary(alert_views)
    report.attack, report.attack_tactics = summary.cells, summary.tactic_alerts
    report.attack_alerts, report.attack_version = summary.alerts, summary.version
    alert_views.sort(key=lambda a: (a.seen or report.generated_at, a.id))
    report.alerts = [
        CaseAlert(a.id, a.title, a.level, a.status, a.first_seen, a.last_seen, a.event_count)
        for a in alert_views
    ]

    timeline: list[TimelineEntry] = []
    seen_events: list[str] = []
    for alert in alert_views:
        timeline.append(
            TimelineEntry(
                alert.seen,
                "alert",
                None,
                f"[{alert.level}] {alert.title}",
                {"title": alert.title, "level": alert.level, "count": alert.event_count},
            )
        )
        report.events_total += alert.event_count
        for event_id in alert.event_ids:
            if event_id not in seen_events:
                seen_events.append(event_id)
    events: list[tuple[datetime | None, dict[str, Any]]] = []
    for event_id in seen_events[:CASE_EVENTS_READ]:
        event = event_cache.get_event(event_id)
        if event:
            events.append((parse_time(ecs.get_field(event, "@timestamp")), event))
    events.sort(key=lambda e: (e[0] or report.generated_at, event_summary(e[1])))
    # repeated events as one row each (count, first/last, varied values); raw ones in the
    # appendix (and so in the CSV export)
    for group in group_events(events):
        detail = group.as_detail()
        timeline.append(TimelineEntry(group.first, "events", None, "", detail))
    report.events_shown = min(len(events), CASE_EVENTS_SHOWN)
    report.raw_events = [
        TimelineEntry(at, "event", None, event_summary(event))
        for at, event in events[:CASE_EVENTS_SHOWN]
    ]

    handlers: list[str] = []

    def handled(name: Any) -> None:
        if name and str(name) not in handlers:
            handlers.append(str(name))

    handled(report.owner)
    for item in case.get("timeline") or []:
        if not isinstance(item, Mapping):
            continue
        kind = str(item.get("kind") or "note")
        detail = item.get("detail")
        timeline.append(
            TimelineEntry(
                parse_time(item.get("at")),
                kind,
                item.get("by"),
                str(item.get("summary") or ""),
                dict(detail) if isinstance(detail, Mapping) else {},
            )
        )
        handled(item.get("by"))
    for note in case.get("notes") or []:
        if isinstance(note, Mapping):
            report.notes.append(
                TimelineEntry(
                    parse_time(note.get("at")),
                    "note",
                    note.get("by"),
                    str(note.get("text") or ""),
                    {"texts": texts_of(note.get("texts"))},
                )
            )
            handled(note.get("by"))
    report.recommendations = recommendations_of(case)
    for rec in report.recommendations:
        handled(rec.by)
    for entry in store.list_records("audit", filters={"object_id": report.id}, order_by="at"):
        handled(entry.get("analyst"))
    report.handlers = handlers
    report.titles = texts_of(case.get("titles"))
    order = {"events": 0, "alert": 1}
    timeline.sort(key=lambda e: (e.at or report.generated_at, order.get(e.kind, 2)))
    report.timeline = timeline
    return report
