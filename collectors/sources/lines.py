"""Splitting a byte stream into lines with their byte offsets, in bounded memory.

A line is the bytes before a ``\\n`` (a trailing ``\\r`` is removed). Its offset is the byte
position of its first byte in the stream; the offset after it (``offset + length + 1``) is
where reading resumes. A line longer than ``max_line`` bytes is never held whole: the splitter
keeps only a prefix of it, skips the rest up to the next newline, and reports it with
``too_long=True`` and its full length, so the caller can dead-letter it with the prefix.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple

#: Longest line accepted (bytes); longer lines are dead-lettered (matches the parsers' limit).
MAX_LINE_BYTES = 1 << 20
#: How much of an over-long line is kept for the dead letter.
LONG_LINE_PREFIX = 4096
#: Read size for files.
CHUNK_SIZE = 1 << 20


class Line(NamedTuple):
    """One line: its offset in the stream, its bytes without the line ending (a prefix when
    ``too_long``), its raw length in bytes (with a ``\r`` but without the ``\n``), and
    whether it exceeded the limit."""

    offset: int
    data: bytes
    length: int
    too_long: bool

    @property
    def end(self) -> int:
        """The offset just after this line's newline."""
        return self.offset + self.length + 1


class LineSplitter:
    """Incremental splitter: ``feed`` chunks, get complete lines; ``finish`` returns the last
    line when the stream ended without a newline.

    Memory held is at most ``max_line`` bytes of a pending line plus the chunk being fed.
    """

    def __init__(self, offset: int = 0, max_line: int = MAX_LINE_BYTES) -> None:
        self.max_line = max_line
        self._buf = b""
        self._buf_offset = offset  # stream offset of _buf[0]
        self._skipping = False  # inside an over-long line
        self._skip_offset = 0
        self._skip_prefix = b""
        self._skip_len = 0

    @property
    def offset(self) -> int:
        """Offset just after the last complete line returned (where a restart resumes)."""
        return self._skip_offset if self._skipping else self._buf_offset

    @property
    def pending_bytes(self) -> int:
        """Bytes of an unfinished line seen so far."""
        return self._skip_len if self._skipping else len(self._buf)

    @property
    def held_bytes(self) -> int:
        """Bytes of the unfinished line actually kept in memory (bounded by the limit)."""
        return len(self._buf) + len(self._skip_prefix)

    def feed(self, chunk: bytes) -> list[Line]:
        """The lines completed by ``chunk``, in order."""
        out: list[Line] = []
        if not chunk:
            return out
        max_line = self.max_line
        if self._skipping:
            cut = chunk.find(b"\n")
            if cut < 0:
                self._skip_len += len(chunk)
                return out
            total = self._skip_len + cut
            out.append(Line(self._skip_offset, self._skip_prefix, total, True))
            self._skipping = False
            self._buf_offset = self._skip_offset + total + 1
            self._skip_prefix = b""
            chunk = chunk[cut + 1 :]
            self._buf = b""
        data = self._buf + chunk if self._buf else chunk
        parts = data.split(b"\n")
        rest = parts.pop()
        pos = self._buf_offset
        append = out.append
        for part in parts:
            n = len(part)
            if n > max_line:
                append(Line(pos, part[:LONG_LINE_PREFIX], n, True))
            elif part.endswith(b"\r"):
                append(Line(pos, part[:-1], n, False))
            else:
                append(Line(pos, part, n, False))
            pos += n + 1
        self._buf_offset = pos
        if len(rest) > max_line:
            self._skipping = True
            self._skip_offset = pos
            self._skip_prefix = rest[:LONG_LINE_PREFIX]
            self._skip_len = len(rest)
            self._buf = b""
        else:
            self._buf = rest
        return out

    def finish(self) -> Line | None:
        """The unterminated last line (the stream ended), or None; resets the splitter."""
        if self._skipping:
            line = Line(self._skip_offset, self._skip_prefix, self._skip_len, True)
            self._skipping = False
            self._buf_offset = self._skip_offset + self._skip_len
            self._skip_prefix = b""
            return line
        if not self._buf:
            return None
        data = self._buf
        line = Line(self._buf_offset, data.removesuffix(b"\r"), len(data), False)
        self._buf_offset += len(data)
        self._buf = b""
        return line

    def partial(self) -> tuple[int, bytes, int]:
        """The unfinished line: (offset, prefix kept, bytes seen), e.g. for a dead letter when
        the stream breaks off."""
        if self._skipping:
            return self._skip_offset, self._skip_prefix, self._skip_len
        return self._buf_offset, self._buf[:LONG_LINE_PREFIX], len(self._buf)


def iter_lines(
    chunks: Iterable[bytes], offset: int = 0, max_line: int = MAX_LINE_BYTES
) -> Iterator[Line]:
    """Every line of a finished stream of chunks, including an unterminated last line."""
    splitter = LineSplitter(offset, max_line)
    for chunk in chunks:
        yield from splitter.feed(chunk)
    last = splitter.finish()
    if last is not None:
        yield last
