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
