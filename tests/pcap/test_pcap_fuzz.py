"""Fuzzing the pcap engine and reader (Hypothesis): TCP and UDP payloads of every protocol
the engine decodes (HTTP, TLS, DNS, QUIC, SSH...), real payloads with mutations, and random
frames and capture files. The engine must never fail on traffic (``stats.errors`` stays 0:
a decoder that raised would be counted there) and its events must be valid JSON; the reader
raises nothing but CaptureError.

The suite runs a modest budget (FUZZ_EXAMPLES examples); `make fuzz` fuzzes the same
targets with atheris, 1,000,000 inputs each, from these seeds (tests/fuzz/)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pcap_helpers import T0, client_hello
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

from collectors.pcap.engine import Engine, EngineConfig
from collectors.pcap.reader import CaptureError, ReadStats, iter_records

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)

SEED_PAYLOADS = [
    b"GET /index.html HTTP/1.1\r\nHost: portal.example\r\nContent-Length: 4\r\n\r\nabcd",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\xb305\r\n\r\nabcd",
    client_hello("portal.example"),
    b"SSH-2.0-OpenSSH_9.6\r\n",
    b"\x00\x1c\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01",
    b"220 ftp.example FTP server ready\r\nUSER anonymous\r\n",
]
PORTS = [80, 443, 53, 22, 21, 8080, 1900, 5353, 50000]


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(max_size=600))
    data = bytearray(draw(st.sampled_from(SEED_PAYLOADS)))
    for _ in range(draw(st.integers(0, 8))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.integers(0, 2))
        if kind == 0:
            data[at] = draw(st.integers(0, 255))
        elif kind == 1:
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[at : at + draw(st.integers(1, 16))]
    return bytes(data)


def conversation(payload_list: list[bytes], port: int, udp: bool) -> list[bytes]:
    c, s = "10.0.0.5", "10.0.0.80"
    if udp:
        return [
            bytes(Ether() / IP(src=c, dst=s) / UDP(sport=40000, dport=port) / p)
            for p in payload_list
        ]
    frames = [
        Ether() / IP(src=c, dst=s) / TCP(sport=40000, dport=port, flags="S", seq=1),
        Ether() / IP(src=s, dst=c) / TCP(sport=port, dport=40000, flags="SA", seq=9, ack=2),
    ]
    seq_c, seq_s = 2, 10
    for i, p in enumerate(payload_list):
        if i % 2 == 0:
            frames.append(
                Ether()
                / IP(src=c, dst=s)
                / TCP(sport=40000, dport=port, flags="PA", seq=seq_c, ack=seq_s)
                / p
            )
            seq_c += len(p)
        else:
            frames.append(
                Ether()
                / IP(src=s, dst=c)
                / TCP(sport=port, dport=40000, flags="PA", seq=seq_s, ack=seq_c)
                / p
            )
            seq_s += len(p)
    return [bytes(f) for f in frames]


def run_engine(frames: list[bytes], linktype: int = 1) -> None:
    engine = Engine(EngineConfig(host_name="sensor"))
    for i, frame in enumerate(frames):
        engine.packet(T0 + i * 1000, linktype, frame, len(frame))
    engine.finish()
    events = engine.take_events()
    assert engine.stats.errors == 0, "a decoder raised on this traffic"
    json.dumps(events, allow_nan=False)


@FUZZ
@given(st.lists(payloads(), min_size=1, max_size=4), st.sampled_from(PORTS), st.booleans())
def test_engine_never_fails_on_payloads(payload_list: list[bytes], port: int, udp: bool) -> None:
    run_engine(conversation(payload_list, port, udp))


@FUZZ
@given(
    st.lists(st.binary(max_size=200), min_size=1, max_size=6),
    st.sampled_from([1, 101, 113, 276, 0, 12]),
)
def test_engine_never_fails_on_random_frames(frames: list[bytes], linktype: int) -> None:
    run_engine(frames, linktype)


@FUZZ
@given(
    st.binary(max_size=400),
    st.sampled_from([b"", b"\xd4\xc3\xb2\xa1", b"\x0a\x0d\x0d\x0a", b"\x1f\x8b"]),
)
def test_reader_raises_only_capture_errors(tmp_path_factory, body: bytes, magic: bytes) -> None:
    path = Path(tmp_path_factory.getbasetemp()) / "fuzz-reader.pcap"  # one file, rewritten
    path.write_bytes(magic + body)
    try:
        for _ in iter_records(path, ReadStats()):
            pass
    except CaptureError:
        pass
