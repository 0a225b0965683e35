"""Alert lists ask the server for what they show: date range, filters and limit in the query
(one search), events fetched a page at a time; the same answers as the local store gives.
Against a real osmem-server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from soc import ecs
from soc.store.elastic import ElasticStore
from soc.store.local import LocalStore
from soc.store.queries import events_by_id, records_between

T0 = datetime(2026, 11, 1, tzinfo=UTC)
LEVELS = ("low", "medium", "high", "critical")


def alert(i: int) -> dict[str, Any]:
    return {
        "id": f"alert-{i:04d}",
        "rule_id": f"rule-{i % 3}",
        "level": LEVELS[i % 4],
        "status": "new" if i % 5 else "closed",
        # two alerts share each hour: ties are ordered by id
        "first_seen": ecs.format_timestamp(T0 + timedelta(hours=i // 2)),
        "event_ids": [ecs.event_id("test-es-queries", i)],
    }


@pytest.fixture
def stores(es_url: str, tmp_path: Path) -> Iterator[tuple[ElasticStore, LocalStore]]:
    es = ElasticStore(es_url)
    local = LocalStore(tmp_path / "soc.db")
    for s in (es, local):
        for i in range(300):
            s.put_record("alerts", alert(i)["id"], alert(i))
    yield es, local
    es.close()
    local.close()


@pytest.mark.parametrize(
    ("start", "end", "filters", "limit"),
    [
        (None, None, {}, 20),
        ("2026-11-03T00:00:00.000000Z", None, {"level": ["high", "critical"]}, 25),
        ("2026-11-02T00:00:00.000000Z", "2026-11-04T00:00:00.000000Z", {"status": "new"}, None),
        ("2026-12-24T00:00:00.000000Z", None, {}, 10),
    ],
)
def test_records_between_is_one_search_and_matches_the_local_store(
    stores: tuple[ElasticStore, LocalStore],
    start: str | None,
    end: str | None,
    filters: dict[str, Any],
    limit: int | None,
) -> None:
    es, local = stores
    es.refresh()
    es.request_log.clear()
    got = records_between(
        es, "alerts", field="first_seen", start=start, end=end, filters=filters, limit=limit
    )
    assert len(es.request_log.requests) == 1
    searched = es.request_log.requests[0]
    assert searched.path == "/soc-alerts/_search"
    expected = records_between(
        local, "alerts", field="first_seen", start=start, end=end, filters=filters, limit=limit
    )
    assert [r["id"] for r in got] == [r["id"] for r in expected]
    assert all(start is None or r["first_seen"] >= start for r in got)
    assert limit is None or len(got) <= limit


def test_events_of_alerts_come_in_one_request_per_page(es_url: str) -> None:
    store = ElasticStore(es_url)
    try:
        events = [
            {
                "_id": ecs.event_id("test-es-queries", i),
                "@timestamp": ecs.format_timestamp(T0 + timedelta(minutes=i)),
                "message": f"line {i}",
            }
            for i in range(60)
        ]
        store.write_events(events)
        store.refresh()
        store.request_log.clear()
        wanted = [e["_id"] for e in events[::2]] + ["missing-id"]
        found = events_by_id(store, wanted)
        assert len(store.request_log.requests) == 1
        assert set(found) == set(wanted) - {"missing-id"}
        assert found[events[4]["_id"]] == {k: v for k, v in events[4].items() if k != "_id"}
    finally:
        store.close()


def test_soc_alerts_list_on_elasticsearch_filters_in_the_query(
    stores: tuple[ElasticStore, LocalStore], es_url: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    env.update({"SOC_ELASTICSEARCH_URL": es_url, "SOC_DATA_DIR": str(tmp_path)})
    env["SOC_CLOCK"] = "2026-11-07T00:00:00Z"
    exe = Path(sys.executable).with_name("soc")
    run = subprocess.run(
        [str(exe), "alerts", "list", "--since", "2d", "--level", "high", "--limit", "7", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    listed = json.loads(run.stdout)
    assert len(listed) == 7
    assert all(r["first_seen"] >= "2026-11-05T00:00:00.000000Z" for r in listed)
    assert all(r["level"] in {"high", "critical"} for r in listed)
    assert [r["first_seen"] for r in listed] == sorted(
        (r["first_seen"] for r in listed), reverse=True
    )


def _seed_period(store: ElasticStore, alerts: int) -> None:
    """``alerts`` alerts in November 2026, each on its own stored event."""
    events = []
    for i in range(alerts):
        record = alert(i)
        store.put_record("alerts", record["id"], record)
        events.append(
            {
                "_id": record["event_ids"][0],
                "@timestamp": record["first_seen"],
                "event": {"dataset": "system.auth", "outcome": "failure"},
                "source": {"ip": f"203.0.113.{i % 250}"},
                "host": {"name": f"web-{i % 7}"},
            }
        )
    store.write_events(events)
    store.refresh()


def _period_requests(es_url: str, alerts: int) -> list[str]:
    from soc.report.data import gather_period

    store = ElasticStore(es_url, index_prefix=f"period{alerts}")
    try:
        _seed_period(store, alerts)
        store.request_log.clear()
        report = gather_period(
            store, datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
        )
        assert report.alerts_total == alerts
        return [f"{r.method} {r.path}" for r in store.request_log.requests]
    finally:
        store.close()


def test_the_period_report_does_not_ask_once_per_alert(es_url: str) -> None:
    """`soc report period` reads the period's alerts with one search (dates in the query) and
    their events a page at a time: it makes as many requests for 120 alerts as for 10."""
    few = _period_requests(es_url, 10)
    many = _period_requests(es_url, 120)
    assert not [a for a in many if "/_doc/" in a], many
    assert len(many) == len(few), (few, many)
