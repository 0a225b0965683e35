"""A case timeline a reader can follow: repeated events grouped, analysts' entries rendered
in the report's language from their kind and values.

Events of a case that share what happened (source, action, outcome, from where to where)
become one row: how many, first and last time, and the distinct values that varied (users
tried, ports, URLs...). The raw events stay available to the appendix and the CSV export.

Timeline entries written by triage and case commands carry an English ``summary`` for the
console and a ``detail`` with their values; reports render them from kind and detail with
catalogue sentences, so a Vietnamese report reads Vietnamese. Values from logs and from
analysts (addresses, user names, rule titles, free notes) are shown as recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from soc import ecs
from soc.i18n import has, t

#: Fields that make two events "the same thing happening" (with equal values).
GROUP_FIELDS = (
    "event.dataset",
    "event.action",
    "event.outcome",
    "source.ip",
    "destination.ip",
    "host.name",
    "dns.question.type",
)
#: Fields whose distinct values a group lists (what the repeated attempts varied).
DISTINCT_FIELDS = (
    "user.name",
    "destination.port",
    "http.request.method",
    "url.original",
    "http.response.status_code",
    "dns.question.name",
    "process.command_line",
)
#: How many distinct values of one field a group row lists.
DISTINCT_SHOWN = 8
#: A pause longer than this between alike events starts a new row.
GROUP_GAP = timedelta(minutes=30)
#: Values longer than this are cut in a group row.
VALUE_LONGEST = 80


@dataclass
class EventGroup:
    """Events of a case that share GROUP_FIELDS: count, time span and varied values."""

    key: dict[str, str]
    count: int = 0
    first: datetime | None = None
    last: datetime | None = None
    distinct: dict[str, list[str]] = field(default_factory=dict)
    more: dict[str, int] = field(default_factory=dict)  # distinct values not listed

    def add(self, event: Mapping[str, Any], at: datetime | None) -> None:
        """Count one more event of the group."""
        self.count += 1
        if at is not None:
            self.first = at if self.first is None or at < self.first else self.first
            self.last = at if self.last is None or at > self.last else self.last
        for name in DISTINCT_FIELDS:
            value = ecs.get_field(event, name)
            if value in (None, "", []):
                continue
            text = str(value)
            if len(text) > VALUE_LONGEST:
                text = text[: VALUE_LONGEST - 1] + "…"
            seen = self.distinct.setdefault(name, [])
            if text in seen:
                continue
            if len(seen) < DISTINCT_SHOWN:
                seen.append(text)
            else:
                self.more[name] = self.more.get(name, 0) + 1

    def as_detail(self) -> dict[str, Any]:
        """The group as a timeline entry's detail (plain values, comparable across stores)."""
        return {
            "count": self.count,
            "last": ecs.format_timestamp(self.last) if self.last else None,
            "key": dict(self.key),
            "distinct": {k: list(v) for k, v in self.distinct.items()},
            "more": dict(self.more),
        }


def group_events(
    events: list[tuple[datetime | None, Mapping[str, Any]]],
) -> list[EventGroup]:
    """Group events (time, document) by GROUP_FIELDS into runs: an event joins the open
    group of its kind unless more than GROUP_GAP passed since that group's last event (a
    burst the next day is a new row). Groups come in order of their first event."""
    done: list[EventGroup] = []
    open_groups: dict[tuple[str, ...], EventGroup] = {}
    ordered = sorted(events, key=lambda e: (e[0] is None, e[0] or datetime.min.replace(tzinfo=UTC)))
    for at, event in ordered:
        values = tuple(str(ecs.get_field(event, name) or "") for name in GROUP_FIELDS)
        group = open_groups.get(values)
        if group is not None and at and group.last and at - group.last > GROUP_GAP:
            group = None
        if group is None:
            key = {n: v for n, v in zip(GROUP_FIELDS, values, strict=True) if v}
            group = open_groups[values] = EventGroup(key)
            done.append(group)
        group.add(event, at)
    return done


# --- rendering ---------------------------------------------------------------------------------

When = Callable[[datetime | None], str]


def _values(detail: Mapping[str, Any], lang: str) -> str:
    parts = []
    for name, values in (detail.get("distinct") or {}).items():
        label = t(f"distinct.{name}", lang) if has(f"distinct.{name}", lang) else name
        listed = ", ".join(str(v) for v in values)
        more = (detail.get("more") or {}).get(name)
        if more:
            listed += " " + t("timeline.more", lang, count=more)
        parts.append(f"{label}: {listed}")
    return "; ".join(parts)


def _group_text(detail: Mapping[str, Any], lang: str, when: When) -> str:
    key = detail.get("key") or {}
    what = " ".join(f"{k}={v}" for k, v in key.items())
    count = int(detail.get("count") or 1)
    varied = _values(detail, lang)
    if count == 1:
        return " ".join(p for p in (what, varied) if p)
    text = t(
        "timeline.events.group",
        lang,
        count=count,
        last=when(ecs.parse_timestamp(detail["last"]) if detail.get("last") else None),
        what=what,
    )
    return f"{text}; {varied}" if varied else text


def _word(prefix: str, value: Any, lang: str) -> str:
    """A known value (verdict, level, status, yes/no...) in ``lang``; others as recorded."""
    key = f"{prefix}.{value}"
    return t(key, lang) if value is not None and has(key, lang) else str(value or "—")


def in_lang(texts: Any, lang: str, fallback: str) -> str:
    """The variant of a multilingual text (``{"en": ..., "vi": ...}``) for ``lang``, else
    ``fallback`` (the text as recorded)."""
    if isinstance(texts, Mapping) and texts.get(lang):
        return str(texts[lang])
    return fallback


def render_entry(kind: str, summary: str, detail: Mapping[str, Any], lang: str, when: When) -> str:
    """The text of one timeline entry in ``lang``, from its kind and detail (step titles and
    prompts in the languages the playbook wrote them in); the recorded summary only for an
    entry whose values are not known (an analyst's own words)."""
    title = in_lang(detail.get("titles"), lang, str(detail.get("step") or ""))
    if kind == "events":
        return _group_text(detail, lang, when)
    if kind == "alert" and "alert_id" in detail:
        return t(
            "timeline.alert.added",
            lang,
            title=detail.get("rule_title") or detail.get("rule_id") or detail["alert_id"],
            level=_word("level", detail.get("level"), lang),
            count=int(detail.get("count") or 0),
        )
    if kind == "alert" and "title" in detail:
        return t(
            "timeline.alert.raised",
            lang,
            title=detail.get("title") or "",
            level=_word("level", detail.get("level"), lang),
            count=int(detail.get("count") or 0),
        )
    if kind == "pivot" and "count" in detail:
        return t("timeline.pivot.found", lang, step=title, count=int(detail["count"]))
    if kind == "stats" and "distinct" in detail:
        by = "+".join(str(b) for b in detail.get("by") or [])
        return t(
            "timeline.stats.found",
            lang,
            step=title,
            distinct=int(detail["distinct"]),
            by=by,
        )
    if kind == "enrich" and "values" in detail:
        lists = ", ".join(str(x) for x in detail.get("ioc_lists") or []) or "—"
        assets = ", ".join(str(x) for x in detail.get("assets") or []) or "—"
        return t("timeline.enrich.found", lang, step=title, lists=lists, assets=assets)
    if kind == "answer" and "question" in detail:
        prompt = in_lang(detail.get("prompts"), lang, str(detail["question"]))
        return t(
            "timeline.answer.given",
            lang,
            question=prompt,
            answer=_word("answer", detail.get("answer"), lang),
        )
    if kind == "action" and "verdict" in detail:
        return t(
            "timeline.decision",
            lang,
            verdict=_word("resolution", detail.get("verdict"), lang),
            severity=_word("level", detail.get("severity"), lang),
        )
    if kind == "action" and "target" in detail and "kind" in detail:
        return t(
            "timeline.recommended",
            lang,
            what=_word("rec", detail.get("kind"), lang),
            target=detail.get("target") or "—",
        )
    if kind == "action" and "action" in detail:
        action, value = str(detail["action"]), detail.get("value")
        if action == "status" and value:
            value = _word("status", value, lang)
        key = f"timeline.action.{action}"
        if has(key, lang):
            return t(key, lang, value=value or "—")
        return t("timeline.action.other", lang, action=action)
    if kind == "status" and "playbook" in detail:
        return t("timeline.triage.started", lang, playbook=detail["playbook"])
    if kind == "status" and (detail.get("opened") or summary.startswith("case opened: ")):
        recorded = summary.removeprefix("case opened: ")
        return t("timeline.case.opened", lang, title=in_lang(detail.get("titles"), lang, recorded))
    if kind == "status" and (detail.get("closed") or summary.startswith("case closed: ")):
        verdict = detail.get("verdict") or summary.removeprefix("case closed: ")
        return t("timeline.case.closed", lang, verdict=_word("resolution", verdict, lang))
    if kind == "note":
        return in_lang(detail.get("texts"), lang, summary)
    if kind == "status" and summary in ("closed", "open", "in_progress", "escalated", "new"):
        return t("timeline.status.now", lang, status=_word("status", summary, lang))
    return summary
