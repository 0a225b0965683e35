"""Detection figures: the Windows rules of the corpus's SigmaHQ checkout over the corpus EVTX
files already ingested into a local store (rules/s, events/s), and the store round trips of
one scheduled cycle on Elasticsearch (an osmem-server started here)."""

from __future__ import annotations

import tempfile
import time
from datetime import timedelta
from pathlib import Path

from collectors.ship import DeadLetterFile, Shipper
from collectors.sources.evtx import ingest_evtx
from soc import clock
from soc.detect.compile import compile_all
from soc.detect.loader import load_rules
from soc.detect.runner import Schedule, run_compiled, run_cycle
from soc.store.base import Store
from soc.store.local import LocalStore

SIGMA_DIRS = ("rules", "rules-emerging-threats", "rules-threat-hunting")


def _ingest(store: Store, files: list[Path], workdir: Path) -> int:
    shipper = Shipper(store, dead_letters=DeadLetterFile(workdir / "dead"), max_wait=None)
    for path in files:
        ingest_evtx(path, shipper, source=str(path))
    shipper.close()
    store.refresh()
    return store.count()


def run(corpus: Path | None) -> None:
    """Print detection rates; nothing is asserted."""
    if corpus is None:
        print("detect: corpus absent, nothing measured")
        return
    sigma = corpus / "sigma"
    files = sorted((corpus / "evtx").rglob("*.evtx"))
    started = time.perf_counter()
    ruleset = load_rules([sigma / d for d in SIGMA_DIRS])
    windows = [
        r for r in ruleset.rules if (r.raw.get("logsource") or {}).get("product") == "windows"
    ]
    loaded = time.perf_counter() - started
    print(f"loaded {len(ruleset.rules)} SigmaHQ rules ({len(windows)} Windows) in {loaded:.1f}s")

    with tempfile.TemporaryDirectory(prefix="soc-bench-detect-") as tmp:
        workdir = Path(tmp)
        store = LocalStore(workdir / "bench.db")
        try:
            events = _ingest(store, files, workdir)
            print(f"ingested {events} events from {len(files)} corpus .evtx files (not timed)")
            started = time.perf_counter()
            compiled = compile_all(windows, "sqlite")
            compile_s = time.perf_counter() - started
            runnable = sum(1 for c in compiled if c.runnable)
            print(
                f"compiled {len(windows)} Windows rules to SQL in {compile_s:.1f}s "
                f"({runnable} runnable)"
            )
            started = time.perf_counter()
            summary = run_compiled(store, compiled, None, None)
            seconds = time.perf_counter() - started
            print(
                f"local store: {summary.rules_run} rules over {events} events in {seconds:.1f}s: "
                f"{summary.rules_run / seconds:.0f} rules/s, "
                f"{events * summary.rules_run / seconds:,.0f} rule-events/s, "
                f"{summary.events_matched} matches, {summary.alerts_new} alerts"
            )
        finally:
            store.close()
        # osmem-server answers leading-wildcard searches slowly: a sample of the rules
        _elastic_cycle(windows[::10], files[:40], workdir)


def _elastic_cycle(windows: list, files: list[Path], workdir: Path) -> None:
    try:
        from osmem_server import OsmemServer

        from soc.store.elastic import ElasticStore
    except ImportError as exc:
        print(f"elasticsearch: skipped ({exc})")
        return
    from soc.store.base import StoreError

    server = OsmemServer.start(japanese=False, addr="127.0.0.1:0")
    try:
        _cycles(ElasticStore(server.url), windows, files, workdir)
    except StoreError as exc:
        print(f"elasticsearch: stopped: {exc}")
    finally:
        server.close()


def _cycles(store: Store, windows: list, files: list[Path], workdir: Path) -> None:
    events = _ingest(store, files, workdir)
    compiled = compile_all(windows, "lucene")
    now = clock.now()
    plan = Schedule(lookback=timedelta(days=3650))
    started = time.perf_counter()
    first = run_cycle(store, compiled, now, plan)
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    second = run_cycle(store, compiled, now + timedelta(minutes=5), plan)
    second_s = time.perf_counter() - started
    print(
        f"elasticsearch (osmem-server, {events} events): cycle 1 ran {first.rules_run} rules "
        f"in {first_s:.1f}s with {first.round_trips} round trips "
        f"({first.round_trips / max(1, first.rules_run):.1f} per rule, "
        f"{len(first.failed)} rules failed); cycle 2: {second.round_trips} round trips in "
        f"{second_s:.1f}s (rule searches are not batched with _msearch yet)"
    )
    store.close()
