"""The case (incident) report as a translated document (text from the catalogue, playbook
texts in the report's language, values from logs as recorded)."""

from __future__ import annotations

from soc.i18n import format_number, has, t
from soc.report import charts
from soc.report.build import (
    attack_table,
    level_badge,
    recommendations_table,
    status_badge,
    when_text,
)
from soc.report.case_data import CaseReport
from soc.report.data import RESOLUTIONS, zone
from soc.report.document import Cell, Document, Facts, Figure, Paragraphs, Section, Table
from soc.report.summary import case_summary
from soc.report.timeline import in_lang, render_entry


def case_document(report: CaseReport, lang: str, *, charts_on: bool = True) -> Document:
    """The case (incident) report as a document in ``lang``."""
    tz = zone(report.timezone)
    na = t("report.na", lang)
    verdict = (
        t(f"resolution.{report.verdict}", lang)
        if report.verdict in RESOLUTIONS
        else (report.verdict or t("case.verdict.none", lang))
    )
    facts: list[tuple[str, Cell]] = [
        (t("case.field.status", lang), status_badge(report.status, lang)),
        (t("case.field.severity", lang), level_badge(report.severity, lang)),
        (t("case.field.verdict", lang), verdict),
        (t("case.field.owner", lang), report.owner or t("report.unassigned", lang)),
        (t("case.field.opened", lang), when_text(report.opened_at, lang, tz)),
        (t("case.field.updated", lang), when_text(report.updated_at, lang, tz)),
        (
            t("case.field.closed", lang),
            when_text(report.closed_at, lang, tz) if report.closed_at else na,
        ),
    ]
    sections = [
        Section(
            "summary",
            t("case.section.summary", lang),
            [Paragraphs([s.render(lang) for s in case_summary(report)])],
        ),
        Section("overview", t("case.section.overview", lang), [Facts(facts)]),
        Section(
            "affected",
            t("case.section.affected", lang),
            [
                Facts(
                    [
                        (t("case.field.assets", lang), ", ".join(report.assets) or na),
                        (t("case.field.departments", lang), ", ".join(report.departments) or na),
                    ]
                ),
                Table(
                    [t("col.field", lang), t("col.values", lang)],
                    [
                        [
                            t(f"entity.{name}", lang) if has(f"entity.{name}", lang) else name,
                            ", ".join(values),
                        ]
                        for name, values in report.entities.items()
                        if values
                    ],
                ),
            ],
        ),
    ]
    alert_blocks: list = [
        Table(
            [
                t("col.rule", lang),
                t("col.level", lang),
                t("col.status", lang),
                t("col.first_seen", lang),
                t("col.last_seen", lang),
                t("col.events", lang),
            ],
            [
                [
                    a.title,
                    level_badge(a.level, lang),
                    status_badge(a.status, lang),
                    when_text(a.first_seen, lang, tz),
                    when_text(a.last_seen, lang, tz),
                    format_number(a.event_count, lang),
                ]
                for a in report.alerts
            ],
            numeric=frozenset({5}),
            nowrap=frozenset({3, 4}),
        )
        if report.alerts
        else Paragraphs([t("report.none", lang)], bullets=False)
    ]
    if report.attack:
        if charts_on:
            alert_blocks.append(
                Figure(charts.attack_heatmap(report.attack, lang), t("chart.alt.attack", lang))
            )
        alert_blocks.append(
            attack_table(
                report.attack,
                report.attack_tactics,
                report.attack_alerts,
                report.attack_version,
                lang,
            )
        )
    sections.append(Section("alerts", t("case.section.alerts", lang), alert_blocks))
    when = lambda moment: when_text(moment, lang, tz)  # noqa: E731
    sections.append(
        Section(
            "timeline",
            t("case.section.timeline", lang),
            [
                Table(
                    [
                        t("col.time", lang),
                        t("col.kind", lang),
                        t("col.by", lang),
                        t("col.what", lang),
                    ],
                    [
                        [
                            when(e.at),
                            t(f"timeline.{e.kind}", lang)
                            if has(f"timeline.{e.kind}", lang)
                            else e.kind,
                            e.by or "",
                            render_entry(e.kind, e.summary, e.detail, lang, when),
                        ]
                        for e in report.timeline
                    ],
                    note=t("case.events_grouped", lang, total=report.events_total),
                    nowrap=frozenset({0}),
                )
            ],
        )
    )
    sections.append(
        Section(
            "recommendations",
            t("case.section.recommendations", lang),
            [
                recommendations_table(report.recommendations, lang, tz)
                if report.recommendations
                else Paragraphs([t("report.none", lang)], bullets=False)
            ],
        )
    )
    sections.append(
        Section(
            "notes",
            t("case.section.notes", lang),
            [
                Table(
                    [t("col.time", lang), t("col.by", lang), t("col.note", lang)],
                    [
                        [when(n.at), n.by or "", in_lang(n.detail.get("texts"), lang, n.summary)]
                        for n in report.notes
                    ],
                    nowrap=frozenset({0}),
                )
                if report.notes
                else Paragraphs([t("report.none", lang)], bullets=False)
            ],
        )
    )
    sections.append(
        Section(
            "handlers",
            t("case.section.handlers", lang),
            [Paragraphs(report.handlers or [t("report.none", lang)])],
        )
    )
    sections.append(
        Section(
            "raw_events",
            t("case.section.raw_events", lang),
            [
                Table(
                    [t("col.time", lang), t("col.event", lang)],
                    [[when(e.at), e.summary] for e in report.raw_events],
                    note=t(
                        "case.events_shown",
                        lang,
                        shown=report.events_shown,
                        total=report.events_total,
                    ),
                    nowrap=frozenset({0}),
                )
                if report.raw_events
                else Paragraphs([t("report.none", lang)], bullets=False)
            ],
        )
    )
    return Document(
        lang=lang,
        org=t("report.org", lang),
        title=t("report.case.title", lang, id=report.id),
        subtitle=[in_lang(report.titles, lang, report.title)],
        meta=[
            t(
                "report.generated",
                lang,
                at=report.generated_at.astimezone(tz),
                tz=report.timezone,
                store=report.store_kind,
            ),
            t("report.internal", lang),
        ],
        sections=sections,
        footer=t("report.footer", lang),
        label=report.id,
    )
