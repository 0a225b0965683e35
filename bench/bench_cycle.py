"""Scheduled-cycle figures on Elasticsearch: the SigmaHQ Windows rules of the corpus plus the
city pack over the corpus EVTX files, stored in an osmem-server started here.

- one scheduler (this process): the requests (the store's request log), MB sent and
  received, wall and CPU time of a first cycle (lookback over all the data) and of the next
  cycle five minutes later, and how much of the wall time was spent waiting on ``_msearch``
  answers and how much CPU the server used meanwhile;
- two schedulers sharing the rules through leases (soc.detect.leases), each in its own OS
  process (multiprocessing, spawn) with its own store client and scheduler id, on a second
  copy of the data: both join (renew their lease) first, then both start their first cycle
  at the same moment. Per scheduler: rules run (and owned), requests, MB, wall and CPU time;
  then the checks that matter to a user: the two shares add up to every runnable rule with
  no rule run twice, the alerts are the same as with one scheduler (none twice, none
  missing), every rule's watermark advanced.

Nothing is asserted. SOC_BENCH_CYCLE_STRIDE=N keeps every N-th Sigma rule (default 1: all of
them). Measured (docs/elasticsearch.md, "A scheduled cycle"; 10,006 events, 2 shared cores):
at stride 10 (359 runnable rules) one scheduler's first cycle took 72.1 s, 70.1 s of it
waiting on osmem's ``_msearch`` answers, and two schedulers 83.4 s and 98.0 s, not half:
osmem uses both cores for one scheduler's searches (Sigma's ``*contains*`` wildcards and
regular expressions are most of its time). The full set did not finish in 30 minutes.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from soc import clock, ecs
from soc.detect.compile import CompiledRule, compile_all
from soc.detect.leases import Lease, owner_of
from soc.detect.loader import load_rules
from soc.detect.runner import Schedule, read_watermarks, run_cycle
from soc.resources import rules_dir

SIGMA_DIRS = ("rules",)
PLAN = Schedule(lookback=timedelta(days=3650))
SCHEDULERS = ("sched-a", "sched-b")
#: Long enough that no lease expires while the other scheduler's cycle runs.
LEASE = timedelta(hours=1)


def _compiled(corpus: Path, stride: int) -> tuple[int, int, list[CompiledRule]]:
    """(Sigma rules kept, pack rules, every rule compiled for Elasticsearch)."""
    ruleset = load_rules([corpus / "sigma" / d / "windows" for d in SIGMA_DIRS])
    pack = load_rules([rules_dir()])
    sigma = ruleset.rules[::stride]
    return len(sigma), len(pack.rules), compile_all(sigma + pack.rules, "lucene")


def _alert_ids(store: Any) -> list[str]:
    return [str(r["id"]) for r in store.list_records("alerts")]


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


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
    sigma, pack, compiled = _compiled(corpus, stride)
    runnable = [c for c in compiled if c.runnable]
    print(
        f"{sigma} SigmaHQ Windows rules + {pack} pack rules: {len(runnable)} runnable on "
        f"Elasticsearch; {os.cpu_count()} CPUs, load average {_load()}"
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
            alone, first = _one_scheduler(one, compiled, now, server.pid)
            _two_schedulers(server, two, corpus, stride, runnable, now, alone, first)
            one.close()
            two.close()
    finally:
        server.close()
    print(f"  load average after: {_load()}")


def _one_scheduler(
    store: Any, compiled: list[CompiledRule], now: datetime, server_pid: int
) -> tuple[set[str], tuple[float, int]]:
    """Run two cycles with one scheduler; its alert ids and (wall s, requests) of cycle 1."""
    first = (0.0, 0)
    for label, moment in (("cycle 1", now), ("cycle 2 (+5 min)", now + timedelta(minutes=5))):
        store.request_log.clear()
        server_cpu = _cpu_of(server_pid)
        cpu = time.process_time()
        started = time.perf_counter()
        summary = run_cycle(store, compiled, moment, PLAN)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        server_cpu = _cpu_of(server_pid) - server_cpu
        count, sent, received = store.request_log.totals()
        waiting = sum(r.seconds for r in store.request_log.matching(r"_msearch"))
        if not first[1]:
            first = (seconds, count)
        print(
            f"  one scheduler, {label}: {summary.rules_run} rules, {count} requests, "
            f"{sent / 1e6:.2f} MB sent, {received / 1e6:.2f} MB received, {seconds:.1f}s wall, "
            f"{cpu:.1f}s CPU here ({waiting:.1f}s waiting on _msearch, server {server_cpu:.1f}s "
            f"CPU); {summary.alerts_new} new alerts, {len(summary.failed)} rules failed"
        )
        for failure in summary.failed[:3]:
            print(f"    failed: {failure['title']}: {failure['error'][:160]}")
    return set(_alert_ids(store)), first


def _scheduler(
    url: str,
    name: str,
    corpus: str,
    stride: int,
    now: str,
    joined: Any,
    go: Any,
    results: Any,
) -> None:
    """One scheduler process: compile the rules, join (renew the lease), wait for ``go``,
    run one cycle at ``now`` and put what it did on ``results``."""
    from soc.store.elastic import ElasticStore

    _, _, compiled = _compiled(Path(corpus), stride)
    store = ElasticStore(url, index_prefix="cycle2")
    lease = Lease(store, name, LEASE)
    lease.renew()
    joined.put(name)
    go.wait()
    store.request_log.clear()
    cpu = time.process_time()
    started = time.perf_counter()
    summary = run_cycle(store, compiled, ecs.parse_timestamp(now), PLAN, lease)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    count, sent, received = store.request_log.totals()
    store.close()
    results.put(
        {
            "name": name,
            "ran": [o.rule_id for o in summary.outcomes],
            "rules_run": summary.rules_run,
            "requests": count,
            "sent": sent,
            "received": received,
            "seconds": seconds,
            "cpu": cpu,
            "alerts_new": summary.alerts_new,
            "failed": len(summary.failed),
        }
    )


def _two_schedulers(
    server: Any,
    seed: Any,
    corpus: Path,
    stride: int,
    runnable: list[CompiledRule],
    now: datetime,
    alone: set[str],
    first: tuple[float, int],
) -> None:
    context = multiprocessing.get_context("spawn")
    joined, results, go = context.Queue(), context.Queue(), context.Event()
    stamp = ecs.format_timestamp(now)
    processes = [
        context.Process(
            target=_scheduler,
            args=(server.url, name, str(corpus), stride, stamp, joined, go, results),
        )
        for name in SCHEDULERS
    ]
    for process in processes:
        process.start()
    for _ in processes:  # both hold a lease before either runs, as after their first cycles
        joined.get(timeout=600)
    server_cpu = _cpu_of(server.pid)
    started = time.perf_counter()
    go.set()
    done = {row["name"]: row for row in (results.get() for _ in processes)}
    both = time.perf_counter() - started
    server_cpu = _cpu_of(server.pid) - server_cpu
    for process in processes:
        process.join()
    alone_seconds, alone_requests = first
    for name in SCHEDULERS:
        row = done[name]
        owned = sum(1 for c in runnable if owner_of(c.id, list(SCHEDULERS)) == name)
        print(
            f"  two schedulers, {name}: {row['rules_run']} rules (owns {owned}), "
            f"{row['requests']} requests ({row['requests'] / max(1, alone_requests):.0%} of one "
            f"scheduler's), {row['sent'] / 1e6:.2f} MB sent, {row['received'] / 1e6:.2f} MB "
            f"received, {row['seconds']:.1f}s wall ({row['seconds'] / alone_seconds:.0%} of one "
            f"scheduler's cycle 1), {row['cpu']:.1f}s CPU; {row['alerts_new']} new alerts, "
            f"{row['failed']} failed"
        )
    ran = Counter(rule for name in SCHEDULERS for rule in done[name]["ran"])
    expected = Counter(c.id for c in runnable)
    twice = sum(1 for rule, n in ran.items() if n > expected.get(rule, 0))
    missing = sum(1 for rule in expected if rule not in ran)
    seed.refresh()
    ids = _alert_ids(seed)
    marks = read_watermarks(seed)
    end = now - PLAN.settle
    advanced = sum(1 for c in runnable if c.id in marks and ecs.parse_timestamp(marks[c.id]) >= end)
    new = sum(done[n]["alerts_new"] for n in SCHEDULERS)
    print(
        f"  two schedulers together: {both:.1f}s wall (server {server_cpu:.1f}s CPU); "
        f"{sum(ran.values())} rules run of {len(runnable)} runnable, {twice} run twice, "
        f"{missing} not run; {len(ids)} alerts stored ({len(set(ids))} distinct ids, {new} "
        f"raised as new), {len(set(ids) ^ alone)} differing from one scheduler's {len(alone)}; "
        f"watermarks advanced for {advanced} of {len(runnable)} rules"
    )
