"""Report test data for a local store: events of four sources over three days, alerts
in the detector's record shape plus triage fields, cases with timelines and
recommendations, and audit entries, all following docs of soc/detect/alerts.py and the
records schema. Real data in a real SQLite store; nothing is mocked."""

from __future__ import annotations

import csv
import io
import re
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from soc import ecs
from soc.detect.alerts import Alert, alert_id
from soc.store.local import LocalStore

FINANCE = "Sở Tài chính"
ICT = "Sở Thông tin và Truyền thông"
HEALTH = "Sở Y tế"
T0 = datetime(2026, 11, 18, 1, 0, tzinfo=UTC)  # 08:00 in Ho Chi Minh City
#: How long after its own time each test event reached the SOC (live shipping).
INGEST_LAG = timedelta(seconds=20)


def ts(moment: datetime) -> str:
    return ecs.format_timestamp(moment)


@dataclass
class Populated:
    """The store and what the test put into it (the independent answer key)."""

    store: LocalStore
    events: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    cases: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)


def _event(n: int, at: datetime, dataset: str, dept: str | None, **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"_id": ecs.event_id("report-test", n)}
    ecs.set_field(doc, "@timestamp", ts(at))
    # shipped live: the event reached the SOC INGEST_LAG after it was logged
    ecs.set_field(doc, "event.ingested", ts(at + INGEST_LAG))
    ecs.set_field(doc, "event.dataset", dataset)
    ecs.set_field(doc, "event.module", dataset.split(".")[0])
    ecs.set_field(doc, "event.kind", "event")
    if dept:
        ecs.set_field(doc, "labels.department", dept)
    for path, value in fields.items():
        ecs.set_field(doc, path.replace("__", "."), value)
    return doc


def make_events() -> list[dict[str, Any]]:
    """Events over 18-20 Nov 2026 (UTC) from auth, web, firewall and DNS sources."""
    events: list[dict[str, Any]] = []
    n = 0
    for day in range(3):
        base = T0 + timedelta(days=day)
        for i in range(20 + day * 5):  # 20, 25, 30 auth lines
            n += 1
            events.append(
                _event(
                    n,
                    base + timedelta(minutes=i),
                    "system.auth",
                    FINANCE,
                    host__name="tc-app01",
                    event__action="ssh_login",
                    event__outcome="failure",
                    user__name="root",
                    source__ip="185.220.101.47",
                )
            )
        for i in range(15):
            n += 1
            events.append(
                _event(
                    n,
                    base + timedelta(minutes=2 * i, seconds=7),
                    "apache.access",
                    ICT,
                    host__name="dvc-portal",
                    source__ip="45.155.205.99",
                    url__original=f"/index.php?id={i}",
                    http__response__status_code=200,
                )
            )
        for i in range(10):
            n += 1
            events.append(
                _event(
                    n,
                    base + timedelta(hours=3, minutes=i),
                    "fortinet.firewall",
                    ICT,
                    host__name="fw-core",
                    source__ip="45.155.205.99",
                    destination__ip="10.10.0.5",
                )
            )
        for i in range(5):
            n += 1
            events.append(
                _event(
                    n,
                    base + timedelta(hours=5, minutes=i),
                    "bind.query",
                    HEALTH,
                    host__name="dns01",
                    source__ip="10.20.2.35",
                    dns__question__name=f"a{i}.example.vn",
                )
            )
    # a busy firewall on the third day, so totals pass a thousand ("1.166" / "1,166")
    for i in range(1000):
        n += 1
        events.append(
            _event(
                n,
                T0 + timedelta(days=2, hours=6, seconds=i),
                "fortinet.firewall",
                ICT,
                host__name="fw-core",
                source__ip=f"10.10.{i // 250}.{i % 250 + 1}",
                destination__ip="203.0.113.10",
            )
        )
    # one event outside the period of the tests (October) and one without a department
    n += 1
    events.append(_event(n, datetime(2026, 10, 30, tzinfo=UTC), "system.auth", FINANCE))
    n += 1
    events.append(_event(n, T0 + timedelta(hours=6), "system.syslog", None, host__name="lab"))
    return events


def _alert(
    rule: str,
    title: str,
    level: str,
    tags: list[str],
    events: list[dict[str, Any]],
    created_after: timedelta,
    **triage: Any,
) -> dict[str, Any]:
    first = ecs.parse_timestamp(ecs.get_field(events[0], "@timestamp"))
    last = ecs.parse_timestamp(ecs.get_field(events[-1], "@timestamp"))
    entities: dict[str, list[str]] = {}
    for e in events:
        for name in ("host.name", "source.ip", "user.name"):
            value = ecs.get_field(e, name)
            if value and value not in entities.setdefault(name, []):
                entities[name].append(value)
    record = Alert(
        id=alert_id(rule, events[0]["_id"]),
        rule_id=rule,
        rule_title=title,
        level=level,
        tags=tags,
        rule_type="single",
        event_ids=[e["_id"] for e in events],
        entities={k: v for k, v in entities.items() if v},
        first_seen=ts(first),
        last_seen=ts(last),
        created=ts(first + created_after),
        count=len(events),
    ).to_record()
    record.update(
        {
            "assignee": None,
            "resolution": None,
            "closed_at": None,
            "case_id": None,
            "updated": record["created"],
        }
    )
    record.update(triage)
    return record


def make_alerts(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Eight alerts: levels, statuses and resolutions spread so every number is non-trivial."""
    auth = [e for e in events if ecs.get_field(e, "event.dataset") == "system.auth"]
    web = [e for e in events if ecs.get_field(e, "event.dataset") == "apache.access"]
    fw = [e for e in events if ecs.get_field(e, "event.dataset") == "fortinet.firewall"]
    dns = [e for e in events if ecs.get_field(e, "event.dataset") == "bind.query"]
    brute = ["attack.credential-access", "attack.t1110.001"]
    sqli = ["attack.initial-access", "attack.t1190"]
    scan = ["attack.discovery", "attack.t1046"]
    tunnel = ["attack.command-and-control", "attack.t1071.004"]

    def closed(created: str, after: timedelta, resolution: str) -> dict[str, Any]:
        return {
            "status": "closed",
            "resolution": resolution,
            "closed_at": ts(ecs.parse_timestamp(created) + after),
        }

    alerts = [
        _alert("r-brute", "SSH brute force", "high", brute, auth[0:10], timedelta(minutes=5)),
        _alert("r-brute", "SSH brute force", "high", brute, auth[20:30], timedelta(minutes=3)),
        _alert("r-brute", "SSH brute force", "high", brute, auth[45:60], timedelta(minutes=4)),
        _alert(
            "r-root",
            "Root login over SSH",
            "critical",
            [*brute[:1], "attack.t1078.003"],
            auth[10:11],
            timedelta(minutes=1),
        ),
        _alert("r-sqli", "SQL injection attempt", "high", sqli, web[0:5], timedelta(minutes=10)),
        _alert("r-sqli", "SQL injection attempt", "high", sqli, web[15:20], timedelta(minutes=8)),
        _alert("r-scan", "Port scan of the DMZ", "medium", scan, fw[0:10], timedelta(minutes=2)),
        _alert(
            "r-dns", "DNS tunnel-like TXT queries", "low", tunnel, dns[0:5], timedelta(minutes=30)
        ),
    ]
    alerts[0].update(closed(alerts[0]["created"], timedelta(hours=2), "true_positive"))
    alerts[1].update(closed(alerts[1]["created"], timedelta(hours=1), "true_positive"))
    alerts[3].update({"status": "escalated", "assignee": "an.nguyen"})
    alerts[4].update({"status": "in_progress", "assignee": "binh.tran", "verdict": "true_positive"})
    alerts[6].update(closed(alerts[6]["created"], timedelta(minutes=30), "false_positive"))
    alerts[7].update(closed(alerts[7]["created"], timedelta(hours=4), "benign"))
    return alerts


def make_cases(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Three cases: closed true positive with recommendations, open critical, open high."""

    def at(alert: dict[str, Any], minutes: int) -> str:
        return ts(ecs.parse_timestamp(alert["created"]) + timedelta(minutes=minutes))

    closed_case = {
        "id": "CASE-20261118-0001",
        "title": "Dò mật khẩu SSH vào máy chủ tc-app01",
        "status": "closed",
        "severity": "high",
        "verdict": "true_positive",
        "owner": "an.nguyen",
        "alert_ids": [alerts[0]["id"], alerts[1]["id"]],
        "departments": [FINANCE],
        "assets": ["tc-app01"],
        "opened_at": at(alerts[0], 10),
        "updated_at": at(alerts[0], 125),
        "closed_at": at(alerts[0], 125),
        "timeline": [
            {
                "at": at(alerts[0], 12),
                "kind": "pivot",
                "by": "an.nguyen",
                "summary": "Tìm các lần đăng nhập từ 185.220.101.47: 30 sự kiện",
                "detail": {},
            },
            {
                "at": at(alerts[0], 20),
                "kind": "answer",
                "by": "an.nguyen",
                "summary": "Địa chỉ nằm trong danh sách Tor exit",
                "detail": {},
            },
            {
                "at": at(alerts[0], 125),
                "kind": "status",
                "by": "an.nguyen",
                "summary": "closed",
                "detail": {},
            },
        ],
        "recommendations": [
            {
                "at": at(alerts[0], 30),
                "by": "an.nguyen",
                "kind": "block_ip",
                "target": "185.220.101.47",
                "text": "Chặn địa chỉ trên tường lửa biên",
            },
            {
                "at": at(alerts[0], 31),
                "by": "an.nguyen",
                "kind": "patch",
                "target": "tc-app01",
                "text": "Tắt đăng nhập root qua SSH",
            },
        ],
        "notes": [{"at": at(alerts[0], 40), "by": "an.nguyen", "text": "Đã báo Sở Tài chính"}],
    }
    critical_case = {
        "id": "CASE-20261118-0002",
        "title": "Đăng nhập root thành công sau dò mật khẩu",
        "status": "open",
        "severity": "critical",
        "verdict": None,
        "owner": "an.nguyen",
        "alert_ids": [alerts[3]["id"]],
        "departments": [FINANCE],
        "assets": ["tc-app01"],
        "opened_at": at(alerts[3], 5),
        "updated_at": at(alerts[3], 5),
        "closed_at": None,
        "timeline": [],
        "recommendations": [
            {
                "at": at(alerts[3], 6),
                "by": "an.nguyen",
                "kind": "disable_account",
                "target": "root",
                "text": "Khóa tài khoản và đổi mật khẩu",
            },
        ],
        "notes": [],
    }
    web_case = {
        "id": "CASE-20261118-0003",
        "title": "SQL injection on the public-service portal",
        "status": "open",
        "severity": "high",
        "verdict": None,
        "owner": None,
        "alert_ids": [alerts[4]["id"], alerts[5]["id"]],
        "departments": [ICT],
        "assets": ["dvc-portal"],
        "opened_at": at(alerts[4], 15),
        "updated_at": at(alerts[4], 15),
        "closed_at": None,
        "timeline": [],
        "recommendations": [],
        "notes": [],
    }
    return [closed_case, critical_case, web_case]


def make_audit(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "id": "audit-1",
            "at": cases[0]["opened_at"],
            "analyst": "an.nguyen",
            "action": "case.open",
            "object_kind": "cases",
            "object_id": cases[0]["id"],
            "before": None,
            "after": "open",
            "detail": {},
        },
        {
            "id": "audit-2",
            "at": cases[0]["closed_at"],
            "analyst": "lead.pham",
            "action": "case.close",
            "object_kind": "cases",
            "object_id": cases[0]["id"],
            "before": "open",
            "after": "closed",
            "detail": {},
        },
    ]


def populate(store: LocalStore) -> Populated:
    """Fill ``store`` and return what was put."""
    result = Populated(store)
    result.events = make_events()
    written = store.write_events(result.events)
    assert written.stored == len(result.events)
    result.alerts = make_alerts(result.events)
    result.cases = make_cases(result.alerts)
    for case in result.cases:
        for aid in case["alert_ids"]:
            next(a for a in result.alerts if a["id"] == aid)["case_id"] = case["id"]
    result.audit = make_audit(result.cases)
    for alert in result.alerts:
        assert store.put_record("alerts", alert["id"], alert)
    for case in result.cases:
        assert store.put_record("cases", case["id"], case)
    for entry in result.audit:
        assert store.put_record("audit", entry["id"], entry)
    return result


# --- reading reports back -------------------------------------------------------------


class PageText(HTMLParser):
    """The visible text of an HTML page and its images' sources."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.images: list[str] = []
        self.csp = ""
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "title"):
            self._skip += 1
        if tag == "img":
            self.images.append(dict(attrs).get("src") or "")
        if tag == "meta" and dict(attrs).get("http-equiv") == "Content-Security-Policy":
            self.csp = dict(attrs).get("content") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "title"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def text_of(path: Path, fmt: str) -> str:
    """What a reader sees in the file, whitespace collapsed."""
    if fmt == "html":
        parser = PageText()
        parser.feed(path.read_text(encoding="utf-8"))
        return _squash(" ".join(parser.parts))
    if fmt == "md":
        return _squash(re.sub(r"\\(.)", r"\1", path.read_text(encoding="utf-8")))
    if fmt == "csv":
        rows = csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig")))
        return _squash(" ".join(" ".join(r) for r in rows))
    result = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True, check=True
    )
    return _squash(result.stdout)


def contains(text: str, expected: str, fmt: str) -> bool:
    """Whether the report text shows ``expected``; in a PDF a table cell may wrap and
    interleave with its neighbours, so there every word must appear instead."""
    if expected in text:
        return True
    words = set(text.split())
    return fmt == "pdf" and all(w in words for w in expected.split())
