"""Period and case reports for a populated store, in both languages and every format, with
their numbers checked against values computed here from what the test stored."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path
from statistics import mean
from zoneinfo import ZoneInfo

import pytest
from report_fixtures import PageText, Populated, contains, text_of

from soc import ecs
from soc.i18n import format_date, format_duration, format_number, format_percent, t
from soc.report import ReportError, write_case_report, write_period_report
from soc.report.data import day_bounds
from soc.report.pdf import find_chromium

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
FORMATS = ["html", "md", "csv", "pdf"]


def _need(fmt: str) -> None:
    if fmt == "pdf":
        if find_chromium() is None:
            pytest.skip("headless Chromium not installed (Debian: chromium); PDF not tested")
        if shutil.which("pdftotext") is None:
            pytest.skip("pdftotext not installed (Debian: poppler-utils); PDF not checked")


def expected_period(populated: Populated, lang: str) -> dict[str, str]:
    """The figures a November report must show, computed from the stored records."""
    start, end = day_bounds(date(2026, 11, 1), date(2026, 11, 30), HCM)

    def inside(value: str) -> bool:
        return start <= ecs.parse_timestamp(value) < end

    def secs(a: str, b: str) -> float:
        return (ecs.parse_timestamp(b) - ecs.parse_timestamp(a)).total_seconds()

    events = [e for e in populated.events if inside(e["@timestamp"])]
    ingested = {e["_id"]: e["event"]["ingested"] for e in populated.events}
    alerts = [a for a in populated.alerts if inside(a["first_seen"])]
    closed = [a for a in alerts if a["status"] == "closed"]
    judged = [j for j in (a.get("resolution") or a.get("verdict") for a in alerts) if j]
    tp = judged.count("true_positive") / len(judged)
    return {
        "title": t("report.period.title", lang),
        "events": format_number(len(events), lang),
        "alerts": t("summary.alerts", lang, count=len(alerts), severe=6),
        "mttd": format_duration(
            mean(secs(ingested[a["event_ids"][0]], a["created"]) for a in alerts), lang
        ),
        "mttr": format_duration(mean(secs(a["created"], a["closed_at"]) for a in closed), lang),
        "tp": format_percent(tp, lang),
        "first_day": format_date(date(2026, 11, 1), lang),
        "rule": "SSH brute force",
        "recommendation": "Chặn địa chỉ trên tường lửa biên",
    }


@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_period_report(populated: Populated, tmp_path: Path, lang: str, fmt: str) -> None:
    _need(fmt)
    out = write_period_report(
        populated.store, date(2026, 11, 1), date(2026, 11, 30), lang, fmt, tmp_path / f"r.{fmt}"
    )
    assert out == tmp_path / f"r.{fmt}"
    text = text_of(out, fmt)
    for name, value in expected_period(populated, lang).items():
        assert contains(text, value, fmt), f"{name}: {value!r} not in the {fmt} report"
    if lang == "vi":
        assert "1.166" in text and "Sở Thông tin và Truyền thông" in text
        assert "Đánh cắp thông tin xác thực" in text  # ATT&CK tactic, translated
    else:
        assert "1,166" in text and "Credential Access" in text


def test_html_report_is_self_contained_with_real_charts(populated: Populated, tmp_path: Path):
    out = write_period_report(
        populated.store, date(2026, 11, 1), date(2026, 11, 30), "vi", "html", tmp_path / "r.html"
    )
    page = out.read_text(encoding="utf-8")
    parser = PageText()
    parser.feed(page)
    assert len(parser.images) == 3  # per-day trend, severity, ATT&CK heat map
    for src in parser.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert parser.csp.startswith("default-src 'none'; img-src data:;")
    assert "@media print" in page and "@font-face" in page
    assert not re.search(r"(src|href)=[\"']?(https?:|//)", page)
    assert '<html lang="vi">' in page


def test_pdf_embeds_its_fonts(populated: Populated, tmp_path: Path) -> None:
    _need("pdf")
    if shutil.which("pdffonts") is None:
        pytest.skip("pdffonts not installed (Debian: poppler-utils)")
    out = write_period_report(
        populated.store, date(2026, 11, 1), date(2026, 11, 30), "vi", "pdf", tmp_path / "r.pdf"
    )
    listing = subprocess.run(
        ["pdffonts", str(out)], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    assert listing, "the PDF names no fonts"
    for line in listing:
        assert " yes " in line, f"font not embedded: {line}"


@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_case_report(populated: Populated, tmp_path: Path, lang: str, fmt: str) -> None:
    _need(fmt)
    out = write_case_report(populated.store, "CASE-20261118-0001", lang, fmt, tmp_path / "c")
    text = text_of(out, fmt)
    case = populated.cases[0]
    expected = [
        t("report.case.title", lang, id=case["id"]),
        case["title"],
        t("resolution.true_positive", lang),
        t("case.summary.alerts", lang, count=2, events=20),
        t("case.summary.closed", lang, duration=format_duration(115 * 60, lang)),
        "185.220.101.47",
        "Tắt đăng nhập root qua SSH",
        "Địa chỉ nằm trong danh sách Tor exit",
        "Đã báo Sở Tài chính",
        "lead.pham",
        t("timeline.pivot", lang),
        t("case.events_shown", lang, shown=20, total=20),
    ]
    for value in expected:
        assert contains(text, value, fmt), f"{value!r} not in the {fmt} case report"


def test_open_case_report_says_no_verdict(populated: Populated, tmp_path: Path) -> None:
    out = write_case_report(populated.store, "CASE-20261118-0003", "vi", "md", tmp_path / "c.md")
    text = text_of(out, "md")
    assert t("case.summary.no_verdict", "vi") in text
    assert t("report.unassigned", "vi") in text


def test_errors_are_one_line(populated: Populated, tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no case 'CASE-X'"):
        write_case_report(populated.store, "CASE-X", "vi", "html", tmp_path / "x.html")
    with pytest.raises(ReportError, match="unknown report format 'docx'"):
        write_period_report(
            populated.store, date(2026, 11, 1), date(2026, 11, 2), "vi", "docx", tmp_path / "x"
        )
    with pytest.raises(ReportError, match="--to is before --from"):
        write_period_report(
            populated.store, date(2026, 11, 2), date(2026, 11, 1), "vi", "md", tmp_path / "x"
        )


def test_pdf_without_chromium_is_one_clear_line(
    populated: Populated, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOC_CHROMIUM", str(tmp_path / "no-such-chromium"))
    with pytest.raises(ReportError, match="PDF output needs headless Chromium"):
        write_period_report(
            populated.store, date(2026, 11, 1), date(2026, 11, 30), "vi", "pdf", tmp_path / "r.pdf"
        )
    assert not (tmp_path / "r.pdf").exists()


@pytest.mark.parametrize("fmt", ["html", "md", "csv"])
def test_an_empty_store_gives_a_report_of_zeros(tmp_path: Path, fmt: str) -> None:
    from soc.store.local import LocalStore

    store = LocalStore(tmp_path / "empty.db")
    try:
        out = write_period_report(
            store, date(2026, 11, 1), date(2026, 11, 30), "vi", fmt, tmp_path / f"e.{fmt}"
        )
    finally:
        store.close()
    text = text_of(out, fmt)
    assert t("summary.no_alerts", "vi") in text
    assert t("summary.cases", "vi", count=0, closed=0) in text
    assert "Thời gian phát hiện trung bình là" not in text  # no alert, no MTTD sentence
    assert t("kpi.mttd", "vi") in text and t("report.na", "vi") in text
