"""`soc report period` and `soc report case` as an analyst runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from report_fixtures import populate

from soc.store.local import LocalStore


def soc(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("soc")
    return subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


@pytest.fixture
def filled(data_dir: Path) -> Path:
    store = LocalStore(data_dir / "soc.db")
    try:
        populate(store)
    finally:
        store.close()
    return data_dir.parent


def test_period_markdown_in_english(filled: Path) -> None:
    result = soc(
        "report", "period", "--from", "2026-11-01", "--to", "2026-11-30",
        "--lang", "en", "--format", "md", "--out", "nov.md", cwd=filled,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "nov.md"
    text = (filled / "nov.md").read_text(encoding="utf-8")
    assert "the SOC collected 1,166 events" in text


def test_period_defaults_vietnamese_html_with_a_name_from_the_dates(filled: Path) -> None:
    result = soc("report", "period", "--from", "01/11/2026", "--to", "30/11/2026", cwd=filled)
    assert result.returncode == 0, result.stderr
    out = filled / "soc-report-2026-11-01-2026-11-30.html"
    assert result.stdout.strip() == out.name
    assert "hệ thống đã thu thập 1.166 sự kiện" in out.read_text(encoding="utf-8")


def test_department_and_format_from_the_extension(filled: Path) -> None:
    result = soc(
        "report", "period", "--from", "2026-11-01", "--to", "2026-11-30",
        "--department", "Sở Thông tin và Truyền thông", "--out", "ict.csv", cwd=filled,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = (filled / "ict.csv").read_text(encoding="utf-8-sig")
    assert "Đơn vị: Sở Thông tin và Truyền thông" in text
    assert "system.auth" not in text  # the finance server's logs are another department's


def test_inventory_gives_departments(filled: Path) -> None:
    (filled / "assets.yaml").write_text(
        "assets:\n  - host: tc-app01\n    department: Văn phòng UBND Thành phố\n",
        encoding="utf-8",
    )
    result = soc(
        "report", "period", "--from", "2026-11-01", "--to", "2026-11-30", "--format", "md",
        "--out", "inv.md", "--inventory", "assets.yaml", cwd=filled,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Văn phòng UBND Thành phố" in (filled / "inv.md").read_text(encoding="utf-8")


def test_case_report(filled: Path) -> None:
    result = soc("report", "case", "case-20261118-0001", "--lang", "en", "-f", "md", cwd=filled)
    assert result.returncode == 0, result.stderr
    out = filled / "soc-case-20261118-0001.md"
    assert result.stdout.strip() == out.name
    assert "# Incident report CASE-20261118-0001" in out.read_text(encoding="utf-8")


NOVEMBER = ["period", "--from", "2026-11-01", "--to", "2026-11-30"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["period", "--from", "2026-13-01", "--to", "2026-11-30"], "'2026-13-01' is not a date"),
        (["period", "--from", "2026-11-30", "--to", "2026-11-01"], "is before --from"),
        ([*NOVEMBER, "--lang", "fr"], "unknown language 'fr'"),
        ([*NOVEMBER, "-f", "docx"], "--format 'docx'"),
        (["case", "CASE-19990101-0001"], "no case 'CASE-19990101-0001'"),
        ([*NOVEMBER, "--inventory", "none.csv"], "none.csv"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(filled: Path, args: list[str], message: str) -> None:
    result = soc("report", *args, cwd=filled)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("soc: error:"), result.stderr
    assert message in lines[0]


def test_pdf_without_chromium(filled: Path) -> None:
    result = soc(
        "report", "period", "--from", "2026-11-01", "--to", "2026-11-30", "-o", "r.pdf",
        cwd=filled, env={"SOC_CHROMIUM": str(filled / "no-chromium")},
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "soc: error: PDF output needs headless Chromium: install it (Debian: apt-get install "
        "chromium) or set SOC_CHROMIUM; --format html or md work without it"
    ]
    assert not (filled / "r.pdf").exists()


def test_cli_knows_the_same_formats_without_importing_the_renderers() -> None:
    from soc.cli import report as cli_report
    from soc.report import FORMATS

    assert cli_report.FORMATS == FORMATS
