"""The events of correlations on a store that counts groups for us (Elasticsearch).

For a correlation whose condition needs at least N (event_count, value_count with ``gte``/
``gt``/``eq``; temporal and temporal_ordered: N base rules), the store is first asked for
its candidate groups over the whole range the run reads (``store.group_counts``: the event
count, the distinct count of the counted field, or, per base rule, the groups present). A
group whose count over the whole range is below N cannot reach N in any window inside it,
so only the events of the other groups are read, with ``search_many`` (one ``_msearch`` per
100 groups) and only the fields the windows and alerts need (``needed_paths``). The exact
sliding windows are then computed as on every store (soc.detect.correlation), which gives
the same alerts as the local store.

Counts are upper bounds, never under-estimates: several base rules add up, and keyword
values the server normalises (lower-case) gather their case variants into one candidate, of
which the window code then separates the true groups. When a correlation cannot be pruned
(a ``lt``/``lte``/``neq`` condition, or a group-by or counted field with more than one
possible path) every matching event is read, still with only the needed fields.

The events are streamed: each search of a base query's candidate groups is paged oldest
first (search_after), the pages merged as the windows consume them, so memory holds at most
one and a half pages of hits per search (a page is PAGE shared among the searches, at least
MIN_STREAM_PAGE) and the windows of the groups in hand, not every candidate event of the
range. A run's correlations read their base queries in lock step (soc.detect.lockstep,
``CandidateReader.open_streams``): each base query once, however many correlations use it,
over the widest range they ask for, its searches covering the candidate groups of all of
them (when they group it by the same fields; else all its events); the next pages of every
search that has half a page or less left go out together in one search_many.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sigma.correlations import (
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
)

from soc.detect.alerts import event_time
from soc.detect.base_matches import needed_paths
from soc.detect.compile import CompiledRule
from soc.detect.correlation import MatchedEvent, _aliases, _counted_fields, timespan_of
from soc.detect.lockstep import BaseQuery, StreamItem
from soc.store.base import Hit, SearchRequest, Store

#: Hits asked for per search (the server's result window); fuller groups are paged.
PAGE = 10_000
#: Searches per search_many call.
BATCH = 100
#: Candidate groups asked for in one search (terms filters of this many values at most).
GROUPS_PER_SEARCH = 500
#: Least page size of one search of a streamed base query (PAGE is shared among the searches
#: read together).
MIN_STREAM_PAGE = 500

Key = tuple[Any, ...]


def threshold_of(corr: SigmaCorrelationRule) -> int | None:
    """The least count (events, distinct values or base rules) a window of ``corr`` needs
    to fire, or None when a small count can fire too (no pruning is possible)."""
    n_bases = len(corr.referenced_rules)
    condition = corr.condition
    if corr.type == SigmaCorrelationType.TEMPORAL_ORDERED:
        return n_bases
    if corr.type == SigmaCorrelationType.TEMPORAL and condition is None:
        return n_bases
    if condition is None:
        return None
    op = condition.op
    if op in (SigmaCorrelationConditionOperator.GTE, SigmaCorrelationConditionOperator.EQ):
        return max(1, int(condition.count))
    if op == SigmaCorrelationConditionOperator.GT:
        return int(condition.count) + 1
    return None


@dataclass
class _Plan:
    """How to find one correlation's candidates: per base, the single ECS path of each
    group-by field and of the counted field."""

    threshold: int
    group_paths: list[tuple[str, ...]]
    counted_paths: list[str | None]


def plan_of(compiled: CompiledRule) -> _Plan | None:
    """The candidate plan of a correlation, or None when it must read every event."""
    corr = compiled.loaded.rule
    assert isinstance(corr, SigmaCorrelationRule)
    threshold = threshold_of(corr)
    group_by = [str(g) for g in corr.group_by or []]
    if threshold is None or not group_by:
        return None
    aliases = _aliases(corr)
    counted = _counted_fields(corr)
    if counted is not None and len(counted) != 1:
        return None

    def single(index: int, name: str) -> str | None:
        actual = aliases.get(name, {}).get(index, name)
        paths = compiled.bases[index].field_paths(actual)
        return paths[0] if len(paths) == 1 else None

    group_paths: list[tuple[str, ...]] = []
    counted_paths: list[str | None] = []
    for index in range(len(compiled.bases)):
        paths = [single(index, g) for g in group_by]
        if any(p is None for p in paths):
            return None
        group_paths.append(tuple(p for p in paths if p is not None))
        if counted is not None:
            path = single(index, counted[0])
            if path is None:
                return None
            counted_paths.append(path)
        else:
            counted_paths.append(None)
    return _Plan(threshold, group_paths, counted_paths)


@dataclass
class _Use:
    paths: set[str] = field(default_factory=set)
    start: datetime | None = None
    unbounded: bool = False


class _Searches:
    """Searches of one base query read together, page by page, as their hits are taken:
    the first pages in one search_many round; when a search's page is used up, the next
    pages of it and of every other search with half a page or less left, in one round. So
    each search holds at most one and a half pages, and the searches, which move through
    time together, share their requests."""

    def __init__(self, reader: CandidateReader, requests: list[SearchRequest]) -> None:
        self.reader = reader
        self.requests = requests
        self.buffers: list[deque[Hit]] = [deque() for _ in requests]
        self.done = [False] * len(requests)
        self.fetch(list(range(len(requests))))

    def fetch(self, which: list[int]) -> None:
        """The next page of each search in ``which``, BATCH to a search_many."""
        for first in range(0, len(which), BATCH):
            chunk = which[first : first + BATCH]
            self.reader.requests += 1
            results = self.reader.store.search_many([self.requests[i] for i in chunk])
            for i, result in zip(chunk, results, strict=True):
                self.buffers[i].extend(result.page.hits)
                after = result.page.next_after
                self.done[i] = after is None
                if after is not None:
                    self.requests[i] = replace(self.requests[i], after=after)

    def hits(self, index: int) -> Iterator[Hit]:
        """The hits of search ``index``, in the server's order."""
        buffer = self.buffers[index]
        while True:
            while buffer:
                yield buffer.popleft()
            if self.done[index]:
                return
            self.fetch(
                [
                    i
                    for i, left in enumerate(self.buffers)
                    if not self.done[i] and len(left) <= self.requests[i].size // 2
                ]
            )


class CandidateReader:
    """Reads correlations' base events group by group (see the module docstring)."""

    def __init__(
        self, store: Store, correlations: Sequence[CompiledRule], since: datetime | None
    ) -> None:
        self.store = store
        self.requests = 0
        self._since = since
        self._uses: dict[str, _Use] = {}
        self._wanted: dict[int, list[list[Key | None]]] = {}  # id(correlation) -> per base
        for compiled in correlations:
            corr = compiled.loaded.rule
            assert isinstance(corr, SigmaCorrelationRule)
            fetch_from = since - 2 * timespan_of(corr) if since is not None else None
            paths = needed_paths(compiled)
            for base in compiled.bases:
                if base.query is None:
                    continue
                use = self._uses.setdefault(base.query, _Use())
                use.paths |= paths
                if fetch_from is None:
                    use.unbounded = True
                elif use.start is None or fetch_from < use.start:
                    use.start = fetch_from

    def _range_of(self, query: str, start: datetime | None) -> datetime | None:
        use = self._uses.get(query)
        if use is None:
            return start
        return None if use.unbounded else use.start

    def events(
        self, compiled: CompiledRule, start: datetime | None, end: datetime | None
    ) -> Iterator[MatchedEvent]:
        """The events of ``compiled``'s base rules in ``[start, end)`` that belong to a group
        able to fire (all of them when the correlation cannot be pruned), in (time, id)
        order over all its base rules, each event once per base rule, searched as they are
        taken. (One correlation alone; a run reads them together with open_streams.)"""
        wanted = self._wanted_of(compiled, start, end)
        plan = plan_of(compiled)
        streams: list[Iterator[MatchedEvent]] = []
        for index, base in enumerate(compiled.bases):
            assert base.query is not None
            paths = plan.group_paths[index] if plan is not None else ()
            hits = self._stream(base.query, paths, wanted[index], end)
            streams.append(_in_order(hits, index, start))
        return heapq.merge(*streams, key=lambda e: e.key)

    def open_streams(
        self, bases: Sequence[BaseQuery], end: datetime | None
    ) -> list[Iterator[StreamItem]]:
        """The lock-step streams of a run's base queries (soc.detect.lockstep.StreamSource):
        per base query, its events in ``[start, end)`` of the candidate groups of every
        correlation using it, in (time, id) order, each once. Its searches are read
        together: the first pages of all of them in one round of search_many calls, then
        the next pages of every search with half a page or less left whenever one runs
        out."""
        filters = [self._shared_filters(base, end) for base in bases]
        size = max(MIN_STREAM_PAGE, PAGE // max(1, sum(len(f) for f in filters)))
        requests: list[SearchRequest] = []
        owners: list[int] = []
        for index, (base, chosen) in enumerate(zip(bases, filters, strict=True)):
            fields = tuple(sorted(base.paths)) if base.paths else None
            for one in chosen:
                requests.append(
                    SearchRequest(
                        base.query, base.start, end, size=size, fields=fields, filters=one
                    )
                )
                owners.append(index)
        searches = _Searches(self, requests) if requests else None
        streams: list[Iterator[StreamItem]] = []
        for index, base in enumerate(bases):
            mine = [k for k, owner in enumerate(owners) if owner == index]
            assert searches is not None or not mine
            hits = heapq.merge(
                *(searches.hits(k) for k in mine if searches is not None),
                key=lambda h: h.sort[:1],
            )
            streams.append(_items(_in_order(hits, 0, base.start), base.query))
        return streams

    def _shared_filters(self, base: BaseQuery, end: datetime | None) -> list[dict[str, Any] | None]:
        """The searches that cover what every user of ``base`` may need: the union of their
        candidate groups when they all group it by the same fields, else all its events."""
        paths: set[tuple[str, ...]] = set()
        keys: set[Key | None] = set()
        for compiled, index in base.users:
            plan = plan_of(compiled)
            if plan is None:
                return [None]
            corr = compiled.loaded.rule
            assert isinstance(corr, SigmaCorrelationRule)
            start = self._since - 2 * timespan_of(corr) if self._since is not None else None
            paths.add(plan.group_paths[index])
            keys.update(self._wanted_of(compiled, start, end)[index])
        if len(paths) != 1:
            return [None]
        return _filters(paths.pop(), sorted(keys, key=str))

    def _wanted_of(
        self, compiled: CompiledRule, start: datetime | None, end: datetime | None
    ) -> list[list[Key | None]]:
        """Per base rule of ``compiled``, the groups worth reading (None: every event),
        found once per correlation and run."""
        wanted = self._wanted.get(id(compiled))
        if wanted is None:
            plan = plan_of(compiled)
            if plan is None:
                wanted = [[None] for _ in compiled.bases]
            else:
                wanted = self._candidates(compiled, plan, start, end)
            self._wanted[id(compiled)] = wanted
        return wanted

    def _candidates(
        self,
        compiled: CompiledRule,
        plan: _Plan,
        start: datetime | None,
        end: datetime | None,
    ) -> list[list[Key | None]]:
        """Per base rule, the groups of that base worth reading."""
        corr = compiled.loaded.rule
        assert isinstance(corr, SigmaCorrelationRule)
        per_base: list[dict[Key, int]] = []
        for index, base in enumerate(compiled.bases):
            self.requests += 1
            buckets = self.store.group_counts(
                base.query,
                plan.group_paths[index],
                start=start,
                end=end,
                distinct_field=plan.counted_paths[index],
                # one base: the server drops the groups below the threshold; several: the
                # counts add up over them, so every group of each is needed
                min_count=plan.threshold if len(compiled.bases) == 1 else 1,
            )
            per_base.append({b.key: b.count for b in buckets})
        combined: dict[Key, int] = {}
        temporal = corr.type in (
            SigmaCorrelationType.TEMPORAL,
            SigmaCorrelationType.TEMPORAL_ORDERED,
        )
        for counts in per_base:
            for key, count in counts.items():
                combined[key] = combined.get(key, 0) + (1 if temporal else count)
        able = {key for key, total in combined.items() if total >= plan.threshold}
        return [sorted((k for k in counts if k in able), key=str) for counts in per_base]

    def _stream(
        self, query: str, paths: tuple[str, ...], keys: Sequence[Key | None], end: datetime | None
    ) -> Iterator[Hit]:
        """The hits of ``query`` in the groups ``keys`` (None: every hit), with only the
        needed fields, ordered by their timestamp sort value, read page by page as they are
        taken (see _Searches)."""
        use = self._uses.get(query, _Use())
        fields = tuple(sorted(use.paths)) if use.paths else None
        start = self._range_of(query, None)
        filters = _filters(paths, keys)
        size = max(MIN_STREAM_PAGE, PAGE // max(1, len(filters)))
        requests = [
            SearchRequest(query, start, end, size=size, fields=fields, filters=f) for f in filters
        ]
        searches = _Searches(self, requests)
        return heapq.merge(
            *(searches.hits(i) for i in range(len(filters))), key=lambda h: h.sort[:1]
        )


def _items(events: Iterable[MatchedEvent], query: str) -> Iterator[StreamItem]:
    """A base query's events as lock-step stream items."""
    for event in events:
        yield event.id, event.time, dict(event.doc), query


def _filters(paths: tuple[str, ...], keys: Sequence[Key | None]) -> list[dict[str, Any] | None]:
    """The search filters that cover the groups ``keys`` (None: no filter, every hit):
    GROUPS_PER_SEARCH groups to a search, each group-by path filtered on their values (a
    superset of them when there are several paths: the windows are exact whatever extra
    events come along)."""
    filters: list[dict[str, Any] | None] = []
    if None in keys:
        filters.append(None)
    grouped = sorted((k for k in keys if k is not None), key=str)
    for first in range(0, len(grouped), GROUPS_PER_SEARCH):
        chunk = grouped[first : first + GROUPS_PER_SEARCH]
        filters.append(
            {path: sorted({k[j] for k in chunk}, key=str) for j, path in enumerate(paths)}
        )
    return filters


def _in_order(hits: Iterable[Hit], base: int, start: datetime | None) -> Iterator[MatchedEvent]:
    """Hits ordered by their timestamp sort value as MatchedEvents of ``base`` in (time,
    id) order, each once, none before ``start``. Hits of one sort value (one millisecond, or
    one instant) are gathered and sorted: the sort value is the timestamp truncated, and a
    hit found by two searches may come twice among them."""
    run: dict[str, MatchedEvent] = {}
    value: tuple[Any, ...] | None = None
    for hit in hits:
        if hit.sort[:1] != value:
            yield from sorted(run.values(), key=lambda e: e.key)
            run = {}
            value = hit.sort[:1]
        moment = event_time(hit.source)
        if moment is None or (start is not None and moment < start) or hit.id in run:
            continue
        run[hit.id] = MatchedEvent(hit.id, moment, hit.source, base)
    yield from sorted(run.values(), key=lambda e: e.key)
