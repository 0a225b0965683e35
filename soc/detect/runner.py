"""Run compiled rules over a time window of a store, and on a schedule with watermarks.

One-shot: ``run_detection(store, rules_paths, since, until)``. Scheduled: ``run_cycle`` keeps
one watermark per rule in the store's "state" records; each cycle runs
``[watermark - overlap, now - settle)`` so late events are still seen, and alerts have
deterministic ids created with ``put_record`` so an overlap or a restart never raises the same
alert twice. The watermark moves only after the rule's alerts are stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from soc import clock, ecs
from soc.detect import rule_snapshot
from soc.detect.alerts import Alert
from soc.detect.collector import fewer_collections
from soc.detect.compile import BulkConverter, CompiledRule, compile_all
from soc.detect.emit import (
    ALERT_BATCH,
    DetectionSummary,
    Emitter,
    RuleOutcome,
    meta_of,
    single_alert,
)
from soc.detect.es_singles import run_batched
from soc.detect.group_scan import GroupScanner
from soc.detect.grouped import run_grouped
from soc.detect.leases import Lease, merge_watermarks
from soc.detect.loader import RuleSet, load_rules
from soc.detect.rule_cache import target_for
from soc.detect.rule_files import RuleFile, Signature, read_rule_files, rule_paths
from soc.detect.store_reads import RequestCounter, iter_hits
from soc.store.base import QueryError, Store, StoreError

# Correlations are run by soc.detect.run_correlation, imported by a run that has some (with
# pySigma): a run of single-event rules from the caches starts without either.
if TYPE_CHECKING:
    from soc.detect.correlation import CorrelationMatch
    from soc.detect.run_correlation import CorrelationReads


def _run_single(
    store: Store,
    compiled: CompiledRule,
    since: datetime | None,
    until: datetime | None,
    emitter: Emitter,
    outcome: RuleOutcome,
    counter: RequestCounter,
    scope: Mapping[str, Any] | None = None,
) -> None:
    assert compiled.query is not None
    if not compiled.loaded.standalone:
        # A correlation's base rule raises no alerts of its own: its matches are only
        # counted, which the store does without sending the events.
        outcome.matches = store.count(compiled.query, filters=scope, start=since, end=until)
        counter.calls += 1
        return
    meta = meta_of(compiled.loaded)
    batch: list[tuple[Alert, Mapping[str, Any]]] = []
    for hit in iter_hits(store, compiled.query, since, until, counter, scope):
        alert = single_alert(compiled, hit, meta, emitter.created, outcome)
        if alert is None:
            continue
        batch.append((alert, hit.source))
        if len(batch) >= ALERT_BATCH:
            emitter.emit(compiled, batch, outcome)
            batch = []
    emitter.emit(compiled, batch, outcome)


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
    reads: CorrelationReads | None = None,
) -> RuleOutcome:
    """Run one compiled rule over ``[since, until)`` and store its alerts; a query the store
    rejects is recorded in the outcome (and summary.failed) with the store's message.
    ``scope`` adds exact-match filters (rule tests use it to isolate their cases);
    ``store_alerts=False`` only counts matches; ``reads`` (soc.detect.run_correlation's
    prepare_reads) lets the correlations of one run read a common base rule once, and gives
    their windows when they were decided in lock step."""
    outcome = RuleOutcome(compiled.id, compiled.title)
    emitter = Emitter(store, summary, now or clock.now(), enabled=store_alerts)
    counter = RequestCounter()
    started = time.perf_counter()
    try:
        if compiled.bases:
            from soc.detect.run_correlation import run_correlation

            found: list[CorrelationMatch] | None = None
            if reads is not None:
                found = reads.found(compiled)
            run_correlation(
                store,
                compiled,
                since,
                until,
                emitter,
                outcome,
                counter,
                scope,
                reads.shared if reads is not None else None,
                reads.candidates if reads is not None and scope is None else None,
                found,
            )
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
        if c.status not in ("invalid", "not_convertible"):
            continue
        row = {"id": c.id, "title": c.title, "path": str(c.loaded.path), "error": c.error or ""}
        if c.status == "invalid":
            summary.invalid.append(row)
        else:
            summary.not_convertible.append(row)


def run_compiled(
    store: Store,
    compiled: Sequence[CompiledRule],
    since: datetime | None,
    until: datetime | None,
    *,
    now: datetime | None = None,
    load_errors: Sequence[Any] = (),
    on_progress: Callable[[int, int], None] | None = None,
    scanner: GroupScanner | None = None,
) -> DetectionSummary:
    """Run every runnable rule over ``[since, until)``; unrunnable rules are reported.
    ``on_progress(done, total)`` is called as rules finish (unrunnable ones count as done
    from the start), for a progress bar; it changes nothing in how rules are run.
    ``scanner`` scans the local store's rule groups elsewhere (see run_grouped)."""
    started = time.perf_counter()
    summary = DetectionSummary(since=since, until=until, rules_loaded=len(compiled))
    for error in load_errors:
        summary.invalid.append(
            {"id": "", "title": "", "path": str(error.path), "error": error.message}
        )
    _report_unrunnable(summary, compiled)
    runnable = [rule for rule in compiled if rule.runnable]
    summary.rules_run += len(runnable)
    progress = None
    if on_progress is not None:
        skipped, total = len(compiled) - len(runnable), len(compiled)

        def progress(done: int) -> None:
            on_progress(skipped + done, total)

        progress(0)
    with fewer_collections():
        run_many(
            store, runnable, since, until, summary, now=now, on_progress=progress, scanner=scanner
        )
    summary.seconds = time.perf_counter() - started
    return summary


def run_many(
    store: Store,
    rules: Sequence[CompiledRule],
    since: datetime | None,
    until: datetime | None,
    summary: DetectionSummary,
    *,
    now: datetime | None = None,
    on_progress: Callable[[int], None] | None = None,
    window_empty: bool = False,
    scanner: GroupScanner | None = None,
) -> list[RuleOutcome]:
    """Run runnable rules over ``[since, until)``; their outcomes, in order. On a store that
    can scan many rules at once (the local store's ``scan_rules``) single-event rules run
    grouped by log source (soc.detect.grouped); otherwise, and for correlations, rule by
    rule. ``on_progress(done)`` is told how many rules are finished as that grows.
    ``window_empty`` (the caller counted no event in the window) answers the single-event
    rules without a search: they match nothing. Correlations still run (they also read
    events before ``since``)."""
    grouped: dict[int, RuleOutcome] = {}
    singles = [r for r in rules if not r.bases and r.loaded.standalone]
    if window_empty:
        grouped = {id(r): RuleOutcome(r.id, r.title) for r in rules if not r.bases}
    elif hasattr(store, "scan_rules") and singles:
        emitter = Emitter(store, summary, now or clock.now())
        grouped = run_grouped(
            store,  # type: ignore[arg-type]
            singles,
            since,
            until,
            summary,
            emitter,
            scanner=scanner,
        )
    # --- batched searches (Elasticsearch): see soc.detect.es_singles ---
    elif hasattr(store, "search_many"):
        batched = [r for r in rules if not r.bases]
        if batched:
            emitter = Emitter(store, summary, now or clock.now())
            grouped = run_batched(store, batched, since, until, summary, emitter)
    # --- end of batched searches ---
    correlations = [r for r in rules if r.bases]
    reads: CorrelationReads | None = None
    if correlations:
        # Base rules read once for all correlations: in lock step on the local store; on
        # Elasticsearch candidate groups first, then every base query once (one by one
        # only if the store rejects a query).
        from soc.detect.run_correlation import prepare_reads

        reads = prepare_reads(store, correlations, since, until, summary)
    done = len(grouped)
    if on_progress is not None and done:
        on_progress(done)
    outcomes: list[RuleOutcome] = []
    for rule in rules:
        outcome = grouped.get(id(rule))
        if outcome is None:
            outcome = run_rule(store, rule, since, until, summary, now=now, reads=reads)
            done += 1
            if on_progress is not None:
                on_progress(done)
        else:
            summary.outcomes.append(outcome)
        outcomes.append(outcome)
    return outcomes


def load_and_compile(
    store_kind: str,
    rules_paths: Sequence[Path],
    *,
    include_pack: bool = True,
    convert_many: BulkConverter | None = None,
    files: Sequence[RuleFile] | None = None,
    folders: Mapping[str, Signature] | None = None,
) -> tuple[RuleSet, list[CompiledRule]]:
    """Load the rules of the pack and ``rules_paths`` and compile them for a store kind
    (rules missing from the cache through ``convert_many`` when given, see compile_all).

    An unchanged rule set comes from its snapshot (soc.detect.rule_snapshot) without
    reading its files, and a rule set loaded here is kept as one; the result is the same.
    ``files``: the rule files as the caller already read them (read_rule_files), having
    found no snapshot (none is looked for then), and ``folders`` the folders that read
    walked (without them no snapshot is written)."""
    paths = rule_paths(rules_paths, include_pack=include_pack)
    target = target_for(store_kind)
    if files is None:
        restored = rule_snapshot.restore(paths, target)
        if restored is not None:
            return restored
        walked: dict[str, Signature] = {}
        files, folders = read_rule_files(paths, walked), walked
    ruleset = load_rules(paths, files=files)
    compiled = compile_all(ruleset.rules, target, convert_many=convert_many)
    if folders is not None:
        rule_snapshot.save(paths, target, files, folders, ruleset, compiled)
    return ruleset, compiled


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
    lease: Lease | None = None,
    scanner: GroupScanner | None = None,
) -> DetectionSummary:
    """One scheduled cycle at time ``now``: each rule runs over
    ``[watermark - overlap, now - settle)`` (or ``[now - lookback, ...)`` the first time) and
    its watermark advances to ``now - settle`` once its alerts are stored. A rule that fails
    keeps its watermark, so the next cycle retries the same stretch.

    The watermarks live in one "state" record (one read per cycle, one write per
    WATERMARK_FLUSH_EVERY rules and at the end): a crash before a write only makes the next
    cycle re-read a stretch, which raises nothing twice (deterministic alert ids).

    With a ``lease`` (soc.detect.leases) the scheduler renews it first and runs only its
    share of the rules; watermark writes are conditional and keep each rule's later mark, so
    schedulers sharing a store never move one back. ``scanner`` scans the local store's rule
    groups elsewhere (see run_grouped)."""
    started = time.perf_counter()
    end = now - schedule.settle
    summary = DetectionSummary(since=None, until=end, rules_loaded=len(compiled))
    _report_unrunnable(summary, compiled)
    marks = read_watermarks(store)
    summary.round_trips += 1
    pending = 0
    # --- several schedulers: see soc.detect.leases ---
    if lease is not None:
        before = lease.requests
        compiled = lease.share(list(compiled), lambda rule: rule.id)
        summary.round_trips += lease.requests - before

    def flush() -> None:
        """Write the watermarks record (conditionally, each rule keeping its later mark)."""
        summary.round_trips += merge_watermarks(store, WATERMARKS_ID, marks)

    # --- end of several schedulers ---

    # Rules whose watermarks agree (the usual case: they advanced together) share a window
    # and run together, so the grouped scan serves them all.
    by_start: dict[datetime, list[CompiledRule]] = {}
    for rule in compiled:
        if not rule.runnable:
            continue
        mark = marks.get(rule.id)
        start = ecs.parse_timestamp(mark) - schedule.overlap if mark else end - schedule.lookback
        if start < end:
            by_start.setdefault(start, []).append(rule)
    for start, rules in sorted(by_start.items(), key=lambda kv: kv[0]):
        summary.rules_run += len(rules)
        if summary.since is None or start < summary.since:
            summary.since = start
        # A window without any event (a quiet stretch, or a cycle soon after the last)
        # needs no search per single-event rule: one count says so.
        empty = store.count(start=start, end=end) == 0
        summary.round_trips += 1
        with fewer_collections():
            outcomes = run_many(
                store, rules, start, end, summary, now=now, window_empty=empty, scanner=scanner
            )
        for rule, outcome in zip(rules, outcomes, strict=True):
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
