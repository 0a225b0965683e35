"""The zeek test traces (../shared/corpus/pcap/zeek-traces, all ~800 files: about 7,100
events, a few seconds) through the whole pipeline and the rule pack on the local store: no
alert of level high or above except on the few traces that hold real attack requests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from collectors.pcap.engine import EngineConfig
from collectors.pcap.ingest import process_file
from soc.detect.alerts import level_at_least
from soc.detect.runner import run_detection
from soc.ecs import parse_timestamp
from soc.store.local import LocalStore

SUFFIXES = (".pcap", ".pcapng", ".cap", ".trace", ".dmp")

#: Traces whose HTTP requests are attacks (high alerts there are right): a path traversal to
#: /etc/passwd carried in SYN / SYN-ACK payloads and in a portmap exploit, the DVWA SQL
#: injection exercise, and Nimda's IIS msadc traversal in fragmented packets.
ATTACK_TRACES = {
    "tcp/payload-syn.pcap",
    "tcp/payload-synack.pcap",
    "tcp/tcp-fast-open.pcap",
    "rpc-portmap-sadmind.pcap",
    "http/cooper-grill-dvwa.pcapng",
    "ipv4/fragmented-4.pcap",
}


def test_zeek_traces_benign_traffic_raises_nothing_high(corpus_dir: Path, tmp_path: Path) -> None:
    root = corpus_dir / "pcap" / "zeek-traces"
    store = LocalStore(tmp_path / "store.db")
    config = EngineConfig(host_name="sensor-1")
    traces = sorted(p for p in root.rglob("*") if p.suffix in SUFFIXES and p.is_file())
    assert len(traces) > 700
    for path in traces:
        name = path.relative_to(root).as_posix()

        def emit(batch: list[dict[str, Any]], name: str = name) -> None:
            for event in batch:
                event.setdefault("labels", {})["trace"] = name
            store.write_events(batch)

        process_file(path, config, emit)
    store.refresh()
    summary = run_detection(store, since=parse_timestamp("1990-01-01T00:00:00Z"))
    assert not summary.failed
    wrong = []
    for alert in summary.alerts:
        if not level_at_least(alert["level"], "high"):
            continue
        traces_of = {
            (store.get_event(i) or {}).get("labels", {}).get("trace") for i in alert["event_ids"]
        }
        if not traces_of <= ATTACK_TRACES:
            wrong.append((alert["rule_title"], sorted(t or "?" for t in traces_of)))
    assert not wrong
    store.close()
