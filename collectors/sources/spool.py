"""A disk-backed queue for messages received from the network (the syslog server's spool).

What a listener reads from a socket is appended to a segment file before it counts as
*received*; the shipping side reads the segments in order and ships; the position after the
last record the store acknowledged is kept in ``<dir>/ack.json`` (a CheckpointRegistry, so it
moves only after the store acknowledged, exactly like file checkpoints). After a restart,
shipping resumes from there: nothing received is lost, and records shipped but not yet
acknowledged are shipped again with the same ids (stored once).

Layout: ``<dir>/seg-<number>.q``, append-only, a new segment every ``segment_bytes`` (at
most an eighth of the size cap); a segment is deleted once every record in it was
acknowledged. A record is
``!II`` (payload length, CRC-32 of the payload) then the payload
``!qiHH`` (receive time ns, too_long, listener length, peer length), listener, peer, data.
A record cut short at the end of a segment (a crash mid-write) is skipped and counted in
``corrupt``; a record failing its CRC ends the reading of its segment (counted too). One
process at a time uses a queue directory (an exclusive lock on ``<dir>/lock``).

Durability (fsync policy): every record is written with one ``os.write`` before it counts, so
it survives the collector being killed (SIGKILL, OOM, crash): it is in the kernel's page
cache. Segments are fsync'd at most ``fsync_interval`` seconds apart (default 1 s; 0 = after
every write) and when closed, so a power loss or kernel crash can lose at most the last
``fsync_interval`` seconds of messages.

Size cap: ``max_bytes`` of segments on disk. When it is reached ``full`` is true: the server
stops reading its TCP connections (the senders are held back by TCP flow control, nothing
is dropped) and reads-and-drops UDP datagrams, counting them in ``udp_dropped``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collectors.checkpoint import CheckpointRegistry
from collectors.ship import Position

#: Registry key of the acknowledged position.
ACK_KEY = "queue"
_RECORD = struct.Struct("!II")
_HEADER = struct.Struct("!qiHH")
_READ = 1 << 20


class QueueBusy(Exception):
    """Another process holds the queue directory; the message names it."""


@dataclass(frozen=True)
class Message:
    """One message as it arrived: listener name, peer, receive time, bytes, and the full
    length when ``data`` is only a prefix (``too_long``; negative: cut by a closed
    connection)."""

    listener: str
    peer: str
    received_ns: int
    data: bytes
    too_long: int = 0


def _encode(item: Message) -> bytes:
    listener = item.listener.encode("utf-8", "replace")[:65535]
    peer = item.peer.encode("utf-8", "replace")[:65535]
    payload = (
        _HEADER.pack(item.received_ns, item.too_long, len(listener), len(peer))
        + listener
        + peer
        + item.data
    )
    return _RECORD.pack(len(payload), zlib.crc32(payload)) + payload


def _decode(payload: bytes) -> Message:
    ns, too_long, nl, npeer = _HEADER.unpack_from(payload)
    at = _HEADER.size
    listener = payload[at : at + nl].decode("utf-8", "replace")
    peer = payload[at + nl : at + nl + npeer].decode("utf-8", "replace")
    return Message(listener, peer, ns, payload[at + nl + npeer :], too_long)


class DiskQueue:
    """Append-only segments with one writer thread (``put``) and one reader thread
    (``get``/``release``); see the module docstring for the guarantees."""

    def __init__(
        self,
        directory: Path | str,
        *,
        max_bytes: int = 1 << 30,
        segment_bytes: int = 16 << 20,
        fsync_interval: float = 1.0,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            raise QueueBusy(f"{self.directory}: in use by another syslog collector") from None
        self.max_bytes = max_bytes
        # Segments of at most an eighth of the cap: acknowledged segments are deleted while
        # the newest is still written, so a full queue empties as the store takes it. (A
        # segment as large as the cap would never be released: the queue would stay full.)
        self.segment_bytes = max(4096, min(segment_bytes, max_bytes // 8))
        self.fsync_interval = fsync_interval
        self.acks = CheckpointRegistry(self.directory / "ack.json")
        self.received = 0
        self.udp_dropped = 0
        self.tcp_paused = 0  # times TCP reading was paused because the queue was full
        self.corrupt = 0
        self.shipped = 0  # records handed to the shipper (acknowledged or not yet)
        self._lock = threading.Lock()
        segments = self._segments()
        ack = self.acks.get(ACK_KEY) or {}
        first = segments[0] if segments else 1
        self._rseg = int(ack.get("segment", first))
        self._roff = int(ack.get("offset", 0))
        if self._rseg < first:  # the acked segment was deleted: start at the oldest left
            self._rseg, self._roff = first, 0
        for number in segments:
            if number < self._rseg:
                self._unlink(number)
        self._bytes = sum(self._size(n) for n in self._segments())
        self._wseg = max([*segments, self._rseg - 1]) + 1  # never append to an old segment
        self._wfd = os.open(self._path(self._wseg), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._wsize = 0
        self._last_sync = time.monotonic()
        self._rfd: int | None = None
        self._rbuf = b""
        self._deleted_below = self._rseg

    # --- files -------------------------------------------------------------------------------
    def _path(self, number: int) -> Path:
        return self.directory / f"seg-{number:012d}.q"

    def _segments(self) -> list[int]:
        out = []
        for path in self.directory.glob("seg-*.q"):
            with contextlib.suppress(ValueError):
                out.append(int(path.stem[4:]))
        return sorted(out)

    def _size(self, number: int) -> int:
        try:
            return self._path(number).stat().st_size
        except OSError:
            return 0

    def _unlink(self, number: int) -> None:
        size = self._size(number)
        with contextlib.suppress(OSError):
            self._path(number).unlink()
        with self._lock:
            self._bytes = max(0, getattr(self, "_bytes", 0) - size)

    # --- writer ------------------------------------------------------------------------------
    @property
    def full(self) -> bool:
        """Whether the size cap is reached (TCP reading pauses, UDP datagrams are dropped)."""
        return self._bytes >= self.max_bytes

    def put(self, item: Message, *, force: bool = False) -> bool:
        """Append one message; True once it is written. When the queue is full it is
        refused (False) unless ``force`` (the rest of a TCP read already taken off the
        socket: the cap is exceeded by at most one read)."""
        if not force and self.full:
            return False
        record = _encode(item)
        os.write(self._wfd, record)
        with self._lock:
            self._bytes += len(record)
        self._wsize += len(record)
        self.received += 1
        now = time.monotonic()
        if self.fsync_interval <= 0 or now - self._last_sync >= self.fsync_interval:
            self.sync()
        if self._wsize >= self.segment_bytes:
            os.fsync(self._wfd)
            os.close(self._wfd)
            self._wseg += 1
            self._wfd = os.open(
                self._path(self._wseg), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
            )
            self._wsize = 0
        return True

    def drop_udp(self) -> None:
        """Count a datagram dropped because the queue is full."""
        self.udp_dropped += 1

    def sync(self) -> None:
        """fsync the segment being written."""
        self._last_sync = time.monotonic()
        with contextlib.suppress(OSError):
            os.fsync(self._wfd)

    # --- reader ------------------------------------------------------------------------------
    def get(self) -> tuple[Message, Position] | None:
        """The next message and the checkpoint Position after it, or None when every
        message written so far was read."""
        while True:
            buf = self._rbuf
            if len(buf) >= _RECORD.size:
                length, crc = _RECORD.unpack_from(buf)
                end = _RECORD.size + length
                if len(buf) >= end:
                    payload = buf[_RECORD.size : end]
                    self._rbuf = buf[end:]
                    self._roff += end
                    position = Position(ACK_KEY, {"segment": self._rseg, "offset": self._roff})
                    if zlib.crc32(payload) != crc:
                        self.corrupt += 1
                        self._next_segment()
                        continue
                    self.shipped += 1
                    return _decode(payload), position
            if self._rfd is None:
                try:
                    self._rfd = os.open(self._path(self._rseg), os.O_RDONLY)
                except FileNotFoundError:
                    if self._rseg < self._wseg:
                        self._next_segment()
                        continue
                    return None
            data = os.pread(self._rfd, _READ, self._roff + len(self._rbuf))
            if data:
                self._rbuf += data
                continue
            if self._rseg >= self._wseg:
                return None  # the writer may still add to this segment
            # The writer moved on, so this segment is complete: read its end once more.
            data = os.pread(self._rfd, _READ, self._roff + len(self._rbuf))
            if data:
                self._rbuf += data
                continue
            if self._rbuf:
                self.corrupt += 1  # a record cut short by a crash
            self._next_segment()

    def _next_segment(self) -> None:
        if self._rfd is not None:
            os.close(self._rfd)
            self._rfd = None
        self._rseg += 1
        self._roff = 0
        self._rbuf = b""

    def release(self) -> None:
        """Delete the segments every record of which was acknowledged (call after the
        shipper flushed)."""
        ack = self.acks.get(ACK_KEY)
        if not ack:
            return
        below = int(ack.get("segment", 0))
        while self._deleted_below < below:
            self._unlink(self._deleted_below)
            self._deleted_below += 1

    @property
    def backlog_bytes(self) -> int:
        """Bytes of segments on disk (acknowledged records of the oldest segment included)."""
        return self._bytes

    def counters(self) -> dict[str, Any]:
        """received, udp_dropped, tcp_paused, corrupt, shipped and backlog_bytes."""
        return {
            "received": self.received,
            "shipped": self.shipped,
            "udp_dropped": self.udp_dropped,
            "tcp_paused": self.tcp_paused,
            "corrupt": self.corrupt,
            "backlog_bytes": self._bytes,
            "max_bytes": self.max_bytes,
        }

    def close(self) -> None:
        """fsync and close the segment files (what is queued stays for the next start)."""
        with contextlib.suppress(OSError):
            os.fsync(self._wfd)
        with contextlib.suppress(OSError):
            os.close(self._wfd)
        if self._rfd is not None:
            with contextlib.suppress(OSError):
                os.close(self._rfd)
            self._rfd = None
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)  # releases the lock
