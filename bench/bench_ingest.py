"""Ingestion figures: events/s for parse+store of corpus logs and EVTX into the local store
(and into an osmem-server Elasticsearch-API store started here, when available), and EVTX
records/s for parse+normalise alone. Prints what was measured, on how much data, the rate."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from collectors.ship import DeadLetterFile, Shipper
from collectors.sources.logs import IngestOptions, LogIngestor
from soc.store.base import Store


def _ingest(store: Store, paths: list[Path], work: Path) -> tuple[int, int, float]:
    shipper = Shipper(store, dead_letters=DeadLetterFile(work / "deadletter"))
    ingestor = LogIngestor(shipper, IngestOptions())
    started = time.perf_counter()
    for path in paths:
        ingestor.ingest(str(path))
    shipper.close()
    seconds = time.perf_counter() - started
    stats = shipper.stats
    return stats.read, stats.stored + stats.duplicates, seconds


def _report(label: str, what: str, records: int, nbytes: int, seconds: float) -> None:
    rate = records / seconds if seconds else 0.0
    print(
        f"{label:<34} {what:<40} {records:>7,} records {nbytes / 1e6:7.1f} MB "
        f"{seconds:6.2f} s {rate:>9,.0f} records/s"
    )


def _evtx_parse_only(files: list[Path]) -> tuple[int, float]:
    from evtx import PyEvtxParser

    from collectors.evtx_ecs import record_to_ecs

    count = 0
    started = time.perf_counter()
    for path in files:
        for record in PyEvtxParser(str(path), number_of_threads=1).records_json():
            data = record["data"]
            record_to_ecs(json.loads(data), original=data)
            count += 1
    return count, time.perf_counter() - started


def _stores(work: Path) -> list[tuple[str, Callable[[], Store], Callable[[], None]]]:
    from soc.store.local import LocalStore

    out: list[tuple[str, Callable[[], Store], Callable[[], None]]] = []
    counter = iter(range(1_000_000))
    out.append(("local", lambda: LocalStore(work / f"local-{next(counter)}.db"), lambda: None))
    try:
        from osmem_server import OsmemServer

        from soc.store.elastic import ElasticStore
    except ImportError as exc:
        print(f"elasticsearch figures skipped: {exc}")
        return out
    try:
        server = OsmemServer.start(japanese=False, addr="127.0.0.1:0")
    except Exception as exc:  # the bench reports, it does not fail
        print(f"elasticsearch figures skipped: osmem-server did not start: {exc}")
        return out
    names = iter(range(1_000_000))
    out.append(
        (
            "elasticsearch (osmem-server)",
            lambda: ElasticStore(server.url, index_prefix=f"bench{next(names)}"),
            server.close,
        )
    )
    return out


def run(corpus: Path | None) -> None:
    """Print parse+store rates per input and store, and EVTX parse+normalise alone."""
    if corpus is None:
        print("bench_ingest: corpus absent, nothing measured")
        return
    logs = corpus / "logs"
    evtx_files = sorted((corpus / "evtx").rglob("*.evtx"))
    inputs: list[tuple[str, list[Path]]] = [
        ("logs/auth.log", [logs / "auth.log"]),
        ("logs/apache_access.log", [logs / "apache_access.log"]),
        (f"evtx/ ({len(evtx_files)} files)", evtx_files),
    ]
    count, seconds = _evtx_parse_only(evtx_files)
    evtx_bytes = sum(p.stat().st_size for p in evtx_files)
    _report("evtx/ parse+normalise (no store)", "evtx -> ECS", count, evtx_bytes, seconds)
    with tempfile.TemporaryDirectory(prefix="soc-bench-") as tmp:
        work = Path(tmp)
        for store_name, make, stop in _stores(work):
            try:
                for label, paths in inputs:
                    nbytes = sum(p.stat().st_size for p in paths)
                    store = make()
                    try:
                        read, shipped, seconds = _ingest(store, paths, work)
                    finally:
                        store.close()
                    _report(label, f"parse+store {store_name}", shipped, nbytes, seconds)
                    if read != shipped:
                        print(f"  ({read - shipped:,} of {read:,} records dead-lettered)")
            finally:
                stop()
