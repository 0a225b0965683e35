"""Batched and conditional store methods (INTERFACES.md) on a real osmem-server, with the
store's own request log showing one request per batch and no refresh."""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from soc import ecs
from soc.store import es_batch, es_search
from soc.store.base import Conflict, QueryError, RecordVersion, SearchRequest, SearchResult
from soc.store.elastic import ElasticStore
from soc.store.es_node import LoggedRequest, RequestLog

T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)


def auth_event(i: int, user: str, ip: str, outcome: str = "failure") -> dict[str, Any]:
    return {
        "_id": ecs.event_id("test-es-batch", i),
        "@timestamp": ecs.format_timestamp(T0 + timedelta(seconds=i)),
        "event": {"dataset": "system.auth", "action": "ssh_login", "outcome": outcome},
        "source": {"ip": ip},
        "user": {"name": user},
        "host": {"name": f"web-{i % 3}"},
        "message": f"Failed password for {user} from {ip}",
    }


@pytest.fixture
def store(es_url: str) -> Iterator[ElasticStore]:
    s = ElasticStore(es_url)
    yield s
    s.close()


def paths(store: ElasticStore) -> list[str]:
    return [f"{r.method} {r.path}" for r in store.request_log.requests]


def no_refresh(store: ElasticStore) -> bool:
    return not store.request_log.matching(r"_refresh")


# --- records in batches -----------------------------------------------------------------


def test_get_records_reads_a_batch_with_one_mget_and_no_refresh(store: ElasticStore) -> None:
    assert store.get_records("alerts", ["a", "b"]) == {}  # no index yet: nothing, no error
    records = {f"alert-{i}": {"rule_id": "r1", "count": i, "nested": {"k": i}} for i in range(50)}
    assert store.create_records("alerts", records) == set(records)
    store.request_log.clear()
    wanted = [f"alert-{i}" for i in range(0, 60, 2)]  # 25 exist, 5 do not
    found = store.get_records("alerts", wanted)
    assert paths(store) == ["POST /soc-alerts/_mget"]
    assert set(found) == {f"alert-{i}" for i in range(0, 50, 2)}
    assert found["alert-4"] == {"rule_id": "r1", "count": 4, "nested": {"k": 4}}


def test_create_records_is_one_bulk_and_keeps_existing_ones(store: ElasticStore) -> None:
    assert store.put_record("alerts", "alert-3", {"status": "closed", "by": "analyst"})
    store.request_log.clear()
    batch = {f"alert-{i}": {"status": "new", "n": i} for i in range(40)}
    created = store.create_records("alerts", batch)
    assert created == set(batch) - {"alert-3"}
    assert [r.path for r in store.request_log.requests] == ["/_bulk"]
    assert store.get_record("alerts", "alert-3") == {"status": "closed", "by": "analyst"}
    assert store.get_record("alerts", "alert-39") == {"status": "new", "n": 39}
    # this store's own lists see them (list_records refreshes its own writes first)
    assert len(store.list_records("alerts")) == 40


def test_create_records_is_cut_only_past_the_bulk_size_limit(es_url: str) -> None:
    small = ElasticStore(es_url, bulk_bytes=4096)
    try:
        batch = {f"case-{i:03d}": {"title": "x" * 200, "n": i} for i in range(60)}
        small.create_records("cases", {"warm": {}})
        small.request_log.clear()
        assert small.create_records("cases", batch) == set(batch)
        bulks = small.request_log.matching(r"_bulk")
        assert 1 < len(bulks) == len(small.request_log.requests)
        assert all(r.request_bytes <= 4096 for r in bulks)
    finally:
        small.close()


# --- optimistic concurrency ---------------------------------------------------------------


def test_put_record_if_creates_only_once_and_then_only_from_the_read_version(
    store: ElasticStore,
) -> None:
    first = store.put_record_if("state", "lease-1", {"owner": "a", "until": 1}, None)
    with pytest.raises(Conflict, match="already exists"):
        store.put_record_if("state", "lease-1", {"owner": "b", "until": 2}, None)
    record, version = store.get_record_versioned("state", "lease-1") or ({}, None)
    assert record == {"owner": "a", "until": 1} and version == first
    second = store.put_record_if("state", "lease-1", {"owner": "a", "until": 5}, version)
    assert second != first
    with pytest.raises(Conflict, match="changed since it was read"):
        store.put_record_if("state", "lease-1", {"owner": "b", "until": 9}, first)
    assert store.get_record("state", "lease-1") == {"owner": "a", "until": 5}
    assert store.get_record_versioned("state", "missing") is None
    with pytest.raises(Conflict):
        store.put_record_if("state", "missing", {"x": 1}, RecordVersion(0, 1))
    assert no_refresh(store)


def test_two_schedulers_taking_the_same_lease_one_wins(es_url: str) -> None:
    one, two = ElasticStore(es_url), ElasticStore(es_url)
    try:
        one.put_record_if("state", "lease", {"owner": None}, None)
        (_, seen_by_one), (_, seen_by_two) = (
            one.get_record_versioned("state", "lease") or ({}, None),
            two.get_record_versioned("state", "lease") or ({}, None),
        )
        assert seen_by_one == seen_by_two
        one.put_record_if("state", "lease", {"owner": "one"}, seen_by_one)
        with pytest.raises(Conflict):
            two.put_record_if("state", "lease", {"owner": "two"}, seen_by_two)
        assert two.get_record("state", "lease") == {"owner": "one"}
    finally:
        one.close()
        two.close()


# --- many searches at once ----------------------------------------------------------------


def test_search_many_batches_100_per_msearch_with_only_the_asked_fields(
    store: ElasticStore,
) -> None:
    store.write_events([auth_event(i, f"user{i % 5}", f"10.0.0.{i % 4}") for i in range(40)])
    store.refresh()
    store.request_log.clear()
    requests = [
        SearchRequest(
            query=None,
            filters={"user.name": f"USER{i % 5}"},
            size=3,
            fields=("@timestamp", "source.ip"),
        )
        for i in range(150)
    ]
    requests[7] = SearchRequest(query="event.outcome:failure", size=0)
    results = store.search_many(requests)
    assert paths(store) == ["POST /_msearch", "POST /_msearch"]
    assert len(results) == 150
    assert results[7].total == 40 and results[7].page.hits == []
    first = results[0]
    assert first.total == 8 and len(first.page.hits) == 3
    assert all(set(h.source) == {"@timestamp", "source"} for h in first.page.hits)
    assert first.page.hits[0].source["source"] == {"ip": "10.0.0.0"}
    # pages continue with `after`, in (@timestamp, id) order, to the end
    ids = [h.id for h in first.page.hits]
    after = first.page.next_after
    while after is not None:
        (more,) = store.search_many(
            [SearchRequest(query=None, filters={"user.name": "user0"}, size=3, after=after)]
        )
        ids += [h.id for h in more.page.hits]
        after = more.page.next_after
    assert ids == [ecs.event_id("test-es-batch", i) for i in range(0, 40, 5)]
    assert no_refresh(store)


def test_search_many_names_the_rejected_query_in_the_batch(store: ElasticStore) -> None:
    store.write_events([auth_event(1, "root", "10.0.0.1")])
    store.refresh()
    requests = [SearchRequest(query="user.name:root")] * 120
    requests = [*requests[:110], SearchRequest(query="user.name:(("), *requests[110:]]
    with pytest.raises(QueryError, match="query 110 of the batch"):
        store.search_many(requests)


def test_search_each_answers_the_others_of_a_batch_with_a_rejected_query(
    store: ElasticStore,
) -> None:
    store.write_events([auth_event(1, "root", "10.0.0.1")])
    store.refresh()
    requests = [SearchRequest(query="user.name:root")] * 120
    requests = [*requests[:110], SearchRequest(query="user.name:(("), *requests[110:]]
    store.request_log.clear()
    answers = store.search_each(requests)
    assert paths(store) == ["POST /_msearch", "POST /_msearch"]
    assert len(answers) == 121
    assert isinstance(answers[110], QueryError)
    assert "query 110 of the batch" in str(answers[110])
    others = [a for i, a in enumerate(answers) if i != 110]
    assert all(isinstance(a, SearchResult) and a.total == 1 for a in others)


# --- correlation candidates ---------------------------------------------------------------


def expected_groups(
    events: list[dict[str, Any]], distinct: bool, min_count: int
) -> list[tuple[tuple[Any, ...], int]]:
    values: dict[tuple[Any, ...], set[str]] = defaultdict(set)
    counts: dict[tuple[Any, ...], int] = defaultdict(int)
    for e in events:
        key = (e["source"]["ip"],)
        counts[key] += 1
        values[key].add(e["user"]["name"].lower())
    chosen = {k: (len(values[k]) if distinct else counts[k]) for k in counts}
    return sorted((k, c) for k, c in chosen.items() if c >= min_count)


def test_group_counts_are_exact_every_group_paged_by_after_key(
    store: ElasticStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 120 source addresses; address n tries n % 9 + 1 distinct users, some of them twice
    events = []
    i = 0
    for n in range(120):
        for u in range(n % 9 + 1):
            for _ in range(1 + (u % 2)):
                events.append(auth_event(i, f"User{u}", f"192.0.2.{n}"))
                i += 1
    events.append(auth_event(i, "someone", "192.0.2.1", outcome="success"))
    store.write_events(events)
    store.refresh()
    # first the one-request answer: nested terms with min_doc_count, complete here
    store.request_log.clear()
    got = store.group_counts(
        "event.outcome:failure", ["source.ip"], start=None, end=None, min_count=12
    )
    assert [(b.key, b.count) for b in got] == expected_groups(events[:-1], False, 12)
    assert len(store.request_log.requests) == 1
    store.request_log.clear()
    distinct = store.group_counts(
        "event.outcome:failure",
        ["source.ip"],
        start=None,
        end=None,
        distinct_field="user.name",
        min_count=7,
    )
    assert [(b.key, b.count) for b in distinct] == expected_groups(events[:-1], True, 7)
    assert len(store.request_log.requests) == 1
    # past the terms size: hash partitions of the first field, one request each
    monkeypatch.setattr(es_batch, "TREE_SIZE", 50)
    monkeypatch.setattr(es_batch, "PARTITIONS", (4,))
    store.request_log.clear()
    every = store.group_counts(
        "event.outcome:failure", ["source.ip"], start=None, end=None, min_count=1
    )
    assert [(b.key, b.count) for b in every] == expected_groups(events[:-1], False, 1)
    assert len(store.request_log.requests) == 1 + 4
    # past the partitions the answer is not provably complete: composite pages instead
    monkeypatch.setattr(es_batch, "TREE_SIZE", 5)
    monkeypatch.setattr(es_batch, "PARTITIONS", ())
    monkeypatch.setattr(es_search, "COMPOSITE_PAGE", 50)
    store.request_log.clear()
    got = store.group_counts(
        "event.outcome:failure", ["source.ip"], start=None, end=None, min_count=12
    )
    assert [(b.key, b.count) for b in got] == expected_groups(events[:-1], False, 12)
    assert len(store.request_log.requests) == 1 + math.ceil(120 / 50)
    store.request_log.clear()
    distinct = store.group_counts(
        "event.outcome:failure",
        ["source.ip"],
        start=None,
        end=None,
        distinct_field="user.name",
        min_count=7,
    )
    assert [(b.key, b.count) for b in distinct] == expected_groups(events[:-1], True, 7)
    pairs = sum(n % 9 + 1 for n in range(120))
    assert len(store.request_log.requests) == 1 + math.ceil(pairs / 50)
    assert no_refresh(store)
    window = store.group_counts(
        None,
        ["source.ip", "user.name"],
        start=T0 + timedelta(seconds=10),
        end=T0 + timedelta(seconds=20),
    )
    assert sum(b.count for b in window) == 10 and all(len(b.key) == 2 for b in window)


def test_the_request_log_keeps_totals_and_only_the_latest_requests() -> None:
    log = RequestLog(keep=3)
    for i in range(5):
        log.add(LoggedRequest("POST", f"/soc-alerts/_mget/{i}", 200, 10, 100 + i, 0.0))
    assert log.totals() == (5, 50, 510)
    assert [r.path[-1] for r in log.requests] == ["2", "3", "4"]
    assert len(log.matching(r"_mget")) == 3
    log.clear()
    assert log.totals() == (0, 0, 0) and not log.requests


def test_conditional_increments_from_many_writers_lose_nothing(es_url: str) -> None:
    # four processes' worth of stores racing on one watermark: read, add one, write if
    # unchanged, retry on Conflict; every increment must survive
    stores = [ElasticStore(es_url) for _ in range(4)]
    stores[0].put_record_if("state", "watermark", {"n": 0}, None)
    conflicts = [0] * len(stores)

    def bump(k: int) -> None:
        store = stores[k]
        for _ in range(10):
            while True:
                current = store.get_record_versioned("state", "watermark")
                assert current is not None
                record, version = current
                try:
                    store.put_record_if("state", "watermark", {"n": record["n"] + 1}, version)
                    break
                except Conflict:
                    conflicts[k] += 1

    threads = [threading.Thread(target=bump, args=(k,)) for k in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert stores[0].get_record("state", "watermark") == {"n": 40}
    finally:
        for s in stores:
            s.close()
