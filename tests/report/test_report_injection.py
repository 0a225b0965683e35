"""Attacker-controlled values (in events, alert entities, case notes and recommendations)
reach every report format only as inert text: no script, no link, no image, no formula."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from report_fixtures import Populated

from soc import ecs
from soc.report import write_case_report, write_period_report
from soc.report.pdf import find_chromium, html_to_pdf
from soc.report.safe import FORMULA_START

XSS = '<script>alert("x")</script>'
IMG_XSS = "<img src=x onerror=alert(1)>"
JS_LINK = "javascript:alert(document.cookie)"
FORMULA = '=HYPERLINK("http://evil.example/","click")'
DDE = "+cmd|' /C calc'!A0"
AT_FORMULA = "@SUM(1+1)*cmd|' /C calc'!A0"
MD_LINK = "[urgent](http://evil.example/login) ![x](http://evil.example/p.png)"
MD_AUTOLINK = "<javascript:alert(1)>"
HTML_LINK = "<a href='javascript:alert(1)'>details</a>"
PAYLOADS = [XSS, IMG_XSS, JS_LINK, FORMULA, DDE, AT_FORMULA, MD_LINK, MD_AUTOLINK, HTML_LINK]

ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "main", "footer", "section",
    "div", "h1", "h2", "p", "ul", "li", "table", "thead", "tbody", "tr", "th", "td", "span",
    "figure", "img", "dl", "dt", "dd",
}  # fmt: skip


def poison(populated: Populated) -> str:
    """Put the payloads into events, an alert and a case; returns the case id."""
    store = populated.store
    event = {"_id": "evil-1", "@timestamp": "2026-11-19T03:00:00.000000Z"}
    for path, value in {
        "event.dataset": FORMULA,
        "user.name": XSS,
        "url.original": JS_LINK,
        "host.name": FORMULA,
        "source.ip": MD_LINK,
        "labels.department": HTML_LINK,
        "dns.question.name": MD_AUTOLINK,
        "process.command_line": DDE,
    }.items():
        ecs.set_field(event, path, value)
    store.write_events([event])
    alert = {
        "id": "evil-alert",
        "rule_id": "r-evil",
        "rule_title": f"{MD_LINK} {XSS}",
        "level": "critical",
        "tags": ["attack.initial-access", "attack.t1190", f"attack.{XSS}"],
        "rule_type": "single",
        "event_ids": ["evil-1"],
        "entities": {"host.name": [FORMULA], "source.ip": [MD_LINK, DDE], "user.name": [XSS]},
        "first_seen": "2026-11-19T03:00:00.000000Z",
        "last_seen": "2026-11-19T03:00:00.000000Z",
        "created": "2026-11-19T03:01:00.000000Z",
        "status": "new",
        "count": 1,
        "department": IMG_XSS,
    }
    store.put_record("alerts", alert["id"], alert)
    case = {
        "id": "CASE-20261119-0009",
        "title": f"{XSS} {MD_LINK}",
        "status": "open",
        "severity": "critical",
        "verdict": None,
        "owner": AT_FORMULA,
        "alert_ids": ["evil-alert"],
        "departments": [HTML_LINK],
        "assets": [FORMULA],
        "opened_at": "2026-11-19T03:05:00.000000Z",
        "updated_at": "2026-11-19T03:05:00.000000Z",
        "closed_at": None,
        "timeline": [
            {"at": "2026-11-19T03:06:00.000000Z", "kind": "answer", "by": DDE,
             "summary": HTML_LINK, "detail": {}},
            {"at": "2026-11-19T03:07:00.000000Z", "kind": XSS, "by": "an",
             "summary": MD_AUTOLINK, "detail": {}},
        ],
        "recommendations": [
            {"at": "2026-11-19T03:08:00.000000Z", "by": "an", "kind": "block_ip",
             "target": FORMULA, "text": JS_LINK},
        ],
        "notes": [{"at": "2026-11-19T03:09:00.000000Z", "by": MD_LINK, "text": MD_LINK}],
    }  # fmt: skip
    store.put_record("cases", case["id"], case)
    return case["id"]


class _Audit(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check_html(page: str) -> None:
    audit = _Audit()
    audit.feed(page)
    for tag, attrs in audit.tags:
        assert tag in ALLOWED_TAGS, f"unexpected <{tag}> in the report"
        for name, value in attrs.items():
            assert not name.startswith("on"), f"event handler {name} on <{tag}>"
            assert name not in ("href", "action", "formaction", "srcset"), name
            assert "javascript:" not in (value or "").lower()
            if name == "src":
                assert tag == "img" and (value or "").startswith("data:image/png;base64,")
    text = "".join(audit.text)
    assert XSS in text  # shown, as text
    assert "'" + FORMULA in text  # shown with its formula defused
    for chunk in re.split(r"[<>]", page):
        assert not chunk.startswith(FORMULA)


def check_markdown(doc: str) -> None:
    rendered = MarkdownIt("commonmark", {"html": True}).enable("table").render(doc)
    audit = _Audit()
    audit.feed(rendered)
    for tag, attrs in audit.tags:
        assert tag not in ("a", "img", "script", "iframe"), f"<{tag}> survived into Markdown"
        assert set(attrs) <= {"style"}, f"<{tag} {attrs}> in the rendered Markdown"
    assert XSS in "".join(audit.text)  # shown, as text
    for line in doc.splitlines():
        if line.startswith("|") and not re.fullmatch(r"\|(-+:?\|)+", line):
            cells = re.split(r"(?<!\\)\|", line.strip()[1:-1])
            for cell in cells:
                assert not cell.strip().startswith(FORMULA_START), cell
    assert "\\=HYPERLINK" in doc or "'=HYPERLINK" in doc


def check_csv(text: str) -> None:
    for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))):
        for cell in row:
            assert not cell.startswith(FORMULA_START), cell
    assert "'=HYPERLINK" in text


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_payloads_are_inert_in_every_format(populated: Populated, tmp_path: Path, lang: str):
    case_id = poison(populated)
    store = populated.store
    for kind in ("period", "case"):
        for fmt in ("html", "md", "csv"):
            out = tmp_path / f"{kind}-{lang}.{fmt}"
            if kind == "period":
                write_period_report(store, date(2026, 11, 1), date(2026, 11, 30), lang, fmt, out)
            else:
                write_case_report(store, case_id, lang, fmt, out)
            text = out.read_text(encoding="utf-8")
            {"html": check_html, "md": check_markdown, "csv": check_csv}[fmt](text)


def test_pdf_has_no_links_or_actions(populated: Populated, tmp_path: Path) -> None:
    if find_chromium() is None:
        pytest.skip("headless Chromium not installed (Debian: chromium); PDF not tested")
    case_id = poison(populated)
    period = write_period_report(
        populated.store, date(2026, 11, 1), date(2026, 11, 30), "vi", "pdf", tmp_path / "p.pdf"
    )
    case = write_case_report(populated.store, case_id, "en", "pdf", tmp_path / "c.pdf")
    for pdf in (period, case):
        data = pdf.read_bytes()
        for marker in (b"/URI", b"/JavaScript", b"/JS ", b"/Launch", b"/SubmitForm"):
            assert marker not in data, f"{marker!r} in {pdf.name}"
    # control: a real link in HTML does become a /URI action, so the check above can fail
    control = html_to_pdf(
        "<html><body><a href='http://example.invalid/'>x</a></body></html>", tmp_path / "k.pdf"
    )
    assert b"/URI" in control.read_bytes()


def test_the_html_builder_refuses_links_handlers_and_remote_images() -> None:
    from soc.report.safe import element, md_text, neutralize_formula

    with pytest.raises(ValueError, match="not allowed"):
        element("span", "x", href="javascript:alert(1)")
    with pytest.raises(ValueError, match="not allowed"):
        element("span", "x", onclick="alert(1)")
    with pytest.raises(ValueError, match="data:image"):
        element("img", src="http://evil.example/x.png")
    assert element("td", XSS) == "<td>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</td>"
    assert element("td", "a", title='"><script>') == '<td title="&quot;&gt;&lt;script&gt;">a</td>'
    assert md_text(MD_LINK).startswith("\\[urgent\\]\\(http")
    assert md_text("-1") == "\\-1" and md_text("=1+1") == "\\=1+1"
    assert [neutralize_formula(v) for v in ("=1", "+1", "-1", "@x", "\tx", "ok")] == [
        "'=1", "'+1", "'-1", "'@x", "'\tx", "ok",
    ]  # fmt: skip


def test_control_and_bidi_characters_are_dropped() -> None:
    from soc.report.safe import clean

    assert clean("invoice\u202egpj.exe") == "invoicegpj.exe"
    assert clean("a\r\nb\x1b[31mc\u2028d") == "a b[31mcd"
