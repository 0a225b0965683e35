"""In-order delivery of one direction of a TCP connection to an application parser.

Segments are delivered by sequence number: retransmitted bytes are dropped, overlaps trimmed,
and segments that arrive early wait (at most MAX_PENDING segments / MAX_PENDING_BYTES); when
the wait grows past that bound, or the connection ends, the missing bytes are reported to the
parser as a gap and delivery goes on. A parser (a "sink") has ``feed(data, ts)`` and
``gap(size)``.
"""

from __future__ import annotations

from typing import Protocol

MAX_PENDING = 32
MAX_PENDING_BYTES = 64 * 1024
MASK = 0xFFFFFFFF


class Sink(Protocol):
    """An application parser of one direction."""

    def feed(self, data: bytes, ts: int) -> None: ...

    def gap(self, size: int) -> None: ...


def _rel(seq: int, base: int) -> int:
    off = (seq - base) & MASK
    return off - 0x100000000 if off >= 0x80000000 else off


class TcpStream:
    """One direction of a TCP connection, reassembled for ``sink``."""

    __slots__ = ("next", "pending", "pending_bytes", "sink")

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.next: int | None = None
        self.pending: dict[int, bytes] = {}
        self.pending_bytes = 0

    def syn(self, seq: int) -> None:
        """A SYN with sequence number ``seq``: data starts at seq + 1."""
        if self.next is None:
            self.next = (seq + 1) & MASK

    def segment(self, seq: int, data: bytes, ts: int, missing: int = 0) -> None:
        """A segment's payload at sequence number ``seq``; ``missing`` more payload bytes
        of it were not captured (snap length)."""
        if self.next is None:
            self.next = seq
        off = _rel(seq, self.next)
        if off > 0:
            if len(self.pending) < MAX_PENDING and self.pending_bytes < MAX_PENDING_BYTES:
                old = self.pending.get(seq)
                if old is None or len(old) < len(data):
                    self.pending_bytes += len(data) - (len(old) if old else 0)
                    self.pending[seq] = data
                return
            self.flush(ts)
            off = _rel(seq, self.next)  # type: ignore[arg-type]
            if off > 0:
                self.sink.gap(off)
                self.next = seq
                off = 0
        if off < 0:
            if off + len(data) <= 0:
                return
            data = data[-off:]
        self.sink.feed(data, ts)
        self.next = (self.next + len(data)) & MASK
        if missing > 0:
            self.sink.gap(missing)
            self.next = (self.next + missing) & MASK
        if self.pending:
            self._drain(ts)

    def _drain(self, ts: int) -> None:
        progress = True
        while progress and self.pending:
            progress = False
            for seq in list(self.pending):
                off = _rel(seq, self.next)  # type: ignore[arg-type]
                if off > 0:
                    continue
                data = self.pending.pop(seq)
                self.pending_bytes -= len(data)
                if off + len(data) > 0:
                    data = data[-off:] if off < 0 else data
                    self.sink.feed(data, ts)
                    self.next = (self.next + len(data)) & MASK  # type: ignore[operator]
                progress = True
                break

    def flush(self, ts: int) -> None:
        """Deliver every waiting segment in order, reporting the holes as gaps."""
        while self.pending:
            seq = min(self.pending, key=lambda s: _rel(s, self.next))  # type: ignore[arg-type]
            off = _rel(seq, self.next)  # type: ignore[arg-type]
            data = self.pending.pop(seq)
            self.pending_bytes -= len(data)
            if off > 0:
                self.sink.gap(off)
                self.next = seq
                off = 0
            if off + len(data) > 0:
                data = data[-off:] if off < 0 else data
                self.sink.feed(data, ts)
                self.next = (self.next + len(data)) & MASK  # type: ignore[operator]
