"""Grouped matching on the local store raises exactly the alerts of running each rule alone,
and a rule SQLite rejects fails alone while the rest of its chunk runs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from rule_pack_events import pack_events

from soc.detect.compile import compile_all, compile_rule
from soc.detect.emit import DetectionSummary, Emitter
from soc.detect.grouped import groups_of, prefilter_of, run_grouped
from soc.detect.loader import load_rules
from soc.detect.runner import run_compiled, run_rule
from soc.resources import rules_dir
from soc.store.local import LocalStore

NOW = datetime(2026, 11, 21, tzinfo=UTC)


def alerts(store: LocalStore) -> list[tuple]:
    return sorted(
        (a["id"], a["rule_id"], tuple(a["event_ids"]), a["first_seen"], a["count"])
        for a in store.list_records("alerts")
    )


def test_grouped_run_gives_the_alerts_of_rule_by_rule(local_store: LocalStore, tmp_path):
    events = pack_events()
    rules = compile_all(load_rules([rules_dir()]).rules, "sqlite")
    assert not local_store.write_events(events).failures
    grouped = run_compiled(local_store, rules, None, None, now=NOW)
    assert not grouped.failed and grouped.alerts_new > 10
    alone = LocalStore(tmp_path / "alone.db")
    try:
        alone.write_events(events)
        summary = DetectionSummary(None, None)
        for rule in rules:
            if rule.runnable:
                run_rule(alone, rule, None, None, summary, now=NOW)
        assert not summary.failed
        assert alerts(local_store) == alerts(alone)
        assert grouped.events_matched == summary.events_matched
    finally:
        alone.close()
    # fewer scans than rules: the pack's rules share their log sources
    singles = [r for r in rules if r.runnable and not r.bases]
    assert len(groups_of(singles)) < len(singles) / 2


def test_a_rejected_rule_fails_alone_and_its_chunk_still_runs(local_store: LocalStore) -> None:
    rules = [c for c in compile_all(load_rules([rules_dir()]).rules, "sqlite") if c.runnable]
    singles = [r for r in rules if not r.bases and r.loaded.standalone]
    chunk = max(groups_of(singles), key=len)
    assert len(chunk) >= 3
    broken = replace(chunk[1], query="no_such_function(`user.name`)")
    mixed = [chunk[0], broken, *chunk[2:]]
    events = pack_events()
    local_store.write_events(events)
    summary = DetectionSummary(None, None)
    outcomes = run_grouped(
        local_store, mixed, None, None, summary, Emitter(local_store, summary, NOW)
    )
    assert "no_such_function" in (outcomes[id(broken)].error or "")
    assert [f["id"] for f in summary.failed] == [broken.id]
    matched = sum(outcomes[id(r)].matches for r in mixed if r is not broken)
    expected = sum(
        local_store.count(r.query) for r in mixed if r is not broken and r.query is not None
    )
    assert matched == expected > 0


def test_prefilter_names_the_indexed_log_source_columns() -> None:
    rules = load_rules([rules_dir()]).rules
    linux = next(
        compile_rule(r, "sqlite")
        for r in rules
        if r.raw.get("logsource", {}).get("service") == "sshd"
    )
    assert "`event.dataset` = 'system.auth'" in (prefilter_of(linux.variants) or "")


def test_scan_with_a_field_no_event_has_and_a_long_value_list(local_store: LocalStore) -> None:
    # A chunk whose rules name a column the store has never had still runs (the column is
    # added, it matches nothing), and a long list of values on one column (merged into one
    # soc_like_any call) matches exactly what the LIKE list matches.
    local_store.write_events(pack_events())
    names = [f"nobody{i}" for i in range(20)] + ["ROOT", "adm_n", "%"]
    likes = " OR ".join(f"`user.name` LIKE '%{n}%' ESCAPE '\\'" for n in names)
    queries = ["`never.seen.field` = 'x'", likes]
    rows = list(local_store.scan_rules(queries))
    assert rows and all(matched == [1] for _, matched in rows)
    assert sorted(hit.id for hit, _ in rows) == sorted(
        hit.id for hit in local_store.search(likes, size=10_000).hits
    )


class _Recording(LocalStore):
    """A local store that notes the order of group scans and alert writes."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[str] = []

    def scan_rules(self, *args, **kwargs):
        self.calls.append("scan")
        return super().scan_rules(*args, **kwargs)

    def create_records(self, kind, records):
        self.calls.append("write")
        return super().create_records(kind, records)


def test_alerts_are_written_in_batches_over_the_groups(tmp_path, monkeypatch) -> None:
    """Alert writes wait until a batch has gathered over the groups (each write makes the
    scanning connections drop their page caches) and are then one write for all the rules,
    all are written before the run returns, and the alerts are the same as when each
    rule's are written at once."""
    import soc.detect.grouped as grouped

    rules = [c for c in compile_all(load_rules([rules_dir()]).rules, "sqlite") if c.runnable]
    singles = [r for r in rules if not r.bases]
    assert len(groups_of(singles)) > 3

    def run(name: str) -> tuple[list[str], list[tuple], DetectionSummary]:
        store = _Recording(tmp_path / f"{name}.db")
        store.write_events(pack_events())
        summary = DetectionSummary(None, None)
        run_grouped(store, singles, None, None, summary, Emitter(store, summary, NOW))
        found = alerts(store)
        store.close()
        return store.calls, found, summary

    calls, gathered, summary = run("gathered")
    assert 0 < summary.alerts_new < grouped.ALERT_BATCH
    last_scan = max(i for i, c in enumerate(calls) if c == "scan")
    assert "write" not in calls[:last_scan]
    assert calls.count("write") == 1  # the alerts of every rule in one create_records

    monkeypatch.setattr(grouped, "ALERT_BATCH", 1)
    calls, at_once, summary_at_once = run("at-once")
    assert "write" in calls[: max(i for i, c in enumerate(calls) if c == "scan")]
    assert at_once == gathered
    assert sorted(a["id"] for a in summary_at_once.alerts) == sorted(
        a["id"] for a in summary.alerts
    )


def test_a_group_whose_log_source_has_no_event_in_the_range_is_not_scanned(
    tmp_path, monkeypatch
) -> None:
    """Only the groups with events of their log source in the range are read, and the
    alerts are those of scanning every group."""
    rules = [c for c in compile_all(load_rules([rules_dir()]).rules, "sqlite") if c.runnable]
    singles = [r for r in rules if not r.bases]
    linux = [e for e in pack_events() if e.get("event", {}).get("dataset") == "system.auth"]
    assert linux

    def run(name: str) -> tuple[int, list[tuple]]:
        store = _Recording(tmp_path / f"{name}.db")
        store.write_events(linux)
        summary = DetectionSummary(None, None)
        run_grouped(store, singles, None, None, summary, Emitter(store, summary, NOW))
        found = alerts(store)
        store.close()
        return store.calls.count("scan"), found

    scans, found = run("skipping")
    assert found  # the Linux rules raised their alerts
    monkeypatch.setattr(LocalStore, "holds_events", lambda *args, **kwargs: True)
    every_scan, every_found = run("every")
    assert scans < every_scan == len(groups_of(singles))
    assert found == every_found


def test_holds_events_tells_by_log_source_and_range(local_store: LocalStore) -> None:
    local_store.write_events(
        [{"_id": "a", "@timestamp": "2026-11-20T10:00:00Z", "event": {"dataset": "x"}}]
    )
    start, end = datetime(2026, 11, 20, 9, tzinfo=UTC), datetime(2026, 11, 20, 11, tzinfo=UTC)
    holds = local_store.holds_events
    assert holds("`event.dataset`='x'", start=start, end=end)
    assert holds(None, start=None, end=None)
    assert not holds("`event.dataset`='y'", start=start, end=end)
    assert not holds("`event.dataset`='x'", start=end, end=None)
    # a column no event has had: the store cannot tell, the group is scanned
    assert holds("`no.such.field`='x'", start=start, end=end)
