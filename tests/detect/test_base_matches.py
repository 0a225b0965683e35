"""A base rule shared by several correlations is read once per run, each correlation gets
the events of its own range, and only the fields correlations need are kept."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from soc import ecs
from soc.detect.base_matches import BaseMatches, needed_paths
from soc.detect.compile import compile_all
from soc.detect.runner import iter_hits
from soc.store.base import Hit
from soc.store.local import LocalStore

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)

RULES = """
title: SSH login failed
name: ssh_failed_shared
logsource: {product: linux, service: sshd}
detection:
  selection: {event.outcome: failure}
  condition: selection
---
title: brute force
id: 1b2c3d4e-0000-4000-8000-000000000001
correlation:
  type: event_count
  rules: ssh_failed_shared
  group-by: [source.ip]
  timespan: 5m
  condition: {gte: 3}
---
title: spraying
id: 1b2c3d4e-0000-4000-8000-000000000002
correlation:
  type: value_count
  rules: ssh_failed_shared
  group-by: [source.ip]
  timespan: 1h
  condition: {gte: 3, field: user.name}
"""


def test_a_shared_base_rule_is_read_once_with_only_the_needed_fields(local_store: LocalStore):
    from soc.detect.loader import load_text

    events = [
        {
            "_id": f"f{i}",
            "@timestamp": ecs.format_timestamp(T0 + timedelta(minutes=i)),
            "event": {"dataset": "system.auth", "outcome": "failure"},
            "process": {"name": "sshd"},
            "source": {"ip": "203.0.113.9", "port": 40000 + i},
            "user": {"name": f"user{i % 4}"},
            "message": "Failed password " + "x" * 200,
        }
        for i in range(180)
    ]
    assert not local_store.write_events(events).failures
    compiled = compile_all(load_text(RULES).rules, "sqlite")
    brute, spray = compiled[1], compiled[2]
    assert brute.bases[0].query == spray.bases[0].query
    query = brute.bases[0].query
    assert query is not None
    since = T0 + timedelta(hours=2)
    shared = BaseMatches([brute, spray], since)
    reads: list[tuple[datetime | None, datetime | None]] = []

    def read(q: str, start: datetime | None, end: datetime | None) -> Iterator[Hit]:
        reads.append((start, end))
        return iter_hits(local_store, q, start, end)

    until = T0 + timedelta(hours=3)
    for_brute = shared.events(query, since - timedelta(minutes=10), until, read)
    for_spray = shared.events(query, since - timedelta(hours=2), until, read)
    assert reads == [(since - timedelta(hours=2), until)]  # one read, the widest range
    assert [m[0] for m in for_spray] == [f"f{i}" for i in range(180)]
    assert [m[0] for m in for_brute] == [f"f{i}" for i in range(110, 180)]
    doc = for_spray[0][2]
    assert ecs.get_field(doc, "source.ip") == "203.0.113.9"
    assert ecs.get_field(doc, "user.name") == "user0"
    assert ecs.get_field(doc, "message") is None and ecs.get_field(doc, "event.outcome") is None
    assert ecs.get_field(doc, "source.port") is None
    assert {"source.ip", "user.name", "@timestamp"} <= needed_paths(spray)
    # after its last user the events are dropped: a later call reads again
    shared.events(query, None, until, read)
    assert len(reads) == 2
