"""The correlations of one run on a store that scans (the local store), in lock step: every
distinct base query is read once, as one statement streaming its events oldest first; the
streams are merged in time order and each event is handed to the correlations that use the
query (soc.detect.correlation.CorrelationEngine), which decide their windows as they go.

A base rule shared by several correlations is thus evaluated once per run and nothing of it
is kept: memory is the correlations' windows (one timespan of events per active group), not
the base rules' matches. The results are those of running each correlation alone over its
own range: a correlation is only given the events of its range, and events with the same
time and id reach it in the order of its base rules.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sigma.correlations import SigmaCorrelationRule

from soc.detect.alerts import event_time
from soc.detect.base_matches import needed_paths, project, resolver_for
from soc.detect.compile import CompiledRule
from soc.detect.correlation import CorrelationEngine, CorrelationMatch, MatchedEvent, timespan_of
from soc.store.base import QueryError, StoreError


class ScanningStore(Protocol):
    """A store that streams one query's events oldest first (the local store)."""

    def scan_rules(self, queries: Sequence[str], **kwargs: Any) -> Any:
        """(hit, matched query indexes), each query's hits oldest first."""
        ...


@dataclass
class _User:
    """One correlation reading a base query: as which base rule, and from when."""

    rule: int  # id() of the correlation
    base: int
    start: datetime | None


@dataclass
class Together:
    """What the lock-step run found: each correlation's fired windows (by id() of the rule),
    and how many statements it took."""

    matches: dict[int, list[CorrelationMatch]] = field(default_factory=dict)
    statements: int = 0


def correlate_together(
    store: ScanningStore,
    correlations: Sequence[CompiledRule],
    since: datetime | None,
    until: datetime | None,
) -> Together | None:
    """The fired windows of every correlation over ``[since, until)`` (each reads from two
    timespans before ``since``, its anchors from one), or None when the store rejected a base
    query: the caller then runs the correlations one by one, which reports the rule."""
    engines: dict[int, CorrelationEngine] = {}
    users: dict[str, list[_User]] = {}
    paths: dict[str, set[str]] = {}
    for compiled in correlations:
        corr = compiled.loaded.rule
        assert isinstance(corr, SigmaCorrelationRule)
        span = timespan_of(corr)
        start = since - 2 * span if since is not None else None
        engines[id(compiled)] = CorrelationEngine(
            corr,
            resolver_for(compiled),
            anchors_from=since - span if since is not None else None,
            anchors_until=until,
        )
        needed = needed_paths(compiled)
        for index, base in enumerate(compiled.bases):
            query = base.query or "0"
            users.setdefault(query, []).append(_User(id(compiled), index, start))
            paths.setdefault(query, set()).update(needed)
    together = Together({key: [] for key in engines}, statements=len(users))
    prepare = getattr(store, "prepare_queries", None)
    if prepare is not None:  # before any stream opens (see LocalStore.prepare_queries)
        try:
            prepare(list(users))
        except (QueryError, StoreError):
            return None
    streams = [
        _stream(store, query, _widest(readers), until, paths[query])
        for query, readers in users.items()
    ]
    try:
        merged = heapq.merge(*streams, key=lambda item: (item[1], item[0]))
        for _, same in itertools.groupby(merged, key=lambda item: (item[1], item[0])):
            deliveries: list[tuple[int, int, MatchedEvent]] = []
            for event_id, moment, doc, query in same:
                for user in users[query]:
                    if user.start is None or moment >= user.start:
                        event = MatchedEvent(event_id, moment, doc, user.base)
                        deliveries.append((user.rule, user.base, event))
            deliveries.sort(key=lambda d: (d[0], d[1]))
            for rule, _, event in deliveries:
                together.matches[rule].extend(engines[rule].push(event))
    except (QueryError, StoreError, _OutOfOrder):
        return None
    for rule, engine in engines.items():
        together.matches[rule].extend(engine.finish())
    return together


class _OutOfOrder(Exception):
    """A stream was not in time order (it never should be): the caller falls back."""


def _widest(readers: list[_User]) -> datetime | None:
    starts = [r.start for r in readers]
    return None if any(s is None for s in starts) else min(s for s in starts if s is not None)


def _stream(
    store: ScanningStore,
    query: str,
    start: datetime | None,
    end: datetime | None,
    paths: set[str],
) -> Iterator[tuple[str, datetime, dict[str, Any], str]]:
    """(id, time, the fields the correlations need, query) of the query's events, oldest
    first, an event read twice in a row once; _OutOfOrder if the store's order and the
    events' times ever disagree."""
    last: tuple[datetime, str] | None = None
    for hit, _ in store.scan_rules([query], start=start, end=end):
        moment = event_time(hit.source)
        if moment is None:
            continue
        key = (moment, hit.id)
        if last is not None and key <= last:
            if key == last:
                continue
            raise _OutOfOrder(query)
        last = key
        yield hit.id, moment, project(hit.source, paths), query
