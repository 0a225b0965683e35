"""Correlations in lock step on the local store: a base rule shared by two correlations is
read by one statement, the alerts are those of running each correlation alone, and memory
is the windows, not the base rule's matches."""

from __future__ import annotations

import tracemalloc
from datetime import timedelta
from pathlib import Path

import pytest
from test_base_matches import RULES, T0

from soc import ecs
from soc.detect.base_matches import BaseMatches
from soc.detect.compile import compile_all
from soc.detect.emit import DetectionSummary
from soc.detect.loader import load_text
from soc.detect.lockstep import correlate_together
from soc.detect.runner import iter_hits, run_compiled, run_rule
from soc.store.local import LocalStore


def failures(count: int, every: timedelta) -> list[dict]:
    """Failed logins from a few addresses and users, ``every`` apart."""
    return [
        {
            "_id": f"f{i:06d}",
            "@timestamp": ecs.format_timestamp(T0 + every * i),
            "event": {"dataset": "system.auth", "outcome": "failure"},
            "process": {"name": "sshd"},
            "source": {"ip": f"203.0.113.{i % 3}"},
            "user": {"name": f"user{i % 5}"},
            "message": "Failed password " + "x" * 200,
        }
        for i in range(count)
    ]


def alerts(store: LocalStore) -> list[tuple]:
    return sorted(
        (a["id"], a["rule_id"], tuple(a["event_ids"]), a["count"])
        for a in store.list_records("alerts")
    )


@pytest.mark.parametrize("since_hours", [None, 3])
def test_shared_base_rule_read_once_with_the_alerts_of_each_rule_alone(
    tmp_path: Path, since_hours: int | None
) -> None:
    # two bursts, the second starting at 03:00; with since=03:00 each rule reads from its own
    # range before it (10 minutes, 2 hours), which the lock step must respect
    second = failures(2000, timedelta(seconds=7))
    for event in second:
        event["_id"] = "s" + event["_id"]
        moment = ecs.parse_timestamp(event["@timestamp"]) + timedelta(hours=3)
        event["@timestamp"] = ecs.format_timestamp(moment)
    events = failures(1000, timedelta(seconds=7)) + second
    compiled = compile_all(load_text(RULES).rules, "sqlite", cache=None)
    correlations = [c for c in compiled if c.bases]
    since = T0 + timedelta(hours=since_hours) if since_hours is not None else None
    until = T0 + timedelta(hours=6)
    together_store = LocalStore(tmp_path / "together.db")
    alone_store = LocalStore(tmp_path / "alone.db")
    for store in (together_store, alone_store):
        assert not store.write_events(events).failures
    together = correlate_together(together_store, correlations, since, until)
    assert together is not None and together.statements == 1  # one read for both rules
    summary = run_compiled(together_store, compiled, since, until, now=until)
    assert not summary.failed
    for rule in correlations:  # each alone, the per-rule way (not in lock step)
        run_rule(alone_store, rule, since, until, DetectionSummary(since, until), now=until)
    assert alerts(together_store) == alerts(alone_store)
    assert {a[1] for a in alerts(together_store)} == {c.id for c in correlations}
    together_store.close()
    alone_store.close()


def test_lock_step_holds_windows_not_the_base_rule_matches(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "burst.db")
    assert not store.write_events(failures(20_000, timedelta(seconds=2))).failures
    compiled = compile_all(load_text(RULES).rules, "sqlite", cache=None)
    correlations = [c for c in compiled if c.bases]
    tracemalloc.start()
    try:
        together = correlate_together(store, correlations, None, None)
        _, streamed = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        query = correlations[0].bases[0].query
        assert query is not None
        kept = BaseMatches(correlations, None).events(
            query, None, None, lambda q, s, e: iter_hits(store, q, s, e)
        )
        _, listed = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert together is not None and len(kept) == 20_000
    assert sum(len(m) for m in together.matches.values()) > 0
    # holding the 20,000 small matches (what a shared base rule cost before) takes several
    # times what the lock step needs at its peak
    assert streamed * 3 < listed
    store.close()


UNSEEN_FIELD_RULE = """
---
title: password logins failed
name: ssh_password_failed
logsource: {product: linux, service: sshd}
detection:
  selection: {event.outcome: failure, system.auth.ssh.method: password}
  condition: selection
---
title: password brute force
id: 1b2c3d4e-0000-4000-8000-000000000003
correlation:
  type: event_count
  rules: ssh_password_failed
  group-by: [source.ip]
  timespan: 5m
  condition: {gte: 3}
"""


def test_a_base_rule_naming_a_field_no_event_has_keeps_the_lock_step(tmp_path: Path) -> None:
    # On a fresh store no event has had system.auth.ssh.method: the column is added before
    # the streams open, so the lock step goes on (it fell back to one rule at a time, holding
    # the shared base rule's matches, when the column came while another stream was open).
    store = LocalStore(tmp_path / "fresh.db")
    alone = LocalStore(tmp_path / "alone.db")
    try:
        events = failures(600, timedelta(seconds=7))
        for target in (store, alone):
            assert not target.write_events(events).failures
        compiled = compile_all(load_text(RULES + UNSEEN_FIELD_RULE).rules, "sqlite", cache=None)
        correlations = [c for c in compiled if c.bases]
        assert len({b.query for c in correlations for b in c.bases}) == 2
        together = correlate_together(store, correlations, None, None)
        assert together is not None and together.statements == 2
        assert run_compiled(store, compiled, None, None, now=T0 + timedelta(days=1)).ok
        for rule in correlations:
            run_rule(alone, rule, None, None, DetectionSummary(None, None), now=T0)
        assert alerts(store) == alerts(alone) and alerts(store)
    finally:
        store.close()
        alone.close()
