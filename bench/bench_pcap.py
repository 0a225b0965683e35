"""Packet capture throughput: the pcap engine (flows + DNS + HTTP + TLS + SSH extraction)
over every trace of the corpus, against scapy's full dissection on a sample.

Prints packets/s and MB/s (captured bytes) on one core; events are built but not stored, so
the figure is the extraction alone.
"""

from __future__ import annotations

import time
from pathlib import Path

from collectors.pcap.engine import Engine, EngineConfig
from collectors.pcap.reader import CaptureError, ReadStats, iter_records

SCAPY_SAMPLE = 5000


def _traces(corpus: Path) -> list[Path]:
    root = corpus / "pcap" / "zeek-traces"
    skip = {".txt", ".java", ".keytab"}
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and p.suffix not in skip and "README" not in p.name and p.name != "COPYING"
    )


def _engine_pass(files: list[Path]) -> tuple[int, int, int, float, float]:
    """(packets, captured bytes, events, wall seconds, CPU seconds) of one pass."""
    packets = captured = events = 0
    started = time.perf_counter()
    cpu = time.process_time()
    for path in files:
        stats = ReadStats()
        engine = Engine(EngineConfig(host_name="bench"))
        packet = engine.packet
        try:
            for ts, linktype, data, wirelen in iter_records(path, stats):
                packet(ts, linktype, data, wirelen)
        except CaptureError:
            continue
        engine.finish()
        events += len(engine.take_events())
        packets += stats.records
        captured += stats.bytes
    return packets, captured, events, time.perf_counter() - started, time.process_time() - cpu


def _scapy_pass(files: list[Path], limit: int) -> tuple[int, float]:
    """(packets, CPU seconds) of scapy's full dissection of the first ``limit`` packets."""
    import scapy.layers.all  # noqa: F401 - every dissector, as a full dissection uses
    from scapy.utils import PcapReader

    done = 0
    started = time.process_time()
    for path in files:
        if done >= limit:
            break
        try:
            with PcapReader(str(path)) as reader:  # dissects every packet fully
                for _pkt in reader:
                    done += 1
                    if done >= limit:
                        break
        except Exception:  # scapy refuses some traces; the sample moves on
            continue
    return done, time.process_time() - started


def run(corpus: Path | None) -> None:
    """Print the engine's rate over the whole corpus and scapy's on a sample."""
    if corpus is None or not (corpus / "pcap" / "zeek-traces").is_dir():
        print("pcap: no corpus/pcap/zeek-traces; nothing measured")
        return
    files = _traces(corpus)
    _engine_pass(files[:50])  # warm the page cache and the interpreter
    packets, captured, events, seconds, cpu = _engine_pass(files)
    rate = packets / cpu if cpu else 0.0
    print(
        f"pcap engine (flows+DNS+HTTP+TLS+SSH): {packets:,} packets, {captured / 1e6:.1f} MB "
        f"in {len(files)} traces -> {events:,} events"
    )
    print(
        f"  {cpu:.2f} s CPU: {rate:,.0f} packets/s, {captured / 1e6 / cpu:.1f} MB/s on one core "
        f"({seconds:.2f} s wall clock: {packets / seconds:,.0f} packets/s)"
    )
    done, scapy_seconds = _scapy_pass(files, SCAPY_SAMPLE)
    scapy_rate = done / scapy_seconds if scapy_seconds else 0.0
    print(
        f"scapy full dissection: {done:,} packets (sample) in {scapy_seconds:.2f} s CPU: "
        f"{scapy_rate:,.0f} packets/s"
    )
    if scapy_rate:
        print(f"ratio engine/scapy: {rate / scapy_rate:.1f}x")
