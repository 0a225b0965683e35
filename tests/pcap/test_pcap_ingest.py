"""Captures into a real LocalStore, and `soc ingest pcap` through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pcap_helpers import SECOND, T0
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import PcapWriter

from collectors.pcap.engine import EngineConfig
from collectors.pcap.ingest import ingest_files, summary
from collectors.ship import DeadLetterFile, Shipper
from soc.store.local import LocalStore

REPO = Path(__file__).resolve().parents[2]


def eth() -> Ether:
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def make_capture(path: Path) -> Path:
    """DNS over UDP, an HTTP exchange and a one-sided UDP flow."""
    c, s = IP(src="10.0.0.5", dst="10.0.0.53"), IP(src="10.0.0.53", dst="10.0.0.5")
    w, ws = IP(src="10.0.0.5", dst="10.0.0.80"), IP(src="10.0.0.80", dst="10.0.0.5")
    request = b"GET /index.html HTTP/1.1\r\nHost: portal.hcmc.example\r\n\r\n"
    response = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 4\r\n\r\nhi!!"
    packets = [
        c / UDP(sport=33000, dport=53) / DNS(id=5, rd=1, qd=DNSQR(qname="portal.hcmc.example")),
        s
        / UDP(sport=53, dport=33000)
        / DNS(
            id=5,
            qr=1,
            qd=DNSQR(qname="portal.hcmc.example"),
            an=DNSRR(rrname="portal.hcmc.example", rdata="10.0.0.80"),
        ),
        w / TCP(sport=41000, dport=80, flags="S", seq=1),
        ws / TCP(sport=80, dport=41000, flags="SA", seq=9, ack=2),
        w / TCP(sport=41000, dport=80, flags="PA", seq=2, ack=10) / request,
        ws / TCP(sport=80, dport=41000, flags="PA", seq=10, ack=2 + len(request)) / response,
        IP(src="10.0.0.7", dst="10.0.0.9") / UDP(sport=5000, dport=6000) / b"ping",
    ]
    with PcapWriter(str(path), sync=True) as writer:
        for i, p in enumerate(packets):
            frame = eth() / p
            frame.time = (T0 + i * SECOND // 10) / SECOND
            writer.write(frame)
    return path


def test_reingest_into_local_store_makes_no_duplicates(tmp_path: Path) -> None:
    capture = make_capture(tmp_path / "city.pcap")
    store = LocalStore(tmp_path / "soc.db")
    config = EngineConfig(host_name="sensor-q1", department="district-1")
    try:
        first = Shipper(store, dead_letters=DeadLetterFile(tmp_path / "dead"))
        results = ingest_files([capture], first, config)
        first.close()
        counts = summary(first.stats.as_dict(), results)
        assert counts["packets"]["read"] == 7
        assert counts["packets"]["events"] == {"pcap.dns": 1, "pcap.flow": 3, "pcap.http": 1}
        assert counts["stored"] == 5 and counts["duplicates"] == 0
        assert store.count() == 5

        again = Shipper(store, dead_letters=DeadLetterFile(tmp_path / "dead"))
        ingest_files([capture], again, config)
        again.close()
        assert again.stats.stored == 0 and again.stats.duplicates == 5
        assert store.count() == 5

        page = store.search(filters={"event.dataset": "pcap.http"})
        (hit,) = page.hits
        assert hit.source["url"]["domain"] == "portal.hcmc.example"
        assert hit.source["http"]["response"]["status_code"] == 200
        assert hit.source["labels"]["department"] == "district-1"
        assert store.count(filters={"dns.question.name": "portal.hcmc.example"}) == 1
    finally:
        store.close()


def soc(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    """Run the installed `soc` console script with its own data directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    env["SOC_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [str(Path(sys.executable).with_name("soc")), *args],
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
        cwd=REPO,
    )


def test_cli_ingest_pcap_json_summary_and_exit_codes(tmp_path: Path) -> None:
    capture = make_capture(tmp_path / "city.pcap")
    data = tmp_path / "data"
    proc = soc("ingest", "pcap", str(capture), "--json", data_dir=data)
    assert proc.returncode == 0, proc.stderr.decode()
    report = json.loads(proc.stdout)
    for key in ("read", "parsed", "stored", "duplicates", "dead_lettered", "seconds", "sources"):
        assert key in report
    assert report["stored"] == 5 and report["packets"]["read"] == 7
    assert report["sources"][str(capture)]["packets"]["flows"] == 3

    again = soc("ingest", "pcap", str(capture), "--json", data_dir=data)
    assert again.returncode == 0
    assert json.loads(again.stdout)["duplicates"] == 5

    # a damaged file next to a good one: one error line, the good file still stored, exit 1
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"")
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(capture.read_bytes()[:-5])
    mixed = soc("ingest", "pcap", str(bad), str(cut), data_dir=tmp_path / "d2")
    assert mixed.returncode == 1
    err = mixed.stderr.decode()
    assert "bad.pcap: empty file" in err and "Traceback" not in err
    assert "cut.pcap" in err and "cut short" in err
    assert "stored" in mixed.stdout.decode()

    missing = soc("ingest", "pcap", str(tmp_path / "nope.pcap"), data_dir=data)
    assert missing.returncode == 2
    assert "nope.pcap: no such file or directory" in missing.stderr.decode()
