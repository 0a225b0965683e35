"""Grouped matching of single-event rules on the local store: each subset of events is read
once for all the rules that need it.

Every rule compiled through our pipelines carries the log-source condition of its variants
(``event.dataset``, and for Windows ``winlog.channel`` / ``winlog.event_id``). Rules with the
same variants are one *group*, handed to the store in one call (``LocalStore.scan_rules``)
with the group's condition as a prefilter and each rule's required literals: the store reads
the group's subset through the indexes of its condition and evaluates each rule only where it
can match (see soc.store.local_scan). The 2,400 SigmaHQ Windows rules make 59 groups
(61 scans: the largest group is cut in parts, see MAX_GROUP_RULES).

A group whose condition no event of the range meets is not scanned: it matches nothing (and
a faulty rule in it goes unnoticed until its log source has events). A group the store
rejects (a rule whose SQL SQLite cannot run) is split in halves until the faulty rule stands
alone and is reported as failed with the store's message; the others run.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any

from soc.detect.alerts import Alert
from soc.detect.compile import CompiledRule
from soc.detect.emit import (
    ALERT_BATCH,
    DetectionSummary,
    Emitter,
    RuleOutcome,
    meta_of,
    single_alert,
    suppression_of,
)
from soc.detect.group_scan import GroupScanner, ScanningStore, ScanRequest, ScanResult
from soc.detect.group_scan import scan as scan_rows
from soc.detect.logsources import Variant
from soc.store.base import Hit, QueryError, StoreError

#: What a pending alert keeps in place of its event when its rule reads nothing from it.
_NO_EVENT: Mapping[str, Any] = MappingProxyType({})


def _literal(value: Any) -> str | None:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str) and not any(c in value for c in "*?\\"):
        return "'" + value.replace("'", "''") + "'"
    return None  # wildcards or other types: leave the condition to the rule itself


#: Conditions whose index narrows more than event.dataset does.
_SELECTIVE = ("winlog.channel",)


def prefilter_of(variants: Sequence[Variant]) -> str | None:
    """SQL selecting the events of ``variants`` (OR of each variant's AND of equalities), or
    None when one variant cannot be expressed as plain equalities. It is a superset filter:
    every rule query repeats its own conditions, so it only narrows what is read."""
    alternatives: list[str] = []
    for variant in variants:
        parts: list[str] = []
        conditions = variant.conditions
        if any(path in _SELECTIVE for path, _ in conditions):
            # event.dataset is implied by the channel; leaving it out lets SQLite serve an OR
            # of variants with one channel-index search per variant (MULTI-INDEX OR).
            conditions = tuple((p, v) for p, v in conditions if p != "event.dataset")
        for path, value in conditions:
            values = value if isinstance(value, tuple) else (value,)
            literals = [_literal(v) for v in values]
            if not literals or any(lit is None for lit in literals):
                continue
            column = "`" + path.replace("`", "``") + "`"
            if len(literals) == 1:
                parts.append(f"{column} = {literals[0]}")
            else:
                parts.append(f"{column} IN ({', '.join(str(lit) for lit in literals)})")
        if not parts:
            return None
        alternatives.append(" AND ".join(parts))
    if not alternatives:
        return None
    if len(alternatives) == 1:
        return alternatives[0]
    return " OR ".join(f"({a})" for a in alternatives)


#: The most rules scanned together: a larger group of one log source is cut in equal parts.
#: Smaller literal automata make the parts no slower in all than the whole (Sysmon process
#: creation, ~1,200 SigmaHQ rules: 0.44 s in three parts against 0.49 s whole), and the
#: parts can be scanned on several cores.
MAX_GROUP_RULES = 400


def groups_of(
    rules: Sequence[CompiledRule], max_rules: int = MAX_GROUP_RULES
) -> list[list[CompiledRule]]:
    """Single-event rules grouped by their variants (first appearance order), a group of
    more than ``max_rules`` cut into consecutive parts of nearly equal size."""
    groups: dict[tuple[Variant, ...], list[CompiledRule]] = {}
    for rule in rules:
        groups.setdefault(rule.variants, []).append(rule)
    parts: list[list[CompiledRule]] = []
    for group in groups.values():
        count = -(-len(group) // max_rules)
        size, larger = divmod(len(group), count)
        start = 0
        for index in range(count):
            end = start + size + (1 if index < larger else 0)
            parts.append(group[start:end])
            start = end
    return parts


def largest_first(chunks: list[list[CompiledRule]]) -> list[list[CompiledRule]]:
    """The groups in the order their scans start: those whose log source is broadest first
    (the fewest conditions its events must meet: a keyword rule over every Windows event
    before a channel, a channel before one of its event ids), then those with the most
    rules (ties in their order). On several workers the long scans then start early and the
    short ones fill in at the end. In first-appearance order one of the 400-rule
    process-creation parts came last while the other worker had nothing left; by rules
    alone, a one-rule keyword scan of every event did."""
    return sorted(chunks, key=lambda chunk: (_narrowness(chunk), -len(chunk)))


def _narrowness(chunk: list[CompiledRule]) -> int:
    """How many log-source conditions the group's broadest variant sets (none: 0)."""
    variants = chunk[0].variants
    return min((len(v.conditions) for v in variants), default=0)


def run_grouped(
    store: ScanningStore,
    rules: Sequence[CompiledRule],
    since: datetime | None,
    until: datetime | None,
    summary: DetectionSummary,
    emitter: Emitter,
    scanner: GroupScanner | None = None,
) -> dict[int, RuleOutcome]:
    """Run single-event rules group by group; the outcome of each rule by ``id(rule)``. The
    alerts are the same as running each rule alone (same ids, same order per rule).
    ``scanner`` scans the groups elsewhere (several at once); alerts are still written
    here, group after group, so the result is the same. They are written in batches over
    the groups (see _AlertWriter), all of them before this returns."""
    outcomes: dict[int, RuleOutcome] = {id(r): RuleOutcome(r.id, r.title) for r in rules}
    # A group whose log source has no event in the range matches nothing: it is not scanned
    # (half the SigmaHQ Windows groups over a bundle of EVTX files, each a round trip to a
    # worker carrying its rules' queries). The groups are checked as the scanner asks for
    # them: its workers start on the first while the others are checked (68 checks, 15-20
    # ms, with both workers idle when they came first).
    holds = getattr(store, "holds_events", None)
    chunks = (
        chunk
        for chunk in largest_first(groups_of(rules))
        if holds is None or holds(prefilter_of(chunk[0].variants), start=since, end=until)
    )
    writer = _AlertWriter(emitter)
    if scanner is None:
        for chunk in chunks:
            _run_chunk(store, chunk, since, until, summary, writer, outcomes)
    else:
        asked: deque[list[CompiledRule]] = deque()  # the groups asked for, not yet answered

        def requests() -> Iterator[ScanRequest]:
            for chunk in chunks:
                asked.append(chunk)
                yield _request(chunk, since, until)

        for result in scanner.scan_groups(requests()):
            chunk = asked.popleft()  # answers come in the order the requests were taken
            if result is None or result.error is not None:
                # here, streaming (and a rejected group split in halves, see _run_chunk)
                _run_chunk(store, chunk, since, until, summary, writer, outcomes)
            else:
                _take_result(chunk, result, summary, writer, outcomes)
    writer.flush()
    for rule in rules:
        outcome = outcomes[id(rule)]
        summary.events_matched += outcome.matches
        if outcome.error:
            summary.failed.append({"id": rule.id, "title": rule.title, "error": outcome.error})
    return outcomes


def _request(
    chunk: list[CompiledRule], since: datetime | None, until: datetime | None
) -> ScanRequest:
    return ScanRequest(
        queries=[r.query or "0" for r in chunk],
        prefilter=prefilter_of(chunk[0].variants),
        start=since,
        end=until,
        literals=[r.literals for r in chunk],
    )


def _take_result(
    chunk: list[CompiledRule],
    result: ScanResult,
    summary: DetectionSummary,
    writer: _AlertWriter,
    outcomes: dict[int, RuleOutcome],
) -> None:
    """Raise the alerts of a group scanned elsewhere, as _run_chunk would have."""
    started = time.perf_counter()
    metas = [meta_of(r.loaded) for r in chunk]
    pending = _Pending(chunk, writer, outcomes)
    summary.round_trips += 1
    for hit, matched in result.rows:
        _collect(hit, matched, chunk, metas, pending, writer.emitter, outcomes)
    pending.flush()
    share = (time.perf_counter() - started) / len(chunk)
    for rule in chunk:
        outcomes[id(rule)].seconds += share


def _run_chunk(
    store: ScanningStore,
    chunk: list[CompiledRule],
    since: datetime | None,
    until: datetime | None,
    summary: DetectionSummary,
    writer: _AlertWriter,
    outcomes: dict[int, RuleOutcome],
) -> None:
    started = time.perf_counter()
    metas = [meta_of(r.loaded) for r in chunk]
    pending = _Pending(chunk, writer, outcomes)
    try:
        scan = scan_rows(store, _request(chunk, since, until))
        summary.round_trips += 1
        for hit, matched in scan:
            _collect(hit, matched, chunk, metas, pending, writer.emitter, outcomes)
    except (QueryError, StoreError) as exc:
        # The alerts this group handed over are stored first, as they were before it
        # failed: the halves then count them as existing.
        writer.flush()
        if len(chunk) == 1:
            outcomes[id(chunk[0])].error = str(exc)
            return
        for rule in chunk:  # start the halves afresh (alerts already stored stay, by id)
            outcomes[id(rule)] = RuleOutcome(rule.id, rule.title)
        half = len(chunk) // 2
        for part in (chunk[:half], chunk[half:]):
            _run_chunk(store, part, since, until, summary, writer, outcomes)
        return
    pending.flush()
    share = (time.perf_counter() - started) / len(chunk)
    for rule in chunk:
        outcomes[id(rule)].seconds += share


#: One rule's alerts, each with the document its suppression key is read from.
_Batch = list[tuple[Alert, Mapping[str, Any]]]


class _AlertWriter:
    """The alerts of the groups scanned so far, written rule batch after rule batch in the
    order they were handed over, once ALERT_BATCH have gathered over the groups (and by
    ``flush`` at the end of the run).

    A write to the local store makes every other connection to it drop its page cache at
    its next read (SQLite's WAL mode does so after another connection's commit). Written
    after each group, the alerts made the scanning connections (one per worker process)
    read the same pages of the store again for nearly every group: a hunt of the corpus
    EVTX made 151,000 page reads, and 127,000-135,000 with the writes gathered (see
    docs/detection.md). Memory holds at most two batches of alerts (this writer's and a group's
    _Pending), and the events of those whose rule reads a suppression key from them."""

    def __init__(self, emitter: Emitter) -> None:
        self.emitter = emitter
        self._queued: list[tuple[CompiledRule, _Batch, RuleOutcome]] = []
        self._total = 0

    def add(self, rule: CompiledRule, batch: _Batch, outcome: RuleOutcome) -> None:
        """Queue one rule's alerts (oldest first); write everything once a batch has
        gathered."""
        self._queued.append((rule, batch, outcome))
        self._total += len(batch)
        if self._total >= ALERT_BATCH:
            self.flush()

    def flush(self) -> None:
        """Write the queued alerts, decided in the order they were queued, in one
        transaction."""
        queued, self._queued, self._total = self._queued, [], 0
        self.emitter.emit_many(queued)


class _Pending:
    """The alerts of a group's rules not handed to the writer yet: handed over rule by rule
    (each rule's in order) once ALERT_BATCH have gathered over all the rules, so that memory
    holds at most one batch of alerts and their events however many rules of the group
    match."""

    def __init__(
        self, chunk: list[CompiledRule], writer: _AlertWriter, outcomes: dict[int, RuleOutcome]
    ) -> None:
        self.chunk = chunk
        self.writer = writer
        self.outcomes = outcomes
        self.lists: list[list[tuple[Alert, Mapping[str, Any]]]] = [[] for _ in chunk]
        self.total = 0
        #: Per rule, whether its alerts keep their event: only a rule with a suppression
        #: key reads it (found at its first alert, not for every rule of the group).
        self.keeps_event: list[bool | None] = [None] * len(chunk)

    def add(self, index: int, alert: Alert, source: Mapping[str, Any]) -> None:
        """Keep one alert of rule ``index`` (and its event when the rule's suppression key
        is read from it); write everything once a batch has gathered."""
        keeps = self.keeps_event[index]
        if keeps is None:
            keeps = suppression_of(self.chunk[index].loaded) is not None
            self.keeps_event[index] = keeps
        self.lists[index].append((alert, source if keeps else _NO_EVENT))
        self.total += 1
        if self.total >= ALERT_BATCH:
            self.flush()

    def flush(self) -> None:
        """Hand every rule's kept alerts to the writer."""
        for index, batch in enumerate(self.lists):
            if batch:
                rule = self.chunk[index]
                self.writer.add(rule, batch, self.outcomes[id(rule)])
                self.lists[index] = []
        self.total = 0


def _collect(
    hit: Hit,
    matched: list[int],
    chunk: list[CompiledRule],
    metas: list[dict[str, Any]],
    pending: _Pending,
    emitter: Emitter,
    outcomes: dict[int, RuleOutcome],
) -> None:
    for i in matched:
        rule = chunk[i]
        outcome = outcomes[id(rule)]
        alert = single_alert(rule, hit, metas[i], emitter.created, outcome)
        if alert is not None:
            pending.add(i, alert, hit.source)
