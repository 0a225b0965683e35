"""Turning measured reports into translated documents (text from the catalogue only).

``charts_on=False`` leaves the figures out (Markdown and CSV have no use for them, and drawing
them is the slow part).
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from soc.i18n import (
    format_date,
    format_datetime,
    format_duration,
    format_number,
    format_percent,
    has,
    t,
)
from soc.report import charts
from soc.report.alerts import IMPORTED_AFTER, LEVELS
from soc.report.attack import AttackCell
from soc.report.data import (
    RESOLUTIONS,
    PeriodReport,
    Ranked,
    Recommendation,
    zone,
)
from soc.report.document import (
    Badge,
    Cell,
    Document,
    Figure,
    Kpi,
    Kpis,
    Paragraphs,
    Section,
    Table,
)
from soc.report.summary import period_summary
from soc.report.timeline import in_lang

_STATUS_TONE = {
    "new": "high",
    "in_progress": "medium",
    "escalated": "critical",
    "closed": "good",
    "open": "high",
}


def when_text(moment: datetime | None, lang: str, tz: tzinfo) -> str:
    """A moment in ``tz`` written the ``lang`` way, or "no data" when there is none."""
    return format_datetime(moment, lang, tz) if moment else t("report.na", lang)


def level_badge(level: str, lang: str) -> Badge:
    """An alert level or case severity as a coloured badge in ``lang``."""
    return Badge(t(f"level.{level}", lang) if level in LEVELS else level, level)


def status_badge(status: str, lang: str) -> Badge:
    """A status as a coloured badge in ``lang`` (unknown ones as recorded)."""
    text = t(f"status.{status}", lang) if has(f"status.{status}", lang) else status
    return Badge(text, _STATUS_TONE.get(status, "neutral"))


def _share(part: int, whole: int, lang: str) -> str:
    return format_percent(part / whole, lang) if whole else t("report.na", lang)


def _ranked_table(
    rows: list[Ranked], lang: str, name_col: str, detail_col: str | None, *, level: bool = False
) -> Table | Paragraphs:
    if not rows:
        return Paragraphs([t("report.none", lang)], bullets=False)
    headers = [t(name_col, lang)]
    if detail_col:
        headers.append(t(detail_col, lang))
    headers.append(t("col.alerts", lang))
    body: list[list[Cell]] = []
    for row in rows:
        cells: list[Cell] = [row.name]
        if detail_col:
            if level and row.detail:
                cells.append(level_badge(row.detail, lang))
            else:
                cells.append(row.detail or "")
        cells.append(format_number(row.count, lang))
        body.append(cells)
    return Table(headers, body, numeric=frozenset({len(headers) - 1}))


def attack_table(
    cells: list[AttackCell], tactic_alerts: dict[str, int], total: int, version: str, lang: str
) -> Table:
    """One row per tactic: its techniques (id and ATT&CK name) with their alert counts, and
    the tactic's distinct alerts; the note says how alerts are counted."""
    rows: list[list[Cell]] = []
    tactics: list[str] = []
    for cell in cells:
        if cell.tactic not in tactics:
            tactics.append(cell.tactic)
    for tactic in tactics:
        mine = [c for c in cells if c.tactic == tactic]
        listed = "; ".join(
            t(
                "attack.technique" if c.name else "attack.technique.unnamed",
                lang,
                id=c.technique,
                name=c.name,
                count=c.count,
            )
            for c in mine
            if c.technique
        )
        rows.append(
            [
                t(f"tactic.{tactic}", lang),
                listed or "—",
                format_number(tactic_alerts.get(tactic, sum(c.count for c in mine)), lang),
            ]
        )
    return Table(
        [t("col.tactic", lang), t("col.technique", lang), t("col.alerts", lang)],
        rows,
        numeric=frozenset({2}),
        note=t("attack.note", lang, total=total, version=version or "?"),
    )


def recommendations_table(recs: list[Recommendation], lang: str, tz: tzinfo) -> Table:
    """Recommendations with their text in ``lang`` when the playbook wrote it so."""
    return Table(
        [
            t("col.case", lang),
            t("col.time", lang),
            t("col.by", lang),
            t("col.kind", lang),
            t("col.target", lang),
            t("col.text", lang),
        ],
        [
            [
                r.case_id,
                when_text(r.at, lang, tz),
                r.by or "",
                t(f"rec.{r.kind}", lang)
                if r.kind in ("block_ip", "disable_account", "patch")
                else t("rec.other", lang),
                r.target or "",
                in_lang(r.texts, lang, r.text),
            ]
            for r in recs
        ],
        nowrap=frozenset({1}),
    )


def period_document(report: PeriodReport, lang: str, *, charts_on: bool = True) -> Document:
    """The period report as a document in ``lang``."""
    tz = zone(report.timezone)
    na = t("report.na", lang)
    sections: list[Section] = []

    sections.append(
        Section(
            "summary",
            t("section.summary", lang),
            [Paragraphs([s.render(lang) for s in period_summary(report)])],
        )
    )

    excluded = report.mttd_imported + report.mttd_unknown
    samples = (
        t("kpi.mttd.note", lang, count=report.mttd_samples, excluded=excluded)
        if excluded
        else t("kpi.samples", lang, count=report.mttd_samples)
    )
    kpis = [
        Kpi(t("kpi.events", lang), format_number(report.events_total, lang)),
        Kpi(t("kpi.alerts", lang), format_number(report.alerts_total, lang)),
        Kpi(t("kpi.severe", lang), format_number(report.high_or_critical, lang)),
        Kpi(t("kpi.cases_opened", lang), format_number(report.cases_opened, lang)),
        Kpi(t("kpi.cases_closed", lang), format_number(report.cases_closed, lang)),
        Kpi(
            t("kpi.tp_rate", lang),
            format_percent(report.tp_rate, lang) if report.tp_rate is not None else na,
            t("kpi.samples", lang, count=report.resolved_total) if report.resolved_total else None,
        ),
        Kpi(
            t("kpi.fp_rate", lang),
            format_percent(report.fp_rate, lang) if report.fp_rate is not None else na,
            t("kpi.samples", lang, count=report.resolved_total) if report.resolved_total else None,
        ),
        Kpi(
            t("kpi.mttd", lang),
            format_duration(report.mttd_seconds, lang) if report.mttd_seconds is not None else na,
            samples if report.mttd_samples or excluded else None,
        ),
        Kpi(
            t("kpi.mttr", lang),
            format_duration(report.mttr_seconds, lang) if report.mttr_seconds is not None else na,
            t("kpi.samples", lang, count=report.mttr_samples) if report.mttr_samples else None,
        ),
    ]
    sections.append(Section("kpis", t("section.kpis", lang), [Kpis(kpis)]))

    trends: list = []
    if charts_on and report.hours:
        trends.append(Figure(charts.hourly_chart(report.hours, lang), t("chart.alt.hourly", lang)))
    elif charts_on and report.days:
        trends.append(Figure(charts.daily_chart(report.days, lang), t("chart.alt.daily", lang)))
    trends.append(
        Table(
            [t("col.day", lang), t("col.events", lang), t("col.alerts", lang)],
            [
                [
                    format_date(d.day, lang),
                    format_number(d.events, lang),
                    format_number(d.alerts, lang),
                ]
                for d in report.days
                if d.events or d.alerts
            ],
            numeric=frozenset({1, 2}),
            nowrap=frozenset({0}),
        )
    )
    sections.append(Section("trends", t("section.trends", lang), trends))

    sections.append(
        Section(
            "events",
            t("section.events", lang),
            [
                Table(
                    [t("col.source", lang), t("col.count", lang), t("col.share", lang)],
                    [
                        [
                            r.name or t("report.other_sources", lang),
                            format_number(r.count, lang),
                            _share(r.count, report.events_total, lang),
                        ]
                        for r in report.events_by_dataset
                    ],
                    numeric=frozenset({1, 2}),
                )
                if report.events_by_dataset
                else Paragraphs([t("report.none", lang)], bullets=False)
            ],
        )
    )

    alert_blocks: list = []
    if charts_on and report.alerts_total:
        alert_blocks.append(
            Figure(
                charts.severity_chart(report.alerts_by_level, lang),
                t("chart.alt.levels", lang),
                wide=False,
            )
        )
    alert_blocks.append(
        Table(
            [t("col.level", lang), t("col.alerts", lang), t("col.share", lang)],
            [
                [
                    level_badge(lv, lang),
                    format_number(n, lang),
                    _share(n, report.alerts_total, lang),
                ]
                for lv, n in reversed(report.alerts_by_level.items())
            ],
            numeric=frozenset({1, 2}),
        )
    )
    alert_blocks.append(
        Table(
            [t("col.status", lang), t("col.alerts", lang)],
            [
                [status_badge(s, lang), format_number(n, lang)]
                for s, n in report.alerts_by_status.items()
            ],
            numeric=frozenset({1}),
        )
    )
    sections.append(Section("alerts", t("section.alerts", lang), alert_blocks))

    sections.append(
        Section(
            "resolutions",
            t("section.resolutions", lang),
            [
                Table(
                    [
                        t("col.outcome", lang),
                        t("col.closed_alerts", lang),
                        t("col.closed_cases", lang),
                    ],
                    [
                        [
                            t(f"resolution.{r}", lang),
                            format_number(report.alerts_resolved.get(r, 0), lang),
                            format_number(report.case_verdicts.get(r, 0), lang),
                        ]
                        for r in RESOLUTIONS
                    ],
                    numeric=frozenset({1, 2}),
                )
            ],
        )
    )

    sections.append(
        Section(
            "top_rules",
            t("section.top_rules", lang),
            [_ranked_table(report.top_rules, lang, "col.rule", "col.level", level=True)],
        )
    )
    sections.append(
        Section(
            "top_assets",
            t("section.top_assets", lang),
            [_ranked_table(report.top_assets, lang, "col.asset", "col.department")],
        )
    )
    sections.append(
        Section(
            "top_departments",
            t("section.top_departments", lang),
            [_ranked_table(report.top_departments, lang, "col.department", None)],
        )
    )
    sections.append(
        Section(
            "top_sources",
            t("section.top_sources", lang),
            [_ranked_table(report.top_sources, lang, "col.address", None)],
        )
    )

    attack_blocks: list = []
    if report.attack:
        if charts_on:
            attack_blocks.append(
                Figure(charts.attack_heatmap(report.attack, lang), t("chart.alt.attack", lang))
            )
        attack_blocks.append(
            attack_table(
                report.attack,
                report.attack_tactics,
                report.attack_alerts,
                report.attack_version,
                lang,
            )
        )
    else:
        attack_blocks.append(Paragraphs([t("report.none", lang)], bullets=False))
    sections.append(Section("attack", t("section.attack", lang), attack_blocks))

    sections.append(
        Section(
            "open_cases",
            t("section.open_cases", lang),
            [
                Table(
                    [
                        t("col.case", lang),
                        t("col.title", lang),
                        t("col.severity", lang),
                        t("col.owner", lang),
                        t("col.opened", lang),
                        t("col.department", lang),
                    ],
                    [
                        [
                            c.id,
                            in_lang(c.titles, lang, c.title),
                            level_badge(c.severity, lang),
                            c.owner or t("report.unassigned", lang),
                            when_text(c.opened_at, lang, tz),
                            ", ".join(c.departments),
                        ]
                        for c in report.open_cases
                    ],
                    nowrap=frozenset({4}),
                )
                if report.open_cases
                else Paragraphs([t("report.none", lang)], bullets=False)
            ],
        )
    )
    sections.append(
        Section(
            "recommendations",
            t("section.recommendations", lang),
            [
                recommendations_table(report.recommendations, lang, tz)
                if report.recommendations
                else Paragraphs([t("report.none", lang)], bullets=False)
            ],
        )
    )

    sections.append(
        Section(
            "method",
            t("section.method", lang),
            [
                Paragraphs(
                    [
                        t(
                            "report.period.rule",
                            lang,
                            start=report.first_day,
                            end=report.last_day,
                            tz=report.timezone,
                        ),
                        t(
                            "report.mttd.rule",
                            lang,
                            hours=int(IMPORTED_AFTER.total_seconds() // 3600),
                            count=report.mttd_samples,
                            imported=report.mttd_imported,
                            unknown=report.mttd_unknown,
                        ),
                    ],
                    bullets=False,
                )
            ],
        )
    )

    subtitle = [
        t("report.period.range", lang, start=report.first_day, end=report.last_day),
        t("report.department", lang, dept=report.department)
        if report.department
        else t("report.all_departments", lang),
    ]
    meta = [
        t(
            "report.generated",
            lang,
            at=report.generated_at.astimezone(tz),
            tz=report.timezone,
            store=report.store_kind,
        ),
        t("report.internal", lang),
    ]
    return Document(
        lang=lang,
        org=t("report.org", lang),
        title=t("report.period.title", lang),
        subtitle=subtitle,
        meta=meta,
        sections=sections,
        footer=t("report.footer", lang),
        label=f"{report.first_day.isoformat()}..{report.last_day.isoformat()}",
    )
