"""TCP framing for the syslog server: the bytes read from one connection -> messages.

The framing is detected per connection from its first byte: a digit means RFC 6587 octet
counting (``LEN SP MSG``), anything else newline-delimited messages ("non-transparent
framing"); octet counting that turns out not to be (no length before a space) falls back to
newlines. A trailing unterminated message is taken when the peer closes the connection.
A message longer than the limit is passed on as its first bytes with its length, for the
server to dead-letter.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from collectors.sources.lines import LineSplitter
from collectors.sources.spool import Message

#: Where a framed message goes (the server's disk queue).
Put = Callable[[Message], None]


@dataclass
class _Conn:
    """A TCP connection of the syslog server and its framing state (see frame_tcp)."""

    peer: str
    listener: str
    mode: str | None = None  # "octet" or "newline"
    buf: bytes = b""
    splitter: LineSplitter | None = None
    skip: int = 0  # octet framing: bytes of an over-long message still to discard
    skip_prefix: bytes = b""
    skip_total: int = 0


def frame_tcp(conn: _Conn, data: bytes, max_message: int, put: Put) -> None:
    """Frame ``data``, the next bytes read from ``conn``: every complete message goes to
    ``put`` (one longer than ``max_message`` as its first bytes with its length); an
    incomplete rest stays in ``conn`` for the next read."""
    if conn.mode is None:
        conn.mode = "octet" if data[:1].isdigit() else "newline"
        if conn.mode == "newline":
            conn.splitter = LineSplitter(0, max_message)
    now = time.time_ns()
    if conn.mode == "newline":
        assert conn.splitter is not None
        for line in conn.splitter.feed(data):
            put(
                Message(
                    conn.listener,
                    conn.peer,
                    now,
                    line.data,
                    line.length if line.too_long else 0,
                )
            )
        return
    buf = conn.buf + data
    pos = 0
    while pos < len(buf):
        if conn.skip:
            take = min(conn.skip, len(buf) - pos)
            conn.skip -= take
            pos += take
            if not conn.skip:
                put(Message(conn.listener, conn.peer, now, conn.skip_prefix, conn.skip_total))
            continue
        space = buf.find(b" ", pos, pos + 12)
        if space < 0:
            if len(buf) - pos >= 12 or not buf[pos:].isdigit():
                # Not octet counting after all: treat the rest as newline framing.
                conn.mode = "newline"
                conn.splitter = LineSplitter(0, max_message)
                conn.buf = b""
                frame_tcp(conn, buf[pos:], max_message, put)
                return
            break
        length_text = buf[pos:space]
        if not length_text.isdigit():
            conn.mode = "newline"
            conn.splitter = LineSplitter(0, max_message)
            conn.buf = b""
            frame_tcp(conn, buf[pos:], max_message, put)
            return
        length = int(length_text)
        start = space + 1
        if length > max_message:
            conn.skip = length
            conn.skip_total = length
            conn.skip_prefix = buf[start : start + 4096]
            pos = start
            continue
        if len(buf) - start < length:
            break
        put(Message(conn.listener, conn.peer, now, buf[start : start + length]))
        pos = start + length
        # Some senders put a newline after each counted frame.
        while pos < len(buf) and buf[pos : pos + 1] in (b"\n", b"\r"):
            pos += 1
    conn.buf = buf[pos:]


def close_tcp(conn: _Conn, put: Put) -> None:
    """The peer closed ``conn``: what is left of it goes to ``put``: an unterminated last line,
    an unfinished octet-counted frame (its first bytes with minus its length) or an over-long
    frame still being skipped (its first bytes with its length)."""
    now = time.time_ns()
    if conn.mode == "newline" and conn.splitter is not None:
        last = conn.splitter.finish()
        if last is not None:
            put(
                Message(
                    conn.listener,
                    conn.peer,
                    now,
                    last.data,
                    last.length if last.too_long else 0,
                )
            )
    elif conn.mode == "octet" and conn.buf.strip():
        put(Message(conn.listener, conn.peer, now, conn.buf[:4096], -len(conn.buf)))
    elif conn.skip:
        put(Message(conn.listener, conn.peer, now, conn.skip_prefix, conn.skip_total))
