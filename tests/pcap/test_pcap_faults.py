"""Faults in captures: a bad packet is counted and skipped, a bad file is reported on one
line and dead-lettered while the batch goes on, and the engine never raises on traffic."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

from pcap_helpers import T0, of, run_frames
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from test_pcap_ingest import make_capture, soc

from collectors.pcap.engine import Engine, EngineConfig

C, S = "10.0.0.1", "10.0.0.2"


def http_exchange(request: bytes, sport: int = 5000) -> list[tuple[int, object]]:
    def seg(t, src, dst, sp, dp, flags, seq, ack, load=b""):
        ip = IP(src=src, dst=dst)
        return (
            T0 + t,
            Ether() / ip / TCP(sport=sp, dport=dp, flags=flags, seq=seq, ack=ack) / load,
        )

    return [
        seg(0, C, S, sport, 80, "S", 100, 0),
        seg(1, S, C, 80, sport, "SA", 500, 101),
        seg(2, C, S, sport, 80, "A", 101, 501),
        seg(3, C, S, sport, 80, "PA", 101, 501, request),
    ]


def test_a_non_ascii_digit_in_content_length_is_not_a_length() -> None:
    # '³' is a digit to str.isdigit() but not to int(): the request is still reported.
    request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\xb305\r\n\r\nabcd"
    events, engine = run_frames(http_exchange(request))
    (http,) = of(events, "pcap.http")
    assert "body" not in http["http"]["request"]
    assert engine.stats.errors == 0


def test_a_packet_whose_decoding_fails_is_counted_and_the_rest_goes_on() -> None:
    engine = Engine(EngineConfig(host_name="sensor-1"))
    real_http = engine.builder.http
    calls = {"n": 0}

    def failing_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("decoder bug")
        return real_http(*args, **kwargs)

    engine.builder.http = failing_once  # stands for any decoder bug on hostile traffic
    good = b"GET / HTTP/1.1\r\nHost: y\r\n\r\n"
    for ts, frame in [*http_exchange(good, 5000), *http_exchange(good, 5001)]:
        data = bytes(frame)
        engine.packet(ts, 1, data, len(data))
    engine.finish()
    events = engine.take_events()
    # The flow whose end failed is counted (its record is skipped); the other one is whole.
    assert engine.stats.errors == 1
    assert len(of(events, "pcap.http")) == 1 and len(of(events, "pcap.flow")) == 1


def test_a_corrupt_gzip_capture_is_one_line_and_the_batch_goes_on(tmp_path: Path) -> None:
    good = make_capture(tmp_path / "good.pcap")
    raw = gzip.compress(good.read_bytes() * 20)
    broken = tmp_path / "broken.pcap.gz"
    # Damage the deflate stream in the middle: decompression fails after some records.
    middle = len(raw) // 2
    broken.write_bytes(
        raw[:middle] + bytes(b ^ 0x5A for b in raw[middle : middle + 64]) + raw[middle + 64 :]
    )
    garbage = tmp_path / "garbage.pcap.gz"
    garbage.write_bytes(b"\x1f\x8b\x08\x00" + zlib.compress(b"x" * 100))
    data = tmp_path / "data"
    proc = soc("ingest", "pcap", "--json", str(broken), str(garbage), str(good), data_dir=data)
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert "Traceback" not in err and "internal error" not in err
    report = json.loads(proc.stdout)
    assert report["sources"][str(good)]["packets"]["flows"] == 3  # the file after them was read
    assert report["stored"] >= 5
    for name in ("broken.pcap.gz", "garbage.pcap.gz"):
        lines = [ln for ln in err.splitlines() if name in ln]
        assert len(lines) == 1, err
    letters = [
        json.loads(line)
        for p in (data / "deadletter").glob("*.ndjson")
        for line in p.read_text().splitlines()
    ]
    assert {Path(x["source"]).name for x in letters} >= {"garbage.pcap.gz"}
