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
import heapq
import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
    """The windows of ``rule`` that fire over ``events`` (all base rules' matches, in any
    order): correlate_stream over the events sorted by (time, id)."""
    ordered = sorted(events, key=lambda e: e.key)
    return list(
        correlate_stream(
            rule, ordered, field_resolver, anchors_from=anchors_from, anchors_until=anchors_until
        )
    )


def correlate_stream(
    rule: SigmaCorrelationRule,
    events: Iterable[MatchedEvent],
    field_resolver: Callable[[int, str], list[str]],
    *,
    anchors_from: datetime | None = None,
    anchors_until: datetime | None = None,
) -> Iterator[CorrelationMatch]:
    """The windows of ``rule`` that fire over ``events``, which must come oldest first (by
    time, then id: the order the stores return), as soon as each is decided (see
    CorrelationEngine, which this feeds)."""
    engine = CorrelationEngine(
        rule, field_resolver, anchors_from=anchors_from, anchors_until=anchors_until
    )
    for event in events:
        yield from engine.push(event)
    yield from engine.finish()


class CorrelationEngine:
    """The windows of one correlation rule over its base rules' events, pushed one at a time
    oldest first (by time, then id); ``push`` and ``finish`` return the windows that fire as
    soon as each is decided.

    ``field_resolver(base_index, sigma_field)`` gives the ECS paths of a Sigma field for the
    events of one base rule (the pipeline's mapping; aliases are applied here first). Only
    anchors in ``[anchors_from, anchors_until)`` are reported. Events lacking a group-by
    field are left out (they belong to no group).

    Memory: each group keeps the events from its oldest undecided anchor on, i.e. within
    one timespan of the newest event pushed, and a group with none left is forgotten once its
    last firing is a timespan old. An anchor is decided when an event one timespan after it
    has been pushed (of any group: the input is in time order), or at the end."""

    def __init__(
        self,
        rule: SigmaCorrelationRule,
        field_resolver: Callable[[int, str], list[str]],
        *,
        anchors_from: datetime | None = None,
        anchors_until: datetime | None = None,
    ) -> None:
        self.rule = rule
        self.resolver = field_resolver
        self.anchors_from = anchors_from
        self.anchors_until = anchors_until
        self.group_by = [str(g) for g in rule.group_by or []]
        self.aliases = _aliases(rule)
        self.span = timespan_of(rule)
        self.counted = _counted_fields(rule)
        self.windows: dict[tuple[Any, ...], _Window] = {}
        self.deadlines: list[tuple[datetime, int, tuple[Any, ...]]] = []  # (when, n, group)
        self.tickets = itertools.count()

    def value_of(self, event: MatchedEvent, name: str) -> Any:
        """The event's value of a (possibly aliased) group or count field."""
        actual = self.aliases.get(name, {}).get(event.base, name)
        for path in self.resolver(event.base, actual):
            value = ecs.get_field(event.doc, path)
            if value is not None and value != "":
                return _hashable(value)
        return None

    def push(self, event: MatchedEvent) -> list[CorrelationMatch]:
        """Take the next event (none older may follow); the windows decided by it."""
        fired = self._decide(event.time)
        key = tuple(self.value_of(event, g) for g in self.group_by)
        if any(k is None for k in key):
            return fired
        window = self.windows.get(key)
        if window is None:
            group = dict(zip(self.group_by, key, strict=True))
            window = self.windows[key] = _Window(self.rule, group, self.span)
        if window.add(event, _item(self.rule.type, event, self.counted, self.value_of)):
            self._schedule(key, window, event.time + self.span)
        return fired

    def finish(self) -> list[CorrelationMatch]:
        """The windows still undecided that fire (no more events)."""
        return self._decide(None)

    def _schedule(self, key: tuple[Any, ...], window: _Window, when: datetime) -> None:
        window.due = when  # an older entry of the group is stale from now on
        heapq.heappush(self.deadlines, (when, next(self.tickets), key))

    def _decide(self, until: datetime | None) -> list[CorrelationMatch]:
        """Decide every anchor whose window ends at or before ``until`` (all: None)."""
        fired: list[CorrelationMatch] = []
        deadlines = self.deadlines
        while deadlines and (until is None or deadlines[0][0] <= until):
            when, _, key = heapq.heappop(deadlines)
            window = self.windows.get(key)
            if window is None or window.due != when:
                continue
            fired.extend(window.decide(until, self.anchors_from, self.anchors_until))
            if window.events:
                self._schedule(key, window, window.events[0].time + self.span)
            elif until is None or window.forgettable(until):
                del self.windows[key]
            else:
                assert window.last_satisfied is not None
                self._schedule(key, window, window.last_satisfied + self.span)
        return fired


def _counted_fields(rule: SigmaCorrelationRule) -> list[str] | None:
    """The fields a value_count counts (None for the other types)."""
    if rule.type != SigmaCorrelationType.VALUE_COUNT:
        return None
    fields = rule.condition.fieldref
    return [str(n) for n in (fields if isinstance(fields, list) else [fields])]


_ABSENT = object()


def _item(
    ctype: SigmaCorrelationType,
    event: MatchedEvent,
    counted: list[str] | None,
    value_of: Callable[[MatchedEvent, str], Any],
) -> Any:
    """What an event adds to a window's tally: its counted values (value_count; absent when
    one is missing), its base rule (temporal), nothing else for event_count."""
    if ctype == SigmaCorrelationType.VALUE_COUNT and counted is not None:
        values = tuple(value_of(event, n) for n in counted)
        return _ABSENT if any(v is None for v in values) else values
    if ctype == SigmaCorrelationType.TEMPORAL:
        return event.base
    return _ABSENT


class _Window:
    """One group's sliding window: the events from the oldest undecided anchor on, how many
    of them are in that anchor's window (``entered``) with their tally, and the time of the
    last anchor that satisfied the condition (an anchor fires when it satisfies it and no
    anchor less than one timespan before it did: one alert per burst).

    Each event enters and leaves the tally once, so a group costs O(n) after the input's
    order, even for a burst; temporal_ordered finds each next step by bisection in per-base
    position lists (O(log n) a step)."""

    def __init__(self, rule: SigmaCorrelationRule, group: dict[str, Any], span: timedelta):
        self.rule = rule
        self.group = group
        self.span = span
        self.events: deque[MatchedEvent] = deque()
        self.items: deque[Any] = deque()
        self.entered = 0
        self.tally: dict[Any, int] = {}
        self.last_satisfied: datetime | None = None
        self.due: datetime | None = None  # when the group's deadline entry falls
        self.n_bases = len(rule.referenced_rules)
        self.ordered = rule.type == SigmaCorrelationType.TEMPORAL_ORDERED
        self.first_seq = 0  # sequence number of events[0]
        self.positions: list[list[int]] = [[] for _ in range(self.n_bases)]
        self.position_start = [0] * self.n_bases

    def add(self, event: MatchedEvent, item: Any) -> bool:
        """Take the group's next event; True when it became the oldest undecided anchor."""
        if self.ordered and 0 <= event.base < self.n_bases:
            self.positions[event.base].append(self.first_seq + len(self.events))
        self.events.append(event)
        self.items.append(item)
        return len(self.events) == 1

    def forgettable(self, now: datetime) -> bool:
        """True when no anchor to come can be held back by this group's past firings."""
        return self.last_satisfied is None or self.last_satisfied + self.span <= now

    def decide(
        self, until: datetime | None, anchors_from: datetime | None, anchors_until: datetime | None
    ) -> Iterator[CorrelationMatch]:
        """Decide the anchors whose windows end at or before ``until`` (all: None)."""
        span = self.span
        while self.events:
            anchor = self.events[0]
            limit = anchor.time + span
            if until is not None and limit > until:
                return
            while self.entered < len(self.events) and self.events[self.entered].time < limit:
                _enter(self.tally, self.items[self.entered])
                self.entered += 1
            value, satisfied = self._measure(anchor)
            held = self.last_satisfied is not None and self.last_satisfied > anchor.time - span
            if satisfied and not held:
                in_range = (anchors_from is None or anchor.time >= anchors_from) and (
                    anchors_until is None or anchor.time < anchors_until
                )
                if in_range:
                    chunk = self._chunk()
                    yield CorrelationMatch(
                        group=self.group, anchor=anchor, events=chunk, value=value
                    )
            if satisfied:
                self.last_satisfied = anchor.time
            self._drop_front()

    def _measure(self, anchor: MatchedEvent) -> tuple[int, bool]:
        """The anchor's count and whether it satisfies the condition."""
        rule = self.rule
        ctype = rule.type
        if self.ordered:
            if anchor.base != 0:
                return 0, False
            step = self._ordered_steps()
            return step, step == self.n_bases
        value = self.entered if ctype == SigmaCorrelationType.EVENT_COUNT else len(self.tally)
        if ctype == SigmaCorrelationType.TEMPORAL and rule.condition is None:
            return value, value >= self.n_bases
        return value, _compare(rule.condition.op, value, rule.condition.count)

    def _ordered_steps(self) -> int:
        """How many base rules, in order, the anchor's window shows after its anchor (base 0
        first): each next base is its earliest event after the previous step."""
        end = self.first_seq + self.entered
        step, at = 1, self.first_seq
        while step < self.n_bases:
            found = self.positions[step]
            k = bisect.bisect_right(found, at, self.position_start[step])
            if k >= len(found) or found[k] >= end:
                break
            at = found[k]
            step += 1
        return step

    def _chunk(self) -> list[MatchedEvent]:
        """The events an alert of the anchor's window carries."""
        window = list(itertools.islice(self.events, 0, self.entered))
        if not self.ordered:
            return window
        chain: list[MatchedEvent] = []
        step = 0
        for e in window:
            if step < self.n_bases and e.base == step:
                chain.append(e)
                step += 1
        return chain

    def _drop_front(self) -> None:
        event = self.events.popleft()
        item = self.items.popleft()
        if self.entered:
            _leave(self.tally, item)
            self.entered -= 1
        self.first_seq += 1
        if self.ordered and 0 <= event.base < self.n_bases:
            base = event.base
            self.position_start[base] += 1
            if self.position_start[base] > 1024 and self.position_start[base] * 2 > len(
                self.positions[base]
            ):
                del self.positions[base][: self.position_start[base]]
                self.position_start[base] = 0


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
