"""Reports opened in headless Chromium over the DevTools protocol: the page loads with no
network request, no script error and no blocked fetch; its charts and embedded font load; a
screenshot of the first page is taken (set SOC_REPORT_SCREENSHOTS=<dir> to keep them)."""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

import pytest
from report_cdp import PageLoad, load_page
from report_fixtures import Populated

from soc.i18n import t
from soc.report import write_case_report, write_period_report
from soc.report.fonts import FAMILY
from soc.report.pdf import find_chromium


@pytest.fixture(scope="module")
def chromium() -> str:
    found = find_chromium()
    if found is None:
        pytest.skip("headless Chromium not installed (Debian: chromium); browser test skipped")
    return found


def foreign_requests(load: PageLoad, page: Path) -> list[str]:
    """Requests other than the page itself and its own data: URIs."""
    return [u for u in load.requests if u != page.as_uri() and not u.startswith("data:")]


def assert_clean_load(load: PageLoad, page: Path) -> None:
    assert foreign_requests(load, page) == []
    assert load.failed == []
    assert load.exceptions == []
    assert load.errors == []  # a CSP violation would be logged here
    assert load.state["scripts"] == 0
    assert load.state["links"] == 0
    assert load.state["images"], "no chart on the page"
    assert all(complete and width > 0 for complete, width in load.state["images"])
    fonts = load.state["fonts"]
    assert {f[0] for f in fonts} == {FAMILY}
    assert all(status == "loaded" for _, _, status in fonts)
    assert load.screenshot[:8] == b"\x89PNG\r\n\x1a\n"


def keep(load: PageLoad, name: str, tmp_path: Path) -> None:
    shot = tmp_path / name
    shot.write_bytes(load.screenshot)
    target = os.environ.get("SOC_REPORT_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(target) / name)


def test_period_report_loads_offline_and_clean(
    chromium: str, populated: Populated, tmp_path: Path
) -> None:
    page = write_period_report(
        populated.store, date(2026, 11, 1), date(2026, 11, 30), "vi", "html", tmp_path / "p.html"
    )
    load = load_page(chromium, tmp_path / "profile", page)
    keep(load, "period-vi.png", tmp_path)
    assert_clean_load(load, page)
    assert len(load.state["images"]) == 3
    text = load.state["text"]
    assert t("report.period.title", "vi") in text
    assert "Từ ngày 01/11/2026 đến ngày 30/11/2026" in text
    assert "1.166" in text


def test_case_report_loads_offline_and_clean(
    chromium: str, populated: Populated, tmp_path: Path
) -> None:
    page = write_case_report(
        populated.store, "CASE-20261118-0001", "en", "html", tmp_path / "c.html"
    )
    load = load_page(chromium, tmp_path / "profile", page)
    keep(load, "case-en.png", tmp_path)
    assert_clean_load(load, page)
    assert "Incident report CASE-20261118-0001" in load.state["text"]
    assert "Dò mật khẩu SSH vào máy chủ tc-app01" in load.state["text"]


def test_the_probe_sees_fetches_and_script_errors(chromium: str, tmp_path: Path) -> None:
    """Control: a page that fetches and throws is caught, so a clean result means clean."""
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><body><img src='http://127.0.0.1:9/x.png'>"
        "<script>throw new Error('boom')</script><a href='javascript:void(0)'>x</a></body></html>",
        encoding="utf-8",
    )
    load = load_page(chromium, tmp_path / "profile", page)
    assert foreign_requests(load, page) == ["http://127.0.0.1:9/x.png"]
    assert any("boom" in e for e in load.exceptions)
    assert load.state["scripts"] == 1 and load.state["links"] == 1


def test_the_probe_sees_fetches_the_policy_blocks(chromium: str, tmp_path: Path) -> None:
    """Control: under the report's CSP a fetch is refused, and the refusal is reported."""
    from soc.report.html import CSP

    page = tmp_path / "blocked.html"
    page.write_text(
        f"<!DOCTYPE html><html><head><meta http-equiv='Content-Security-Policy' "
        f"content=\"{CSP}\"></head><body><img src='https://example.invalid/x.png'>"
        "<script>document.title = 'ran'</script></body></html>",
        encoding="utf-8",
    )
    load = load_page(chromium, tmp_path / "profile", page)
    assert load.state["title"] != "ran"
    assert load.errors, "the blocked fetch and script left no trace"


#: CSS pixels across an A4 page inside the report's 12 mm margins (186 mm at 96 px/in).
A4_CONTENT_PX = 703


@pytest.mark.parametrize("kind", ["period", "case"])
@pytest.mark.parametrize(("width", "media"), [(A4_CONTENT_PX, "print"), (560, "screen")])
def test_ids_addresses_and_names_never_break_inside(
    chromium: str, populated: Populated, tmp_path: Path, kind: str, width: int, media: str
) -> None:
    """Issue 16: "CASE-/20261201-/0001", "201.178./81.113", "Severit/y" no more: no word of a
    table cell or fact (ids, addresses, names, headers) is split over two lines, on the
    printed A4 page and on a narrow screen; long free text still wraps, at spaces."""
    if kind == "period":
        page = write_period_report(
            populated.store,
            date(2026, 11, 1),
            date(2026, 11, 30),
            "vi",
            "html",
            tmp_path / "p.html",
        )
    else:
        page = write_case_report(
            populated.store, "CASE-20261118-0001", "vi", "html", tmp_path / "c.html"
        )
    load = load_page(chromium, tmp_path / "profile", page, width=width, media=media)
    keep(load, f"nowrap-{kind}-{width}.png", tmp_path)
    assert_clean_load(load, page)
    assert load.state["brokenWords"] == []
