"""The executive summary: templated sentences filled with measured numbers.

Every sentence is a catalogue key plus the values it states; nothing is written that the
numbers do not say. A sentence is left out when its numbers do not exist (no alerts, no
closed alerts...), never filled with a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from soc.i18n import Duration, Percent, t
from soc.report.case_data import CaseReport
from soc.report.data import PeriodReport, Ranked, zone


@dataclass(frozen=True)
class Sentence:
    """One sentence of a summary: its catalogue key and the values it states."""

    key: str
    values: dict[str, Any] = field(default_factory=dict)

    def render(self, lang: str) -> str:
        """The sentence in ``lang``."""
        return t(self.key, lang, **self.values)


def _leader(key: str, field_name: str, rows: list[Ranked]) -> list[Sentence]:
    """ "X led with N alerts" when one row leads; "X, Y and Z led with N alerts each" when
    several tie above one alert; nothing when every row has a single alert (no leader)."""
    if not rows:
        return []
    top = rows[0].count
    leaders = [r.name for r in rows if r.count == top]
    if len(leaders) == 1:
        return [Sentence(key, {field_name: leaders[0], "count": top})]
    if top > 1:
        names = ", ".join(leaders[:3]) + (", …" if len(leaders) > 3 else "")
        return [Sentence(f"{key}_tied", {"names": names, "count": top})]
    return []


def period_summary(report: PeriodReport) -> list[Sentence]:
    """The executive summary of a period report."""
    out: list[Sentence] = []
    sources = len([r for r in report.events_by_dataset if r.name])
    out.append(
        Sentence(
            "summary.events",
            {
                "count": report.events_total,
                "sources": sources,
                "start": report.first_day,
                "end": report.last_day,
            },
        )
    )
    if report.alerts_total == 0:
        out.append(Sentence("summary.no_alerts"))
    else:
        out.append(
            Sentence(
                "summary.alerts",
                {"count": report.alerts_total, "severe": report.high_or_critical},
            )
        )
        out.extend(_leader("summary.top_rule", "rule", report.top_rules))
        out.extend(_leader("summary.top_source", "ip", report.top_sources))
        out.extend(_leader("summary.top_department", "dept", report.top_departments))
        peak = max((d.alerts for d in report.days), default=0)
        busiest = [d for d in report.days if d.alerts == peak]
        if peak and len(busiest) == 1 and len(report.days) > 1:
            out.append(Sentence("summary.busiest_day", {"day": busiest[0].day, "count": peak}))
    if report.attack:
        tactics = {c.tactic for c in report.attack}
        techniques = {c.technique for c in report.attack if c.technique}
        out.append(Sentence("summary.attack", {"count": len(techniques), "tactics": len(tactics)}))
    if report.resolved_total:
        out.append(
            Sentence(
                "summary.resolution",
                {
                    "count": report.resolved_total,
                    "tp": Percent(report.tp_rate or 0.0),
                    "fp": Percent(report.fp_rate or 0.0),
                },
            )
        )
    if report.mttd_seconds is not None:
        out.append(
            Sentence(
                "summary.mttd",
                {"duration": Duration(report.mttd_seconds), "count": report.mttd_samples},
            )
        )
    excluded = report.mttd_imported + report.mttd_unknown
    if excluded:
        out.append(Sentence("summary.mttd_excluded", {"count": excluded}))
    if report.mttr_seconds is not None:
        out.append(
            Sentence(
                "summary.mttr",
                {"duration": Duration(report.mttr_seconds), "count": report.mttr_samples},
            )
        )
    out.append(
        Sentence(
            "summary.cases",
            {"count": report.cases_opened, "closed": report.cases_closed},
        )
    )
    if report.open_cases:
        out.append(Sentence("summary.open_cases", {"count": len(report.open_cases)}))
    return out


def case_summary(report: CaseReport) -> list[Sentence]:
    """The summary of a case report."""
    out: list[Sentence] = [
        Sentence(
            "case.summary.alerts",
            {"count": len(report.alerts), "events": report.events_total},
        )
    ]
    if report.first_activity is not None:
        at = report.first_activity.astimezone(zone(report.timezone))
        out.append(Sentence("case.summary.first_activity", {"at": at}))
    if report.assets:
        out.append(
            Sentence(
                "case.summary.assets",
                {"count": len(report.assets), "assets": ", ".join(report.assets[:5])},
            )
        )
    if report.departments:
        out.append(
            Sentence("case.summary.departments", {"departments": ", ".join(report.departments)})
        )
    if report.verdict:
        out.append(Sentence(f"case.summary.verdict.{report.verdict}"))
    else:
        out.append(Sentence("case.summary.no_verdict"))
    if report.closed_at is not None and report.opened_at is not None:
        out.append(
            Sentence(
                "case.summary.closed",
                {"duration": Duration((report.closed_at - report.opened_at).total_seconds())},
            )
        )
    if report.recommendations:
        out.append(Sentence("case.summary.recommendations", {"count": len(report.recommendations)}))
    return out
