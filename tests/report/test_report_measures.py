"""Issue 16: the report's numbers measured the way a SOC means them, on both stores.

MTTD from ``event.ingested`` with imported history left out; ATT&CK techniques under their
own tactics from ATT&CK's data with alerts counted once; one rule for "in the period";
Markdown without escaped parentheses. Each test runs on the local store and on a real
osmem-server (Elasticsearch API)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from statistics import mean
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from report_fixtures import FINANCE, Populated, _alert, _event, populate, text_of, ts

from soc import clock, ecs
from soc.i18n import t
from soc.report import write_case_report, write_period_report
from soc.report.alerts import IMPORTED_AFTER
from soc.report.case_data import gather_case
from soc.report.data import day_bounds, gather_period

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
NOVEMBER = day_bounds(date(2026, 11, 1), date(2026, 11, 30), HCM)
#: One web-exploitation rule as SigmaHQ tags such rules: four tactics, two techniques.
CROSSED_TAGS = [
    "attack.initial-access",
    "attack.execution",
    "attack.credential-access",
    "attack.discovery",
    "attack.t1190",
    "attack.t1110",
]


@pytest.fixture(params=["local", "elastic"])
def filled(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Populated]:
    """The report test data in a local store or in a real osmem-server."""
    if request.param == "local":
        from soc.store.local import LocalStore

        store: Any = LocalStore(tmp_path / "soc.db")
    else:
        from soc.store.elastic import ElasticStore

        store = ElasticStore(request.getfixturevalue("es_url"))
    try:
        filled = populate(store)
        store.refresh()
        yield filled
    finally:
        store.close()


def _t(value: str) -> datetime:
    return ecs.parse_timestamp(value)


def _add(filled: Populated, events: list[dict[str, Any]], alerts: list[dict[str, Any]]) -> None:
    store = filled.store
    assert store.write_events(events).stored == len(events)
    for alert in alerts:
        assert store.put_record("alerts", alert["id"], alert)
    store.refresh()


# --- 1. MTTD ----------------------------------------------------------------------------------


def test_mttd_runs_from_ingestion_and_leaves_imported_history_out(
    filled: Populated, tmp_path: Path
) -> None:
    live_alerts = [a for a in filled.alerts if NOVEMBER[0] <= _t(a["first_seen"]) < NOVEMBER[1]]
    ingested = {e["_id"]: _t(e["event"]["ingested"]) for e in filled.events}
    expected = mean(
        (_t(a["created"]) - ingested[a["event_ids"][0]]).total_seconds() for a in live_alerts
    )
    # an auth.log of 19 November imported on 27 November, and one event shipped before
    # event.ingested existed
    logged = datetime(2026, 11, 19, 3, 0, tzinfo=UTC)
    old = _event(9001, logged, "system.auth", FINANCE, source__ip="203.0.113.9")
    ecs.set_field(old, "event.ingested", ts(datetime(2026, 11, 27, 0, 0, tzinfo=UTC)))
    bare = _event(9002, logged + timedelta(minutes=1), "system.auth", FINANCE)
    del bare["event"]["ingested"]
    imported = _alert("r-imp", "SSH brute force", "high", [], [old], timedelta(days=8, minutes=5))
    unknown = _alert("r-bare", "SSH brute force", "high", [], [bare], timedelta(minutes=2))
    _add(filled, [old, bare], [imported, unknown])

    report = gather_period(filled.store, *NOVEMBER, tz=HCM)
    assert report.alerts_total == len(live_alerts) + 2
    assert report.mttd_seconds == pytest.approx(expected)
    assert (report.mttd_samples, report.mttd_imported, report.mttd_unknown) == (
        len(live_alerts),
        1,
        1,
    )
    # the report states the rule and what it left out
    out = write_period_report(
        filled.store, date(2026, 11, 1), date(2026, 11, 30), "vi", "md", tmp_path / "r.md"
    )
    text = text_of(out, "md")
    rule = t(
        "report.mttd.rule",
        "vi",
        hours=int(IMPORTED_AFTER.total_seconds() // 3600),
        count=len(live_alerts),
        imported=1,
        unknown=1,
    )
    assert text_of_plain(rule) in text
    assert text_of_plain(t("summary.mttd_excluded", "vi", count=2)) in text


def text_of_plain(sentence: str) -> str:
    """A catalogue sentence as text_of() shows it (whitespace squashed)."""
    return " ".join(sentence.split())


def test_the_shipper_stamps_event_ingested_from_the_product_clock(
    filled: Populated, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from collectors.ship import DeadLetterFile, Shipper

    monkeypatch.setenv(clock.ENV, "2026-11-20T03:00:00+00:00")
    shipper = Shipper(filled.store, dead_letters=DeadLetterFile(tmp_path / "dead"))
    fresh = _event(9100, datetime(2026, 11, 20, 2, 59, tzinfo=UTC), "system.auth", FINANCE)
    del fresh["event"]["ingested"]
    forwarded = _event(9101, datetime(2026, 11, 20, 2, 58, tzinfo=UTC), "system.auth", FINANCE)
    shipper.send(fresh, source="test")
    shipper.send(forwarded, source="test")
    shipper.close()
    filled.store.refresh()
    got = filled.store.get_event(fresh["_id"])
    assert got is not None and got["event"]["ingested"] == "2026-11-20T03:00:00.000000Z"
    kept = filled.store.get_event(forwarded["_id"])
    assert kept is not None and kept["event"]["ingested"] == forwarded["event"]["ingested"]


# --- 2. ATT&CK --------------------------------------------------------------------------------


def _crossed_alerts(filled: Populated) -> list[dict[str, Any]]:
    web = [e for e in filled.events if ecs.get_field(e, "event.dataset") == "apache.access"]
    return [
        _alert("r-web-x", "Web exploitation", "high", CROSSED_TAGS, web[i : i + 2], timedelta(1))
        for i in (2, 10)
    ]


def test_techniques_sit_under_their_own_tactics_and_alerts_count_once(
    filled: Populated, tmp_path: Path
) -> None:
    crossed = _crossed_alerts(filled)
    _add(filled, [], crossed)
    report = gather_period(filled.store, *NOVEMBER, tz=HCM)
    by_technique: dict[str, set[str]] = {}
    for cell in report.attack:
        by_technique.setdefault(cell.technique, set()).add(cell.tactic)
    # ATT&CK v18: T1190 is Initial Access only, T1110 Credential Access only
    assert by_technique["T1190"] == {"initial_access"}
    assert by_technique["T1110"] == {"credential_access"}
    assert "execution" not in report.attack_tactics
    # every count is of distinct alerts: no tactic, and no total, above the period's alerts
    assert report.attack_alerts <= report.alerts_total
    assert all(n <= report.alerts_total for n in report.attack_tactics.values())
    tagged = [a for a in filled.alerts + crossed if NOVEMBER[0] <= _t(a["first_seen"])]
    assert report.attack_alerts == sum(
        any(str(tag).startswith("attack.") for tag in a["tags"]) for a in tagged
    )
    # Initial Access per ATT&CK: T1190, and T1078.003 (Valid Accounts: Local Accounts)
    assert report.attack_tactics["initial_access"] == 2 + sum(
        bool({"attack.t1190", "attack.t1078.003"} & set(a["tags"])) for a in filled.alerts
    )
    names = {c.technique: c.name for c in report.attack}
    assert names["T1190"] == "Exploit Public-Facing Application"
    assert names["T1110.001"] == "Brute Force: Password Guessing"
    assert report.attack_version == "18.1"
    out = write_period_report(
        filled.store, date(2026, 11, 1), date(2026, 11, 30), "vi", "html", tmp_path / "r.html"
    )
    text = text_of(out, "html")
    assert "Exploit Public-Facing Application" in text
    assert text_of_plain(t("attack.note", "vi", total=report.attack_alerts, version="18.1")) in text


def test_the_heat_map_labels_show_technique_names() -> None:
    from soc.report.attack import AttackCell
    from soc.report.charts import _technique_label

    label = _technique_label(
        AttackCell("initial_access", "T1190", 3, "Exploit Public-Facing Application"), "vi"
    )
    assert label.splitlines()[0] == "T1190"
    assert "Exploit Public-Facing" in label and label.splitlines()[-1] == "3"


def test_a_case_attack_rows_count_the_case_alerts(filled: Populated, tmp_path: Path) -> None:
    crossed = _crossed_alerts(filled)
    _add(filled, [], crossed)
    case = dict(filled.cases[2], id="CASE-20261118-0009", alert_ids=[a["id"] for a in crossed])
    filled.store.put_record("cases", case["id"], case)
    filled.store.refresh()
    report = gather_case(filled.store, case["id"], tz=HCM)
    assert report.attack_alerts == 2
    assert report.attack_tactics == {"initial_access": 2, "credential_access": 2}
    assert all(c.count == 2 for c in report.attack)
    out = write_case_report(filled.store, case["id"], "vi", "md", tmp_path / "c.md")
    assert "| Truy cập ban đầu | T1190 Exploit Public-Facing Application: 2 | 2 |" in (
        out.read_text(encoding="utf-8")
    )


# --- 3. period rule, 7. Markdown ------------------------------------------------------------------


def test_opened_counts_and_open_list_agree_on_both_stores(filled: Populated) -> None:
    day = date(2026, 11, 18)
    bounds = day_bounds(day, day, HCM)
    late = dict(filled.cases[2], id="CASE-20261201-0001", opened_at="2026-12-01T02:00:00Z")
    filled.store.put_record("cases", late["id"], late)
    filled.store.refresh()
    report = gather_period(filled.store, *bounds, tz=HCM)
    opened = [c["id"] for c in filled.cases if bounds[0] <= _t(c["opened_at"]) < bounds[1]]
    assert report.cases_opened == len(opened)
    assert {c.id for c in report.open_cases} <= set(opened)
    december = gather_period(filled.store, *day_bounds(date(2026, 12, 1), date(2026, 12, 1), HCM))
    assert december.cases_opened == 1
    # the state at the end of December: the late case and November's cases still open
    still_open = {c["id"] for c in filled.cases if c["status"] != "closed"}
    assert {c.id for c in december.open_cases} == {"CASE-20261201-0001"} | {
        i for i in still_open if i != late["id"]
    } - {c["id"] for c in filled.cases if c.get("severity") not in ("high", "critical")}


def test_markdown_shows_parentheses_unescaped(filled: Populated, tmp_path: Path) -> None:
    out = write_period_report(
        filled.store, date(2026, 11, 1), date(2026, 11, 30), "vi", "md", tmp_path / "r.md"
    )
    text = out.read_text(encoding="utf-8")
    assert "(" in text and "\\(" not in text and "\\)" not in text
