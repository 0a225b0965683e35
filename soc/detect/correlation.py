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


@dataclass(frozen=True, slots=True)
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

    counted = _counted_fields(rule)
    matches: list[CorrelationMatch] = []
    for key, members in sorted(groups.items(), key=lambda kv: str(kv[0])):
        members.sort(key=lambda e: e.key)
        group = dict(zip(group_by, key, strict=True))
        values = None
        if counted is not None:
            values = [tuple(value_of(e, n) for n in counted) for e in members]
        for anchor, hi, value in _fired(rule, members, span, values):
            member = members[anchor]
            if anchors_from is not None and member.time < anchors_from:
                continue
            if anchors_until is not None and member.time >= anchors_until:
                continue
            chunk = _chunk(rule, members, anchor, hi)
            matches.append(CorrelationMatch(group=group, anchor=member, events=chunk, value=value))
    return matches


def _counted_fields(rule: SigmaCorrelationRule) -> list[str] | None:
    """The fields a value_count counts (None for the other types)."""
    if rule.type != SigmaCorrelationType.VALUE_COUNT:
        return None
    fields = rule.condition.fieldref
    return [str(n) for n in (fields if isinstance(fields, list) else [fields])]


def _fired(
    rule: SigmaCorrelationRule,
    members: list[MatchedEvent],
    span: timedelta,
    values: list[tuple[Any, ...]] | None,
) -> list[tuple[int, int, int]]:
    """The anchors of one group that fire, as (anchor index, window end index, value).

    One sweep: the window ``[t_i, t_i + span)`` of each anchor i ends at ``hi``, which only
    moves forward, and its count (events, distinct values, distinct base rules) is kept up to
    date as events enter and leave, so a group costs O(n) after its O(n log n) sort, even for
    a burst. An anchor fires when its window satisfies the condition and no anchor less than
    one span earlier does (a prefix count of satisfied anchors answers that in O(1))."""
    n = len(members)
    times = [e.time for e in members]
    satisfied = [False] * n
    measured = [0] * n
    ctype = rule.type
    condition = rule.condition
    n_bases = len(rule.referenced_rules)
    if ctype == SigmaCorrelationType.TEMPORAL_ORDERED:
        positions: list[list[int]] = [[] for _ in range(n_bases)]
        for index, e in enumerate(members):
            if 0 <= e.base < n_bases:
                positions[e.base].append(index)
        for i in range(n):
            if members[i].base != 0:
                continue
            hi = bisect.bisect_left(times, times[i] + span, i)
            step = _ordered_steps(positions, i, hi, n_bases)
            measured[i] = step
            satisfied[i] = step == n_bases
    else:
        tally: dict[Any, int] = {}
        hi = 0
        for i in range(n):
            limit = times[i] + span
            hi = max(hi, i)
            while hi < n and times[hi] < limit:
                _enter(tally, _item(ctype, members[hi], values, hi))
                hi += 1
            value = hi - i if ctype == SigmaCorrelationType.EVENT_COUNT else len(tally)
            measured[i] = value
            if ctype == SigmaCorrelationType.TEMPORAL and condition is None:
                satisfied[i] = value >= n_bases
            else:
                satisfied[i] = _compare(condition.op, value, condition.count)
            if hi > i:
                _leave(tally, _item(ctype, members[i], values, i))
    prefix = [0]
    for flag in satisfied:
        prefix.append(prefix[-1] + flag)
    fired: list[tuple[int, int, int]] = []
    for i in range(n):
        if not satisfied[i]:
            continue
        earliest = bisect.bisect_right(times, times[i] - span, 0, i)
        if prefix[i] - prefix[earliest]:
            continue
        fired.append((i, bisect.bisect_left(times, times[i] + span, i), measured[i]))
    return fired


_ABSENT = object()


def _item(
    ctype: SigmaCorrelationType,
    event: MatchedEvent,
    values: list[tuple[Any, ...]] | None,
    index: int,
) -> Any:
    """What an event adds to a window's tally: its counted values (value_count; absent when
    one is missing), its base rule (temporal), nothing else for event_count."""
    if ctype == SigmaCorrelationType.VALUE_COUNT and values is not None:
        counted = values[index]
        return _ABSENT if any(v is None for v in counted) else counted
    if ctype == SigmaCorrelationType.TEMPORAL:
        return event.base
    return _ABSENT


def _enter(tally: dict[Any, int], item: Any) -> None:
    if item is not _ABSENT:
        tally[item] = tally.get(item, 0) + 1


def _leave(tally: dict[Any, int], item: Any) -> None:
    if item is _ABSENT:
        return
    left = tally[item] - 1
    if left:
        tally[item] = left
    else:
        del tally[item]


def _ordered_steps(positions: list[list[int]], i: int, hi: int, n_bases: int) -> int:
    """How many base rules, in order, the window members[i:hi] shows after its anchor (base
    0 at i): each next base is its earliest event after the previous step."""
    step, at = 1, i
    while step < n_bases:
        candidates = positions[step]
        k = bisect.bisect_right(candidates, at)
        if k >= len(candidates) or candidates[k] >= hi:
            break
        at = candidates[k]
        step += 1
    return step


def _chunk(
    rule: SigmaCorrelationRule, members: list[MatchedEvent], i: int, hi: int
) -> list[MatchedEvent]:
    """The events an alert of the window anchored at i carries."""
    if rule.type != SigmaCorrelationType.TEMPORAL_ORDERED:
        return members[i:hi]
    chain: list[MatchedEvent] = []
    step = 0
    n_bases = len(rule.referenced_rules)
    for e in members[i:hi]:
        if step < n_bases and e.base == step:
            chain.append(e)
            step += 1
    return chain


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
