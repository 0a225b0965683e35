"""One-shot ingestion of log files and stdin: detect the format, parse every line, ship.

Per file: ``.evtx`` (magic bytes ``ElfFile\\0``) goes to the EVTX reader; anything else is
read as lines (gzip decompressed, judged by magic bytes), its format taken from ``--format``
or detected from a sample of its first 64 KiB (collectors.parsers.detect_format, with the
file's name minus ``.gz``). A file no format claims is dead-lettered once with the reason
"unknown format". Each line becomes one event with ``_id = event_id(identity, byte offset)``
(identity: see collectors.sources.files) and ``log.file.path`` / ``log.file.offset``; a line
that does not parse, a line longer than the limit and the unread rest of a truncated gzip are
dead-lettered with their reason. Blank lines are skipped (they are not records).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from collectors.parsers import ParseContext, ParseError, detect_format, get_parser
from collectors.ship import Position, Shipper
from collectors.sources.evtx import EVTX_MAGIC, ingest_evtx
from collectors.sources.files import (
    SAMPLE_BYTES,
    STDIN,
    TruncatedInput,
    detection_name,
    fingerprint,
    gzip_chunks,
    identity_of,
    open_chunks,
    raw_chunks,
    read_head,
    sample_lines,
)
from collectors.sources.lines import MAX_LINE_BYTES, Line, LineSplitter

STDIN_SOURCE = "stdin"


def _default_zone() -> ZoneInfo:
    return ZoneInfo("Asia/Ho_Chi_Minh")


@dataclass(frozen=True)
class IngestOptions:
    """How sources are read: format override, labels, zone and limits."""

    format: str | None = None
    department: str | None = None
    host_name: str | None = None
    timezone: ZoneInfo = field(default_factory=_default_zone)
    keep_original: bool = True
    max_line: int = MAX_LINE_BYTES
    evtx_threads: int = 1  # the Rust parser is fastest single-threaded here (GIL handoffs)


class LineSink:
    """Turns the lines of one source into events or dead letters on a shipper.

    ``position_key`` (followers only) makes every record carry a checkpoint Position so the
    registry advances as batches are acknowledged.
    """

    def __init__(
        self,
        shipper: Shipper,
        *,
        source: str,
        identity: str,
        parser: Any,
        ctx: ParseContext,
        max_line: int,
        file_path: str | None = None,
        position_key: str | None = None,
    ) -> None:
        self.shipper = shipper
        self.source = source
        self.identity = identity
        self.parser = parser
        self.ctx = ctx
        self.max_line = max_line
        self.file_path = file_path
        self.position_key = position_key
        # soc.ecs.event_id(identity, offset) hashes f"{identity}\x1f{offset}": the prefix is
        # hashed once and copied per line (tests check the ids equal event_id's).
        self._id_base = hashlib.blake2b(f"{identity}\x1f".encode(), digest_size=16)

    def handle(self, lines: list[Line]) -> None:
        """Ship every line of ``lines`` (in order)."""
        shipper = self.shipper
        source = self.source
        parse = self.parser.parse
        ctx = self.ctx
        id_base = self._id_base
        file_path = self.file_path
        key = self.position_key
        position = None
        for line in lines:
            if key is not None:
                position = Position(key, {"offset": line.end})
            if line.too_long:
                shipper.reject(
                    source,
                    line.data,
                    f"line longer than {self.max_line} bytes",
                    position=position,
                    position_text=line.offset,
                    length=line.length,
                )
                continue
            data = line.data
            if not data or data.isspace():
                if position is not None:
                    shipper.mark(position)
                continue
            text = data.decode("utf-8", errors="replace")
            try:
                doc = parse(text, ctx)
            except ParseError as exc:
                shipper.reject(
                    source,
                    text,
                    str(exc) or "line does not parse",
                    position=position,
                    position_text=line.offset,
                )
                continue
            except Exception as exc:  # a parser bug must not stop the run
                shipper.reject(
                    source,
                    text,
                    f"parser failed: {type(exc).__name__}: {exc}",
                    position=position,
                    position_text=line.offset,
                )
                continue
            digest = id_base.copy()
            digest.update(b"%d" % line.offset)
            doc["_id"] = digest.hexdigest()
            log = doc.get("log")
            if not isinstance(log, dict):
                log = doc["log"] = {}
            log_file = log.get("file")
            if not isinstance(log_file, dict):
                log_file = log["file"] = {}
            if file_path is not None:
                log_file["path"] = file_path
            log_file["offset"] = line.offset
            shipper.send(doc, source=source, position=position)


class LogIngestor:
    """Reads files and stdin once, start to end, into one shipper."""

    def __init__(
        self,
        shipper: Shipper,
        options: IngestOptions,
        *,
        on_bytes: Callable[[int], None] | None = None,
        stdin: BinaryIO | None = None,
    ) -> None:
        self.shipper = shipper
        self.options = options
        self.on_bytes = on_bytes
        self._stdin = stdin

    def ingest(self, item: str) -> None:
        """Ingest one expanded command-line item: a file path or ``-`` for stdin."""
        if item == STDIN:
            self.ingest_stdin()
        else:
            self.ingest_file(Path(item))

    def context(self, source: str) -> ParseContext:
        """The parse context for one source under the current options."""
        opts = self.options
        return ParseContext(
            source=source,
            timezone=opts.timezone,
            host_name=opts.host_name,
            department=opts.department,
            keep_original=opts.keep_original,
        )

    def ingest_file(self, path: Path) -> None:
        """Ingest one file (text, gzip or EVTX); every problem becomes a dead letter."""
        source = str(path)
        shipper = self.shipper
        try:
            raw_head, head = read_head(path, SAMPLE_BYTES)
            size = path.stat().st_size
        except OSError as exc:
            shipper.reject(source, b"", f"cannot read: {exc.strerror or exc}")
            return
        if raw_head.startswith(EVTX_MAGIC) and (
            self.options.format in (None, "evtx") or path.suffix.lower() == ".evtx"
        ):
            ingest_evtx(
                path,
                shipper,
                source=source,
                department=self.options.department,
                keep_original=self.options.keep_original,
                on_bytes=self.on_bytes,
                threads=self.options.evtx_threads,
            )
            return
        if not head.strip() and len(head) < SAMPLE_BYTES:
            shipper.set_format(source, None)  # empty (or blank) file: no records at all
            if self.on_bytes:
                self.on_bytes(size)
            return
        if self.options.format == "evtx":
            shipper.set_format(source, "evtx")
            shipper.reject(source, raw_head[:256], "not an EVTX file (no ElfFile signature)")
            return
        fmt = self._format(head, detection_name(source), complete=len(head) < SAMPLE_BYTES)
        if fmt is None:
            shipper.set_format(source, None)
            shipper.reject(source, head[:4096], "unknown format", length=size)
            if self.on_bytes:
                self.on_bytes(size)
            return
        try:
            handle, chunks = open_chunks(path, on_bytes=self.on_bytes)
        except OSError as exc:
            shipper.reject(source, b"", f"cannot read: {exc.strerror or exc}")
            return
        with handle:
            self._ship_lines(
                source, fmt, identity_of(fingerprint(head)), chunks, str(path.resolve())
            )

    def ingest_stdin(self) -> None:
        """Ingest standard input (text or gzip lines); its identity is the fingerprint of its
        first 1 KiB, like a file's, so piping a file in gives the same ids as naming it."""
        stream = self._stdin if self._stdin is not None else sys.stdin.buffer
        head = b""
        while len(head) < SAMPLE_BYTES:
            chunk = stream.read(SAMPLE_BYTES - len(head))
            if not chunk:
                break
            head += chunk
        if not head:
            return
        if head[:2] == b"\x1f\x8b":
            gz = gzip_chunks(
                _ChunkReader(_chain([head], raw_chunks(stream))), on_bytes=self.on_bytes
            )
            first: list[bytes] = []
            size = 0
            broken: TruncatedInput | None = None
            try:
                for piece in gz:
                    first.append(piece)
                    size += len(piece)
                    if size >= SAMPLE_BYTES:
                        break
            except TruncatedInput as exc:
                broken = exc
            head = b"".join(first)[:SAMPLE_BYTES]
            stream_chunks: Iterator[bytes] = _chain(first, iter(()) if broken else gz, broken)
        else:
            if self.on_bytes:
                self.on_bytes(len(head))
            stream_chunks = _chain([head], raw_chunks(stream, on_bytes=self.on_bytes))
        fmt = self._format(head, None, complete=len(head) < SAMPLE_BYTES)
        if fmt is None:
            self.shipper.set_format(STDIN_SOURCE, None)
            self.shipper.reject(STDIN_SOURCE, head[:4096], "unknown format")
            return
        self._ship_lines(STDIN_SOURCE, fmt, identity_of(fingerprint(head)), stream_chunks, None)

    def _format(self, head: bytes, name: str | None, *, complete: bool) -> str | None:
        if self.options.format:
            return self.options.format
        try:
            return detect_format(sample_lines(head, complete), name)
        except Exception:  # a detector bug must not stop the run: the file is dead-lettered
            return None

    def _ship_lines(
        self,
        source: str,
        fmt: str,
        identity: str,
        chunks: Iterator[bytes],
        file_path: str | None,
    ) -> None:
        shipper = self.shipper
        shipper.set_format(source, fmt)
        sink = LineSink(
            shipper,
            source=source,
            identity=identity,
            parser=get_parser(fmt),
            ctx=self.context(source),
            max_line=self.options.max_line,
            file_path=file_path,
        )
        splitter = LineSplitter(0, self.options.max_line)
        try:
            for chunk in chunks:
                sink.handle(splitter.feed(chunk))
        except TruncatedInput as exc:
            offset, prefix, seen = splitter.partial()
            shipper.reject(source, prefix, str(exc), position_text=offset, length=seen)
            return
        except OSError as exc:
            offset, prefix, seen = splitter.partial()
            shipper.reject(
                source,
                prefix,
                f"read error: {exc.strerror or exc}; the rest of the file is lost",
                position_text=offset,
                length=seen,
            )
            return
        last = splitter.finish()
        if last is not None:
            sink.handle([last])


def _chain(
    first: list[bytes], rest: Iterator[bytes], error: Exception | None = None
) -> Iterator[bytes]:
    yield from first
    yield from rest
    if error is not None:
        raise error


class _ChunkReader:
    """A minimal binary reader over an iterator of chunks (for gzip on stdin)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buf) < size:
            nxt = next(self._chunks, None)
            if nxt is None:
                break
            self._buf += nxt
        if size < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:size], self._buf[size:]
        return out
