"""Leadership reports: period and incident (case) reports in Vietnamese and English, as
HTML, PDF, Markdown or CSV.

data gathers the numbers from a store, summary states them in templated sentences, build
lays them out as a document of translated text, and html/markdown/csvout/pdf render it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from soc.i18n import normalize_lang
from soc.report.alerts import DepartmentLookup
from soc.report.build import period_document
from soc.report.build_case import case_document
from soc.report.case_data import CaseNotFound, CaseReport, gather_case
from soc.report.csvout import render_csv
from soc.report.data import (
    PeriodReport,
    day_bounds,
    gather_period,
    zone,
)
from soc.report.document import Document
from soc.report.html import render_html
from soc.report.markdown import render_markdown
from soc.report.pdf import PdfEngineMissing, PdfFailed, html_to_pdf
from soc.store.base import Store

#: Output formats and their usual file extensions.
FORMATS = {"html": ".html", "pdf": ".pdf", "md": ".md", "csv": ".csv"}

__all__ = [
    "FORMATS",
    "CaseNotFound",
    "CaseReport",
    "PeriodReport",
    "ReportError",
    "gather_case",
    "gather_period",
    "render",
    "write_case_report",
    "write_period_report",
]


class ReportError(Exception):
    """A report cannot be written; the message is one line for a person."""


def render(doc: Document, fmt: str, out: Path) -> Path:
    """Write ``doc`` to ``out`` in format ``fmt`` (html, pdf, md, csv); returns ``out``."""
    if fmt not in FORMATS:
        raise ReportError(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}")
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "html":
            out.write_text(render_html(doc), encoding="utf-8")
        elif fmt == "md":
            out.write_text(render_markdown(doc), encoding="utf-8")
        elif fmt == "csv":
            out.write_text(render_csv(doc), encoding="utf-8")
        else:
            html_to_pdf(render_html(doc), out)
    except (PdfEngineMissing, PdfFailed) as exc:
        raise ReportError(str(exc)) from None
    except OSError as exc:
        raise ReportError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out


def _bounds(
    start: date | datetime, end: date | datetime, tz_name: str
) -> tuple[datetime, datetime]:
    tz = zone(tz_name)
    if isinstance(start, datetime) and isinstance(end, datetime):
        s = start if start.tzinfo else start.replace(tzinfo=tz)
        e = end if end.tzinfo else end.replace(tzinfo=tz)
        return s.astimezone(UTC), e.astimezone(UTC)
    first = start.date() if isinstance(start, datetime) else start
    last = end.date() if isinstance(end, datetime) else end
    return day_bounds(first, last, tz)


def write_period_report(
    store: Store,
    start: date | datetime,
    end: date | datetime,
    lang: str,
    fmt: str,
    out: Path | str,
    department: str | None = None,
    *,
    timezone: str = "Asia/Ho_Chi_Minh",
    lookup: DepartmentLookup | None = None,
) -> Path:
    """Measure the period in ``store`` and write its report; returns the file written.

    Dates are calendar days in ``timezone``, both included (``end`` = last day). Two
    datetimes are an exact ``[start, end)`` range instead (naive ones read in ``timezone``).
    Raises ReportError with a one-line message.
    """
    lang = normalize_lang(lang)
    first, last = _bounds(start, end, timezone)
    if last <= first:
        raise ReportError("the report period is empty: --to is before --from")
    report = gather_period(
        store, first, last, tz=zone(timezone), department=department, lookup=lookup
    )
    doc = period_document(report, lang, charts_on=fmt in ("html", "pdf"))
    return render(doc, fmt, Path(out))


def write_case_report(
    store: Store,
    case_id: str,
    lang: str,
    fmt: str,
    out: Path | str,
    *,
    timezone: str = "Asia/Ho_Chi_Minh",
    lookup: DepartmentLookup | None = None,
) -> Path:
    """Write the report of one case; returns the file written. Raises ReportError (also
    when there is no such case)."""
    lang = normalize_lang(lang)
    try:
        report = gather_case(store, case_id, tz=zone(timezone), lookup=lookup)
    except CaseNotFound:
        raise ReportError(f"no case {case_id!r} in the store (see `soc cases list`)") from None
    doc = case_document(report, lang, charts_on=fmt in ("html", "pdf"))
    return render(doc, fmt, Path(out))
