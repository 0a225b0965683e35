"""Capture files: pcap (µs and ns), pcapng, gzip'd, and damaged files of every kind."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
from pcap_helpers import SECOND, T0
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import PcapNgWriter, PcapWriter

from collectors.pcap.engine import EngineConfig
from collectors.pcap.ingest import process_file
from collectors.pcap.reader import CaptureError, ReadStats, iter_records

CONFIG = EngineConfig(host_name="sensor-1")


def frames(n: int = 5) -> list:
    out = []
    for i in range(n):
        pkt = (
            Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
            / IP(src="10.0.0.1", dst="10.0.0.2")
            / UDP(sport=3000 + i, dport=9)
            / (b"x" * i)
        )
        pkt.time = (T0 + i * SECOND) / SECOND
        out.append(pkt)
    return out


def write_pcap(path: Path, packets: list, nano: bool = False) -> Path:
    with PcapWriter(str(path), nano=nano, sync=True) as writer:
        for p in packets:
            writer.write(p)
    return path


def write_pcapng(path: Path, packets: list) -> Path:
    with PcapNgWriter(str(path)) as writer:
        for p in packets:
            writer.write(p)
    return path


def read_all(path: Path) -> tuple[list, ReadStats]:
    stats = ReadStats()
    return list(iter_records(path, stats)), stats


def test_pcap_records_and_timestamps(tmp_path: Path) -> None:
    packets = frames()
    records, stats = read_all(write_pcap(tmp_path / "a.pcap", packets))
    assert stats.records == 5 and stats.truncated == 0
    assert [r[0] for r in records] == [T0 + i * SECOND for i in range(5)]
    assert all(r[1] == 1 for r in records)
    assert [r[2] for r in records] == [bytes(p) for p in packets]
    assert [r[3] for r in records] == [len(p) for p in packets]


def test_nanosecond_pcap_and_pcapng_and_gzip_read_the_same(tmp_path: Path) -> None:
    packets = frames()
    expected, _ = read_all(write_pcap(tmp_path / "a.pcap", packets))
    nano, _ = read_all(write_pcap(tmp_path / "n.pcap", packets, nano=True))
    ng, _ = read_all(write_pcapng(tmp_path / "a.pcapng", packets))
    gz = tmp_path / "a.pcapng.gz"
    gz.write_bytes(gzip.compress((tmp_path / "a.pcapng").read_bytes()))
    gzipped, _ = read_all(gz)
    for other in (nano, ng, gzipped):
        assert [(r[1], r[2], r[3]) for r in other] == [(r[1], r[2], r[3]) for r in expected]
        assert [r[0] // 1000 for r in other] == [r[0] // 1000 for r in expected]


def test_truncated_capture_gives_the_records_before_the_cut(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "a.pcap", frames())
    data = path.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:-7])
    records, stats = read_all(cut)
    assert len(records) == 4
    assert stats.truncated == 1 and "cut short" in stats.problem
    result = process_file(cut, CONFIG, lambda batch: None)
    assert result.failed and "cut short" in (result.warning or "")
    assert result.engine["flows"] == 4


def test_truncated_pcapng_block(tmp_path: Path) -> None:
    path = write_pcapng(tmp_path / "a.pcapng", frames())
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(path.read_bytes()[:-10])
    records, stats = read_all(cut)
    assert len(records) == 4 and stats.truncated == 1


def test_zero_length_file_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    with pytest.raises(CaptureError, match=r"empty\.pcap: empty file"):
        read_all(empty)
    result = process_file(empty, CONFIG, lambda batch: None)
    assert result.error and "empty file" in result.error and result.failed


def test_garbage_file_is_not_a_capture(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"this is not a capture file at all\n" * 10)
    with pytest.raises(CaptureError, match=r"junk\.pcap: not a pcap or pcapng capture"):
        read_all(junk)


def test_header_only_pcap_has_no_records_and_no_error(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "a.pcap", frames(1))
    head = tmp_path / "head.pcap"
    head.write_bytes(path.read_bytes()[:24])
    records, stats = read_all(head)
    assert records == [] and stats.truncated == 0 and stats.corrupt == 0


def test_corrupt_record_length_stops_reading_with_a_count(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "a.pcap", frames(3))
    data = bytearray(path.read_bytes())
    first_len = struct.unpack_from("<I", data, 24 + 8)[0]
    second = 24 + 16 + first_len
    struct.pack_into("<I", data, second + 8, 0x7FFFFFFF)  # caplen of record 2
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(bytes(data))
    records, stats = read_all(bad)
    assert len(records) == 1 and stats.corrupt == 1 and "corrupt record length" in stats.problem


def test_random_bytes_after_a_valid_header_never_crash_or_hang(tmp_path: Path) -> None:
    import random

    rng = random.Random(4)
    header = write_pcap(tmp_path / "a.pcap", frames(1)).read_bytes()[:24]
    for i in range(30):
        path = tmp_path / f"r{i}.pcap"
        body = bytearray()
        for _ in range(20):  # records with plausible lengths and random content
            size = rng.randrange(0, 120)
            body += struct.pack("<IIII", 1, 0, size, size) + rng.randbytes(size)
        path.write_bytes(header + bytes(body) + rng.randbytes(rng.randrange(0, 30)))
        result = process_file(path, CONFIG, lambda batch: None)
        assert result.read.records >= 20
        assert result.engine["packets"] == result.read.records


GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def test_gzip_with_corrupt_deflate_data_at_the_start_is_a_capture_error(tmp_path: Path) -> None:
    # Found by `make fuzz`: zlib.error (not an OSError) escaped the reader.
    path = tmp_path / "bad.pcap.gz"
    path.write_bytes(GZIP_HEADER + b"\x07" + bytes(40))  # deflate block of the invalid type 3
    with pytest.raises(CaptureError, match="cannot read"):
        read_all(path)


def test_gzip_with_corrupt_deflate_data_later_ends_the_file_with_a_count(tmp_path: Path) -> None:
    pcap = write_pcap(tmp_path / "a.pcap", frames(1)).read_bytes()[:24]
    pcap += (struct.pack("<IIII", 1, 0, 1000, 1000) + bytes(1000)) * 200  # 200 kB of records
    data = bytearray(gzip.compress(pcap, compresslevel=0, mtime=0))  # stored 64 KiB blocks
    first_len = struct.unpack_from("<H", data, 11)[0]
    data[10 + 1 + 4 + first_len] = 0x06  # the second block gets the invalid type 3
    path = tmp_path / "bad.pcap.gz"
    path.write_bytes(bytes(data))
    records, stats = read_all(path)
    assert len(records) < 200
    assert stats.truncated == 1 and "invalid block type" in stats.problem
