"""The numbers of a report, gathered from a store through the Store protocol only.

A period report covers ``start <= time < end`` (aware datetimes; the CLI turns calendar days
of the configured zone into these bounds). One rule: a thing is in the period when the moment
it happened is (stated in every report, key ``report.period.rule``):
- events by their ``@timestamp``; alerts by ``first_seen`` (``created`` when it is missing),
  in counts, tables and charts alike;
- cases opened / closed by ``opened_at`` / ``closed_at``; recommendations by when they were
  recorded (``at``);
- open high/critical cases are the state at the end of the period: opened before its end and
  still open now (a backlog case opened earlier is listed; a case opened after the end is not);
- MTTD over the period's alerts raised on live data (created - event.ingested of the first
  matched event; alerts on imported history, see IMPORTED_AFTER, are counted apart); MTTR
  over the period's alerts that are closed (closed_at - created); true/false-positive rates
  over the period's alerts that analysts judged: the resolution of a closed alert, else the
  triage verdict of an open one.

Alert records are read in both shapes in use: the detector's (``rule_id``, ``rule_title``,
``level``, ``tags``, ``count``) and the nested one of the records schema (``rule: {id, title,
level, tags}``, ``event_count``); see :class:`AlertView`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from soc import clock, ecs
from soc.report.attack import (
    attack_data,
    tactic_order,
    tactics_of,
    technique_name,
    technique_tactics,
    techniques_of,
)
from soc.store.base import Store

#: Alert levels from least to most severe.
LEVELS = ("informational", "low", "medium", "high", "critical")
#: Alert lifecycle states in display order.
ALERT_STATUSES = ("new", "in_progress", "escalated", "closed")
#: Alert resolutions / case verdicts.
RESOLUTIONS = ("true_positive", "false_positive", "benign")
#: Case severities from least to most severe.
SEVERITIES = ("low", "medium", "high", "critical")
#: How many rows the "top" tables keep.
TOP_N = 10
#: Periods up to this long also get an hour-by-hour trend.
HOURLY_UP_TO = timedelta(days=3)

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


def zone(name: str) -> tzinfo:
    """The time zone called ``name`` (IANA name, or "UTC"); UTC when it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def day_bounds(first_day: date, last_day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """UTC bounds ``[start, end)`` covering the calendar days first_day..last_day in ``tz``."""
    start = datetime.combine(first_day, datetime.min.time(), tzinfo=tz)
    end = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


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


@dataclass(frozen=True)
class Ranked:
    """One row of a "top" table: a name, its count and an optional detail (level, dept...)."""

    name: str
    count: int
    detail: str | None = None


@dataclass(frozen=True)
class DayPoint:
    """Events and alerts of one calendar day (in the report's zone)."""

    day: date
    events: int
    alerts: int


@dataclass(frozen=True)
class HourPoint:
    """Events and alerts of one hour (its start in the report's zone), for short periods."""

    hour: datetime
    events: int
    alerts: int


@dataclass(frozen=True)
class AttackCell:
    """Alerts observed for one (tactic, technique) pair, each alert counted once;
    technique "" = alerts whose rule names the tactic only. ``name`` is ATT&CK's name of
    the technique ("" when unknown)."""

    tactic: str
    technique: str
    count: int
    name: str = ""


@dataclass(frozen=True)
class AttackSummary:
    """ATT&CK view of a set of alerts: cells, distinct alerts per tactic, and the number of
    distinct alerts with any ATT&CK tag (each alert counted once)."""

    cells: list[AttackCell] = field(default_factory=list)
    tactic_alerts: dict[str, int] = field(default_factory=dict)
    alerts: int = 0
    version: str = ""


@dataclass(frozen=True)
class OpenCase:
    """An open case of high or critical severity, for the leadership's attention."""

    id: str
    title: str
    severity: str
    owner: str | None
    opened_at: datetime | None
    alert_count: int
    departments: list[str]
    titles: dict[str, str] = field(default_factory=dict)  # the title per language


@dataclass(frozen=True)
class Recommendation:
    """A recommendation an analyst recorded in a case."""

    case_id: str
    at: datetime | None
    by: str | None
    kind: str
    target: str | None
    text: str
    texts: dict[str, str] = field(default_factory=dict)  # per language, when written so


@dataclass
class PeriodReport:
    """Everything a period report shows, measured from the store."""

    start: datetime
    end: datetime
    first_day: date
    last_day: date
    timezone: str
    department: str | None
    generated_at: datetime
    store_kind: str
    events_total: int = 0
    events_by_dataset: list[Ranked] = field(default_factory=list)
    alerts_total: int = 0
    alerts_by_level: dict[str, int] = field(default_factory=dict)
    alerts_by_status: dict[str, int] = field(default_factory=dict)
    alerts_resolved: dict[str, int] = field(default_factory=dict)
    cases_opened: int = 0
    cases_closed: int = 0
    case_verdicts: dict[str, int] = field(default_factory=dict)
    mttd_seconds: float | None = None
    mttd_samples: int = 0
    mttd_imported: int = 0  # alerts on imported (historical) events, left out of MTTD
    mttd_unknown: int = 0  # alerts whose events carry no event.ingested, left out too
    mttr_seconds: float | None = None
    mttr_samples: int = 0
    days: list[DayPoint] = field(default_factory=list)
    hours: list[HourPoint] = field(default_factory=list)  # only for periods of HOURLY_UP_TO
    top_rules: list[Ranked] = field(default_factory=list)
    top_assets: list[Ranked] = field(default_factory=list)
    top_departments: list[Ranked] = field(default_factory=list)
    top_sources: list[Ranked] = field(default_factory=list)
    attack: list[AttackCell] = field(default_factory=list)
    attack_tactics: dict[str, int] = field(default_factory=dict)  # distinct alerts per tactic
    attack_alerts: int = 0  # distinct alerts with an ATT&CK tag
    attack_version: str = ""
    open_cases: list[OpenCase] = field(default_factory=list)
    recommendations: list[Recommendation] = field(default_factory=list)

    @property
    def resolved_total(self) -> int:
        """Alerts of the period that analysts judged (resolution or verdict)."""
        return sum(self.alerts_resolved.values())

    @property
    def tp_rate(self) -> float | None:
        """Share of resolved alerts that were true positives (None when none resolved)."""
        total = self.resolved_total
        return self.alerts_resolved.get("true_positive", 0) / total if total else None

    @property
    def fp_rate(self) -> float | None:
        """Share of resolved alerts that were false positives (None when none resolved)."""
        total = self.resolved_total
        return self.alerts_resolved.get("false_positive", 0) / total if total else None

    @property
    def high_or_critical(self) -> int:
        """Alerts of level high or critical."""
        return self.alerts_by_level.get("high", 0) + self.alerts_by_level.get("critical", 0)


# --- gathering -------------------------------------------------------------------------------


def _in_range(moment: datetime | None, start: datetime, end: datetime) -> bool:
    return moment is not None and start <= moment < end


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _rank(counter: Counter[str], details: Mapping[str, str | None] | None = None) -> list[Ranked]:
    rows = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_N]
    return [Ranked(name, n, (details or {}).get(name)) for name, n in rows]


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


def attack_summary(alerts: Iterable[AlertView]) -> AttackSummary:
    """Alert counts per (tactic, technique) in kill-chain order, each alert counted once per
    cell, per tactic and in the total.

    A technique sits under its own tactics from ATT&CK's data (see soc.report.attack); when
    the rule also tags tactics, only those of the technique's tactics that the rule names
    (the context the rule detects it in), unless that leaves none."""
    cells: dict[tuple[str, str], set[str]] = {}
    per_tactic: dict[str, set[str]] = {}
    tagged: set[str] = set()
    for index, alert in enumerate(alerts):
        key = alert.id or f"#{index}"
        rule_tactics = tactics_of(alert.tags)
        techniques = techniques_of(alert.tags)
        pairs: list[tuple[str, str]] = []
        for ident in techniques:
            own = technique_tactics(ident, rule_tactics)
            chosen = [tac for tac in own if tac in rule_tactics] or own
            pairs.extend((tac, ident) for tac in chosen)
        if not techniques:
            pairs.extend((tac, "") for tac in rule_tactics)
        for tactic, ident in pairs:
            cells.setdefault((tactic, ident), set()).add(key)
            per_tactic.setdefault(tactic, set()).add(key)
        if pairs:
            tagged.add(key)
    ordered = sorted(
        cells.items(), key=lambda kv: (tactic_order(kv[0][0]), -len(kv[1]), kv[0][1] or "~")
    )
    return AttackSummary(
        cells=[
            AttackCell(tactic, ident, len(ids), technique_name(ident) if ident else "")
            for (tactic, ident), ids in ordered
        ],
        tactic_alerts={
            tac: len(ids)
            for tac, ids in sorted(per_tactic.items(), key=lambda kv: tactic_order(kv[0]))
        },
        alerts=len(tagged),
        version=attack_data().version,
    )


def attack_cells(alerts: Iterable[AlertView]) -> list[AttackCell]:
    """The cells of :func:`attack_summary` (alerts per tactic and technique)."""
    return attack_summary(alerts).cells


def recommendations_of(case: Mapping[str, Any]) -> list[Recommendation]:
    found = []
    for item in case.get("recommendations") or []:
        if not isinstance(item, Mapping):
            continue
        found.append(
            Recommendation(
                case_id=str(case.get("id", "")),
                at=parse_time(item.get("at")),
                by=item.get("by") or None,
                kind=str(item.get("kind") or "other"),
                target=None if item.get("target") is None else str(item.get("target")),
                text=str(item.get("text") or ""),
                texts=texts_of(item.get("texts")),
            )
        )
    return found


def texts_of(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items() if v}


def _case_in_department(case: Mapping[str, Any], department: str | None) -> bool:
    if department is None:
        return True
    return department in [str(d) for d in case.get("departments") or []]


def gather_period(
    store: Store,
    start: datetime,
    end: datetime,
    *,
    tz: tzinfo = UTC,
    department: str | None = None,
    lookup: DepartmentLookup | None = None,
    now: datetime | None = None,
) -> PeriodReport:
    """Measure the period ``[start, end)`` in the store, optionally for one department.

    Days (for trends and the report's heading) are calendar days in ``tz``. With a
    department, events are those with that ``labels.department``, alerts those concerning it
    (see :func:`alert_departments`), cases those listing it.
    """
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    first_day = start.astimezone(tz).date()
    last_day = (end - timedelta(microseconds=1)).astimezone(tz).date()
    report = PeriodReport(
        start=start,
        end=end,
        first_day=first_day,
        last_day=last_day,
        timezone=str(getattr(tz, "key", tz)),
        department=department,
        generated_at=(now or clock.now()).astimezone(UTC),
        store_kind=store.kind,
    )
    filters = {"labels.department": department} if department else None

    # events
    report.events_total = store.count(filters=filters, start=start, end=end)
    buckets = store.terms(["event.dataset"], filters=filters, start=start, end=end, size=TOP_N * 5)
    report.events_by_dataset = [Ranked(str(b.key[0]), b.count) for b in buckets]
    counted = sum(b.count for b in buckets)
    if report.events_total > counted:
        report.events_by_dataset.append(Ranked("", report.events_total - counted))
    events_per_day: Counter[date] = Counter()
    events_per_hour: Counter[datetime] = Counter()
    # quarter-hour buckets regroup exactly into local days and hours of any zone offset
    for moment, n in store.date_histogram(900, filters=filters, start=start, end=end):
        local = moment.astimezone(tz)
        events_per_day[local.date()] += n
        events_per_hour[local.replace(minute=0, second=0, microsecond=0)] += n

    # alerts
    event_cache = EventCache(store)
    alerts: list[AlertView] = []
    departments_of: dict[str, list[str]] = {}
    targets_of: dict[str, list[str]] = {}
    for record in store.list_records("alerts"):
        alert = AlertView.from_record(record)
        if not _in_range(alert.seen, start, end):
            continue
        targets = alert_targets(event_cache, alert)
        depts = alert_departments(event_cache, alert, lookup, targets)
        if department is not None and department not in depts:
            continue
        alerts.append(alert)
        departments_of[alert.id] = depts
        targets_of[alert.id] = targets
    report.alerts_total = len(alerts)
    levels = Counter(a.level for a in alerts)
    report.alerts_by_level = {lv: levels.get(lv, 0) for lv in LEVELS}
    statuses = Counter(a.status for a in alerts)
    report.alerts_by_status = {s: statuses.get(s, 0) for s in ALERT_STATUSES}
    for other in sorted(set(statuses) - set(ALERT_STATUSES)):
        report.alerts_by_status[other] = statuses[other]
    resolved = Counter(a.resolution for a in alerts if a.resolution in RESOLUTIONS)
    report.alerts_resolved = {r: resolved.get(r, 0) for r in RESOLUTIONS}
    detect: list[float] = []
    for a in alerts:
        timing = detection_time(event_cache, a)
        if timing.kind == "measured" and timing.seconds is not None:
            detect.append(timing.seconds)
        elif timing.kind == "imported":
            report.mttd_imported += 1
        else:
            report.mttd_unknown += 1
    respond = [
        (a.closed_at - a.created).total_seconds()
        for a in alerts
        if a.status == "closed" and a.closed_at and a.created
    ]
    report.mttd_seconds, report.mttd_samples = _mean(detect), len(detect)
    report.mttr_seconds, report.mttr_samples = _mean(respond), len(respond)

    alerts_per_day: Counter[date] = Counter()
    for a in alerts:
        if a.seen:
            alerts_per_day[a.seen.astimezone(tz).date()] += 1
    day = first_day
    while day <= last_day:
        report.days.append(DayPoint(day, events_per_day.get(day, 0), alerts_per_day.get(day, 0)))
        day += timedelta(days=1)
    if end - start <= HOURLY_UP_TO:
        alerts_per_hour: Counter[datetime] = Counter(
            a.seen.astimezone(tz).replace(minute=0, second=0, microsecond=0)
            for a in alerts
            if a.seen
        )
        hour = start.astimezone(tz).replace(minute=0, second=0, microsecond=0)
        while hour < end:
            report.hours.append(
                HourPoint(hour, events_per_hour.get(hour, 0), alerts_per_hour.get(hour, 0))
            )
            hour = (hour.astimezone(UTC) + timedelta(hours=1)).astimezone(tz)

    rule_counts: Counter[str] = Counter(a.title for a in alerts)
    rule_levels = {a.title: a.level for a in alerts}
    report.top_rules = _rank(rule_counts, rule_levels)
    asset_counts: Counter[str] = Counter()
    asset_depts: dict[str, str | None] = {}
    for a in alerts:
        for asset in targets_of[a.id]:
            asset_counts[asset] += 1
            if asset not in asset_depts or asset_depts[asset] is None:
                dept = lookup(asset) if lookup else None
                depts = departments_of.get(a.id) or []
                asset_depts[asset] = dept or (depts[0] if len(depts) == 1 else None)
    report.top_assets = _rank(asset_counts, asset_depts)
    dept_counts: Counter[str] = Counter()
    for a in alerts:
        for dept in departments_of.get(a.id, []):
            dept_counts[dept] += 1
    report.top_departments = _rank(dept_counts)
    source_counts: Counter[str] = Counter()
    for a in alerts:
        for ip in a.entities.get("source.ip", []):
            source_counts[ip] += 1
    report.top_sources = _rank(source_counts)
    summary = attack_summary(alerts)
    report.attack, report.attack_tactics = summary.cells, summary.tactic_alerts
    report.attack_alerts, report.attack_version = summary.alerts, summary.version

    # cases
    verdicts: Counter[str] = Counter()
    period_alerts = {a.id for a in alerts}
    for case in store.list_records("cases"):
        about_period = bool(period_alerts & {str(i) for i in case.get("alert_ids") or []})
        if not (about_period or _case_in_department(case, department)):
            continue
        opened = parse_time(case.get("opened_at"))
        closed = parse_time(case.get("closed_at"))
        if _in_range(opened, start, end):
            report.cases_opened += 1
        if _in_range(closed, start, end) and case.get("status") == "closed":
            report.cases_closed += 1
            if case.get("verdict") in RESOLUTIONS:
                verdicts[str(case["verdict"])] += 1
        severity = str(case.get("severity") or "").lower()
        open_at_end = (opened is None or opened < end) and (
            case.get("status") != "closed" or (closed is not None and closed >= end)
        )
        if open_at_end and severity in ("high", "critical") and case.get("status") != "closed":
            report.open_cases.append(
                OpenCase(
                    id=str(case.get("id", "")),
                    title=str(case.get("title") or ""),
                    severity=severity,
                    owner=case.get("owner") or None,
                    opened_at=opened,
                    alert_count=len(dict.fromkeys(case.get("alert_ids") or [])),
                    departments=[str(d) for d in case.get("departments") or []],
                    titles=texts_of(case.get("titles")),
                )
            )
        report.recommendations.extend(
            r for r in recommendations_of(case) if r.at is None or _in_range(r.at, start, end)
        )
    report.case_verdicts = {v: verdicts.get(v, 0) for v in RESOLUTIONS}
    report.open_cases.sort(key=lambda c: (-SEVERITIES.index(c.severity), c.opened_at or end, c.id))
    report.recommendations.sort(key=lambda r: (r.at or end, r.case_id))
    return report
