"""Run compiled rules over a time window of a store, and on a schedule with watermarks.

One-shot: ``run_detection(store, rules_paths, since, until)``. Scheduled: ``run_cycle`` keeps
one watermark per rule in the store's "state" records; each cycle runs
``[watermark - overlap, now - settle)`` so late events are still seen, and alerts have
deterministic ids created with ``put_record`` so an overlap or a restart never raises the same
alert twice. The watermark moves only after the rule's alerts are stored.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sigma.correlations import SigmaCorrelationRule

from soc import clock, ecs
from soc.detect.alerts import Alert, alert_id, entities_of, event_time, group_key_text
from soc.detect.compile import CompiledRule, compile_all, target_for
from soc.detect.correlation import MatchedEvent, correlate, timespan_of
from soc.detect.loader import LoadedRule, RuleSet, load_rules
from soc.resources import rules_dir
from soc.store.base import Hit, QueryError, RecordKind, Store, StoreError
from soc.timespec import parse_duration

PAGE_SIZE = 1000
#: Most events one single-event rule may turn into alerts in one run; the rest are counted.
MAX_ALERTS_PER_RULE = 10_000


@dataclass
class RuleOutcome:
    """What one rule did in one run."""

    rule_id: str
    title: str
    matches: int = 0
    alerts_new: int = 0
    alerts_existing: int = 0
    suppressed: int = 0
    truncated: int = 0
    error: str | None = None
    seconds: float = 0.0


@dataclass
class DetectionSummary:
    """The outcome of a detection run over a window (or one scheduled cycle)."""

    since: datetime | None
    until: datetime | None
    rules_loaded: int = 0
    rules_run: int = 0
    invalid: list[dict[str, str]] = field(default_factory=list)
    not_convertible: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    outcomes: list[RuleOutcome] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)  # alerts created by this run
    alerts_new: int = 0
    alerts_existing: int = 0
    suppressed: int = 0
    events_matched: int = 0
    round_trips: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form (alerts by id only)."""
        return {
            "since": ecs.format_timestamp(self.since) if self.since else None,
            "until": ecs.format_timestamp(self.until) if self.until else None,
            "rules_loaded": self.rules_loaded,
            "rules_run": self.rules_run,
            "alerts_new": self.alerts_new,
            "alerts_existing": self.alerts_existing,
            "suppressed": self.suppressed,
            "events_matched": self.events_matched,
            "round_trips": self.round_trips,
            "seconds": round(self.seconds, 3),
            "invalid": self.invalid,
            "not_convertible": self.not_convertible,
            "failed": self.failed,
            "alert_ids": [a["id"] for a in self.alerts],
            "rules": [
                {
                    "id": o.rule_id,
                    "title": o.title,
                    "matches": o.matches,
                    "alerts_new": o.alerts_new,
                    "alerts_existing": o.alerts_existing,
                    "suppressed": o.suppressed,
                    "error": o.error,
                }
                for o in self.outcomes
                if o.matches or o.error
            ],
        }

    @property
    def ok(self) -> bool:
        """True when no rule failed at the store."""
        return not self.failed


# --- store helpers -----------------------------------------------------------------------


class _Counter:
    def __init__(self) -> None:
        self.calls = 0


def iter_hits(
    store: Store,
    query: str,
    start: datetime | None,
    end: datetime | None,
    counter: _Counter | None = None,
    scope: Mapping[str, Any] | None = None,
) -> Iterator[Hit]:
    """Every event matching ``query`` (and the exact-match ``scope`` filters) in
    ``[start, end)``, oldest first, page by page."""
    after: tuple[Any, ...] | None = None
    while True:
        page = store.search(query, filters=scope, start=start, end=end, size=PAGE_SIZE, after=after)
        if counter is not None:
            counter.calls += 1
        yield from page.hits
        if page.next_after is None or not page.hits:
            return
        after = page.next_after


# --- running -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Suppression:
    """Drop repeats of a rule's alerts with the same key values for a period."""

    by: tuple[str, ...]
    period: timedelta


def suppression_of(loaded: LoadedRule) -> Suppression | None:
    """The rule's ``suppress: {by: [fields], for: 1h}`` custom attribute, if any."""
    spec = loaded.raw.get("suppress") or loaded.raw.get("suppression")
    if not isinstance(spec, Mapping):
        return None
    by = spec.get("by") or []
    if isinstance(by, str):
        by = [by]
    try:
        period = parse_duration(str(spec.get("for") or spec.get("period") or "1h"))
    except ValueError:
        return None
    return Suppression(tuple(str(b) for b in by), period)


#: How many alerts are decided and written together (one get_records, one create_records).
ALERT_BATCH = 1000


def get_records(store: Store, kind: RecordKind, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``store.get_records`` (one request), or one get_record per id on a store that lacks
    it."""
    batched = getattr(store, "get_records", None)
    if batched is not None:
        return batched(kind, ids)
    found = {i: store.get_record(kind, i) for i in dict.fromkeys(ids)}
    return {i: r for i, r in found.items() if r is not None}


def create_records(
    store: Store, kind: RecordKind, records: Mapping[str, Mapping[str, Any]]
) -> set[str]:
    """``store.create_records`` (one request), or one put_record per record on a store that
    lacks it."""
    batched = getattr(store, "create_records", None)
    if batched is not None:
        return batched(kind, records)
    return {i for i, r in records.items() if store.put_record(kind, i, r)}


class _Emitter:
    """Creates alerts in the store, applying suppression, and tallies the outcome.

    Alerts are decided in batches of up to ALERT_BATCH, oldest first: one get_records for
    the batch (an alert that exists already is counted as existing), one list_records for the
    suppression keys the run has not seen yet, one create_records for the new alerts. An alert
    is suppressed when the store (or this run) holds an alert of the same rule and suppression
    key whose first event is at most one period earlier; the decision is made from stored
    alerts, never mutable state, so a rerun makes the same decisions (idempotent)."""

    def __init__(
        self, store: Store, summary: DetectionSummary, now: datetime, *, enabled: bool = True
    ) -> None:
        self.store = store
        self.summary = summary
        self.created = ecs.format_timestamp(now)
        self.enabled = enabled
        self._raised: dict[tuple[str, str], list[datetime]] = {}

    def _load_raised(self, rule_id: str, keys: set[str]) -> None:
        """Read the first-seen times of the stored alerts of ``rule_id`` with these keys."""
        wanted = sorted(k for k in keys if (rule_id, k) not in self._raised)
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            records = self.store.list_records(
                "alerts", filters={"rule_id": rule_id, "suppress_key": chunk}
            )
            self.summary.round_trips += 1
            for key in chunk:
                self._raised[(rule_id, key)] = []
            for r in records:
                raised = self._raised.get((rule_id, str(r.get("suppress_key"))))
                if raised is not None and r.get("first_seen"):
                    raised.append(ecs.parse_timestamp(r["first_seen"]))
            for key in chunk:
                self._raised[(rule_id, key)].sort()

    def emit(
        self,
        compiled: CompiledRule,
        batch: Sequence[tuple[Alert, Mapping[str, Any]]],
        outcome: RuleOutcome,
    ) -> None:
        """Store a batch of (alert, document its suppression key is read from), oldest
        first, unless they exist already or are suppressed; tally the outcome."""
        if not self.enabled or not batch:
            return
        suppression = suppression_of(compiled.loaded)
        records: dict[str, dict[str, Any]] = {}
        for alert, key_doc in batch:
            record = alert.to_record()
            if suppression is not None:
                values = [
                    str(alert.group.get(f) if f in alert.group else ecs.get_field(key_doc, f))
                    for f in suppression.by
                ]
                record["suppress_key"] = alert_id(compiled.id, *values)
            records.setdefault(alert.id, record)
        to_create: dict[str, dict[str, Any]] = {}
        if suppression is None:
            to_create = records
        else:
            existing = get_records(self.store, "alerts", list(records))
            self.summary.round_trips += 1
            self._load_raised(compiled.id, {r["suppress_key"] for r in records.values()})
            for alert_key, record in records.items():
                if alert_key in existing:
                    outcome.alerts_existing += 1
                    self.summary.alerts_existing += 1
                    continue
                raised = self._raised[(compiled.id, record["suppress_key"])]
                moment = ecs.parse_timestamp(record["first_seen"])
                earliest = bisect.bisect_left(raised, moment - suppression.period)
                if earliest < len(raised) and raised[earliest] <= moment:
                    outcome.suppressed += 1
                    self.summary.suppressed += 1
                    continue
                bisect.insort(raised, moment)
                to_create[alert_key] = record
        if not to_create:
            return
        created = create_records(self.store, "alerts", to_create)
        self.summary.round_trips += 1
        for alert_key, record in to_create.items():
            if alert_key in created:
                outcome.alerts_new += 1
                self.summary.alerts_new += 1
                self.summary.alerts.append(record)
            else:
                outcome.alerts_existing += 1
                self.summary.alerts_existing += 1


def _meta(loaded: LoadedRule) -> dict[str, Any]:
    return {
        "rule_id": loaded.id,
        "rule_title": loaded.title,
        "level": loaded.level,
        "tags": loaded.tags,
        "description": str(getattr(loaded.rule, "description", "") or ""),
    }


def _run_single(
    store: Store,
    compiled: CompiledRule,
    since: datetime | None,
    until: datetime | None,
    emitter: _Emitter,
    outcome: RuleOutcome,
    counter: _Counter,
    scope: Mapping[str, Any] | None = None,
) -> None:
    assert compiled.query is not None
    meta = _meta(compiled.loaded)
    batch: list[tuple[Alert, Mapping[str, Any]]] = []
    for hit in iter_hits(store, compiled.query, since, until, counter, scope):
        outcome.matches += 1
        if not compiled.loaded.standalone:
            continue
        if outcome.matches > MAX_ALERTS_PER_RULE:
            outcome.truncated += 1
            continue
        stamp = ecs.get_field(hit.source, "@timestamp")
        moment = event_time(hit.source)
        seen = ecs.format_timestamp(moment) if moment else str(stamp or "")
        alert = Alert(
            id=alert_id(compiled.id, hit.id),
            rule_type="single",
            event_ids=[hit.id],
            entities=entities_of([hit.source]),
            first_seen=seen,
            last_seen=seen,
            created=emitter.created,
            count=1,
            **meta,
        )
        batch.append((alert, hit.source))
        if len(batch) >= ALERT_BATCH:
            emitter.emit(compiled, batch, outcome)
            batch = []
    emitter.emit(compiled, batch, outcome)


def _run_correlation(
    store: Store,
    compiled: CompiledRule,
    since: datetime | None,
    until: datetime | None,
    emitter: _Emitter,
    outcome: RuleOutcome,
    counter: _Counter,
    scope: Mapping[str, Any] | None = None,
) -> None:
    corr = compiled.loaded.rule
    assert isinstance(corr, SigmaCorrelationRule)
    span = timespan_of(corr)
    fetch_from = since - 2 * span if since is not None else None
    anchors_from = since - span if since is not None else None
    events: list[MatchedEvent] = []
    seen: set[tuple[int, str]] = set()
    for index, base in enumerate(compiled.bases):
        assert base.query is not None
        for hit in iter_hits(store, base.query, fetch_from, until, counter, scope):
            moment = event_time(hit.source)
            if moment is None or (index, hit.id) in seen:
                continue
            seen.add((index, hit.id))
            events.append(MatchedEvent(hit.id, moment, hit.source, index))

    def resolver(base_index: int, sigma_field: str) -> list[str]:
        """The ECS paths of a Sigma field for the events of one base rule."""
        return compiled.bases[base_index].field_paths(sigma_field)

    matches = correlate(corr, events, resolver, anchors_from=anchors_from, anchors_until=until)
    matches.sort(key=lambda m: m.anchor.key)
    meta = _meta(compiled.loaded)
    batch: list[tuple[Alert, Mapping[str, Any]]] = []
    for match in matches:
        outcome.matches += 1
        group_text = group_key_text(match.group)
        docs = [e.doc for e in match.events]
        alert = Alert(
            id=alert_id(compiled.id, group_text, match.anchor.id),
            rule_type=corr.type.name.lower(),
            event_ids=[e.id for e in match.events],
            entities=entities_of(docs),
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


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def run_rule(
    store: Store,
    compiled: CompiledRule,
    since: datetime | None,
    until: datetime | None,
    summary: DetectionSummary,
    *,
    now: datetime | None = None,
    scope: Mapping[str, Any] | None = None,
    store_alerts: bool = True,
) -> RuleOutcome:
    """Run one compiled rule over ``[since, until)`` and store its alerts; a query the store
    rejects is recorded in the outcome (and summary.failed) with the store's message.
    ``scope`` adds exact-match filters (rule tests use it to isolate their cases);
    ``store_alerts=False`` only counts matches."""
    outcome = RuleOutcome(compiled.id, compiled.title)
    emitter = _Emitter(store, summary, now or clock.now(), enabled=store_alerts)
    counter = _Counter()
    started = time.perf_counter()
    try:
        if compiled.bases:
            _run_correlation(store, compiled, since, until, emitter, outcome, counter, scope)
        else:
            _run_single(store, compiled, since, until, emitter, outcome, counter, scope)
    except QueryError as exc:
        outcome.error = str(exc)
    except StoreError as exc:
        outcome.error = str(exc)
    except Exception as exc:  # a store bug must not end the whole run; report it per rule
        outcome.error = f"{type(exc).__name__}: {' '.join(str(exc).split()) or 'no message'}"
    outcome.seconds = time.perf_counter() - started
    summary.round_trips += counter.calls
    summary.events_matched += outcome.matches if not compiled.bases else 0
    summary.outcomes.append(outcome)
    if outcome.error:
        summary.failed.append({"id": compiled.id, "title": compiled.title, "error": outcome.error})
    return outcome


def _report_unrunnable(summary: DetectionSummary, compiled: Sequence[CompiledRule]) -> None:
    for c in compiled:
        row = {"id": c.id, "title": c.title, "path": str(c.loaded.path), "error": c.error or ""}
        if c.status == "invalid":
            summary.invalid.append(row)
        elif c.status == "not_convertible":
            summary.not_convertible.append(row)


def run_compiled(
    store: Store,
    compiled: Sequence[CompiledRule],
    since: datetime | None,
    until: datetime | None,
    *,
    now: datetime | None = None,
    load_errors: Sequence[Any] = (),
) -> DetectionSummary:
    """Run every runnable rule over ``[since, until)``; unrunnable rules are reported."""
    started = time.perf_counter()
    summary = DetectionSummary(since=since, until=until, rules_loaded=len(compiled))
    for error in load_errors:
        summary.invalid.append(
            {"id": "", "title": "", "path": str(error.path), "error": error.message}
        )
    _report_unrunnable(summary, compiled)
    for rule in compiled:
        if not rule.runnable:
            continue
        summary.rules_run += 1
        run_rule(store, rule, since, until, summary, now=now)
    summary.seconds = time.perf_counter() - started
    return summary


def rule_paths(extra: Sequence[Path] = (), *, include_pack: bool = True) -> list[Path]:
    """The city rule pack (unless excluded) followed by the extra folders, without repeats."""
    paths: list[Path] = []
    if include_pack and rules_dir().is_dir():
        paths.append(rules_dir())
    for p in extra:
        if p not in paths:
            paths.append(p)
    return paths


def load_and_compile(
    store_kind: str, rules_paths: Sequence[Path], *, include_pack: bool = True
) -> tuple[RuleSet, list[CompiledRule]]:
    """Load the rules of the pack and ``rules_paths`` and compile them for a store kind."""
    ruleset = load_rules(rule_paths(rules_paths, include_pack=include_pack))
    return ruleset, compile_all(ruleset.rules, target_for(store_kind))


def run_detection(
    store: Store,
    rules_paths: Sequence[Path] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    include_pack: bool = True,
    now: datetime | None = None,
) -> DetectionSummary:
    """Load the city rule pack plus ``rules_paths``, compile them for ``store`` and run them
    over ``[since, until)``; alerts land in the store's "alerts" records. The summary lists
    invalid, unconvertible and failed rules with reasons; nothing is dropped silently."""
    ruleset, compiled = load_and_compile(store.kind, rules_paths, include_pack=include_pack)
    return run_compiled(store, compiled, since, until, now=now, load_errors=ruleset.errors)


# --- scheduling --------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """How scheduled cycles choose their windows."""

    overlap: timedelta = timedelta(minutes=10)
    settle: timedelta = timedelta(seconds=30)
    lookback: timedelta = timedelta(hours=24)


#: The "state" record holding every rule's watermark (rule id -> time), and how many rules
#: may advance before it is written (it is written at the end of each cycle too).
WATERMARKS_ID = "watermarks"
WATERMARK_FLUSH_EVERY = 200


def read_watermarks(store: Store) -> dict[str, str]:
    """Each rule's watermark (formatted time) as stored by run_cycle."""
    record = store.get_record("state", WATERMARKS_ID) or {}
    rules = record.get("rules")
    return {str(k): str(v) for k, v in rules.items()} if isinstance(rules, dict) else {}


def run_cycle(
    store: Store,
    compiled: Sequence[CompiledRule],
    now: datetime,
    schedule: Schedule = Schedule(),
) -> DetectionSummary:
    """One scheduled cycle at time ``now``: each rule runs over
    ``[watermark - overlap, now - settle)`` (or ``[now - lookback, ...)`` the first time) and
    its watermark advances to ``now - settle`` once its alerts are stored. A rule that fails
    keeps its watermark, so the next cycle retries the same stretch.

    The watermarks live in one "state" record (one read per cycle, one write per
    WATERMARK_FLUSH_EVERY rules and at the end): a crash before a write only makes the next
    cycle re-read a stretch, which raises nothing twice (deterministic alert ids)."""
    started = time.perf_counter()
    end = now - schedule.settle
    summary = DetectionSummary(since=None, until=end, rules_loaded=len(compiled))
    _report_unrunnable(summary, compiled)
    marks = read_watermarks(store)
    summary.round_trips += 1
    pending = 0

    def flush() -> None:
        """Write the watermarks record."""
        store.upsert_record("state", WATERMARKS_ID, {"kind": "watermarks", "rules": marks})
        summary.round_trips += 1

    for rule in compiled:
        if not rule.runnable:
            continue
        mark = marks.get(rule.id)
        start = ecs.parse_timestamp(mark) - schedule.overlap if mark else end - schedule.lookback
        if start >= end:
            continue
        summary.rules_run += 1
        outcome = run_rule(store, rule, start, end, summary, now=now)
        if summary.since is None or start < summary.since:
            summary.since = start
        if outcome.error is not None:
            continue
        marks[rule.id] = ecs.format_timestamp(end)
        pending += 1
        if pending >= WATERMARK_FLUSH_EVERY:
            flush()
            pending = 0
    if pending:
        flush()
    summary.seconds = time.perf_counter() - started
    return summary
