"""Capture file readers: pcap and pcapng (optionally gzip'd) to raw packet records.

The readers never dissect: each record is (timestamp in ns, link type, captured bytes,
original length). They follow the public file formats (libpcap's file header and record
headers; pcapng's SHB/IDB/EPB/SPB/PB blocks) and read the file in large chunks, so reading is
not the bottleneck. Bad input never raises past ``iter_records``: a truncated last record,
a corrupt record length or an unknown block ends the file with the problem noted in
``ReadStats``.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20
#: A record longer than this is taken as corruption (no link layer carries more).
MAX_RECORD = 1 << 24

PCAP_MAGICS: dict[bytes, tuple[str, int]] = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000),  # little-endian, microseconds
    b"\xa1\xb2\xc3\xd4": (">", 1000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),  # little-endian, nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1),
}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
GZIP_MAGIC = b"\x1f\x8b"
#: What reading a damaged file raises: a gzip stream whose deflate data is corrupt raises
#: zlib.error (not an OSError) from inside gzip.
READ_ERRORS = (OSError, EOFError, zlib.error)


class CaptureError(Exception):
    """The file is not a capture we can read at all; the message names the file and why."""


@dataclass
class ReadStats:
    """What the reader saw in one file."""

    records: int = 0
    bytes: int = 0
    truncated: int = 0  # a last record (or block) cut short
    corrupt: int = 0  # a record header that cannot be right; reading stopped there
    skipped_blocks: int = 0  # pcapng blocks that carry no packet (statistics, names...)
    problem: str = ""  # one line describing why reading stopped early, if it did


class _Buffer:
    """A growing window on a binary stream: ``need(n)`` makes n bytes available at ``pos``."""

    __slots__ = ("buf", "eof", "pos", "stream")

    def __init__(self, stream: BinaryIO, head: bytes) -> None:
        self.stream = stream
        self.buf = head
        self.pos = 0
        self.eof = False

    def need(self, n: int) -> bool:
        """True when ``n`` bytes are available from ``pos`` (reading more if necessary)."""
        if self.pos + n <= len(self.buf):
            return True
        if self.eof:
            return False
        rest = self.buf[self.pos :]
        parts = [rest]
        have = len(rest)
        while have < n:
            chunk = self.stream.read(max(CHUNK, n - have))
            if not chunk:
                self.eof = True
                break
            parts.append(chunk)
            have += len(chunk)
        self.buf = b"".join(parts)
        self.pos = 0
        return have >= n

    def leftover(self) -> int:
        """Bytes still unread after ``pos`` (after the stream ended)."""
        return len(self.buf) - self.pos


def open_capture(path: Path) -> tuple[BinaryIO, bytes]:
    """The capture stream (gunzipping when the file is gzip'd) and its first 4 bytes.

    Raises CaptureError naming the file when it cannot be opened or is empty."""
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise CaptureError(f"{path}: cannot open: {exc.strerror or exc}") from None
    stream: BinaryIO = raw
    try:
        head = raw.read(2)
        raw.seek(0)
        if head == GZIP_MAGIC:
            stream = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
        magic = stream.read(4)
    except READ_ERRORS as exc:
        raw.close()
        raise CaptureError(f"{path}: cannot read: {exc}") from None
    if not magic:
        raw.close()
        raise CaptureError(f"{path}: empty file (zero bytes), not a capture")
    return stream, magic


def iter_records(path: Path, stats: ReadStats) -> Iterator[tuple[int, int, bytes, int]]:
    """Every packet record of a pcap or pcapng file (gzip'd or not) as
    ``(timestamp_ns, linktype, data, original_length)``, in file order.

    Raises CaptureError (before yielding anything) when the file is not a capture; problems
    later in the file end the iteration and are counted in ``stats``."""
    stream, magic = open_capture(path)
    try:
        if magic in PCAP_MAGICS:
            yield from _pcap(stream, magic, stats, path)
        elif magic == PCAPNG_MAGIC:
            yield from _pcapng(stream, magic, stats, path)
        else:
            raise CaptureError(f"{path}: not a pcap or pcapng capture (starts with {magic.hex()})")
    except READ_ERRORS as exc:  # gzip.BadGzipFile is an OSError
        stats.truncated += 1
        stats.problem = f"read error after {stats.records} records: {exc}"
    finally:
        stream.close()


def _pcap(
    stream: BinaryIO, magic: bytes, stats: ReadStats, path: Path
) -> Iterator[tuple[int, int, bytes, int]]:
    endian, frac_ns = PCAP_MAGICS[magic]
    buf = _Buffer(stream, magic)
    if not buf.need(24):
        stats.truncated += 1
        stats.problem = "file header cut short"
        return
    _major, _minor, _zone, _sigfigs, _snaplen, linktype = struct.unpack_from(
        endian + "HHiIII", buf.buf, 4
    )
    linktype &= 0x0FFFFFFF  # the upper bits carry FCS information
    buf.pos = 24
    header = struct.Struct(endian + "IIII")
    unpack = header.unpack_from
    records = 0
    nbytes = 0
    data = buf.buf
    pos = buf.pos
    size = len(data)
    try:
        while True:
            if pos + 16 > size:
                buf.pos = pos
                if not buf.need(16):
                    if buf.leftover():
                        stats.truncated += 1
                        stats.problem = f"last record header cut short after {records} records"
                    break
                data, pos, size = buf.buf, buf.pos, len(buf.buf)
            sec, frac, caplen, wirelen = unpack(data, pos)
            if caplen > MAX_RECORD:
                stats.corrupt += 1
                stats.problem = f"corrupt record length {caplen} after {records} records"
                break
            end = pos + 16 + caplen
            if end > size:
                buf.pos = pos
                if not buf.need(16 + caplen):
                    stats.truncated += 1
                    stats.problem = f"last record cut short after {records} records"
                    break
                data, pos, size = buf.buf, buf.pos, len(buf.buf)
                end = pos + 16 + caplen
            record = data[pos + 16 : end]
            pos = end
            records += 1
            nbytes += caplen
            yield sec * 1_000_000_000 + frac * frac_ns, linktype, record, wirelen
    finally:
        stats.records += records
        stats.bytes += nbytes


def _pcapng(
    stream: BinaryIO, magic: bytes, stats: ReadStats, path: Path
) -> Iterator[tuple[int, int, bytes, int]]:
    buf = _Buffer(stream, magic)
    endian = "<"
    # per interface: (linktype, units per second, offset seconds, snaplen)
    ifaces: list[tuple[int, int, int, int]] = []
    last_ts = 0
    records = 0
    nbytes = 0
    try:
        while True:
            if not buf.need(12):
                if buf.leftover():
                    stats.truncated += 1
                    stats.problem = f"last block header cut short after {records} records"
                break
            data = buf.buf
            pos = buf.pos
            if data[pos : pos + 4] == PCAPNG_MAGIC:
                bom = data[pos + 8 : pos + 12]
                if bom == b"\x4d\x3c\x2b\x1a":
                    endian = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    endian = ">"
                else:
                    stats.corrupt += 1
                    stats.problem = "section header with an unknown byte-order magic"
                    break
                ifaces = []
            btype, blen = struct.unpack_from(endian + "II", data, pos)
            if blen < 12 or blen % 4 or blen > MAX_RECORD:
                stats.corrupt += 1
                stats.problem = f"corrupt block length {blen} after {records} records"
                break
            if not buf.need(blen):
                stats.truncated += 1
                stats.problem = f"last block cut short after {records} records"
                break
            data = buf.buf
            pos = buf.pos
            body = pos + 8
            end = pos + blen - 4
            buf.pos = pos + blen
            if btype == 6 or btype == 2:  # enhanced packet block / obsolete packet block
                if end - body < 20:
                    stats.corrupt += 1
                    continue
                if btype == 6:
                    iface, ts_hi, ts_lo, caplen, wirelen = struct.unpack_from(
                        endian + "IIIII", data, body
                    )
                else:
                    iface, _drops, ts_hi, ts_lo, caplen, wirelen = struct.unpack_from(
                        endian + "HHIIII", data, body
                    )
                if iface >= len(ifaces):
                    stats.corrupt += 1
                    continue
                linktype, units, offset, _snap = ifaces[iface]
                start = body + 20
                if caplen > end - start:
                    caplen = end - start
                ts = (ts_hi << 32) | ts_lo
                if units == 1_000_000:
                    ts_ns = ts * 1000
                elif units == 1_000_000_000:
                    ts_ns = ts
                else:
                    ts_ns = ts * 1_000_000_000 // units
                ts_ns += offset * 1_000_000_000
                last_ts = ts_ns
                records += 1
                nbytes += caplen
                yield ts_ns, linktype, data[start : start + caplen], wirelen
            elif btype == 3:  # simple packet block: interface 0, no timestamp
                if not ifaces or end - body < 4:
                    stats.corrupt += 1
                    continue
                (wirelen,) = struct.unpack_from(endian + "I", data, body)
                linktype, _units, _offset, snap = ifaces[0]
                caplen = min(wirelen, end - body - 4, snap or wirelen)
                records += 1
                nbytes += caplen
                yield last_ts, linktype, data[body + 4 : body + 4 + caplen], wirelen
            elif btype == 1:  # interface description block
                if end - body < 8:
                    stats.corrupt += 1
                    continue
                linktype, _reserved, snaplen = struct.unpack_from(endian + "HHI", data, body)
                units, offset = _idb_options(data, body + 8, end, endian)
                ifaces.append((linktype, units, offset, snaplen))
            elif btype == 0x0A0D0D0A:
                pass
            else:
                stats.skipped_blocks += 1
    finally:
        stats.records += records
        stats.bytes += nbytes


def _idb_options(data: bytes, pos: int, end: int, endian: str) -> tuple[int, int]:
    """(timestamp units per second, timestamp offset in seconds) from an IDB's options."""
    units = 1_000_000
    offset = 0
    while pos + 4 <= end:
        code, length = struct.unpack_from(endian + "HH", data, pos)
        value = pos + 4
        if code == 0 or value + length > end:
            break
        if code == 9 and length >= 1:  # if_tsresol
            resol = data[value]
            exponent = resol & 0x7F
            if exponent < 64:
                units = (2**exponent) if resol & 0x80 else (10**exponent)
                units = max(units, 1)
        elif code == 14 and length >= 8:  # if_tsoffset
            (offset,) = struct.unpack_from(endian + "q", data, value)
        pos = value + ((length + 3) & ~3)
    return units, offset
