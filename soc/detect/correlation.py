"""Sigma correlations (event_count, value_count, temporal, temporal_ordered) with exact
sliding windows, computed in Python over the base rules' matched events.

The same code runs for both stores, which gives parity by construction. A window is anchored
at an event and spans ``[t, t + timespan)``; every event is a candidate anchor, so an attack
that straddles a fixed bucket boundary is found.

One alert per burst: an anchor fires when its window satisfies the condition and no earlier
anchor less than one timespan before it does. That decision depends only on events within
one timespan either side of the anchor, so a scheduled run that starts anywhere (given events
from two timespans before its window) fires the same alerts with the same anchors, and the
deterministic alert ids (rule, group key, anchor event id) make repeats no-ops.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sigma.correlations import (
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
)

from soc import ecs


@dataclass(frozen=True)
class MatchedEvent:
    """An event matched by one base rule of a correlation."""

    id: str
    time: datetime
    doc: Mapping[str, Any]
    base: int  # index of the base rule in the correlation

    @property
    def key(self) -> tuple[datetime, str]:
        """The sort key of events: time, then id."""
        return (self.time, self.id)


@dataclass
class CorrelationMatch:
    """One fired window: its group, anchor and the events that made it."""

    group: dict[str, Any]
    anchor: MatchedEvent
    events: list[MatchedEvent] = field(default_factory=list)
    value: int = 0  # the count or distinct count that satisfied the condition

    @property
    def first_seen(self) -> datetime:
        """Time of the window's first event."""
        return self.anchor.time

    @property
    def last_seen(self) -> datetime:
        """Time of the window's last event."""
        return max(e.time for e in self.events)


_OPS: dict[SigmaCorrelationConditionOperator, Callable[[int, int], bool]] = {
    SigmaCorrelationConditionOperator.LT: lambda a, b: a < b,
    SigmaCorrelationConditionOperator.LTE: lambda a, b: a <= b,
    SigmaCorrelationConditionOperator.GT: lambda a, b: a > b,
    SigmaCorrelationConditionOperator.GTE: lambda a, b: a >= b,
    SigmaCorrelationConditionOperator.EQ: lambda a, b: a == b,
}


def _compare(op: SigmaCorrelationConditionOperator, value: int, count: int) -> bool:
    fn = _OPS.get(op)
    if fn is None:  # NEQ and anything newer
        return value != count
    return fn(value, count)


def timespan_of(rule: SigmaCorrelationRule) -> timedelta:
    """The correlation's timespan."""
    return timedelta(seconds=rule.timespan.seconds)


def correlate(
    rule: SigmaCorrelationRule,
    events: Sequence[MatchedEvent],
    field_resolver: Callable[[int, str], list[str]],
    *,
    anchors_from: datetime | None = None,
    anchors_until: datetime | None = None,
) -> list[CorrelationMatch]:
    """The windows of ``rule`` that fire over ``events`` (all base rules' matches).

    ``field_resolver(base_index, sigma_field)`` gives the ECS paths of a Sigma field for the
    events of one base rule (the pipeline's mapping; aliases are applied here first). Only
    anchors in ``[anchors_from, anchors_until)`` are reported. Events lacking a group-by
    field are left out (they belong to no group).
    """
    group_by = list(rule.group_by or [])
    aliases = _aliases(rule)
    span = timespan_of(rule)

    def value_of(event: MatchedEvent, name: str) -> Any:
        """The event's value of a (possibly aliased) group or count field."""
        actual = aliases.get(name, {}).get(event.base, name)
        for path in field_resolver(event.base, actual):
            value = ecs.get_field(event.doc, path)
            if value is not None and value != "":
                return _hashable(value)
        return None

    groups: dict[tuple[Any, ...], list[MatchedEvent]] = {}
    for event in events:
        key = tuple(value_of(event, g) for g in group_by)
        if any(k is None for k in key):
            continue
        groups.setdefault(key, []).append(event)

    matches: list[CorrelationMatch] = []
    for key, members in sorted(groups.items(), key=lambda kv: str(kv[0])):
        members.sort(key=lambda e: e.key)
        times = [e.time for e in members]
        group = dict(zip(group_by, key, strict=True))

        satisfied: list[bool] = []
        results: list[tuple[list[MatchedEvent], int]] = []
        for i in range(len(members)):
            hi = bisect.bisect_left(times, times[i] + span)
            ok, chunk, value = _evaluate(rule, members, i, hi, value_of)
            satisfied.append(ok)
            results.append((chunk, value))
        for i, member in enumerate(members):
            if not satisfied[i]:
                continue
            earliest = bisect.bisect_right(times, times[i] - span)
            if any(satisfied[j] for j in range(earliest, i)):
                continue
            if anchors_from is not None and member.time < anchors_from:
                continue
            if anchors_until is not None and member.time >= anchors_until:
                continue
            chunk, value = results[i]
            matches.append(CorrelationMatch(group=group, anchor=member, events=chunk, value=value))
    return matches


def _aliases(rule: SigmaCorrelationRule) -> dict[str, dict[int, str]]:
    """alias name -> {base index: field name of that base rule}."""
    result: dict[str, dict[int, str]] = {}
    refs = [str(r.reference) for r in rule.referenced_rules]
    names: list[set[str]] = []
    for ref in rule.referenced_rules:
        target = ref.rule
        known = {str(ref.reference)}
        if getattr(target, "id", None) is not None:
            known.add(str(target.id))
        if getattr(target, "name", None):
            known.add(str(target.name))
        names.append(known)
    for alias in rule.aliases or []:
        per_base: dict[int, str] = {}
        for ref, fieldname in alias.mapping.items():
            wanted = str(ref.reference)
            for index, known in enumerate(names):
                if wanted in known or wanted == refs[index]:
                    per_base[index] = fieldname
        result[alias.alias] = per_base
    return result


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


def _evaluate(
    rule: SigmaCorrelationRule,
    members: list[MatchedEvent],
    i: int,
    hi: int,
    value_of: Callable[[MatchedEvent, str], Any],
) -> tuple[bool, list[MatchedEvent], int]:
    """Whether the window of members[i:hi] (anchored at i) satisfies the correlation, the
    events that make it, and the counted value."""
    ctype = rule.type
    condition = rule.condition
    n_bases = len(rule.referenced_rules)
    chunk = members[i:hi]
    if ctype == SigmaCorrelationType.EVENT_COUNT:
        value = len(chunk)
        return _compare(condition.op, value, condition.count), chunk, value
    if ctype == SigmaCorrelationType.VALUE_COUNT:
        fields = condition.fieldref
        names = [str(n) for n in (fields if isinstance(fields, list) else [fields])]
        distinct = set()
        for e in chunk:
            values = tuple(value_of(e, n) for n in names)
            if all(v is not None for v in values):
                distinct.add(values)
        value = len(distinct)
        return _compare(condition.op, value, condition.count), chunk, value
    if ctype == SigmaCorrelationType.TEMPORAL:
        value = len({e.base for e in chunk})
        if condition is None:
            return value >= n_bases, chunk, value
        return _compare(condition.op, value, condition.count), chunk, value
    if ctype == SigmaCorrelationType.TEMPORAL_ORDERED:
        if members[i].base != 0:
            return False, [], 0
        chain: list[MatchedEvent] = []
        step = 0
        for e in chunk:
            if step < n_bases and e.base == step:
                chain.append(e)
                step += 1
        return step == n_bases, chain, step
    return False, [], 0
