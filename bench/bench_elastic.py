"""Elasticsearch figures: what citysoc asks of the cluster, counted with the store's own
request log (every HTTP request: method, path, bytes each way).

For each size (SOC_BENCH_ES_SIZES, default 10000; the issue's figures use 10000,100000):
generated sshd auth.log lines (staff logins, background failures, brute-force bursts, sudo)
are parsed by the product's auth parser and stored in an osmem-server started here; then
- ingest: bulk requests and bytes;
- one detection run of the city rule pack over the whole range (what `soc detect run` does);
- `soc alerts list` (newest 100, and with --since 1d) with a fresh store;
- `soc report period` over the whole range: one call of the report's data gathering
  (soc.report.data.gather_period), with a fresh store;
each printed as requests, request bytes, response bytes and wall time, with the requests
grouped by endpoint. Nothing is asserted.
"""

from __future__ import annotations

import math
import os
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from collectors.parsers.auth import AuthParser
from collectors.parsers.base import ParseContext, ParseError
from soc import clock, ecs
from soc.resources import rules_dir
from soc.store.elastic import ElasticStore
from soc.store.es_node import RequestLog
from soc.store.queries import records_between

START = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
USERS = ("root", "admin", "oracle", "test", "ubuntu", "postgres", "guest", "ftpuser")
STAFF = ("lan.nguyen", "minh.tran", "hoa.le", "quang.pham")
_ENDPOINT = re.compile(r"/(_\w+)(?:/.*)?$")


def auth_lines(count: int, seed: int = 12) -> list[str]:
    """``count`` syslog auth.log lines over a day: 1 in 40 a staff login, 1 in 400 starts a
    burst of 30 failures from one address, the rest background failures and sudo."""
    rng = random.Random(seed)
    lines: list[str] = []
    step = 86_400 / max(1, count)
    i = 0
    while len(lines) < count:
        moment = START + timedelta(seconds=i * step)
        stamp = f"{moment:%b} {moment.day:2d} {moment:%H:%M:%S}"
        host = f"tc-app{rng.randint(1, 9):02d}"
        pid = 10_000 + i % 50_000
        roll = rng.random()
        if roll < 0.025:
            user, ip = rng.choice(STAFF), f"10.20.{rng.randint(0, 9)}.{rng.randint(2, 250)}"
            msg = f"sshd[{pid}]: Accepted publickey for {user} from {ip} port 50022 ssh2"
            lines.append(f"{stamp} {host} {msg}")
        elif roll < 0.0275:
            ip = f"203.0.113.{rng.randint(1, 254)}"
            for k in range(min(30, count - len(lines))):
                user = USERS[k % len(USERS)]
                msg = f"sshd[{pid}]: Failed password for {user} from {ip} port {40000 + k} ssh2"
                lines.append(f"{stamp} {host} {msg}")
        elif roll < 0.04:
            user = rng.choice(STAFF)
            msg = (
                f"sudo: {user} : TTY=pts/0 ; PWD=/home/{user} ; USER=root ; "
                "COMMAND=/usr/bin/systemctl restart nginx"
            )
            lines.append(f"{stamp} {host} {msg}")
        else:
            ip = f"198.51.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            user = rng.choice(USERS)
            msg = f"sshd[{pid}]: Failed password for invalid user {user} from {ip} port 41000 ssh2"
            lines.append(f"{stamp} {host} {msg}")
        i += 1
    return lines[:count]


def auth_events(count: int) -> list[dict[str, Any]]:
    """The lines of auth_lines parsed into ECS events with deterministic ids."""
    parser = AuthParser()
    ctx = ParseContext(source="bench-auth.log", reference_time=START + timedelta(days=1))
    events = []
    for position, line in enumerate(auth_lines(count)):
        try:
            doc = parser.parse(line, ctx)
        except ParseError:
            continue
        doc["_id"] = ecs.event_id("bench-auth.log", position)
        events.append(doc)
    return events


def _measure(log: RequestLog, what: str, action: Callable[[], Any]) -> Any:
    log.clear()
    started = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - started
    count, sent, received = log.totals()
    by_endpoint = Counter()
    for request in log.requests:
        match = _ENDPOINT.search(request.path)
        by_endpoint[f"{request.method} {match[1] if match else request.path}"] += 1
    top = ", ".join(f"{name} {n}" for name, n in by_endpoint.most_common(6))
    print(
        f"  {what}: {count} requests, {sent / 1e6:.2f} MB sent, {received / 1e6:.2f} MB "
        f"received, {seconds:.1f}s  [{top}]"
    )
    return result


def _one_size(url: str, size: int) -> None:
    from soc.detect.compile import compile_all
    from soc.detect.loader import load_rules
    from soc.detect.runner import run_compiled

    events = auth_events(size)
    print(f"{size} generated auth lines -> {len(events)} events")
    store = ElasticStore(url, index_prefix=f"bench{size}")
    try:
        result = _measure(store.request_log, "ingest", lambda: store.write_events(events))
        print(f"    stored {result.stored}, duplicates {result.duplicates}, failed {result.failed}")
        store.refresh()
        ruleset = load_rules([rules_dir()])
        compiled = compile_all(ruleset.rules, "lucene")
        end = START + timedelta(days=2)
        # one run, in its two phases (run_compiled runs the single-event rules first, then
        # the correlations): the requests of each, then of both
        singles = [c for c in compiled if c.runnable and not c.bases]
        correlations = [c for c in compiled if c.runnable and c.bases]
        store.request_log.clear()
        whole = [0, 0, 0, 0.0]
        for label, rules in (("single-event", singles), ("correlation", correlations)):
            started = time.perf_counter()
            summary = _measure(
                store.request_log,
                f"detect run, {len(rules)} {label} rules",
                lambda rules=rules: run_compiled(store, rules, START, end, now=end),
            )
            count, sent, received = store.request_log.totals()
            for i, value in enumerate((count, sent, received, time.perf_counter() - started)):
                whole[i] += value
            searches = len(store.request_log.matching(r"_msearch|_search|_count"))
            print(
                f"    {summary.rules_run} rules run, {summary.events_matched} matches, "
                f"{summary.alerts_new} new alerts, {len(summary.failed)} failed; "
                f"{searches} event searches"
                + (f" (goal <= {math.ceil(len(rules) / 100) + 10})" if label[0] == "s" else "")
            )
            if summary.failed:
                print(f"    first failure: {summary.failed[0]}")
        print(
            f"  detect run ({len(singles) + len(correlations)} rules): {whole[0]} requests, "
            f"{whole[1] / 1e6:.2f} MB sent, {whole[2] / 1e6:.2f} MB received, {whole[3]:.1f}s"
        )
    finally:
        store.close()
    for label, since in (("alerts list", None), ("alerts list --since (after 12:00)", 12)):
        fresh = ElasticStore(url, index_prefix=f"bench{size}")
        start = ecs.format_timestamp(START + timedelta(hours=since)) if since else None
        try:
            listed = _measure(
                fresh.request_log,
                label,
                lambda fresh=fresh, start=start: records_between(
                    fresh, "alerts", field="first_seen", start=start, limit=100
                ),
            )
            print(f"    {len(listed)} alerts listed")
        finally:
            fresh.close()
    fresh = ElasticStore(url, index_prefix=f"bench{size}")
    try:
        from soc.report.data import gather_period

        report = _measure(
            fresh.request_log,
            "report period (2 days, gather_period)",
            lambda: gather_period(fresh, START, START + timedelta(days=2), now=START),
        )
        print(f"    {report.events_total} events, {report.alerts_total} alerts in the report")
    finally:
        fresh.close()


def run(corpus: Path | None) -> None:
    """Print the Elasticsearch request figures; nothing is asserted."""
    try:
        from osmem_server import OsmemServer
    except ImportError as exc:
        print(f"elasticsearch: skipped ({exc})")
        return
    sizes = [int(s) for s in os.environ.get("SOC_BENCH_ES_SIZES", "10000").split(",") if s]
    print(f"product clock: {clock.now():%Y-%m-%d %H:%M} UTC; sizes {sizes}")
    server = OsmemServer.start(japanese=False, addr="127.0.0.1:0")
    try:
        for size in sizes:
            _one_size(server.url, size)
    finally:
        server.close()
