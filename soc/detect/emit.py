"""What a detection run reports (RuleOutcome, DetectionSummary) and how alerts reach the
store: suppression and batched bookkeeping (_Emitter), shared by the per-rule runner and the
grouped scan."""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from soc import ecs
from soc.detect.alerts import Alert, AlertTally, alert_id, entities_of, event_time
from soc.detect.compile import CompiledRule
from soc.detect.loader import LoadedRule
from soc.store.base import Hit, RecordKind, Store
from soc.timespec import parse_duration


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


#: How many of a run's new alerts its DetectionSummary keeps whole (for the tables that show
#: them); beyond, only their ids and tallies: about 1.5 KB less per alert.
KEPT_ALERTS = 1_000


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
    #: The first KEPT_ALERTS alerts created by this run, whole (see add_alert).
    alerts: list[dict[str, Any]] = field(default_factory=list)
    #: The ids of every alert created by this run, in the order they were created.
    alert_ids: list[str] = field(default_factory=list)
    #: Levels, rules and entities counted over every alert created by this run.
    tally: AlertTally = field(default_factory=AlertTally)
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
            "alert_ids": list(self.alert_ids),
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

    def add_alert(self, record: dict[str, Any]) -> None:
        """Count an alert this run created: its id and tally always, the record itself
        while fewer than KEPT_ALERTS are kept (a run's memory must not grow with its
        alerts; the store holds them all)."""
        self.alerts_new += 1
        self.alert_ids.append(str(record["id"]))
        self.tally.add(record)
        if len(self.alerts) < KEPT_ALERTS:
            self.alerts.append(record)

    @property
    def all_alerts_kept(self) -> bool:
        """Whether ``alerts`` holds every alert this run created."""
        return len(self.alerts) == len(self.alert_ids)


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


class Emitter:
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
            # No refresh first: every alert this emitter created with one of these keys
            # is in self._raised already; a refresh per batch would cost the cluster more
            # than the one-second lag it hides.
            records = self.store.list_records(
                "alerts", filters={"rule_id": rule_id, "suppress_key": chunk}, fresh=False
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
        self.emit_many([(compiled, batch, outcome)])

    def emit_many(
        self,
        items: Sequence[
            tuple[CompiledRule, Sequence[tuple[Alert, Mapping[str, Any]]], RuleOutcome]
        ],
    ) -> None:
        """As emit for each (rule, batch, outcome) in turn, with the new alerts of all of
        them created in one create_records (one transaction on the local store)."""
        if not self.enabled:
            return
        decided = [
            (outcome, self._decide(compiled, batch, outcome))
            for compiled, batch, outcome in items
            if batch
        ]
        to_create = {key: record for _, chosen in decided for key, record in chosen.items()}
        if not to_create:
            return
        created = create_records(self.store, "alerts", to_create)
        self.summary.round_trips += 1
        for outcome, chosen in decided:
            for alert_key, record in chosen.items():
                if alert_key in created:
                    outcome.alerts_new += 1
                    self.summary.add_alert(record)
                else:
                    outcome.alerts_existing += 1
                    self.summary.alerts_existing += 1

    def _decide(
        self,
        compiled: CompiledRule,
        batch: Sequence[tuple[Alert, Mapping[str, Any]]],
        outcome: RuleOutcome,
    ) -> dict[str, dict[str, Any]]:
        """The records of ``batch`` to create: neither stored already (counted as existing)
        nor suppressed (counted)."""
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
        return to_create


def meta_of(loaded: LoadedRule) -> dict[str, Any]:
    """The rule fields every alert of ``loaded`` carries."""
    return {
        "rule_id": loaded.id,
        "rule_title": loaded.title,
        "level": loaded.level,
        "tags": loaded.tags,
        "description": loaded.description,
    }


#: Most events one single-event rule may turn into alerts in one run; the rest are counted.
MAX_ALERTS_PER_RULE = 10_000


def single_alert(
    compiled: CompiledRule,
    hit: Hit,
    meta: Mapping[str, Any],
    created: str,
    outcome: RuleOutcome,
) -> Alert | None:
    """Count one match of a single-event rule; its alert, or None when the rule raises none
    (a correlation's base rule) or has reached MAX_ALERTS_PER_RULE (counted as truncated)."""
    outcome.matches += 1
    if not compiled.loaded.standalone:
        return None
    if outcome.matches > MAX_ALERTS_PER_RULE:
        outcome.truncated += 1
        return None
    stamp = ecs.get_field(hit.source, "@timestamp")
    moment = event_time(hit.source)
    seen = ecs.format_timestamp(moment) if moment else str(stamp or "")
    return Alert(
        id=alert_id(compiled.id, hit.id),
        rule_type="single",
        event_ids=[hit.id],
        entities=entities_of([hit.source]),
        first_seen=seen,
        last_seen=seen,
        created=created,
        count=1,
        **meta,
    )
