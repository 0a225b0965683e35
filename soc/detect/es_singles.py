"""Single-event rules on a store that answers many searches at once (Elasticsearch).

Every rule becomes one search of a ``search_many`` batch (one ``_msearch`` per 100 rules):
- a standalone rule asks for its first FIRST_PAGE hits, with ``_source`` cut to what its
  alerts read (timestamp, entity fields, suppression fields) and the exact total;
- a correlation's base rule (it raises no alert of its own) asks for the count only (size 0).
Only rules whose first page was full are asked again, together, for the rest of their hits up
to MAX_ALERTS_PER_RULE (one more ``_msearch`` per 100 such rules); matches past that cap are
counted from the total, never read. Alerts are the same as rule-by-rule (same ids, same
order per rule); alerts of rules without suppression are created with one create_records per
round of searches, not one per rule.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from soc.detect.alerts import ENTITY_FIELDS, Alert
from soc.detect.compile import CompiledRule
from soc.detect.emit import (
    MAX_ALERTS_PER_RULE,
    DetectionSummary,
    Emitter,
    RuleOutcome,
    create_records,
    meta_of,
    single_alert,
    suppression_of,
)
from soc.store.base import QueryError, SearchRequest, SearchResult, Store, StoreError

#: Hits asked for on a rule's first page; rules with more are asked again for the rest.
FIRST_PAGE = 1000
#: Searches per search_many call (the store cuts its own _msearch at 100 too).
BATCH = 100
#: Length of a query (characters) from which its search is sent alone (see batches_of).
HEAVY_QUERY = 8000
#: Most hits one search may return (the server's result window).
MAX_PAGE = 10_000


def alert_fields(compiled: CompiledRule) -> tuple[str, ...]:
    """The event fields an alert of a single-event rule reads: the timestamp, the entity
    fields and the rule's suppression fields."""
    paths = {"@timestamp", *ENTITY_FIELDS}
    suppression = suppression_of(compiled.loaded)
    if suppression is not None:
        paths.update(suppression.by)
    return tuple(sorted(paths))


def _first_request(
    rule: CompiledRule, since: datetime | None, until: datetime | None
) -> SearchRequest:
    size = min(FIRST_PAGE, MAX_ALERTS_PER_RULE) if rule.loaded.standalone else 0
    return SearchRequest(rule.query, since, until, size=size, fields=alert_fields(rule))


def _search(
    store: Store, requests: Sequence[SearchRequest], summary: DetectionSummary
) -> list[SearchResult | str]:
    """The results of a batch, a rejected query's message in place of its result. A store
    with ``search_each`` answers the others in the same round; otherwise, when the store
    rejects the batch for one bad query, each search is asked alone so that only the bad
    rule fails."""
    summary.round_trips += 1
    each = getattr(store, "search_each", None)
    if each is not None:
        return [str(a) if isinstance(a, QueryError) else a for a in each(requests)]
    try:
        return list(store.search_many(requests))
    except QueryError:
        if len(requests) == 1:
            raise
    answers: list[SearchResult | str] = []
    for request in requests:
        summary.round_trips += 1
        try:
            answers.append(store.search_many([request])[0])
        except StoreError as exc:
            answers.append(str(exc))
    return answers


def batches_of(
    pending: Sequence[tuple[CompiledRule, SearchRequest]],
) -> list[list[tuple[CompiledRule, SearchRequest]]]:
    """The searches cut into ``_msearch`` batches of up to BATCH, where a rule whose query is
    HEAVY_QUERY characters or longer goes alone: the server answers a multi-search when its
    slowest search is done, and a batch that outlives the timeout fails every rule in it,
    so a few huge queries (SigmaHQ's emoji lists: hundreds of ``*x*`` wildcards) must not
    take 99 others down with them, every cycle."""
    light = [p for p in pending if p[1].query is None or len(p[1].query) < HEAVY_QUERY]
    heavy = [[p] for p in pending if p[1].query is not None and len(p[1].query) >= HEAVY_QUERY]
    return [list(light[i : i + BATCH]) for i in range(0, len(light), BATCH)] + heavy


def run_batched(
    store: Store,
    rules: Sequence[CompiledRule],
    since: datetime | None,
    until: datetime | None,
    summary: DetectionSummary,
    emitter: Emitter,
) -> dict[int, RuleOutcome]:
    """Run single-event rules (standalone or correlation bases) over ``[since, until)`` with
    batched searches; the outcome of each rule by ``id(rule)``."""
    started = time.perf_counter()
    outcomes: dict[int, RuleOutcome] = {id(r): RuleOutcome(r.id, r.title) for r in rules}
    totals: dict[int, int] = {}
    fetched: dict[int, int] = {}
    pending = [(r, _first_request(r, since, until)) for r in rules if r.query is not None]
    while pending:
        following: list[tuple[CompiledRule, SearchRequest]] = []
        for chunk in batches_of(pending):
            try:
                answers = _search(store, [request for _, request in chunk], summary)
            except StoreError as exc:
                answers = [str(exc)] * len(chunk)
            plain: list[tuple[CompiledRule, list[tuple[Alert, Mapping[str, Any]]]]] = []
            for (rule, request), answer in zip(chunk, answers, strict=True):
                outcome = outcomes[id(rule)]
                if isinstance(answer, str):
                    outcome.error = answer
                    continue
                totals.setdefault(id(rule), answer.total)
                if not request.size:
                    continue
                batch = _alerts_of(rule, answer, emitter, outcome)
                fetched[id(rule)] = fetched.get(id(rule), 0) + len(answer.page.hits)
                if suppression_of(rule.loaded) is None:
                    plain.append((rule, batch))
                else:
                    emitter.emit(rule, batch, outcome)
                rest = min(MAX_ALERTS_PER_RULE, totals[id(rule)]) - fetched[id(rule)]
                if answer.page.next_after is not None and rest > 0:
                    following.append(
                        (
                            rule,
                            SearchRequest(
                                rule.query,
                                since,
                                until,
                                size=min(rest, MAX_PAGE),
                                fields=request.fields,
                                after=answer.page.next_after,
                            ),
                        )
                    )
            _create_plain(emitter, plain, outcomes)
        pending = following
    elapsed = (time.perf_counter() - started) / max(1, len(rules))
    for rule in rules:
        outcome = outcomes[id(rule)]
        outcome.seconds = elapsed
        if outcome.error is None:
            total = totals.get(id(rule), 0)
            outcome.matches = total
            outcome.truncated = max(0, total - MAX_ALERTS_PER_RULE) if rule.loaded.standalone else 0
        summary.events_matched += outcome.matches
        if outcome.error:
            summary.failed.append({"id": rule.id, "title": rule.title, "error": outcome.error})
    return outcomes


def _alerts_of(
    rule: CompiledRule, answer: SearchResult, emitter: Emitter, outcome: RuleOutcome
) -> list[tuple[Alert, Mapping[str, Any]]]:
    meta = meta_of(rule.loaded)
    batch: list[tuple[Alert, Mapping[str, Any]]] = []
    for hit in answer.page.hits:
        alert = single_alert(rule, hit, meta, emitter.created, outcome)
        if alert is not None:
            batch.append((alert, hit.source))
    return batch


def _create_plain(
    emitter: Emitter,
    items: Sequence[tuple[CompiledRule, list[tuple[Alert, Mapping[str, Any]]]]],
    outcomes: dict[int, RuleOutcome],
) -> None:
    """Create the alerts of rules without suppression, of many rules at once (one
    create_records), tallied per rule as Emitter.emit does."""
    if not emitter.enabled:
        return
    records: dict[str, dict[str, Any]] = {}
    owner: dict[str, RuleOutcome] = {}
    for rule, batch in items:
        for alert, _ in batch:
            if alert.id not in records:
                records[alert.id] = alert.to_record()
                owner[alert.id] = outcomes[id(rule)]
    if not records:
        return
    created = create_records(emitter.store, "alerts", records)
    summary = emitter.summary
    summary.round_trips += 1
    for alert_key, record in records.items():
        outcome = owner[alert_key]
        if alert_key in created:
            outcome.alerts_new += 1
            summary.add_alert(record)
        else:
            outcome.alerts_existing += 1
            summary.alerts_existing += 1
