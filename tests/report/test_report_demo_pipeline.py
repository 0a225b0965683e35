"""The demo data through the real pipeline: `soc ingest logs` (bundled sample of city logs),
`soc detect run` (the city rule pack), triage by the triage modules (a case, closed alerts,
recommendations), then `soc report` in both languages and every format. The reports'
numbers are checked against the ingestion and detection output and against MTTD/MTTR
computed here from the stored alerts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from statistics import mean

import pytest
from report_fixtures import text_of

from soc import ecs
from soc.i18n import format_duration, format_number, t
from soc.report import write_case_report, write_period_report
from soc.report.pdf import find_chromium
from soc.store.local import LocalStore

DEMO = Path(__file__).resolve().parents[2] / "soc" / "demo_data"
SOURCES = [
    ("tc-app01-auth.log", "Sở Tài chính", "tc-app01"),
    ("dvc-portal-access.log", "Sở Thông tin và Truyền thông", "dvc-portal"),
    ("fortigate.log", "Sở Thông tin và Truyền thông", None),
    ("bind-queries.log", "Sở Y tế", "dns01"),
]


def soc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("soc")
    result = subprocess.run(
        [str(exe), *args], capture_output=True, text=True, cwd=cwd, env=dict(os.environ),
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, f"soc {' '.join(args)}: {result.stderr}"
    return result


@pytest.fixture
def demo(data_dir: Path, clock_at) -> dict:
    """The demo store after ingestion, detection and some triage; what each step reported.

    It all happens on 25 November 2026: the sample's syslog lines carry no year, and the case
    opened here must fall in the November report."""
    if not (DEMO / "tc-app01-auth.log").exists():
        pytest.skip("demo data not present")
    clock_at("2026-11-25T03:00:00Z")
    work = data_dir.parent
    stored = 0
    for name, department, host in SOURCES:
        args = ["ingest", "logs", str(DEMO / name), "--department", department, "--json"]
        if host:
            args += ["--host", host]
        stored += json.loads(soc(*args, cwd=work).stdout)["stored"]
    detection = json.loads(
        soc(
            "detect", "run", "--since", "2026-11-18T00:00:00Z", "--until",
            "2026-11-22T00:00:00Z", "--json", cwd=work,
        ).stdout
    )  # fmt: skip
    from soc.triage import cases, lifecycle

    store = LocalStore(data_dir / "soc.db")
    try:
        alerts = store.list_records("alerts", order_by="first_seen")
        web = [a for a in alerts if "dvc-portal" in a["entities"].get("host.name", [])]
        auth = [a for a in alerts if "tc-app01" in a["entities"].get("host.name", [])]
        assert web and auth, "the rule pack found no web or auth attack in the demo data"
        case = cases.open_case(
            store,
            title="Tấn công cổng dịch vụ công từ 45.155.205.99",
            analyst="an.nguyen",
            severity="critical",
            alert_ids=[a["id"] for a in web],
            departments=["Sở Thông tin và Truyền thông"],
            assets=["dvc-portal"],
        )
        cases.recommend(
            store, case["id"], kind="block_ip", target="45.155.205.99",
            text="Chặn 45.155.205.99 trên tường lửa", analyst="an.nguyen",
        )  # fmt: skip
        cases.close_case(store, case["id"], verdict="true_positive", analyst="an.nguyen")
        lifecycle.set_status(
            store, auth[0]["id"], "closed", analyst="binh.tran", resolution="false_positive"
        )
        final = store.list_records("alerts")
        case = store.get_record("cases", case["id"])
    finally:
        store.close()
    return {
        "work": work, "stored": stored, "detection": detection, "alerts": final, "case": case,
    }  # fmt: skip


def _seconds(a: str, b: str) -> float:
    return (ecs.parse_timestamp(b) - ecs.parse_timestamp(a)).total_seconds()


@pytest.mark.slow
@pytest.mark.timeout(1200)  # a dozen `soc` commands and every report format
def test_reports_of_the_demo_data(demo: dict) -> None:
    alerts = demo["alerts"]
    assert len(alerts) == demo["detection"]["alerts_new"] > 0
    closed = [a for a in alerts if a["status"] == "closed"]
    # the sample (18-21 Nov) was ingested on 25 Nov: imported history, so no alert gives a
    # time to detect (issue 16: it used to say "4 days 21 hours"); the report says so
    probe = LocalStore(demo["work"] / "data" / "soc.db")
    try:
        first_events = [probe.get_event(a["event_ids"][0]) for a in alerts]
    finally:
        probe.close()
    imported = sum(
        _seconds(e["@timestamp"], e["event"]["ingested"]) > 24 * 3600
        for e in first_events
        if e is not None
    )
    assert imported == len(alerts)
    mttr = mean(_seconds(a["created"], a["closed_at"]) for a in closed)
    severe = sum(a["level"] in ("high", "critical") for a in alerts)
    work = demo["work"]
    # once through the CLI, as `soc demo` users would...
    soc("report", "period", "--from", "2026-11-01", "--to", "2026-11-30", "-o", "d.md", cwd=work)
    assert format_number(demo["stored"], "vi") in text_of(work / "d.md", "md")
    # ...then every language and format in-process
    formats = ["html", "md", "csv"] + (["pdf"] if find_chromium() else [])
    store = LocalStore(work / "data" / "soc.db")
    try:
        for lang in ("vi", "en"):
            for fmt in formats:
                out = write_period_report(
                    store, date(2026, 11, 1), date(2026, 11, 30), lang, fmt, work / f"p.{fmt}"
                )
                text = text_of(out, fmt)
                for expected in (
                    t("summary.events", lang, count=demo["stored"], sources=4,
                      start=date(2026, 11, 1), end=date(2026, 11, 30)),
                    t("summary.alerts", lang, count=len(alerts), severe=severe),
                    t("summary.mttd_excluded", lang, count=imported),
                    format_duration(mttr, lang),
                    t("summary.cases", lang, count=1, closed=1),
                    "45.155.205.99",
                ):  # fmt: skip
                    assert expected in text, f"{expected!r} not in the {lang} {fmt} report"
                if fmt != "pdf":  # PDF table cells wrap mid-sentence
                    assert "Chặn 45.155.205.99 trên tường lửa" in text
                out = write_case_report(store, demo["case"]["id"], lang, fmt, work / f"c.{fmt}")
                text = text_of(out, fmt)
                assert "Tấn công cổng dịch vụ công từ 45.155.205.99" in text
                assert t("case.summary.verdict.true_positive", lang) in text
    finally:
        store.close()
