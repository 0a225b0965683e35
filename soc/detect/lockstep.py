"""The correlations of one run, in lock step: every distinct base query is read once,
streaming its events oldest first (on the local store one statement; on Elasticsearch the
paged searches of soc.detect.es_correlate, a ``StreamSource``); the streams are merged in
time order and each event is handed to the correlations that use the query
(soc.detect.correlation.CorrelationEngine), which decide their windows as they go.

A base rule shared by several correlations is thus evaluated once per run and nothing of it
is kept: memory is the correlations' windows (one timespan of events per active group), not
the base rules' matches. The results are those of running each correlation alone over its
own range: a correlation is only given the events of its range, and events with the same
time and id reach it in the order of its base rules.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator, Sequence
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

    compiled: CompiledRule
    base: int
    start: datetime | None

    @property
    def rule(self) -> int:
        """id() of the correlation."""
        return id(self.compiled)


@dataclass
class BaseQuery:
    """One base query of the run's correlations: who reads it (correlation, base index),
    from when at the earliest (None: from the first event) and the fields they need."""

    query: str
    users: list[tuple[CompiledRule, int]]
    start: datetime | None
    paths: set[str]


#: One stream's items: (event id, event time, the fields needed, base query), oldest first.
StreamItem = tuple[str, datetime, dict[str, Any], str]


class StreamSource(Protocol):
    """Opens the streams of the base queries on a store that does not scan (Elasticsearch)."""

    def open_streams(
        self, bases: Sequence[BaseQuery], end: datetime | None
    ) -> list[Iterator[StreamItem]]:
        """One stream per base query, in order: its events in ``[start, end)`` that the
        correlations may need, (time, id) order; may raise QueryError or StoreError."""
        ...


@dataclass
class Together:
    """What the lock-step run found: each correlation's fired windows (by id() of the rule),
    and how many statements it took."""

    matches: dict[int, list[CorrelationMatch]] = field(default_factory=dict)
    statements: int = 0


def correlate_together(
    store: Any,
    correlations: Sequence[CompiledRule],
    since: datetime | None,
    until: datetime | None,
    source: StreamSource | None = None,
) -> Together | None:
    """The fired windows of every correlation over ``[since, until)`` (each reads from two
    timespans before ``since``, its anchors from one), or None when the store rejected a base
    query: the caller then runs the correlations one by one, which reports the rule. The
    base queries are read with the store's ``scan_rules`` (a ScanningStore), or opened by
    ``source``."""
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
            users.setdefault(query, []).append(_User(compiled, index, start))
            paths.setdefault(query, set()).update(needed)
    together = Together({key: [] for key in engines}, statements=len(users))
    prepare = getattr(store, "prepare_queries", None)
    if prepare is not None:  # before any stream opens (see LocalStore.prepare_queries)
        try:
            prepare(list(users))
        except (QueryError, StoreError):
            return None
    bases = [
        BaseQuery(query, [(u.compiled, u.base) for u in readers], _widest(readers), paths[query])
        for query, readers in users.items()
    ]
    try:
        if source is None:
            streams = [_stream(store, b.query, b.start, until, b.paths) for b in bases]
        else:
            streams = [
                _checked(s, b.query)
                for b, s in zip(bases, source.open_streams(bases, until), strict=True)
            ]
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

    def read() -> Iterator[StreamItem]:
        for hit, _ in store.scan_rules([query], start=start, end=end):
            moment = event_time(hit.source)
            if moment is not None:
                yield hit.id, moment, project(hit.source, paths), query

    return _checked(read(), query)


def _checked(items: Iterable[StreamItem], query: str) -> Iterator[StreamItem]:
    """A stream's items, an event given twice in a row once; _OutOfOrder if they ever go
    back in (time, id)."""
    last: tuple[datetime, str] | None = None
    for item in items:
        key = (item[1], item[0])
        if last is not None and key <= last:
            if key == last:
                continue
            raise _OutOfOrder(query)
        last = key
        yield item
