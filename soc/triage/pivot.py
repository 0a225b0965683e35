"""Pivots: playbook searches written in Sigma detection syntax, compiled by the same compiler
as the detection rules (soc.detect.compile) for whichever store is in use, and run over a time
window around the alert."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from soc import clock, ecs
from soc.store.base import Store

#: Log source of a pivot that names none: no log-source condition, fields are ECS paths.
DEFAULT_LOGSOURCE = {"product": "citysoc"}
DEFAULT_BEFORE = timedelta(hours=1)
DEFAULT_AFTER = timedelta(hours=1)
#: How many distinct values a stats step counts exactly.
DISTINCT_CAP = 10_000

_TEMPLATE = re.compile(r"\$\{[^{}]*\}")


class PivotError(ValueError):
    """A pivot cannot be compiled for this store (the message says why)."""


def _sigma_rule(detection: Mapping[str, Any], logsource: Mapping[str, Any]) -> Any:
    from sigma.rule import SigmaRule

    doc = {
        "title": "triage pivot",
        "status": "experimental",
        "logsource": dict(logsource) or dict(DEFAULT_LOGSOURCE),
        "detection": dict(detection),
    }
    return doc, SigmaRule.from_dict(doc)


def compile_pivot(
    detection: Mapping[str, Any], logsource: Mapping[str, Any], store_kind: str
) -> str:
    """The store-native query (SQL condition or Lucene query_string) for a Sigma detection
    whose templates are already filled in; raises PivotError with the compiler's reason."""
    from sigma.exceptions import SigmaError

    from soc.detect.compile import compile_rule
    from soc.detect.loader import LoadedRule
    from soc.detect.rule_cache import target_for

    try:
        doc, rule = _sigma_rule(detection, logsource)
    except SigmaError as exc:
        raise PivotError(" ".join(str(exc).split())) from None
    except Exception as exc:  # pySigma raises plain errors on some malformed input
        raise PivotError(" ".join(str(exc).split()) or type(exc).__name__) from None
    compiled = compile_rule(
        LoadedRule(rule=rule, raw=doc, path=Path("<pivot>")), target_for(store_kind)
    )
    if not compiled.runnable or not compiled.query:
        raise PivotError(compiled.error or "the pivot cannot be converted for this store")
    return compiled.query


def check_detection(detection: Mapping[str, Any], logsource: Mapping[str, Any]) -> str | None:
    """Why a pivot's detection cannot compile (templates replaced by a placeholder), or None."""
    filled = _placeholders(detection)
    try:
        compile_pivot(filled, logsource, "local")
    except PivotError as exc:
        return f"not a valid Sigma detection: {exc}"
    return None


def _placeholders(value: Any) -> Any:
    if isinstance(value, str):
        return _TEMPLATE.sub("placeholder", value)
    if isinstance(value, list):
        return [_placeholders(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _placeholders(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Window:
    """The time range a pivot searches: ``start <= @timestamp < end``."""

    start: datetime
    end: datetime

    def as_dict(self) -> dict[str, str]:
        return {"start": ecs.format_timestamp(self.start), "end": ecs.format_timestamp(self.end)}


def alert_window(alert: Mapping[str, Any], before: timedelta, after: timedelta) -> Window:
    """From ``before`` ahead of the alert's first event to ``after`` past its last one."""
    now = clock.now()
    first = _time(alert.get("first_seen")) or _time(alert.get("created")) or now
    last = _time(alert.get("last_seen")) or first
    # the end is exclusive: include the last event itself
    return Window(first - before, last + after + timedelta(microseconds=1))


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return ecs.parse_timestamp(value)
    except ValueError:
        return None


@dataclass
class SearchResult:
    """What a search pivot found: the total, the first ``limit`` events (chosen fields)."""

    query: str
    window: Window
    count: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    def fact(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "events": self.rows,
            "ids": self.ids,
            "first": self.rows[0].get("@timestamp") if self.rows else None,
            "last": self.rows[-1].get("@timestamp") if self.rows else None,
        }


@dataclass
class StatsResult:
    """What a stats pivot found: total events, distinct value combinations, the top ones."""

    query: str
    window: Window
    by: list[str]
    count: int
    distinct: int
    top: list[dict[str, Any]] = field(default_factory=list)
    capped: bool = False

    def fact(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "distinct": self.distinct,
            "top": self.top,
            "values": [t["value"] for t in self.top],
        }


def run_search(
    store: Store, query: str, window: Window, fields: Sequence[str], limit: int
) -> SearchResult:
    """Count the events a pivot query matches in the window and fetch the first ``limit``
    (only ``fields`` of each, all flattened fields when none are named)."""
    total = store.count(query, start=window.start, end=window.end)
    page = store.search(query, start=window.start, end=window.end, size=limit)
    rows: list[dict[str, Any]] = []
    for hit in page.hits:
        if fields:
            rows.append({f: ecs.get_field(hit.source, f) for f in fields})
        else:
            rows.append(ecs.flatten(hit.source))
    return SearchResult(query, window, total, rows, [h.id for h in page.hits])


def run_stats(store: Store, query: str, window: Window, by: Sequence[str], top: int) -> StatsResult:
    """Totals and the top value combinations of ``by`` among the events a pivot matches."""
    total = store.count(query, start=window.start, end=window.end)
    buckets = store.terms(list(by), query, start=window.start, end=window.end, size=DISTINCT_CAP)
    rows = [
        {"value": b.key[0] if len(b.key) == 1 else list(b.key), "count": b.count}
        for b in buckets[:top]
    ]
    return StatsResult(
        query, window, list(by), total, len(buckets), rows, capped=len(buckets) >= DISTINCT_CAP
    )
