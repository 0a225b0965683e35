"""What one detection run asks of Elasticsearch, counted with the store's own request log on
a real osmem-server: single-event rules in _msearch batches, correlations reading only the
groups that can fire, and no refresh anywhere."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from collectors.parsers.auth import AuthParser
from collectors.parsers.base import ParseContext
from soc import ecs
from soc.detect import emit, es_singles
from soc.detect.compile import CompiledRule
from soc.detect.runner import (
    Schedule,
    load_and_compile,
    read_watermarks,
    run_compiled,
    run_cycle,
)
from soc.store.base import Store
from soc.store.elastic import ElasticStore
from soc.store.local import LocalStore

pytest_plugins = ["es_fixtures"]

DAY = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
NOW = DAY + timedelta(days=2)


def auth_events(background_per_ip: int, ips: int = 40, burst: int = 12) -> list[dict[str, Any]]:
    """sshd failures: ``ips`` addresses failing ``background_per_ip`` times each, 20 minutes
    apart (never enough for a brute-force window), and one burst of ``burst`` failures for
    different users from 203.0.113.9 within a minute (a brute force), plus a login."""
    lines: list[str] = []

    def line(moment: datetime, text: str) -> str:
        return f"{moment:%b} {moment.day:2d} {moment:%H:%M:%S} tc-app01 sshd[4242]: {text}"

    for n in range(background_per_ip):
        for i in range(ips):
            moment = DAY + timedelta(minutes=20 * n, seconds=i)
            lines.append(
                line(
                    moment,
                    f"Failed password for invalid user u{i} from 198.51.100.{i} port 4100 ssh2",
                )
            )
    for k in range(burst):
        moment = DAY + timedelta(hours=12, seconds=4 * k)
        lines.append(
            line(moment, f"Failed password for user{k} from 203.0.113.9 port {40000 + k} ssh2")
        )
    moment = DAY + timedelta(hours=12, minutes=2)
    lines.append(line(moment, "Accepted password for user3 from 203.0.113.9 port 40100 ssh2"))
    parser = AuthParser()
    ctx = ParseContext(source="auth.log", timezone=ZoneInfo("UTC"), reference_time=NOW)
    events = []
    for position, text in enumerate(lines):
        doc = parser.parse(text, ctx)
        doc["_id"] = ecs.event_id("auth.log", position)
        events.append(doc)
    return events


@pytest.fixture
def es(es_url: str) -> Iterator[ElasticStore]:
    store = ElasticStore(es_url)
    yield store
    store.close()


FAILURES_RULE = """
title: Every failed SSH login
id: 5d0e8c4a-1b2f-4c3d-9e8f-0a1b2c3d4e5f
logsource:
  product: linux
  service: sshd
detection:
  selection:
    event.action: ssh_login
    event.outcome: failure
  condition: selection
level: low
"""


def pack(store: Store, extra: Path | None = None) -> list[CompiledRule]:
    """The runnable rules of the city pack (plus the rules in ``extra``)."""
    compiled = load_and_compile(store.kind, [extra] if extra else [])[1]
    return [c for c in compiled if c.runnable]


@pytest.fixture
def failures_rule(tmp_path: Path) -> Path:
    """A folder with one standalone, unsuppressed rule matching every sshd failure."""
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "failures.yml").write_text(FAILURES_RULE)
    return folder


def stored(store: Store, events: list[dict[str, Any]]) -> None:
    assert not store.write_events(events).failures
    store.refresh()


def alerts_of(store: Store) -> list[tuple[Any, ...]]:
    return sorted(
        (a["id"], a["rule_id"], tuple(sorted(a["event_ids"])), a["count"])
        for a in store.list_records("alerts")
    )


def test_single_event_rules_go_out_in_msearch_batches(
    es: ElasticStore, monkeypatch: pytest.MonkeyPatch, failures_rule: Path
) -> None:
    # a first page of 100 makes the background failures (800 matches) need a second round
    monkeypatch.setattr(es_singles, "FIRST_PAGE", 100)
    events = auth_events(background_per_ip=20)
    stored(es, events)
    singles = [c for c in pack(es, failures_rule) if not c.bases]
    assert len(singles) > 50
    es.request_log.clear()
    summary = run_compiled(es, singles, None, None, now=NOW)
    assert summary.ok, summary.failed
    assert summary.alerts_new > 800  # the failures rule: one alert per failure
    # event searches (the alert records are searched only for suppression keys)
    searches = [
        r for r in es.request_log.matching(r"_search|_count|_msearch") if "alerts" not in r.path
    ]
    assert all(r.path.endswith("/_msearch") for r in searches)
    paging = [o for o in summary.outcomes if o.matches > 100 and o.alerts_new]
    assert paging, "no rule needed a second page"
    assert len(searches) == math.ceil(len(singles) / 100) + math.ceil(len(paging) / 100)
    assert len(searches) <= math.ceil(len(singles) / 100) + 10
    assert not es.request_log.matching(r"_refresh")
    # the hits carried only what alerts read (no message, no original line...): each hit
    # costs well under half of its whole document
    whole = sum(len(json.dumps(e)) for e in events) / len(events)
    per_hit = sum(r.response_bytes for r in searches) / summary.alerts_new
    assert per_hit < whole / 2


def test_single_event_rules_past_the_alert_cap_are_counted_not_read(
    es: ElasticStore, monkeypatch: pytest.MonkeyPatch, failures_rule: Path
) -> None:
    monkeypatch.setattr(es_singles, "FIRST_PAGE", 30)
    monkeypatch.setattr(es_singles, "MAX_ALERTS_PER_RULE", 50)
    monkeypatch.setattr(emit, "MAX_ALERTS_PER_RULE", 50)
    stored(es, auth_events(background_per_ip=5))  # 200 background failures
    singles = [c for c in pack(es, failures_rule) if not c.bases]
    summary = run_compiled(es, singles, None, None, now=NOW)
    (outcome,) = [o for o in summary.outcomes if o.title == "Every failed SSH login"]
    assert outcome.matches == 212
    assert outcome.alerts_new == 50
    assert outcome.truncated == 212 - 50
    # the first 50 events, oldest first, raised the alerts
    raised = {a["event_ids"][0] for a in summary.alerts if a["rule_id"] == outcome.rule_id}
    first = es.search("event.outcome:failure", size=50, start=DAY)
    assert raised == {h.id for h in first.hits}


BAD_RULE = """
title: A query the server refuses
id: 0b7f1c2e-3d4a-4b5c-8d6e-7f8091a2b3c4
logsource:
  product: linux
  service: sshd
detection:
  selection:
    user.name|re: 'ro"ot'
  condition: selection
level: low
"""


def test_a_rejected_rule_fails_alone_without_searching_its_batch_again(
    es: ElasticStore, failures_rule: Path
) -> None:
    (failures_rule / "bad.yml").write_text(BAD_RULE)
    stored(es, auth_events(background_per_ip=2))
    singles = [c for c in pack(es, failures_rule) if not c.bases]
    es.request_log.clear()
    summary = run_compiled(es, singles, None, None, now=NOW)
    assert [f["title"] for f in summary.failed] == ["A query the server refuses"]
    searches = [r for r in es.request_log.matching(r"_msearch")]
    assert len(searches) == math.ceil(len(singles) / 100)
    assert summary.alerts_new >= 80  # the failures rule still raised its alerts


def test_a_huge_query_goes_alone_so_a_timeout_cannot_fail_its_batch(
    es: ElasticStore, failures_rule: Path
) -> None:
    # A rule like SigmaHQ's emoji lists (hundreds of contains values) makes a query of over
    # HEAVY_QUERY characters: it is searched alone, the others in batches of 100 as before.
    values = "\n".join(f"      - 'tool{i:04d}.exe'" for i in range(700))
    (failures_rule / "huge.yml").write_text(
        "title: Huge value list\nid: 0f3e0c8e-0000-4000-8000-0000000000ee\n"
        "logsource: {product: linux, service: sshd}\n"
        f"detection:\n  selection:\n    process.command_line|contains:\n{values}\n"
        "  condition: selection\nlevel: low\n"
    )
    stored(es, auth_events(background_per_ip=2))
    singles = [c for c in pack(es, failures_rule) if not c.bases]
    huge = [c for c in singles if c.query and len(c.query) >= es_singles.HEAVY_QUERY]
    assert [c.title for c in huge] == ["Huge value list"]
    es.request_log.clear()
    summary = run_compiled(es, singles, None, None, now=NOW)
    assert not summary.failed
    searches = es.request_log.matching(r"_msearch")
    assert len(searches) == math.ceil((len(singles) - 1) / 100) + 1


def test_a_cycle_over_a_window_without_events_searches_no_single_rule(
    es: ElasticStore, failures_rule: Path
) -> None:
    stored(es, auth_events(background_per_ip=3))
    singles = [c for c in pack(es, failures_rule) if not c.bases]
    plan = Schedule(lookback=timedelta(days=1))
    first = run_cycle(es, singles, DAY + timedelta(hours=13), plan)
    assert first.ok and first.alerts_new > 100
    es.request_log.clear()
    # nothing was logged after 12:02: the next day's window holds no event
    later = DAY + timedelta(days=1, hours=13)
    second = run_cycle(es, singles, later, plan)
    assert second.ok and second.rules_run == len(singles) and second.alerts_new == 0
    assert not es.request_log.matching(r"_msearch|_search")
    marks = read_watermarks(es)
    assert all(marks[c.id] == ecs.format_timestamp(later - plan.settle) for c in singles)


def test_correlations_read_only_groups_that_can_fire(tmp_path: Path, es_url: str) -> None:
    """Nine failures per address over a day (below every threshold) or five: the
    correlation requests answer the same number of bytes, and the burst fires on both
    stores alike."""
    received: dict[int, int] = {}
    for per_ip in (5, 9):
        store = ElasticStore(es_url, index_prefix=f"corr{per_ip}")
        local = LocalStore(tmp_path / f"corr{per_ip}.db")
        try:
            events = auth_events(background_per_ip=per_ip)
            stored(store, events)
            stored(local, events)
            correlations = [c for c in pack(store) if c.bases]
            store.request_log.clear()
            summary = run_compiled(store, correlations, None, None, now=NOW)
            assert summary.ok, summary.failed
            received[per_ip] = store.request_log.totals()[2]
            assert not store.request_log.matching(r"_refresh")
            run_compiled(local, [c for c in pack(local) if c.bases], None, None, now=NOW)
            on_es = alerts_of(store)
            assert on_es == alerts_of(local)
            assert {"4557d854-8e1c-41e9-bc6b-1236ee0ca851"} <= {a[1] for a in on_es}
            assert all("198.51.100." not in str(a) for a in store.list_records("alerts"))
        finally:
            store.close()
            local.close()
    # 160 more matched events in the second store, none of them read
    assert received[9] <= received[5] * 1.02


def test_no_refresh_in_a_run_or_a_scheduled_cycle(es: ElasticStore, failures_rule: Path) -> None:
    stored(es, auth_events(background_per_ip=3))
    compiled = pack(es, failures_rule)
    es.request_log.clear()
    assert run_compiled(es, compiled, None, None, now=NOW).ok
    run_cycle(es, compiled, DAY + timedelta(hours=13), Schedule(lookback=timedelta(days=1)))
    assert es.request_log.requests
    assert not es.request_log.matching(r"_refresh")


def test_correlations_match_the_local_store_over_thousands_of_addresses(
    tmp_path: Path, es_url: str
) -> None:
    """Failures from 9,000 random addresses beside a few brute forces (thousands of
    groups below every threshold): the same alerts on both stores."""
    events = auth_events(background_per_ip=1, ips=40)
    base = len(events)
    rng = random.Random(12)
    for i in range(9000):
        doc = dict(events[0])
        doc["_id"] = ecs.event_id("many", i)
        doc["@timestamp"] = ecs.format_timestamp(DAY + timedelta(seconds=9 * i))
        doc["source"] = {"ip": f"198.51.{rng.randint(0, 255)}.{rng.randint(1, 254)}"}
        events.append(doc)
    assert len(events) == base + 9000
    es = ElasticStore(es_url)
    local = LocalStore(tmp_path / "many.db")
    try:
        for store in (es, local):
            stored(store, events)
            summary = run_compiled(store, [c for c in pack(store) if c.bases], None, None, now=NOW)
            assert summary.ok, summary.failed
        assert alerts_of(es) == alerts_of(local)
        assert alerts_of(es)
    finally:
        es.close()
        local.close()


STREAMED_RULES = """
title: SSH login failed (streamed)
id: 9a3c51e0-7d1b-4c2e-8f10-000000000001
name: streamed_ssh_failed
logsource: {product: linux, service: sshd}
detection:
  selection:
    event.action: ssh_login
    event.outcome: failure
  condition: selection
level: low
---
title: Three failures from one address in ten minutes
id: 9a3c51e0-7d1b-4c2e-8f10-000000000002
correlation:
  type: event_count
  rules: streamed_ssh_failed
  group-by: [source.ip]
  timespan: 10m
  condition: {gte: 3}
level: medium
"""


def test_a_correlation_streams_its_candidate_events_page_by_page(
    tmp_path: Path, es_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forty addresses failing nine times 20 minutes apart (candidates over the day, never
    three in a window) and one burst: with tiny pages and three groups to a search, the
    candidate events are read as the windows take them, never more than a page and a half
    of each search ahead, and the alerts are those of the local store."""
    from soc.detect import es_correlate
    from soc.detect.es_correlate import CandidateReader

    monkeypatch.setattr(es_correlate, "PAGE", 20)
    monkeypatch.setattr(es_correlate, "MIN_STREAM_PAGE", 2)
    monkeypatch.setattr(es_correlate, "GROUPS_PER_SEARCH", 3)
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "streamed.yml").write_text(STREAMED_RULES)
    events = auth_events(background_per_ip=9)
    es = ElasticStore(es_url, index_prefix="streamed")
    local = LocalStore(tmp_path / "streamed.db")
    try:
        stored(es, events)
        stored(local, events)
        rules = {
            s.kind: load_and_compile(s.kind, [folder], include_pack=False)[1] for s in (es, local)
        }
        corr = next(c for c in rules["elasticsearch"] if c.bases)

        fetched = 0
        search_many = es.search_many

        def counting(requests):  # type: ignore[no-untyped-def]
            nonlocal fetched
            results = search_many(requests)
            fetched += sum(len(r.page.hits) for r in results)
            return results

        monkeypatch.setattr(es, "search_many", counting)
        reader = CandidateReader(es, [corr], None)
        taken = 0
        most_ahead = 0
        for event in reader.events(corr, None, None):
            taken += 1
            most_ahead = max(most_ahead, fetched - taken)
            assert event.doc["source"]["ip"]
        assert taken == 40 * 9 + 12  # every failure of a candidate group, once
        searches = math.ceil(41 / 3)  # of two hits a page: 14 first pages in one round
        assert reader.requests > 1 + 1  # group counts, first pages, then the next ones
        # a page and a half of each search, and each search's next hit in the merge
        assert most_ahead <= searches * 4 + 2
        monkeypatch.setattr(es, "search_many", search_many)

        for store in (es, local):
            summary = run_compiled(store, rules[store.kind], None, None, now=NOW)
            assert summary.ok, summary.failed
        fired = [a for a in alerts_of(es) if a[1] == corr.id]
        assert len(fired) == 1 and fired[0][3] >= 3
        assert alerts_of(es) == alerts_of(local)
    finally:
        es.close()
        local.close()


SECOND_CORRELATION = """
---
title: Five failures from one address in an hour
id: 9a3c51e0-7d1b-4c2e-8f10-000000000003
correlation:
  type: event_count
  rules: streamed_ssh_failed
  group-by: [source.ip]
  timespan: 1h
  condition: {gte: 5}
level: medium
"""


def test_a_shared_base_query_is_streamed_once_for_all_its_correlations(
    tmp_path: Path, es_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two correlations over one base rule, read in lock step with tiny pages: the base
    query's candidate events are fetched once for both (never all held: page by page as
    the windows take them), and the alerts are those of the local store."""
    from soc.detect import es_correlate

    monkeypatch.setattr(es_correlate, "PAGE", 20)
    monkeypatch.setattr(es_correlate, "MIN_STREAM_PAGE", 2)
    monkeypatch.setattr(es_correlate, "GROUPS_PER_SEARCH", 3)
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "shared.yml").write_text(STREAMED_RULES + SECOND_CORRELATION)
    events = auth_events(background_per_ip=9)
    local = LocalStore(tmp_path / "shared.db")
    try:
        stored(local, events)
        compiled = load_and_compile(local.kind, [folder], include_pack=False)[1]
        assert run_compiled(local, compiled, None, None, now=NOW).ok
        expected = alerts_of(local)
    finally:
        local.close()
    assert len({a[1] for a in expected}) == 2  # both correlations fired
    store = ElasticStore(es_url, index_prefix="shared")
    try:
        stored(store, events)
        compiled = load_and_compile(store.kind, [folder], include_pack=False)[1]
        fetched = 0
        largest = 0
        search_many = store.search_many

        def counting(requests):  # type: ignore[no-untyped-def]
            nonlocal fetched, largest
            results = search_many(requests)
            hits = sum(len(r.page.hits) for r in results)
            fetched += hits
            largest = max(largest, hits)
            return results

        monkeypatch.setattr(store, "search_many", counting)
        summary = run_compiled(store, compiled, None, None, now=NOW)
        assert summary.ok, summary.failed
        assert alerts_of(store) == expected
        # every failure of a candidate group (40 addresses and the burst), once for both
        assert fetched == 40 * 9 + 12
        assert largest <= math.ceil(41 / 3) * 2  # one page of each search at a time
    finally:
        store.close()


REJECTED_CORRELATION = """
---
title: SSH login succeeded (its searches rejected below)
id: 9a3c51e0-7d1b-4c2e-8f10-000000000004
name: streamed_ssh_ok
logsource: {product: linux, service: sshd}
detection:
  selection:
    event.action: ssh_login
    event.outcome: success
  condition: selection
level: low
---
title: Many logins from one address
id: 9a3c51e0-7d1b-4c2e-8f10-000000000005
correlation:
  type: event_count
  rules: streamed_ssh_ok
  group-by: [source.ip]
  timespan: 10m
  condition: {gte: 2}
level: medium
"""


def test_a_rejected_base_query_fails_its_correlation_alone(
    tmp_path: Path, es_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the server rejects the searches of one base query, the lock step gives way to
    the correlations one by one: that correlation is reported failed with the server's
    message, the other raises the alerts the local store raises."""
    from soc.store.base import QueryError

    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "two.yml").write_text(STREAMED_RULES + REJECTED_CORRELATION)
    events = auth_events(background_per_ip=9)
    local = LocalStore(tmp_path / "two.db")
    try:
        stored(local, events)
        compiled = load_and_compile(local.kind, [folder], include_pack=False)[1]
        assert run_compiled(local, compiled, None, None, now=NOW).ok
        burst = "9a3c51e0-7d1b-4c2e-8f10-000000000002"
        expected = [a for a in alerts_of(local) if a[1] == burst]
    finally:
        local.close()
    assert expected
    store = ElasticStore(es_url, index_prefix="rejected")
    try:
        stored(store, events)
        compiled = load_and_compile(store.kind, [folder], include_pack=False)[1]
        rejected = next(c for c in compiled if c.id.endswith("0005"))
        refused = rejected.bases[0].query
        group_counts = store.group_counts

        def refusing(query, *args, **kwargs):  # type: ignore[no-untyped-def]
            if query == refused:
                raise QueryError("search rejected: too many clauses")
            return group_counts(query, *args, **kwargs)

        monkeypatch.setattr(store, "group_counts", refusing)
        summary = run_compiled(store, compiled, None, None, now=NOW)
        assert [f["id"] for f in summary.failed] == [rejected.id]
        assert "too many clauses" in summary.failed[0]["error"]
        assert alerts_of(store) == expected
    finally:
        store.close()
