"""`soc report`: reports for the city's leadership (period and incident), vi or en, as
HTML, PDF, Markdown or CSV. The work is done by soc.report; this only reads options."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from soc.cli.common import EXIT_ERROR, console, fail, state
from soc.i18n import UnknownLanguage, normalize_lang

if TYPE_CHECKING:
    from soc.report.alerts import DepartmentLookup

#: Output formats and their file extensions (as soc.report.FORMATS; repeated here so that
#: starting `soc` does not import matplotlib).
FORMATS = {"html": ".html", "pdf": ".pdf", "md": ".md", "csv": ".csv"}

app = typer.Typer(help="Reports for the city's leadership.", no_args_is_help=True)

_FORMAT_HELP = "html, pdf, md or csv (default: from --out's extension, else html)."


def parse_day(text: str, option: str) -> date:
    """A calendar day written YYYY-MM-DD or dd/mm/yyyy; ValueError naming the option."""
    value = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return date.fromisoformat(value)
        if re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", value):
            return datetime.strptime(value, "%d/%m/%Y").date()
    except ValueError:
        pass
    raise ValueError(f"{option} {text!r} is not a date (YYYY-MM-DD or dd/mm/yyyy)")


def _format(fmt: str | None, out: Path | None) -> str:
    if fmt:
        chosen = fmt.lower().lstrip(".")
        chosen = "md" if chosen == "markdown" else chosen
    elif out is not None and out.suffix.lower() in (".pdf", ".md", ".csv", ".html", ".htm"):
        chosen = {".htm": "html", ".markdown": "md"}.get(out.suffix.lower(), out.suffix[1:].lower())
    else:
        chosen = "html"
    if chosen not in FORMATS:
        raise ValueError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    return chosen


def _lookup(settings: Any, inventory: list[Path]) -> DepartmentLookup | None:
    """Departments of assets from the city asset inventory (options, else settings);
    ValueError naming the file when it cannot be read."""
    paths = list(inventory)
    if not paths:
        configured = settings.get("inventory")
        if isinstance(configured, str):
            paths = [Path(configured)]
        elif isinstance(configured, list):
            paths = [Path(p) for p in configured]
    if not paths:
        return None
    from soc.triage.enrich import EnrichError, load_inventory

    try:
        loaded = load_inventory(paths)
    except EnrichError as exc:
        raise ValueError(str(exc)) from None

    def department(asset: str) -> str | None:
        found = loaded.lookup(asset)
        return found.department if found else None

    return department


LangOption = Annotated[
    str | None, typer.Option("--lang", help="vi or en (default: the `language` setting, vi).")
]
FormatOption = Annotated[str | None, typer.Option("--format", "-f", help=_FORMAT_HELP)]
InventoryOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--inventory",
        help="Asset inventory (CSV/YAML, repeatable) giving assets' departments "
        "(default: the `inventory` setting).",
    ),
]


def period_days(
    start: str | None, end: str | None, last_month: bool, last_week: bool, zone: str
) -> tuple[date, date]:
    """The first and last day of the report: --from/--to, or a named period as of today
    in the city's zone; ValueError naming the options when they do not fit together."""
    from soc.report.periods import named_period

    if last_month and last_week:
        raise ValueError("--last-month and --last-week cannot be used together")
    if last_month or last_week:
        if start or end:
            raise ValueError("--last-month/--last-week replace --from and --to")
        return named_period("last-month" if last_month else "last-week", zone)
    if not start or not end:
        raise ValueError("give --from and --to, or --last-month, or --last-week")
    first = parse_day(start, "--from")
    last = parse_day(end, "--to")
    if last < first:
        raise ValueError(f"--to {end} is before --from {start}")
    return first, last


@app.command("period")
def period(
    ctx: typer.Context,
    start: Annotated[
        str | None, typer.Option("--from", help="First day (YYYY-MM-DD or dd/mm/yyyy).")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day, included.")] = None,
    last_month: Annotated[
        bool,
        typer.Option("--last-month", help="The previous calendar month (city time zone)."),
    ] = False,
    last_week: Annotated[
        bool,
        typer.Option("--last-week", help="The previous week, Monday to Sunday (city time zone)."),
    ] = False,
    email: Annotated[
        bool,
        typer.Option(
            "--email", help="Also e-mail the report through outputs.email (docs/reports.md)."
        ),
    ] = False,
    department: Annotated[
        str | None, typer.Option("--department", help="Only this department.")
    ] = None,
    lang: LangOption = None,
    fmt: FormatOption = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File to write.")] = None,
    inventory: InventoryOption = None,
) -> None:
    """Write the report of a period: summary, KPIs, trends, top rules/assets/sources,
    ATT&CK heat map, open incidents and recommendations. Days are in the configured zone;
    --last-month / --last-week pick the previous month or week (for cron and timers)."""
    app_state = state(ctx)
    settings = app_state.settings
    zone = str(settings.get("timezone") or "Asia/Ho_Chi_Minh")
    from soc.report.mail import MailError, mail_settings

    try:
        first, last = period_days(start, end, last_month, last_week, zone)
        language = normalize_lang(lang or settings.get("language"))
        chosen = _format(fmt, out)
        lookup = _lookup(settings, list(inventory or []))
        mail = mail_settings(settings.get("outputs")) if email else None
    except (ValueError, UnknownLanguage, MailError) as exc:
        raise fail(str(exc)) from None
    from soc.report import ReportError, write_period_report

    if out is None:
        suffix = f"-{_slug(department)}" if department else ""
        out = Path(f"soc-report-{first.isoformat()}-{last.isoformat()}{suffix}{FORMATS[chosen]}")
    try:
        written = write_period_report(
            app_state.store,
            first,
            last,
            language,
            chosen,
            out,
            department,
            timezone=zone,
            lookup=lookup,
        )
    except ReportError as exc:
        raise fail(str(exc), EXIT_ERROR) from None
    console.print(str(written), markup=False)
    if mail is not None:
        from soc.i18n import t
        from soc.report.mail import send_report

        subject = t("mail.subject.period", language, start=first, end=last)
        try:
            send_report(written, subject, language, mail)
        except MailError as exc:
            raise fail(str(exc), EXIT_ERROR) from None
        console.print(f"e-mailed to {', '.join(mail.recipients)}", markup=False)


@app.command("case")
def case(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(help="Case id, e.g. CASE-20261120-0001.")],
    lang: LangOption = None,
    fmt: FormatOption = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File to write.")] = None,
    inventory: InventoryOption = None,
) -> None:
    """Write the report of one incident: timeline, alerts, affected assets and departments,
    verdict, recommended actions and who handled it."""
    app_state = state(ctx)
    settings = app_state.settings
    try:
        language = normalize_lang(lang or settings.get("language"))
        chosen = _format(fmt, out)
        lookup = _lookup(settings, list(inventory or []))
    except (ValueError, UnknownLanguage) as exc:
        raise fail(str(exc)) from None
    from soc.report import ReportError, write_case_report

    if out is None:
        out = Path(f"soc-{_slug(case_id)}{FORMATS[chosen]}")
    try:
        written = write_case_report(
            app_state.store,
            case_id,
            language,
            chosen,
            out,
            timezone=str(settings.get("timezone") or "Asia/Ho_Chi_Minh"),
            lookup=lookup,
        )
    except ReportError as exc:
        raise fail(str(exc), EXIT_ERROR) from None
    console.print(str(written), markup=False)


def _slug(text: str) -> str:
    """A file-name-safe form of a department name or case id."""
    return re.sub(r"[^\w.-]+", "_", text, flags=re.UNICODE).strip("_") or "report"
