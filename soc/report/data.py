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

How alert records are read (both stored shapes), their assets, departments and detection
time: soc.report.alerts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from soc import clock, ecs
from soc.report.alerts import (
    LEVELS,
    TARGET_EVENTS,
    AlertView,
    DepartmentLookup,
    EventCache,
    alert_departments,
    alert_targets,
    detection_time,
    parse_time,
)
from soc.report.attack import AttackCell, attack_summary
from soc.store.base import Store
from soc.store.queries import records_between

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
    # the store filters the period (alerts by first_seen) and the events the table needs
    # are read a page at a time, not one request per alert
    in_period = [
        view
        for view in (
            AlertView.from_record(record)
            for record in records_between(
                store,
                "alerts",
                field="first_seen",
                start=ecs.format_timestamp(start),
                end=ecs.format_timestamp(end),
                descending=False,
            )
        )
        if _in_range(view.seen, start, end)
    ]
    event_cache.prefetch([i for view in in_period for i in view.event_ids[:TARGET_EVENTS]])
    for alert in in_period:
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
