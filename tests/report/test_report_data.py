"""The numbers of the reports, checked against what the test put in the store (computed
here independently of soc.report)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from statistics import mean
from zoneinfo import ZoneInfo

import pytest
from report_fixtures import FINANCE, ICT, Populated

from soc import ecs
from soc.report.case_data import CaseNotFound, gather_case
from soc.report.data import day_bounds, gather_period

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
NOVEMBER = day_bounds(date(2026, 11, 1), date(2026, 11, 30), HCM)


def _t(value: str) -> datetime:
    return ecs.parse_timestamp(value)


def _in_november(value: str) -> bool:
    return NOVEMBER[0] <= _t(value) < NOVEMBER[1]


def test_day_bounds_follow_the_city_zone() -> None:
    start, end = day_bounds(date(2026, 11, 1), date(2026, 11, 30), HCM)
    assert start == datetime(2026, 10, 31, 17, 0, tzinfo=UTC)
    assert end == datetime(2026, 11, 30, 17, 0, tzinfo=UTC)


def test_period_numbers_match_the_store(populated: Populated) -> None:
    report = gather_period(populated.store, *NOVEMBER, tz=HCM)
    events = [e for e in populated.events if _in_november(e["@timestamp"])]
    assert report.events_total == len(events) == 1166
    by_dataset = Counter(ecs.get_field(e, "event.dataset") for e in events)
    assert {r.name: r.count for r in report.events_by_dataset} == dict(by_dataset)

    alerts = [a for a in populated.alerts if _in_november(a["first_seen"])]
    assert report.alerts_total == len(alerts) == 8
    assert report.alerts_by_level == {
        lv: sum(a["level"] == lv for a in alerts)
        for lv in ("informational", "low", "medium", "high", "critical")
    }
    assert report.alerts_by_status == {
        s: sum(a["status"] == s for a in alerts)
        for s in ("new", "in_progress", "escalated", "closed")
    }
    closed = [a for a in alerts if a["status"] == "closed"]
    judged = [a.get("resolution") or a.get("verdict") for a in alerts]
    judged = [j for j in judged if j]
    assert len(judged) == 5  # four closed, one in progress with a triage verdict
    assert report.tp_rate == pytest.approx(judged.count("true_positive") / len(judged))
    assert report.fp_rate == pytest.approx(judged.count("false_positive") / len(judged))
    ingested = {e["_id"]: _t(e["event"]["ingested"]) for e in populated.events}
    mttd = mean((_t(a["created"]) - ingested[a["event_ids"][0]]).total_seconds() for a in alerts)
    mttr = mean((_t(a["closed_at"]) - _t(a["created"])).total_seconds() for a in closed)
    assert report.mttd_seconds == pytest.approx(mttd)
    assert report.mttr_seconds == pytest.approx(mttr)
    assert (report.mttd_samples, report.mttr_samples) == (len(alerts), len(closed))

    assert report.cases_opened == 3
    assert report.cases_closed == 1
    assert report.case_verdicts["true_positive"] == 1
    assert [c.id for c in report.open_cases] == ["CASE-20261118-0002", "CASE-20261118-0003"]
    assert report.open_cases[1].owner is None
    assert len(report.recommendations) == 3

    assert (report.top_rules[0].name, report.top_rules[0].count) == ("SSH brute force", 3)
    assert (report.top_sources[0].name, report.top_sources[0].count) == ("185.220.101.47", 4)
    assert (report.top_departments[0].name, report.top_departments[0].count) == (FINANCE, 4)
    assert report.top_assets[0].name == "tc-app01"
    tactics = {c.tactic for c in report.attack}
    # T1078.003 (Valid Accounts: Local Accounts) sits under ATT&CK's own four tactics, not
    # under the credential-access tag of its rule
    assert tactics == {
        "credential_access",
        "initial_access",
        "discovery",
        "command_and_control",
        "persistence",
        "privilege_escalation",
        "defense_evasion",
    }
    assert next(c for c in report.attack if c.technique == "T1110.001").count == 3


def test_per_day_trend_counts_local_days(populated: Populated) -> None:
    report = gather_period(populated.store, *NOVEMBER, tz=HCM)
    assert len(report.days) == 30
    per_day_events = Counter(_t(e["@timestamp"]).astimezone(HCM).date() for e in populated.events)
    per_day_alerts = Counter(_t(a["first_seen"]).astimezone(HCM).date() for a in populated.alerts)
    for point in report.days:
        assert point.events == per_day_events.get(point.day, 0), point.day
        assert point.alerts == per_day_alerts.get(point.day, 0), point.day


def test_an_event_late_on_31_october_utc_is_1_november_in_the_city(populated: Populated) -> None:
    late = {"_id": "late-oct", "@timestamp": "2026-10-31T17:30:00.000000Z"}
    ecs.set_field(late, "event.dataset", "system.syslog")
    populated.store.write_events([late])
    report = gather_period(populated.store, *NOVEMBER, tz=HCM)
    assert report.events_total == 1167
    assert report.days[0].day == date(2026, 11, 1)
    assert report.days[0].events == 1


def test_department_filter(populated: Populated) -> None:
    report = gather_period(populated.store, *NOVEMBER, tz=HCM, department=ICT)
    ict_events = [
        e
        for e in populated.events
        if ecs.get_field(e, "labels.department") == ICT and _in_november(e["@timestamp"])
    ]
    assert report.events_total == len(ict_events)
    assert report.alerts_total == 3  # two SQL injection alerts and the port scan
    assert report.cases_opened == 1
    assert [c.id for c in report.open_cases] == ["CASE-20261118-0003"]


def test_inventory_lookup_decides_departments(populated: Populated) -> None:
    inventory = {"tc-app01": "Văn phòng UBND Thành phố"}
    report = gather_period(populated.store, *NOVEMBER, tz=HCM, lookup=inventory.get)
    names = {r.name: r.count for r in report.top_departments}
    assert names["Văn phòng UBND Thành phố"] == 4
    assert FINANCE not in names


def test_an_empty_period_has_no_rates() -> None:
    from soc.store.local import LocalStore

    store = LocalStore(":memory:")
    try:
        report = gather_period(store, *day_bounds(date(2026, 1, 1), date(2026, 1, 31), HCM))
    finally:
        store.close()
    assert report.events_total == 0 and report.alerts_total == 0
    assert report.tp_rate is None and report.mttd_seconds is None and report.mttr_seconds is None


def test_case_report_gathers_alerts_timeline_and_handlers(populated: Populated) -> None:
    case = gather_case(populated.store, "case-20261118-0001", tz=HCM)
    assert case.id == "CASE-20261118-0001"
    assert case.verdict == "true_positive"
    assert [a.title for a in case.alerts] == ["SSH brute force", "SSH brute force"]
    assert case.events_total == 20
    kinds = Counter(e.kind for e in case.timeline)
    # issue 16: the 20 failed logins (two bursts, a day apart) are two rows, raw events in
    # the appendix
    assert kinds["alert"] == 2 and kinds["events"] == 2 and kinds["event"] == 0
    groups = [e.detail for e in case.timeline if e.kind == "events"]
    assert [g["count"] for g in groups] == [10, 10]
    assert all(g["key"]["source.ip"] == "185.220.101.47" for g in groups)
    assert len(case.raw_events) == 20
    assert kinds["pivot"] == 1 and kinds["answer"] == 1 and kinds["status"] == 1
    times = [e.at for e in case.timeline]
    assert times == sorted(times)
    assert case.handlers == ["an.nguyen", "lead.pham"]
    assert case.assets == ["tc-app01"] and case.departments == [FINANCE]
    assert case.entities["source.ip"] == ["185.220.101.47"]
    assert [r.kind for r in case.recommendations] == ["block_ip", "patch"]
    assert case.closed_at - case.opened_at == timedelta(minutes=115)


def test_unknown_case() -> None:
    from soc.store.local import LocalStore

    store = LocalStore(":memory:")
    try:
        with pytest.raises(CaseNotFound):
            gather_case(store, "CASE-19990101-0001")
    finally:
        store.close()


def test_short_periods_get_an_hourly_trend(populated: Populated) -> None:
    day = date(2026, 11, 18)
    report = gather_period(populated.store, *day_bounds(day, day, HCM), tz=HCM)
    assert len(report.hours) == 24
    assert report.hours[0].hour == datetime(2026, 11, 18, 0, 0, tzinfo=HCM)
    assert sum(h.events for h in report.hours) == report.events_total
    per_hour = Counter(
        _t(e["@timestamp"]).astimezone(HCM).replace(minute=0, second=0, microsecond=0)
        for e in populated.events
        if _t(e["@timestamp"]).astimezone(HCM).date() == day
    )
    assert {h.hour: h.events for h in report.hours if h.events} == dict(per_hour)
    assert sum(h.alerts for h in report.hours) == report.alerts_total == 5
    assert gather_period(populated.store, *NOVEMBER, tz=HCM).hours == []


def test_summary_names_a_leader_only_when_there_is_one(populated: Populated) -> None:
    from soc.report.data import Ranked
    from soc.report.summary import period_summary

    report = gather_period(populated.store, *NOVEMBER, tz=HCM)
    keys = [s.key for s in period_summary(report)]
    assert "summary.top_rule" in keys and "summary.busiest_day" in keys
    report.top_rules = [Ranked("A", 2), Ranked("B", 2), Ranked("C", 1)]
    report.top_sources = [Ranked("10.0.0.1", 1), Ranked("10.0.0.2", 1)]
    sentences = {s.key: s for s in period_summary(report)}
    assert sentences["summary.top_rule_tied"].values == {"names": "A, B", "count": 2}
    assert "summary.top_rule" not in sentences
    assert not any(k.startswith("summary.top_source") for k in sentences)
    from soc.report.data import DayPoint

    report.days = [DayPoint(date(2026, 11, 1), 5, 3), DayPoint(date(2026, 11, 2), 5, 3)]
    assert "summary.busiest_day" not in {s.key for s in period_summary(report)}


def test_firewall_alerts_count_the_destination_as_the_attacked_asset(populated: Populated):
    report = gather_period(populated.store, *NOVEMBER, tz=HCM)
    assets = {r.name: r for r in report.top_assets}
    assert "fw-core" not in assets  # the firewall only observed the port scan
    assert assets["10.10.0.5"].count == 1 and assets["10.10.0.5"].detail == ICT
    assert assets["dvc-portal"].count == 2  # web alerts: the web server itself


def test_cases_alerts_and_lists_follow_one_rule_for_the_period(populated: Populated):
    """One rule (issue 16): a case belongs to the period it was opened in, also when it groups
    earlier alerts; the open-case list is the state at the period's end, consistent with
    "cases opened"; recommendations belong to the period they were recorded in."""
    day = date(2026, 11, 18)
    bounds = day_bounds(day, day, HCM)
    late = dict(populated.cases[2], id="CASE-20261201-0001", opened_at="2026-12-01T02:00:00Z")
    late["recommendations"] = [
        {"at": "2026-12-01T03:00:00Z", "by": "an", "kind": "patch", "target": "dvc-portal",
         "text": "Vá lỗi SQL injection"}
    ]  # fmt: skip
    populated.store.put_record("cases", late["id"], late)
    report = gather_period(populated.store, *bounds, tz=HCM)
    assert report.cases_opened == 3  # by opening date: the late case is December's
    assert "CASE-20261201-0001" not in [c.id for c in report.open_cases]
    assert "Vá lỗi SQL injection" not in [r.text for r in report.recommendations]
    opened_in_period = [
        c["id"] for c in populated.cases if bounds[0] <= _t(c["opened_at"]) < bounds[1]
    ]
    assert {c.id for c in report.open_cases} <= set(opened_in_period)
    december = day_bounds(date(2026, 12, 1), date(2026, 12, 1), HCM)
    later = gather_period(populated.store, *december, tz=HCM)
    assert later.cases_opened == 1
    assert "CASE-20261201-0001" in [c.id for c in later.open_cases]
    assert "Vá lỗi SQL injection" in [r.text for r in later.recommendations]
