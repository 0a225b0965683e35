"""Index layout of the Elasticsearch store: retention by whole indices (`soc store prune`),
the migration of a store written by the event-day layout (`soc store migrate`), and the
Windows event data of EVTX kept within the field limit. Against a real osmem-server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from soc import ecs
from soc.store.elastic import ElasticStore
from soc.store.es_layout import ilm_policy, index_day, ism_policy
from soc.store.es_template import IndexLayout


def http(url: str, method: str = "GET", body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read() or b"{}")


def soc(es_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    env.update({"SOC_ELASTICSEARCH_URL": es_url, "SOC_DATA_DIR": str(tmp_path)})
    if os.environ.get("SOC_CLOCK"):
        env["SOC_CLOCK"] = os.environ["SOC_CLOCK"]
    exe = Path(sys.executable).with_name("soc")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "soc.cli.main"]
    return subprocess.run(
        [*command, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )


def auth_event(i: int, stamp: str, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": ecs.event_id("test-es-layout", i),
        "@timestamp": stamp,
        "event": {"dataset": "system.auth", "outcome": "failure"},
        "user": {"name": "root"},
        "message": "Failed password for root",
    }
    doc.update(extra)
    return doc


@pytest.fixture
def store(es_url: str) -> Iterator[ElasticStore]:
    s = ElasticStore(es_url)
    yield s
    s.close()


def old_layout_index(es_url: str, name: str, docs: dict[str, dict[str, Any]], alias: bool) -> None:
    """An index as version 3 wrote it: named by event day, event.original an indexed keyword."""
    body: dict[str, Any] = {
        "mappings": {"properties": {"event": {"properties": {"original": {"type": "keyword"}}}}}
    }
    if alias:
        body["aliases"] = {"soc-events": {}}
    http(f"{es_url}/{name}", "PUT", body)
    for doc_id, doc in docs.items():
        source = {k: v for k, v in doc.items() if k != "_id"}
        http(f"{es_url}/{name}/_create/{doc_id}?refresh=true", "PUT", source)


def test_index_day_reads_both_layouts_names() -> None:
    assert str(index_day("soc", "soc-events-2019.03.02")) == "2019-03-02"
    assert index_day("soc", "soc-events-2019.13.02") is None
    assert index_day("soc", "soc-alerts") is None
    assert index_day("soc", "city-events-2019.03.02") is None


def test_prune_deletes_whole_indices_older_than_the_period(
    store: ElasticStore, es_url: str, tmp_path: Path, clock_at: Callable[[str], datetime]
) -> None:
    # one event a day, each with its own id (str hashes vary between runs and may collide)
    for number, day in enumerate(("2026-08-01", "2026-09-01", "2026-09-02", "2026-11-30")):
        clock_at(f"{day}T12:00:00Z")
        store.write_events([auth_event(number, f"{day}T11:00:00Z")])
    clock_at("2026-12-01T08:00:00Z")
    dry = soc(es_url, tmp_path, "store", "prune", "--older-than", "90d", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    # 90 days before 1 Dec 08:00 is 2 Sep 08:00: 1 Sep has ended by then, 2 Sep has not
    assert json.loads(dry.stdout)["would_delete"] == [
        "soc-events-2026.08.01",
        "soc-events-2026.09.01",
    ]
    assert len(http(f"{es_url}/_alias/soc-events")) == 4
    run = soc(es_url, tmp_path, "store", "prune", "--older-than", "90d")
    assert run.returncode == 0, run.stderr
    assert "deleted 2 event indices" in run.stdout
    assert sorted(http(f"{es_url}/_alias/soc-events")) == [
        "soc-events-2026.09.02",
        "soc-events-2026.11.30",
    ]
    bad = soc(es_url, tmp_path, "store", "prune", "--older-than", "soon")
    assert bad.returncode != 0 and "--older-than" in bad.stderr
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_a_store_of_the_event_day_layout_keeps_working_and_migrates(
    store: ElasticStore, es_url: str, tmp_path: Path, clock_at: Callable[[str], datetime]
) -> None:
    clock_at("2026-12-01T08:00:00Z")
    shipped = auth_event(1, "2019-03-02T10:00:00Z")
    old_layout_index(es_url, "soc-events-2019.03.02", {shipped["_id"]: shipped}, True)
    old_layout_index(
        es_url, "soc-events-2019.03.03", {"x": auth_event(2, "2019-03-03T10:00:00Z")}, False
    )
    # reads see the old index; the same event shipped again is a duplicate, a new one lands
    # in today's ingest index
    assert store.count() == 1
    result = store.write_events([shipped, auth_event(3, "2019-03-02T11:00:00Z")])
    assert (result.stored, result.duplicates) == (1, 1)
    run = soc(es_url, tmp_path, "store", "migrate", "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["aliased"] == ["soc-events-2019.03.03"]
    assert report["event_day_indices"] == ["soc-events-2019.03.02", "soc-events-2019.03.03"]
    assert report["event_indices"] == 3
    store.refresh()
    assert store.count() == 3
    again = json.loads(soc(es_url, tmp_path, "store", "migrate", "--json").stdout)
    assert again["aliased"] == []


def test_prune_and_migrate_on_the_local_store_are_one_line_errors(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    env["SOC_DATA_DIR"] = str(tmp_path)
    exe = Path(sys.executable).with_name("soc")
    run = subprocess.run(
        [str(exe), "store", "prune"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert run.returncode != 0 and "Elasticsearch store" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_windows_event_data_of_many_names_stays_within_the_field_limit(es_url: str) -> None:
    # an EVTX export with hundreds of distinct data names: the index keeps its field limit,
    # the events beyond it are refused one by one (reported), never the whole bulk
    small = ElasticStore(es_url, bulk_events=50, layout=IndexLayout(total_fields_limit=300))
    try:
        events = [
            auth_event(
                10 + i,
                "2026-11-20T10:00:00Z",
                winlog={"event_data": {f"Field{i}_{j}": "x" for j in range(20)}},
            )
            for i in range(40)
        ]
        result = small.write_events(events)
        assert result.stored + result.failed == 40
        assert result.stored >= 5 and result.failed >= 1
        assert all("limit" in f.reason.lower() for f in result.failures)
        mapping = http(f"{es_url}/soc-events/_mapping")
        (index,) = mapping.values()
        assert index["mappings"]["properties"]["winlog"]["properties"]["event_data"]
        settings = http(f"{es_url}/soc-events/_settings")
        (index_settings,) = settings.values()
        assert index_settings["settings"]["index"]["mapping"]["total_fields"]["limit"] == "300"
    finally:
        small.close()


def test_lifecycle_policy_bodies_delete_after_the_retention() -> None:
    ilm = ilm_policy(90)["policy"]["phases"]["delete"]
    assert ilm == {"min_age": "90d", "actions": {"delete": {}}}
    ism = ism_policy("soc", 30)["policy"]
    assert ism["states"][0]["transitions"][0]["conditions"] == {"min_index_age": "30d"}
    assert ism["ism_template"][0]["index_patterns"] == ["soc-events-*"]


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("SOC_ELASTICSEARCH_LIFECYCLE", "forever", "elasticsearch.lifecycle"),
        ("SOC_ELASTICSEARCH_RETENTION", "soon", "elasticsearch.retention"),
        ("SOC_ELASTICSEARCH_SHARDS", "many", "elasticsearch.shards"),
    ],
)
def test_a_bad_layout_setting_is_one_line_naming_it(
    es_url: str, tmp_path: Path, variable: str, value: str, named: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    env.update({"SOC_ELASTICSEARCH_URL": es_url, "SOC_DATA_DIR": str(tmp_path), variable: value})
    exe = Path(sys.executable).with_name("soc")
    run = subprocess.run(
        [str(exe), "doctor"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert run.returncode != 0
    assert named in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_dedup_across_days_costs_one_search_per_bulk_and_can_be_turned_off(
    es_url: str, clock_at: Callable[[str], datetime]
) -> None:
    checking, trusting = ElasticStore(es_url), ElasticStore(es_url, dedup_across_days=False)
    try:
        clock_at("2026-12-01T10:00:00Z")
        checking.write_events([auth_event(1, "2026-12-01T09:00:00Z")])
        checking.refresh()
        clock_at("2026-12-02T10:00:00Z")
        for s in (checking, trusting):
            s.request_log.clear()
        again = checking.write_events([auth_event(1, "2026-12-01T09:00:00Z")])
        assert (again.stored, again.duplicates) == (0, 1)
        assert len(checking.request_log.matching(r"POST /soc-events/_search")) == 1
        stored_twice = trusting.write_events([auth_event(1, "2026-12-01T09:00:00Z")])
        assert (stored_twice.stored, stored_twice.duplicates) == (1, 0)
        assert not trusting.request_log.matching(r"_search")
    finally:
        checking.close()
        trusting.close()
