"""Correlations with exact sliding windows, and scheduled runs that restart mid-stream, on
both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from soc import ecs
from soc.detect.compile import compile_all
from soc.detect.loader import load_text
from soc.detect.rule_cache import target_for
from soc.detect.runner import Schedule, run_compiled, run_cycle
from soc.store.base import Store

pytest_plugins = ["es_fixtures"]

BRUTE_FORCE = """
title: SSH login failed
id: 5a0c7b0e-3f39-4c5e-9a51-0c1d6f1c9a01
name: ssh_failed
logsource: {product: linux, service: sshd}
detection:
  selection:
    event.action: ssh_login
    event.outcome: failure
  condition: selection
level: low
---
title: SSH brute force, 10 failures in 5 minutes from one address
id: 5a0c7b0e-3f39-4c5e-9a51-0c1d6f1c9a02
correlation:
  type: event_count
  rules: ssh_failed
  group-by: [source.ip]
  timespan: 5m
  condition: {gte: 10}
level: high
tags: [attack.credential-access, attack.t1110]
"""

SPRAY = """
title: SSH login failed
id: 5a0c7b0e-3f39-4c5e-9a51-0c1d6f1c9a11
name: ssh_failed_spray
logsource: {product: linux, service: sshd}
detection:
  selection:
    event.action: ssh_login
    event.outcome: failure
  condition: selection
---
title: Password spraying, 5 users from one address in 10 minutes
id: 5a0c7b0e-3f39-4c5e-9a51-0c1d6f1c9a12
correlation:
  type: value_count
  rules: ssh_failed_spray
  group-by: [source.ip]
  timespan: 10m
  condition: {gte: 5, field: user.name}
level: high
"""

ORDERED = """
title: failure
id: 5a0c7b0e-3f39-4c5e-9a51-0c1d6f1c9a21
name: step_fail
logsource: {product: linux, service: sshd}
detection:
  selection: {event.action: ssh_login, event.outcome: failure}
  condition: selection
---
title: success
id: 5a0c7b0e-3f39-4c5e-9a51-0c1d6f1c9a22
name: step_ok
logsource: {product: linux, service: sshd}
detection:
  selection: {event.action: ssh_login, event.outcome: success}
  condition: selection
---
title: Login succeeds after a failure
id: 5a0c7b0e-3f39-4c5e-9a51-0c1d6f1c9a23
correlation:
  type: temporal_ordered
  rules: [step_fail, step_ok]
  group-by: [source.ip]
  timespan: 2m
level: high
"""


def auth(
    n: int, moment: datetime, ip: str, *, user: str = "root", outcome: str = "failure"
) -> dict[str, Any]:
    return {
        "_id": ecs.event_id(f"test-corr:{ip}", n),
        "@timestamp": ecs.format_timestamp(moment),
        "event": {"dataset": "system.auth", "action": "ssh_login", "outcome": outcome},
        "process": {"name": "sshd"},
        "source": {"ip": ip},
        "user": {"name": user},
        "host": {"name": "mail-01"},
        "event.original": f"Failed password for {user} from {ip}",
    }


def compiled_for(store: Store, text: str) -> list:
    ruleset = load_text(text)
    assert not ruleset.errors
    return compile_all(ruleset.rules, target_for(store.kind))


T = datetime(2026, 11, 20, 10, 4, 30, tzinfo=UTC)


def test_ten_failures_straddling_a_five_minute_boundary_fire_once(any_store: Store) -> None:
    # 10:04:30 .. 10:05:24 : across the 10:05:00 bucket boundary
    events = [auth(i, T + timedelta(seconds=6 * i), "203.0.113.5") for i in range(10)]
    # another address with 9 failures: below the threshold
    events += [auth(100 + i, T + timedelta(seconds=5 * i), "203.0.113.9") for i in range(9)]
    any_store.write_events(events)
    any_store.refresh()
    summary = run_compiled(
        any_store,
        compiled_for(any_store, BRUTE_FORCE),
        T - timedelta(hours=1),
        T + timedelta(hours=1),
    )
    assert not summary.failed
    alerts = [a for a in summary.alerts if a["rule_type"] == "event_count"]
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["group"] == {"source.ip": "203.0.113.5"}
    assert alert["count"] == 10
    assert alert["first_seen"] == "2026-11-20T10:04:30.000000Z"
    assert alert["last_seen"] == "2026-11-20T10:05:24.000000Z"
    assert sorted(alert["event_ids"]) == sorted(e["_id"] for e in events[:10])
    assert alert["entities"]["source.ip"] == ["203.0.113.5"]
    assert alert["level"] == "high" and "attack.t1110" in alert["tags"]
    # the base rule raises nothing of its own (it is referenced without generate: true)
    assert all(a["rule_type"] != "single" for a in summary.alerts)
    # running again raises nothing new
    again = run_compiled(
        any_store,
        compiled_for(any_store, BRUTE_FORCE),
        T - timedelta(hours=1),
        T + timedelta(hours=1),
    )
    assert again.alerts_new == 0 and again.alerts_existing == 1


def test_failures_spread_wider_than_the_window_do_not_fire(any_store: Store) -> None:
    events = [auth(i, T + timedelta(seconds=34 * i), "203.0.113.7") for i in range(10)]  # 5m06s
    any_store.write_events(events)
    any_store.refresh()
    summary = run_compiled(
        any_store,
        compiled_for(any_store, BRUTE_FORCE),
        T - timedelta(hours=1),
        T + timedelta(hours=1),
    )
    assert summary.alerts_new == 0


def test_value_count_counts_distinct_users(any_store: Store) -> None:
    users = ["an", "binh", "chi", "dung", "an", "giang"]
    events = [
        auth(i, T + timedelta(minutes=i), "198.51.100.4", user=u) for i, u in enumerate(users)
    ]
    events += [auth(50 + i, T + timedelta(minutes=i), "198.51.100.5", user="an") for i in range(8)]
    any_store.write_events(events)
    any_store.refresh()
    summary = run_compiled(
        any_store, compiled_for(any_store, SPRAY), T - timedelta(hours=1), T + timedelta(hours=1)
    )
    assert [a["group"] for a in summary.alerts] == [{"source.ip": "198.51.100.4"}]
    assert summary.alerts[0]["count"] == 5


def test_temporal_ordered_needs_the_order(any_store: Store) -> None:
    events = [
        auth(1, T, "192.0.2.1"),
        auth(2, T + timedelta(seconds=30), "192.0.2.1", outcome="success"),
        # wrong order for the second address: success first, then failure
        auth(3, T, "192.0.2.2", outcome="success"),
        auth(4, T + timedelta(seconds=30), "192.0.2.2"),
        # right order but too far apart
        auth(5, T, "192.0.2.3"),
        auth(6, T + timedelta(minutes=3), "192.0.2.3", outcome="success"),
    ]
    any_store.write_events(events)
    any_store.refresh()
    summary = run_compiled(
        any_store, compiled_for(any_store, ORDERED), T - timedelta(hours=1), T + timedelta(hours=1)
    )
    groups = [a["group"] for a in summary.alerts if a["rule_type"] == "temporal_ordered"]
    assert groups == [{"source.ip": "192.0.2.1"}]


def test_scheduled_runs_restarted_mid_stream_neither_repeat_nor_miss(any_store: Store) -> None:
    """Events arrive over an hour; cycles run every 5 minutes with a restart (new compiled
    rules, state only in the store) in the middle; the alerts equal a one-shot run's."""
    start = datetime(2026, 11, 20, 9, 0, 0, tzinfo=UTC)
    bursts = [start + timedelta(minutes=m, seconds=40) for m in (3, 14, 29, 33, 52)]
    events: list[dict[str, Any]] = []
    for b, moment in enumerate(bursts):
        ip = f"203.0.113.{20 + b}"
        events += [auth(1000 * b + i, moment + timedelta(seconds=9 * i), ip) for i in range(12)]
    events.sort(key=lambda e: e["@timestamp"])
    plan = Schedule(
        overlap=timedelta(minutes=10), settle=timedelta(seconds=30), lookback=timedelta(hours=1)
    )
    rules = compiled_for(any_store, BRUTE_FORCE)
    raised: list[str] = []
    now = start
    written = 0
    for cycle in range(16):
        now = start + timedelta(minutes=5 * (cycle + 1))
        # events "arrive" up to now - 20 s, and one late batch arrives a cycle late
        ready = [
            e
            for e in events[written:]
            if e["@timestamp"] < ecs.format_timestamp(now - timedelta(seconds=20))
        ]
        if cycle == 6:
            ready = ready[: len(ready) // 2]
        any_store.write_events(ready)
        any_store.refresh()
        written += len(ready)
        if cycle == 8:
            rules = compiled_for(any_store, BRUTE_FORCE)  # a restart: nothing kept in memory
        summary = run_cycle(any_store, rules, now, plan)
        assert not summary.failed
        raised += [a["id"] for a in summary.alerts]
    assert len(raised) == len(set(raised)), "an alert was raised twice"
    stored = any_store.list_records("alerts")
    assert len(stored) == len(raised) == len(bursts)
    assert sorted(a["group"]["source.ip"] for a in stored) == [
        f"203.0.113.{20 + b}" for b in range(len(bursts))
    ]
