"""The store contract: one suite, run against the embedded store and Elasticsearch alike.

Queries are store-native (SQL for the local store, Lucene for Elasticsearch); `native_eq`
writes the same equality in each dialect so that the tests say the same thing to both.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from soc import ecs
from soc.store import Store
from soc.store.local import LocalStore

T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)


@pytest.fixture(params=["local", "elasticsearch"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "local":
        s: Store = LocalStore(tmp_path / "soc.db")
    else:
        from soc.store.elastic import ElasticStore

        url = request.getfixturevalue("es_url")
        s = ElasticStore(url)
    yield s
    s.close()


def native_eq(store: Store, field: str, value: str) -> str:
    """`field` equals `value` in the store's own query language."""
    if store.kind == "local":
        escaped = value.replace("'", "''")
        return f"`{field}` = '{escaped}'"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{field}:"{escaped}"'


def make_event(i: int, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": ecs.event_id("contract", i),
        "@timestamp": ecs.format_timestamp(T0 + timedelta(seconds=i)),
        "event": {"dataset": "system.auth", "action": "ssh_login", "outcome": "failure"},
        "source": {"ip": f"203.0.113.{i % 5 + 1}", "port": 40000 + i},
        "user": {"name": ["root", "admin", "oracle"][i % 3]},
        "host": {"name": "web-01"},
        "message": f"Failed password for user {i}",
    }
    for path, value in extra.items():
        ecs.set_field(doc, path.replace("__", "."), value)
    return doc


def write(store: Store, events: list[dict[str, Any]]) -> None:
    result = store.write_events(events)
    assert result.failed == 0, result.failures
    store.refresh()


def test_rewriting_the_same_ids_keeps_one_document_each(store: Store) -> None:
    events = [make_event(i) for i in range(50)]
    first = store.write_events(events)
    store.refresh()
    second = store.write_events(events)
    store.refresh()
    assert (first.stored, first.duplicates) == (50, 0)
    assert (second.stored, second.duplicates) == (0, 50)
    assert store.count() == 50


def test_a_refused_event_is_reported_and_the_rest_are_stored(store: Store) -> None:
    good = [make_event(i) for i in range(3)]
    bad = make_event(99)
    bad["@timestamp"] = "not a date"
    result = store.write_events([good[0], bad, good[1], good[2]])
    store.refresh()
    assert result.stored == 3
    assert [f.id for f in result.failures] == [bad["_id"]]
    assert result.failures[0].reason
    assert store.count() == 3


def test_search_by_native_query_time_range_and_order(store: Store) -> None:
    write(store, [make_event(i) for i in range(30)])
    page = store.search(
        native_eq(store, "user.name", "admin"),
        start=T0 + timedelta(seconds=5),
        end=T0 + timedelta(seconds=20),
        size=100,
    )
    seconds = [int(ecs.parse_timestamp(h.source["@timestamp"]).second) for h in page.hits]
    # admin is i % 3 == 1; 5 <= i < 20
    assert seconds == [7, 10, 13, 16, 19]
    assert all(h.source["user"]["name"] == "admin" for h in page.hits)
    assert "_id" not in page.hits[0].source
    newest_first = store.search(native_eq(store, "user.name", "admin"), ascending=False, size=2)
    assert [h.id for h in newest_first.hits] == [make_event(28)["_id"], make_event(25)["_id"]]


def test_matching_is_case_insensitive(store: Store) -> None:
    write(store, [make_event(0, user__name="Administrator")])
    assert store.count(native_eq(store, "user.name", "administrator")) == 1
    assert store.count(filters={"user.name": "ADMINISTRATOR"}) == 1


def test_filters_are_exact_and_a_list_means_any_of(store: Store) -> None:
    write(store, [make_event(i) for i in range(9)])
    assert store.count(filters={"user.name": "root"}) == 3
    assert store.count(filters={"user.name": ["root", "oracle"]}) == 6
    assert store.count(filters={"user.name": "roo"}) == 0
    assert store.count(filters={"user.name": "root", "source.ip": "203.0.113.1"}) == 1


def test_pagination_goes_past_ten_thousand_hits(store: Store) -> None:
    total = 10_050
    for chunk in range(0, total, 2_500):
        result = store.write_events(
            [make_event(i) for i in range(chunk, min(total, chunk + 2_500))]
        )
        assert result.failed == 0
    store.refresh()
    assert store.count() == total
    seen: list[str] = []
    after = None
    while True:
        page = store.search(size=1_000, after=after)
        seen.extend(h.id for h in page.hits)
        if page.next_after is None:
            break
        after = page.next_after
    assert len(seen) == total
    assert len(set(seen)) == total
    assert seen[0] == make_event(0)["_id"]
    assert seen[-1] == make_event(total - 1)["_id"]


def test_pages_do_not_skip_events_with_equal_timestamps(store: Store) -> None:
    same_time = [make_event(i, **{"@timestamp": ecs.format_timestamp(T0)}) for i in range(25)]
    write(store, same_time)
    seen: list[str] = []
    after = None
    while True:
        page = store.search(size=7, after=after)
        seen.extend(h.id for h in page.hits)
        if page.next_after is None:
            break
        after = page.next_after
    assert sorted(seen) == sorted(e["_id"] for e in same_time)


def test_count_and_unknown_fields_match_nothing(store: Store) -> None:
    write(store, [make_event(i) for i in range(12)])
    assert store.count() == 12
    assert store.count(start=T0 + timedelta(seconds=10)) == 2
    assert store.count(native_eq(store, "no.such.field", "x")) == 0


def test_terms_over_one_and_several_fields(store: Store) -> None:
    events = [make_event(i) for i in range(10)]
    events.append(make_event(10, user__name=None))
    write(store, events)
    users = store.terms(["user.name"], size=10)
    assert [(b.key, b.count) for b in users] == [(("root",), 4), (("admin",), 3), (("oracle",), 3)]
    pairs = store.terms(["source.ip", "user.name"], filters={"user.name": "root"}, size=2)
    assert sum(b.count for b in pairs) <= 4
    assert all(len(b.key) == 2 and b.key[1] == "root" for b in pairs)
    assert pairs[0].count >= pairs[-1].count


def test_date_histogram_buckets_on_utc_interval_boundaries(store: Store) -> None:
    moments = [T0 + timedelta(seconds=s) for s in (0, 30, 299, 300, 301, 900)]
    write(
        store,
        [make_event(i, **{"@timestamp": ecs.format_timestamp(m)}) for i, m in enumerate(moments)],
    )
    histogram = store.date_histogram(300)
    assert histogram == [
        (T0, 3),
        (T0 + timedelta(minutes=5), 2),
        (T0 + timedelta(minutes=15), 1),
    ]


def test_get_event_returns_the_document(store: Store) -> None:
    event = make_event(1)
    write(store, [event])
    got = store.get_event(event["_id"])
    assert got is not None
    assert got["source"]["ip"] == event["source"]["ip"]
    assert store.get_event("missing") is None


def test_records_put_get_update_list(store: Store) -> None:
    alert = {"id": "a1", "status": "new", "level": "high", "created": "2026-11-20T10:00:00Z"}
    assert store.put_record("alerts", "a1", alert) is True
    assert store.put_record("alerts", "a1", {**alert, "status": "closed"}) is False
    assert store.get_record("alerts", "a1") == alert
    updated = store.update_record("alerts", "a1", {"status": "in_progress", "assignee": "lan"})
    assert updated["status"] == "in_progress" and updated["level"] == "high"
    assert store.get_record("alerts", "a1") == updated
    with pytest.raises(KeyError):
        store.update_record("alerts", "nope", {"status": "closed"})
    for i, level in enumerate(["low", "high", "critical"], start=2):
        store.put_record(
            "alerts",
            f"a{i}",
            {"id": f"a{i}", "status": "new", "level": level, "created": f"2026-11-2{i}"},
        )
    assert [r["id"] for r in store.list_records("alerts", filters={"status": "new"})] == [
        "a2",
        "a3",
        "a4",
    ]
    assert [r["id"] for r in store.list_records("alerts", filters={"level": ["high"]})] == [
        "a1",
        "a3",
    ]
    newest = store.list_records("alerts", order_by="created", descending=True, limit=2)
    assert [r["id"] for r in newest] == ["a4", "a3"]
    store.upsert_record("state", "rule-x", {"watermark": "2026-11-20T10:00:00Z"})
    store.upsert_record("state", "rule-x", {"watermark": "2026-11-20T11:00:00Z"})
    assert store.get_record("state", "rule-x") == {"watermark": "2026-11-20T11:00:00Z"}
    assert store.get_record("cases", "a1") is None
    store.put_record("audit", "e1", {"what": "status", "before": "new", "after": "closed"})
    assert len(store.list_records("audit")) == 1


def test_info_reports_kind_and_counts(store: Store) -> None:
    write(store, [make_event(i) for i in range(4)])
    store.put_record("alerts", "x", {"id": "x"})
    info = store.info()
    assert info["store"] == store.kind
    assert info["reachable"] is True
    assert info["events"] == 4
    assert info["alerts"] == 1


# --- batched records, optimistic concurrency, search_many, group_counts (INTERFACES.md) ---


def test_get_records_returns_the_existing_ones_in_one_call(store: Store) -> None:
    for i in range(3):
        store.put_record("alerts", f"r{i}", {"id": f"r{i}", "n": i})
    found = store.get_records("alerts", ["r0", "r2", "missing", "r2"])
    assert found == {"r0": {"id": "r0", "n": 0}, "r2": {"id": "r2", "n": 2}}
    assert store.get_records("alerts", []) == {}
    assert store.get_records("cases", ["r0"]) == {}


def test_create_records_creates_only_new_ids_and_keeps_existing_ones(store: Store) -> None:
    store.put_record("alerts", "old", {"id": "old", "status": "closed"})
    batch = {f"n{i}": {"id": f"n{i}"} for i in range(1500)}
    batch["old"] = {"id": "old", "status": "new"}
    created = store.create_records("alerts", batch)
    assert created == {f"n{i}" for i in range(1500)}
    assert store.get_record("alerts", "old") == {"id": "old", "status": "closed"}
    assert store.get_records("alerts", ["n0", "n1499"]) == {
        "n0": {"id": "n0"},
        "n1499": {"id": "n1499"},
    }
    assert store.create_records("alerts", {"n0": {"id": "n0", "x": 1}}) == set()
    assert store.create_records("alerts", {}) == set()


def test_put_record_if_is_a_compare_and_set(store: Store) -> None:
    from soc.store.base import Conflict

    assert store.get_record_versioned("state", "lease") is None
    first = store.put_record_if("state", "lease", {"owner": "a"}, None)
    with pytest.raises(Conflict):
        store.put_record_if("state", "lease", {"owner": "b"}, None)
    got = store.get_record_versioned("state", "lease")
    assert got is not None and got == ({"owner": "a"}, first)
    second = store.put_record_if("state", "lease", {"owner": "b"}, first)
    assert second != first
    with pytest.raises(Conflict):  # a writer still holding the first version loses
        store.put_record_if("state", "lease", {"owner": "c"}, first)
    assert store.get_record("state", "lease") == {"owner": "b"}
    store.upsert_record("state", "lease", {"owner": "d"})  # any write moves the version
    with pytest.raises(Conflict):
        store.put_record_if("state", "lease", {"owner": "e"}, second)


def test_search_many_answers_each_request_in_order_with_only_its_fields(store: Store) -> None:
    from soc.store.base import SearchRequest

    write(store, [make_event(i) for i in range(30)])
    root = native_eq(store, "user.name", "root")
    results = store.search_many(
        [
            SearchRequest(root, size=4, fields=("@timestamp", "source.ip")),
            SearchRequest(None, start=T0 + timedelta(seconds=25), size=0),
            SearchRequest(None, filters={"user.name": "admin"}, size=100),
        ]
    )
    assert [r.total for r in results] == [10, 5, 10]
    first = results[0].page.hits
    assert len(first) == 4 and results[0].page.next_after is not None
    assert first[0].source == {
        "@timestamp": make_event(0)["@timestamp"],
        "source": {"ip": make_event(0)["source"]["ip"]},
    }
    assert results[1].page.hits == []
    assert all(h.source["user"]["name"] == "admin" for h in results[2].page.hits)
    assert len(results[2].page.hits) == 10 and "message" in results[2].page.hits[0].source


def test_group_counts_returns_every_group_reaching_the_threshold(store: Store) -> None:
    write(store, [make_event(i) for i in range(30)])
    # 5 source addresses x 3 users: each (ip, user) pair occurs twice.
    pairs = store.group_counts(None, ["source.ip", "user.name"], start=None, end=None, min_count=2)
    assert len(pairs) == 15 and all(b.count == 2 for b in pairs)
    assert store.group_counts(None, ["source.ip"], start=None, end=None, min_count=7) == []
    distinct = store.group_counts(
        None, ["source.ip"], start=None, end=None, distinct_field="user.name", min_count=3
    )
    assert sorted(b.key for b in distinct) == [(f"203.0.113.{i}",) for i in range(1, 6)]
    assert all(b.count == 3 for b in distinct)
    window = store.group_counts(
        native_eq(store, "user.name", "root"),
        ["source.ip"],
        start=T0,
        end=T0 + timedelta(seconds=15),
        min_count=1,
    )
    assert sum(b.count for b in window) == 5
