"""Ingest on the Elasticsearch store: several bulks in flight, the store's size limits, and a
bulk (or a conditional record write) sent again after a timeout whose first try landed.

A small real HTTP proxy on 127.0.0.1 sits between the store and the osmem-server: it can hold
the answer of chosen requests (the request reaches the server and lands; the answer arrives
after the client gave up), and it counts the requests in flight at once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from soc import ecs
from soc.store.base import StoreError
from soc.store.elastic import ElasticStore


def auth_event(i: int) -> dict[str, Any]:
    stamp = datetime(2026, 11, 20, 10, tzinfo=UTC) + timedelta(seconds=i)
    return {
        "_id": ecs.event_id("test-es-ingest", i),
        "@timestamp": ecs.format_timestamp(stamp),
        "event": {"dataset": "system.auth", "outcome": "failure"},
        "user": {"name": f"user{i % 11}"},
        "message": f"Failed password for user{i % 11}",
    }


class HoldingProxy:
    """Forwards every request to ``upstream``; the first ``late`` requests whose
    "METHOD path" matches ``pattern`` get their answer only after ``late_seconds``; every
    matching request is held ``hold_seconds`` before it is forwarded."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.pattern = re.compile(r"^$")
        self.late = 0
        self.late_seconds = 0.0
        self.hold_seconds = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self.matched = 0
        self.gather = 0  # hold each matching request until this many are in flight (5 s max)
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                matched = bool(proxy.pattern.search(f"{self.command} {self.path}"))
                late = False
                with proxy.changed:
                    if matched:
                        proxy.matched += 1
                        proxy.in_flight += 1
                        proxy.max_in_flight = max(proxy.max_in_flight, proxy.in_flight)
                        proxy.changed.notify_all()
                        proxy.changed.wait_for(lambda: proxy.in_flight >= proxy.gather, 5)
                        if proxy.late > 0:
                            proxy.late -= 1
                            late = True
                try:
                    if matched:
                        time.sleep(proxy.hold_seconds)
                    headers = {
                        k: v
                        for k, v in self.headers.items()
                        if k.lower() in {"content-type", "accept", "authorization"}
                    }
                    request = urllib.request.Request(
                        proxy.upstream + self.path, data=body, method=self.command, headers=headers
                    )
                    try:
                        with urllib.request.urlopen(request, timeout=30) as answer:
                            status, payload = answer.status, answer.read()
                            kind = answer.headers.get("Content-Type", "application/json")
                    except urllib.error.HTTPError as exc:
                        status, payload = exc.code, exc.read()
                        kind = exc.headers.get("Content-Type", "application/json")
                    if late:
                        time.sleep(proxy.late_seconds)
                    if matched:
                        # no longer in flight once answered: the client may send its next
                        # request as soon as it reads this answer, before this thread
                        # would get back to a `finally`
                        matched = False
                        with proxy.changed:
                            proxy.in_flight -= 1
                    try:
                        self.send_response(status)
                        self.send_header("Content-Type", kind)
                        self.send_header("Content-Length", str(len(payload)))
                        self.end_headers()
                        self.wfile.write(payload)
                    except OSError:
                        pass  # the client gave up on this answer
                finally:
                    if matched:
                        with proxy.changed:
                            proxy.in_flight -= 1

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(es_url: str) -> Iterator[HoldingProxy]:
    p = HoldingProxy(es_url)
    yield p
    p.close()


def test_a_bulk_sent_again_after_a_timeout_counts_its_landed_events_as_stored(
    proxy: HoldingProxy, es_url: str
) -> None:
    store = ElasticStore(proxy.url, bulk_timeout=0.5, retry_base_seconds=0.01)
    try:
        store.write_events([auth_event(0)])  # an event stored before: a real duplicate
        proxy.pattern = re.compile(r"_bulk")
        proxy.late, proxy.late_seconds = 1, 1.5
        events = [auth_event(i) for i in range(200)]
        result = store.write_events(events)
        assert (result.stored, result.duplicates, result.failed) == (199, 1, 0)
        bulks = store.request_log.matching(r"_bulk")
        assert len(bulks) == 3 and bulks[1].status == 0  # the first try got no answer
        checked = ElasticStore(es_url)
        checked.refresh()
        assert checked.count() == 200
        checked.close()
    finally:
        store.close()


def test_a_conditional_write_whose_first_try_landed_is_not_a_conflict(
    proxy: HoldingProxy,
) -> None:
    store = ElasticStore(proxy.url, timeout=0.5, retry_base_seconds=0.01)
    try:
        version = store.put_record_if("state", "lease", {"owner": "a", "n": 1}, None)
        proxy.pattern = re.compile(r"soc-state/_doc/lease")
        proxy.late, proxy.late_seconds = 1, 1.5
        again = store.put_record_if("state", "lease", {"owner": "a", "n": 2}, version)
        assert again != version
        assert store.get_record_versioned("state", "lease") == ({"owner": "a", "n": 2}, again)
    finally:
        store.close()


@pytest.mark.parametrize("concurrency", [1, 3])
def test_bulks_in_flight_follow_the_setting_and_the_size_limits(
    proxy: HoldingProxy, concurrency: int
) -> None:
    store = ElasticStore(proxy.url, bulk_concurrency=concurrency, bulk_events=25)
    try:
        store.write_events([auth_event(0)])
        proxy.pattern = re.compile(r"_bulk")
        # with several in flight, each bulk waits for a second one: they overlap for sure
        proxy.gather = min(2, concurrency)
        store.request_log.clear()
        result = store.write_events([auth_event(i) for i in range(1, 151)])
        assert result.stored == 150
        assert len(store.request_log.matching(r"_bulk")) == 6
        if concurrency == 1:
            assert proxy.max_in_flight == 1
        else:
            assert 2 <= proxy.max_in_flight <= concurrency
    finally:
        store.close()


def test_soc_ingest_hands_the_store_what_its_bulks_in_flight_take(
    proxy: HoldingProxy, tmp_path: Path
) -> None:
    # 3,000 lines, bulks of 1,500, two in flight: one write of 3,000 events = 2 bulks (the
    # former fixed 2,000-event writes made 3: 1,500 + 500, then 1,000)
    log = tmp_path / "auth.log"
    log.write_text(
        "".join(
            f"Nov 20 10:{i // 60 % 60:02d}:{i % 60:02d} web-1 sshd[{1000 + i}]: "
            f"Failed password for root from 203.0.113.{i % 200 + 1} port {40000 + i} ssh2\n"
            for i in range(3000)
        )
    )
    proxy.pattern = re.compile(r"_bulk")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    env.update(
        {
            "SOC_ELASTICSEARCH_URL": proxy.url,
            "SOC_DATA_DIR": str(tmp_path),
            "SOC_ELASTICSEARCH_BULK_EVENTS": "1500",
            "SOC_ELASTICSEARCH_BULK_CONCURRENCY": "2",
        }
    )
    exe = Path(sys.executable).with_name("soc")
    run = subprocess.run(
        [str(exe), "ingest", "logs", "--json", str(log)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert proxy.matched == 2


def test_a_write_given_up_after_a_timeout_then_retried_counts_its_landed_events_as_stored(
    proxy: HoldingProxy,
) -> None:
    # the store gives up (one attempt), the caller (the shipper) writes the same events
    # again: the first bulk had landed, so they are stored, not duplicates; a third write
    # of them is a duplicate as usual
    store = ElasticStore(proxy.url, bulk_timeout=0.5, retry_attempts=1)
    try:
        store.write_events([auth_event(0)])
        proxy.pattern = re.compile(r"_bulk")
        proxy.late, proxy.late_seconds = 1, 1.5
        events = [auth_event(i) for i in range(1, 101)]
        with pytest.raises(StoreError, match="no answer within the timeout"):
            store.write_events(events)
        time.sleep(1.2)  # the held answer is dropped; the bulk itself has landed
        retried = store.write_events(events)
        assert (retried.stored, retried.duplicates) == (100, 0)
        again = store.write_events(events)
        assert (again.stored, again.duplicates) == (0, 100)
    finally:
        store.close()
