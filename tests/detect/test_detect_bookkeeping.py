"""Alert bookkeeping is batched: deciding thousands of alerts with suppression takes a few
store requests per thousand, on both stores, and a rerun decides the same way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from soc import ecs
from soc.detect.compile import compile_all
from soc.detect.loader import load_text
from soc.detect.rule_cache import target_for
from soc.detect.runner import run_compiled
from soc.store.base import Store

pytest_plugins = ["es_fixtures"]

NOW = datetime(2026, 11, 21, tzinfo=UTC)
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)

ROOT_LOGIN = """
title: root login over ssh
id: 7a0e4c55-0000-4000-8000-000000000001
logsource: {product: linux, service: sshd}
detection:
  selection: {user.name: root, event.outcome: success}
  condition: selection
level: high
suppress: {by: [source.ip], for: 1h}
"""


def logins(addresses: int, per_address: int) -> list[dict[str, Any]]:
    """Root logins from ``addresses`` addresses, one a minute from each."""
    return [
        {
            "_id": f"login-{a}-{m}",
            "@timestamp": ecs.format_timestamp(T0 + timedelta(minutes=m, seconds=a)),
            "event": {"dataset": "system.auth", "outcome": "success"},
            "process": {"name": "sshd"},
            "user": {"name": "root"},
            "source": {"ip": f"198.51.100.{a}"},
        }
        for a in range(1, addresses + 1)
        for m in range(per_address)
    ]


def test_suppression_over_many_keys_is_decided_in_a_few_requests(any_store: Store) -> None:
    # 50 addresses x 70 minutes: each address raises at minute 0 and again at minute 61
    # (more than one hour after the alert that suppressed the others).
    assert not any_store.write_events(logins(50, 70)).failures
    any_store.refresh()
    compiled = compile_all(load_text(ROOT_LOGIN).rules, target_for(any_store.kind))
    first = run_compiled(any_store, compiled, None, None, now=NOW)
    assert not first.failed, first.failed
    assert (first.alerts_new, first.suppressed, first.alerts_existing) == (100, 3400, 0)
    # 4 pages of hits, then per batch of 1000: get_records, list_records, create_records.
    assert first.round_trips <= 4 + 4 * 3
    any_store.refresh()
    again = run_compiled(any_store, compiled, None, None, now=NOW)
    assert (again.alerts_new, again.suppressed, again.alerts_existing) == (0, 3400, 100)
    stored = any_store.list_records("alerts")
    assert len(stored) == 100
    per_address: dict[str, list[str]] = {}
    for alert in stored:
        per_address.setdefault(alert["entities"]["source.ip"][0], []).append(alert["first_seen"])
    assert all(len(times) == 2 for times in per_address.values())


def test_an_alert_record_holds_every_field_and_is_its_own_copy() -> None:
    import dataclasses

    from soc.detect.alerts import Alert

    alert = Alert(
        id="a1",
        rule_id="r1",
        rule_title="root login over ssh",
        level="high",
        tags=["attack.t1078"],
        rule_type="event_count",
        event_ids=["e1", "e2"],
        entities={"host.name": ["web-01"], "source.ip": ["10.0.0.9"]},
        first_seen="2026-11-20T08:00:00.000000Z",
        last_seen="2026-11-20T08:05:00.000000Z",
        created="2026-11-21T00:00:00.000000Z",
        group={"source.ip": "10.0.0.9", "nested": {"k": [1]}},
        count=2,
        description="d",
    )
    record = alert.to_record()
    assert record == dataclasses.asdict(alert)  # every field, a new one included
    record["event_ids"].append("e3")
    record["entities"]["host.name"].append("web-02")
    record["group"]["nested"]["k"].append(2)
    assert alert.event_ids == ["e1", "e2"]
    assert alert.entities["host.name"] == ["web-01"]
    assert alert.group["nested"]["k"] == [1]
    assert Alert.from_record(alert.to_record()) == alert
