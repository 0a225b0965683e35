"""The atheris fuzz targets of `make fuzz`: every parser, format detection, the pcap engine
and the capture reader, with the oracles of the Hypothesis fuzz tests and seed inputs built
from the same seed lines and payloads (imported from those tests).

A target is a function of one byte string that returns normally on any input the code
handles and raises (AssertionError or the code's own exception) when the code breaks its
promise; ``seeds()`` gives the first corpus. Byte layouts of the structured targets:

- parse_<format>: the bytes decoded as UTF-8 (errors replaced) are one line;
- detect_format: byte 0 picks the file name given, the rest (UTF-8) are lines split on ``\\n``;
- pcap_engine_payloads: byte 0 picks the server port, byte 1 TCP or UDP, the rest are up to
  4 payloads separated by SEP, sent alternately by client and server in one conversation;
- pcap_engine_frames: byte 0 picks the link type, the rest are up to 6 raw frames (SEP);
- pcap_reader: byte 0 picks a magic number put before the rest, which is the capture file.

The modules under test must be imported (instrumented) before this one: see fuzz.py.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(TESTS / "parsers"), str(TESTS / "pcap")]

from pcap_helpers import T0  # noqa: E402
from test_parse_fuzz import SEEDS, check_line  # noqa: E402
from test_parse_linear import PREFIXES, RUNS  # noqa: E402
from test_pcap_fuzz import PORTS, SEED_PAYLOADS, run_engine  # noqa: E402

from collectors.parsers import FORMATS, detect_format  # noqa: E402
from collectors.pcap.links import SUPPORTED_LINKS  # noqa: E402
from collectors.pcap.reader import CaptureError, ReadStats, iter_records  # noqa: E402

SEP = b"\xf0\x9f\x92\xa5"  # separates payloads/frames inside one input (U+1F4A5 in UTF-8)
NAMES = [None, "auth.log", "x.json"]
LINKTYPES = [*sorted(SUPPORTED_LINKS), 12, 4242]  # every decoded link type and an unknown one
MAGICS = [b"", b"\xd4\xc3\xb2\xa1", b"\x0a\x0d\x0d\x0a", b"\x1f\x8b"]
CLIENT, SERVER = bytes([10, 0, 0, 5]), bytes([10, 0, 0, 80])


@dataclass(frozen=True)
class Target:
    """One fuzz target: ``run`` checks one input, ``seeds`` gives the starting corpus."""

    run: Callable[[bytes], None]
    seeds: Callable[[], list[bytes]]


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def parse_target(fmt: str) -> Target:
    """A fresh ``fmt`` parser sniffs and parses the line: only ParseError may escape, and an
    event must be valid JSON (no NaN/Infinity) with a string @timestamp."""

    def seeds() -> list[bytes]:
        lines = [*SEEDS, *PREFIXES.values()]
        lines += [prefix + run * 8 for prefix in PREFIXES.values() for run in RUNS]
        return [line.encode("utf-8", errors="replace") for line in lines]

    return Target(lambda data: check_line(fmt, _text(data)), seeds)


def _detect(data: bytes) -> None:
    name = NAMES[data[0] % len(NAMES)] if data else None
    found = detect_format(_text(data[1:]).split("\n"), name)
    if not (found is None or found in FORMATS):
        raise AssertionError(f"detect_format returned unknown format {found!r}")


def _detect_seeds() -> list[bytes]:
    return [bytes([i]) + "\n".join(SEEDS[j : j + 5]).encode() for i in range(3) for j in (0, 20)]


def _ipv4(proto: int, transport: bytes, src: bytes, dst: bytes) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(transport), 1, 0, 64, proto, 0, src, dst
    )
    return header + transport


def _segment(
    src: bytes, dst: bytes, sport: int, dport: int, flags: int, seq: int, ack: int, payload: bytes
) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 0x50, flags, 65535, 0, 0)
    return _ipv4(6, tcp + payload, src, dst)


def _datagram(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    return _ipv4(17, udp, src, dst)


def conversation(payloads: list[bytes], port: int, udp: bool) -> list[bytes]:
    """IPv4 packets (no link header) of one client-server conversation carrying ``payloads``
    alternately from client and server: a TCP handshake first unless ``udp``. Built by hand
    (not scapy) so that building costs little beside the engine."""
    if udp:
        return [_datagram(CLIENT, SERVER, 40000, port, p) for p in payloads]
    packets = [
        _segment(CLIENT, SERVER, 40000, port, 0x02, 1, 0, b""),
        _segment(SERVER, CLIENT, port, 40000, 0x12, 9, 2, b""),
    ]
    seq_c, seq_s = 2, 10
    for i, p in enumerate(payloads):
        if i % 2 == 0:
            packets.append(_segment(CLIENT, SERVER, 40000, port, 0x18, seq_c, seq_s, p))
            seq_c += len(p)
        else:
            packets.append(_segment(SERVER, CLIENT, port, 40000, 0x18, seq_s, seq_c, p))
            seq_s += len(p)
    return packets


ETHERNET = b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00"


def _engine_payloads(data: bytes) -> None:
    port = PORTS[data[0] % len(PORTS)] if data else PORTS[0]
    udp = len(data) > 1 and data[1] & 1 == 1
    payloads = data[2:].split(SEP)[:4]
    run_engine([ETHERNET + p for p in conversation(payloads, port, udp)])


def _payload_seeds() -> list[bytes]:
    out = []
    for i in range(len(PORTS)):
        for udp in (0, 1):
            for payload in SEED_PAYLOADS:
                out.append(bytes([i, udp]) + payload)
    requests = [p for p in SEED_PAYLOADS if p[:4] in (b"GET ", b"POST")]
    out += [bytes([0, 0]) + req + SEP + SEED_PAYLOADS[1] for req in requests]
    return out


# A link header that puts an IPv4 packet in a frame of each link type the seeds use.
LINK_HEADERS = {
    1: ETHERNET,
    101: b"",
    12: b"",
    0: b"\x02\x00\x00\x00",
    113: b"\x00\x00\x00\x01\x00\x06" + b"\x00" * 8 + b"\x08\x00",
    276: b"\x08\x00" + b"\x00" * 18,
}


def _engine_frames(data: bytes) -> None:
    linktype = LINKTYPES[data[0] % len(LINKTYPES)] if data else 1
    run_engine(data[1:].split(SEP)[:6], linktype)


def _frame_seeds() -> list[bytes]:
    out = []
    for linktype, header in LINK_HEADERS.items():
        for payload in SEED_PAYLOADS:
            packets = conversation([payload], 443, udp=False)
            out.append(bytes([LINKTYPES.index(linktype)]) + SEP.join(header + p for p in packets))
    return out


_scratch: list[Path] = []


def _capture_file(data: bytes) -> Path:
    """A path whose file holds ``data``: one file rewritten for every input, in memory (a
    memfd, removed with the process) where Linux offers it, else in a temporary directory."""
    if not _scratch:
        if hasattr(os, "memfd_create"):
            _scratch.append(Path(f"/proc/self/fd/{os.memfd_create('fuzz-capture')}"))
        else:
            _scratch.append(Path(tempfile.mkdtemp(prefix="citysoc-fuzz-")) / "capture")
    path = _scratch[0]
    path.write_bytes(data)
    return path


def _reader(data: bytes) -> None:
    magic = MAGICS[data[0] % len(MAGICS)] if data else b""
    path = _capture_file(magic + data[1:])
    try:
        for _ in iter_records(path, ReadStats()):
            pass
    except CaptureError:
        pass


def _pcap_file(packets: list[bytes]) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)
    for i, packet in enumerate(packets):
        out += struct.pack("<IIII", T0 // 10**9 + i, 0, len(packet), len(packet)) + packet
    return out


def _pcapng_file(packets: list[bytes]) -> bytes:
    def block(kind: int, body: bytes) -> bytes:
        body += b"\x00" * (-len(body) % 4)
        return struct.pack("<II", kind, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(1, struct.pack("<HHI", 101, 0, 65535))
    for i, packet in enumerate(packets):
        ts = (T0 // 1000) + i
        out += block(
            6,
            struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(packet), len(packet)) + packet,
        )
    return out


def _reader_seeds() -> list[bytes]:
    packets = conversation(SEED_PAYLOADS[:2], 80, udp=False)
    files = [_pcap_file(packets), _pcapng_file(packets)]
    return [b"\x00" + f for f in files] + [b"\x00" + gzip.compress(f, mtime=0) for f in files]


TARGETS: dict[str, Target] = {
    **{f"parse_{fmt}": parse_target(fmt) for fmt in FORMATS},
    "detect_format": Target(_detect, _detect_seeds),
    "pcap_engine_payloads": Target(_engine_payloads, _payload_seeds),
    "pcap_engine_frames": Target(_engine_frames, _frame_seeds),
    "pcap_reader": Target(_reader, _reader_seeds),
}


def _selftest_crash(data: bytes) -> None:
    if b"boom" in data:
        raise ValueError("selftest: the harness must report this crash")
    json.dumps(_text(data))


def _selftest_hang(data: bytes) -> None:
    if b"hang" in data:
        time.sleep(float(os.environ.get("FUZZ_SELFTEST_SLEEP", "5")))


#: Targets that prove the harness reports failures; run only when named.
SELFTESTS: dict[str, Target] = {
    "selftest_crash": Target(_selftest_crash, lambda: [b"fine", b"boom"]),
    "selftest_hang": Target(_selftest_hang, lambda: [b"fine", b"hang"]),
}
