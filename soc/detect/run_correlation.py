"""Running correlation rules: each one's windows over the merged events of its base rules,
and the alerts of the windows that fire. Imported only by a run that has correlations, with
pySigma (a correlation rule is a pySigma object)."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sigma.correlations import SigmaCorrelationRule

from soc import ecs
from soc.detect.alerts import Alert, alert_id, correlation_entities, group_key_text
from soc.detect.base_matches import BaseMatches, resolver_for
from soc.detect.compile import CompiledRule
from soc.detect.correlation import CorrelationMatch, MatchedEvent, correlate_stream, timespan_of
from soc.detect.emit import ALERT_BATCH, DetectionSummary, Emitter, RuleOutcome, meta_of
from soc.detect.es_correlate import CandidateReader
from soc.detect.lockstep import Together, correlate_together
from soc.detect.store_reads import RequestCounter, iter_hits
from soc.store.base import Hit, Store


def run_correlation(
    store: Store,
    compiled: CompiledRule,
    since: datetime | None,
    until: datetime | None,
    emitter: Emitter,
    outcome: RuleOutcome,
    counter: RequestCounter,
    scope: Mapping[str, Any] | None = None,
    shared: BaseMatches | None = None,
    candidates: CandidateReader | None = None,
    found: list[CorrelationMatch] | None = None,
) -> None:
    """Run one correlation rule over ``[since, until)`` and emit its alerts: its windows
    decided from its base rules' events (read through ``shared``, ``candidates`` on
    Elasticsearch), or given as ``found`` when decided in lock step with others."""
    corr = compiled.loaded.rule
    assert isinstance(corr, SigmaCorrelationRule)
    span = timespan_of(corr)
    fetch_from = since - 2 * span if since is not None else None
    anchors_from = since - span if since is not None else None
    if shared is None:
        shared = BaseMatches([compiled], since)

    def read(query: str, start: datetime | None, end: datetime | None) -> Iterator[Hit]:
        """The hits of one base query: one streamed statement on a store that scans (no
        re-sorting page after page), else paged searches."""
        scan = getattr(store, "scan_rules", None)
        if scan is None:
            return iter_hits(store, query, start, end, counter, scope)
        counter.calls += 1
        return (hit for hit, _ in scan([query], start=start, end=end, filters=scope))

    events: Iterable[MatchedEvent] = ()
    requests_before = candidates.requests if candidates is not None else 0
    if found is not None:
        pass  # the windows were decided in lock step (soc.detect.lockstep)
    elif candidates is not None:
        # --- candidate groups first (Elasticsearch): see soc.detect.es_correlate ---
        # (read as the windows take the events: the requests are counted below)
        events = candidates.events(compiled, fetch_from, until)
    elif hasattr(store, "scan_rules"):
        # Each base query's events stream oldest first: merged, they feed the windows as
        # they come, and memory holds one window per group (soc.detect.correlation).
        streams = [
            _matched(shared.stream(base.query or "0", fetch_from, until, read), index)
            for index, base in enumerate(compiled.bases)
        ]
        events = heapq.merge(*streams, key=lambda e: e.key)
    else:
        pages: list[MatchedEvent] = []
        for index, base in enumerate(compiled.bases):
            assert base.query is not None
            pages.extend(_matched(shared.events(base.query, fetch_from, until, read), index))
        events = sorted(pages, key=lambda e: e.key)

    if found is not None:  # read and decided in lock step with the run's other correlations
        matches = list(found)
    else:
        resolver = resolver_for(compiled)
        matches = list(
            correlate_stream(corr, events, resolver, anchors_from=anchors_from, anchors_until=until)
        )
        if candidates is not None:
            counter.calls += candidates.requests - requests_before
    matches.sort(key=lambda m: m.anchor.key)
    meta = meta_of(compiled.loaded)
    batch: list[tuple[Alert, Mapping[str, Any]]] = []
    for match in matches:
        outcome.matches += 1
        group_text = group_key_text(match.group)
        docs = [e.doc for e in match.events]
        alert = Alert(
            id=alert_id(compiled.id, group_text, match.anchor.id),
            rule_type=corr.type.name.lower(),
            event_ids=[e.id for e in match.events],
            entities=correlation_entities(docs, match.group),
            first_seen=ecs.format_timestamp(match.first_seen),
            last_seen=ecs.format_timestamp(match.last_seen),
            created=emitter.created,
            group={k: _plain(v) for k, v in match.group.items()},
            count=match.value,
            **meta,
        )
        batch.append((alert, match.anchor.doc))
        if len(batch) >= ALERT_BATCH:
            emitter.emit(compiled, batch, outcome)
            batch = []
    emitter.emit(compiled, batch, outcome)


def _matched(
    found: Iterable[tuple[str, datetime, dict[str, Any]]], base: int
) -> Iterator[MatchedEvent]:
    """One base query's (id, time, document) as MatchedEvents, an event read twice in a row
    (a page boundary) once."""
    last: str | None = None
    for event_key, moment, doc in found:
        if event_key != last:
            last = event_key
            yield MatchedEvent(event_key, moment, doc, base)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


@dataclass
class CorrelationReads:
    """How a run's correlations read their events: base rules shared between them, the
    candidate groups (Elasticsearch) and the windows decided in lock step, if any."""

    shared: BaseMatches
    candidates: CandidateReader | None = None
    together: Together | None = None

    def found(self, compiled: CompiledRule) -> list[CorrelationMatch] | None:
        """The windows of ``compiled`` decided in lock step, None when it runs alone."""
        return self.together.matches.get(id(compiled)) if self.together is not None else None


def prepare_reads(
    store: Store,
    correlations: Sequence[CompiledRule],
    since: datetime | None,
    until: datetime | None,
    summary: DetectionSummary,
) -> CorrelationReads:
    """Read the base rules of ``correlations`` once for all of them: in lock step on a
    store that scans (the local store), else candidate groups first then every base query
    once (Elasticsearch, soc.detect.es_correlate); the statements or requests are counted in
    ``summary``."""
    reads = CorrelationReads(BaseMatches(correlations, since))
    if hasattr(store, "scan_rules"):
        reads.together = correlate_together(store, correlations, since, until)
        if reads.together is not None:
            summary.round_trips += reads.together.statements
    elif hasattr(store, "group_counts"):
        reads.candidates = CandidateReader(store, correlations, since)
        reads.together = correlate_together(
            store, correlations, since, until, source=reads.candidates
        )
        summary.round_trips += reads.candidates.requests
        reads.candidates.requests = 0
    return reads


__all__ = ["CorrelationReads", "prepare_reads", "run_correlation"]
