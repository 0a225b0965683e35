"""The events of correlations' base rules, read once per run and kept small.

A correlation needs, of each event its base rules match, only the id, the time, the
group-by values, the counted field and what its alert carries (entities, suppression key).
``BaseMatches`` keeps just those fields (``needed_paths``), and reads each distinct base query
once per run even when several correlations use it (over the widest range any of them asks
for; each gets the events of its own range), dropping them after the last user. A query with
one user is not kept at all: its events stream to the correlation as they are read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sigma.correlations import SigmaCorrelationRule

from soc import ecs
from soc.detect.alerts import ENTITY_FIELDS, event_time
from soc.detect.compile import CompiledRule
from soc.detect.correlation import timespan_of
from soc.detect.emit import suppression_of
from soc.store.base import Hit

#: Reads the hits of one query over [start, end) (the runner's paged iter_hits).
HitReader = Callable[[str, datetime | None, datetime | None], Iterator[Hit]]
Matched = tuple[str, datetime, dict[str, Any]]


def needed_paths(compiled: CompiledRule) -> set[str]:
    """The ECS paths a correlation reads from its base rules' events."""
    corr = compiled.loaded.rule
    assert isinstance(corr, SigmaCorrelationRule)
    names = {str(g) for g in corr.group_by or []}
    condition = corr.condition
    fieldref = getattr(condition, "fieldref", None)
    if fieldref:
        names.update(str(f) for f in (fieldref if isinstance(fieldref, list) else [fieldref]))
    for alias in corr.aliases or []:
        names.update(str(v) for v in alias.mapping.values())
    paths = {"@timestamp", *ENTITY_FIELDS}
    suppression = suppression_of(compiled.loaded)
    if suppression is not None:
        paths.update(suppression.by)
    for base in compiled.bases:
        for name in names:
            paths.update(base.field_paths(name))
    return paths


def resolver_for(compiled: CompiledRule) -> Callable[[int, str], list[str]]:
    """The ECS paths of a Sigma field for the events of one base rule of ``compiled``
    (memoised: it is asked for every event)."""
    paths: dict[tuple[int, str], list[str]] = {}

    def resolver(base_index: int, sigma_field: str) -> list[str]:
        key = (base_index, sigma_field)
        found = paths.get(key)
        if found is None:
            found = paths[key] = compiled.bases[base_index].field_paths(sigma_field)
        return found

    return resolver


def project(doc: Mapping[str, Any], paths: set[str]) -> dict[str, Any]:
    """The values of ``paths`` in the document, as one flat dict keyed by dotted path (what
    ecs.get_field reads first; a third of the memory of the nested form)."""
    kept: dict[str, Any] = {}
    for path in paths:
        value = ecs.get_field(doc, path)
        if value is not None:
            kept[path] = value
    return kept


@dataclass
class _Use:
    paths: set[str] = field(default_factory=set)
    start: datetime | None = None
    unbounded: bool = False
    users: int = 0


class BaseMatches:
    """Base-rule events of one run's correlations, per distinct base query."""

    def __init__(self, correlations: Sequence[CompiledRule], since: datetime | None) -> None:
        self._uses: dict[str, _Use] = {}
        self._fetched: dict[str, list[Matched]] = {}
        for compiled in correlations:
            self.register(compiled, since)

    def register(self, compiled: CompiledRule, since: datetime | None) -> None:
        """Count ``compiled`` as a user of its base queries."""
        corr = compiled.loaded.rule
        assert isinstance(corr, SigmaCorrelationRule)
        fetch_from = since - 2 * timespan_of(corr) if since is not None else None
        paths = needed_paths(compiled)
        for query in {b.query for b in compiled.bases if b.query is not None}:
            use = self._uses.setdefault(query, _Use())
            use.users += 1
            use.paths |= paths
            if fetch_from is None:
                use.unbounded = True
            elif use.start is None or fetch_from < use.start:
                use.start = fetch_from

    def events(
        self, query: str, start: datetime | None, end: datetime | None, read: HitReader
    ) -> list[Matched]:
        """(id, time, small document) of the events ``query`` matches in ``[start, end)``,
        oldest first; read from the store on the first call of the run."""
        use = self._uses.get(query)
        if use is None:
            return self._read(query, start, end, read, None)
        if query not in self._fetched:
            widest = None if use.unbounded else use.start
            self._fetched[query] = self._read(query, widest, end, read, use.paths)
        found = self._fetched[query]
        use.users -= 1
        if use.users <= 0:
            del self._fetched[query]
        if start is None:
            return found
        return [m for m in found if m[1] >= start]

    def stream(
        self, query: str, start: datetime | None, end: datetime | None, read: HitReader
    ) -> Iterator[Matched]:
        """As ``events``, but when this correlation is the query's only user its events
        stream from the store as they are read, nothing kept: memory is then the
        correlation's windows, not all its matches."""
        use = self._uses.get(query)
        if use is not None and use.users == 1 and query not in self._fetched:
            use.users = 0
            paths = use.paths
            yield from self._iter(query, start, end, read, paths)
            return
        yield from self.events(query, start, end, read)

    @classmethod
    def _read(
        cls,
        query: str,
        start: datetime | None,
        end: datetime | None,
        read: HitReader,
        paths: set[str] | None,
    ) -> list[Matched]:
        return list(cls._iter(query, start, end, read, paths))

    @staticmethod
    def _iter(
        query: str,
        start: datetime | None,
        end: datetime | None,
        read: HitReader,
        paths: set[str] | None,
    ) -> Iterator[Matched]:
        for hit in read(query, start, end):
            moment = event_time(hit.source)
            if moment is None:
                continue
            doc = project(hit.source, paths) if paths is not None else hit.source
            yield hit.id, moment, doc
