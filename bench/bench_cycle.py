"""Scheduled-cycle figures on Elasticsearch: the SigmaHQ Windows rules of the corpus plus the
city pack over the corpus EVTX files, stored in an osmem-server started here.

- one scheduler: the requests (the store's request log) and wall time of a first cycle
  (lookback over all the data) and of the next cycle five minutes later;
- two schedulers sharing the rules through leases (soc.detect.leases), each a thread with its
  own store object and scheduler id, running their first cycle at the same time on a second
  copy of the data: the rules, requests and wall time of each, and the checks that matter to
  a user: the two shares add up to every rule with no rule run twice, the alerts are the same
  as with one scheduler (none twice, none missing), every rule's watermark advanced.

SOC_BENCH_CYCLE_STRIDE=N keeps every N-th Sigma rule (default 1: all of them), for a quick
look. Nothing is asserted.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from soc import clock
from soc.detect.compile import compile_all
from soc.detect.leases import Lease, owner_of
from soc.detect.loader import load_rules
from soc.detect.runner import Schedule, read_watermarks, run_cycle
from soc.resources import rules_dir

SIGMA_DIRS = ("rules",)
PLAN = Schedule(lookback=timedelta(days=3650))


def _alert_ids(store: Any) -> list[str]:
    return [str(r["id"]) for r in store.list_records("alerts")]


def run(corpus: Path | None) -> None:
    """Print the requests and time of scheduled cycles with one and two schedulers."""
    if corpus is None:
        print("cycle: corpus absent, nothing measured")
        return
    try:
        from osmem_server import OsmemServer

        from soc.store.elastic import ElasticStore
    except ImportError as exc:
        print(f"cycle: skipped ({exc})")
        return
    from bench.bench_detect import _ingest

    stride = int(os.environ.get("SOC_BENCH_CYCLE_STRIDE", "1"))
    ruleset = load_rules([corpus / "sigma" / d / "windows" for d in SIGMA_DIRS])
    pack = load_rules([rules_dir()])
    compiled = compile_all(ruleset.rules[::stride] + pack.rules, "lucene")
    runnable = [c for c in compiled if c.runnable]
    print(
        f"{len(ruleset.rules[::stride])} SigmaHQ Windows rules + {len(pack.rules)} pack rules: "
        f"{len(runnable)} runnable on Elasticsearch"
    )
    files = sorted((corpus / "evtx").rglob("*.evtx"))
    server = OsmemServer.start(japanese=False, addr="127.0.0.1:0")
    try:
        with tempfile.TemporaryDirectory(prefix="soc-bench-cycle-") as tmp:
            one = ElasticStore(server.url, index_prefix="cycle1")
            two = ElasticStore(server.url, index_prefix="cycle2")
            events = _ingest(one, files, Path(tmp))
            _ingest(two, files, Path(tmp))
            print(f"{events} events from {len(files)} .evtx files, in two copies (not timed)")
            now = clock.now()
            alone = _one_scheduler(one, compiled, now)
            _two_schedulers(server.url, two, compiled, runnable, now, alone, ElasticStore)
            one.close()
            two.close()
    finally:
        server.close()


def _one_scheduler(store: Any, compiled: list, now: Any) -> set[str]:
    for label, moment in (("cycle 1", now), ("cycle 2 (+5 min)", now + timedelta(minutes=5))):
        store.request_log.clear()
        started = time.perf_counter()
        summary = run_cycle(store, compiled, moment, PLAN)
        seconds = time.perf_counter() - started
        count, sent, received = store.request_log.totals()
        print(
            f"  one scheduler, {label}: {summary.rules_run} rules, {count} requests, "
            f"{sent / 1e6:.2f} MB sent, {received / 1e6:.2f} MB received, {seconds:.1f}s; "
            f"{summary.alerts_new} new alerts, {len(summary.failed)} rules failed"
        )
        if summary.failed:
            print(f"    first failure: {summary.failed[0]}")
    return set(_alert_ids(store))


def _two_schedulers(
    url: str, seed: Any, compiled: list, runnable: list, now: Any, alone: set[str], kind: Any
) -> None:
    names = ("sched-a", "sched-b")
    stores = [kind(url, index_prefix="cycle2") for _ in names]
    leases = [Lease(s, n, timedelta(minutes=10)) for s, n in zip(stores, names, strict=True)]
    for lease in leases:  # both join before either runs, as after their first cycles
        lease.renew(now)
    results: dict[str, tuple[Any, float, tuple[int, int, int]]] = {}

    def cycle(index: int) -> None:
        store = stores[index]
        store.request_log.clear()
        started = time.perf_counter()
        summary = run_cycle(store, compiled, now, PLAN, leases[index])
        results[names[index]] = (
            summary,
            time.perf_counter() - started,
            store.request_log.totals(),
        )

    threads = [threading.Thread(target=cycle, args=(i,)) for i in range(len(names))]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    both = time.perf_counter() - started
    ran = 0
    for name in names:
        summary, seconds, (count, sent, received) = results[name]
        ran += summary.rules_run
        owned = sum(1 for c in runnable if owner_of(c.id, list(names)) == name)
        print(
            f"  two schedulers, {name}: {summary.rules_run} rules (owns {owned}), {count} "
            f"requests, {sent / 1e6:.2f} MB sent, {received / 1e6:.2f} MB received, "
            f"{seconds:.1f}s; {summary.alerts_new} new alerts, {len(summary.failed)} failed"
        )
    seed.refresh()
    ids = _alert_ids(seed)
    marks = read_watermarks(seed)
    end = now - PLAN.settle
    from soc import ecs

    advanced = sum(1 for c in runnable if c.id in marks and ecs.parse_timestamp(marks[c.id]) >= end)
    new = sum(results[n][0].alerts_new for n in names)
    print(
        f"  two schedulers together: {both:.1f}s wall; {ran} rules run of {len(runnable)} "
        f"runnable; {len(ids)} alerts stored ({len(set(ids))} distinct ids, {new} raised as "
        f"new), {len(set(ids) ^ alone)} differing from one scheduler's {len(alone)}; "
        f"watermarks advanced for {advanced} of {len(runnable)} rules"
    )
    for store in stores:
        store.close()
