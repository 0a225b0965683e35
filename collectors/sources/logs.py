"""One-shot ingestion of log files and stdin: detect the format, parse every line, ship.

Per file: ``.evtx`` (magic bytes ``ElfFile\\0``) goes to the EVTX reader; anything else is
read as lines (gzip decompressed, judged by magic bytes), its format taken from ``--format``
or detected from a sample of its first 64 KiB (collectors.parsers.detect_format, with the
file's name minus ``.gz``). A file no format claims is dead-lettered once with the reason
"unknown format". Each line becomes one event with
``_id = line_event_id(identity, byte offset, line bytes)`` (identity and id schemes: see
collectors.sources.files and LineSink) and ``log.file.path`` / ``log.file.offset``; a line
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
    LEGACY_IDS,
    RECORD_IDS,
    SAMPLE_BYTES,
    STDIN,
    TruncatedInput,
    detection_name,
    fingerprint,
    gzip_chunks,
    identity_of,
    line_event_id,
    line_id_base,
    open_chunks,
    raw_chunks,
    read_head,
    sample_lines,
)
from collectors.sources.lines import MAX_LINE_BYTES, Line, LineSplitter

STDIN_SOURCE = "stdin"
#: Bytes of a line's end kept in a followed file's checkpoint (see FileFollower._match).
CHECKPOINT_ANCHOR = 32


def line_digest(raw: bytes) -> str:
    """The digest a checkpoint keeps of the last line read (its bytes with the ending)."""
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


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

    Event ids: ``line_event_id(identity, offset, line bytes)`` (scheme 2). ``scheme`` None
    means "not known yet": the sink holds the events of its first read and asks the store,
    once, whether the last record of that first read (up to 1 MiB into the file) is already
    stored under its scheme-1 id ``(identity, offset)``, with the same original text; if
    so, this whole source keeps scheme 1, so a file shipped before ids carried the records'
    bytes is not stored twice when shipped again. The scheme chosen is recorded in the
    checkpoint state (``ids``) of followed files.
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
        scheme: int | None = None,
    ) -> None:
        self.shipper = shipper
        self.source = source
        self.identity = identity
        self.parser = parser
        self.ctx = ctx
        self.max_line = max_line
        self.file_path = file_path
        self.position_key = position_key
        self.scheme = scheme
        self._id_base = line_id_base(identity)
        # Held while the scheme is unknown: (kind, payload, position, line).
        self._held: list[tuple[str, Any, Position | None, Line]] = []

    def handle(self, lines: list[Line]) -> None:
        """Ship every line of ``lines`` (in order)."""
        if self.scheme is None:
            for line in lines:
                self._one(line, hold=True)
            self._decide()
            return
        for line in lines:
            self._one(line, hold=False)

    def _decide(self) -> None:
        """Choose the id scheme from the held records, then ship them."""
        held, self._held = self._held, []
        docs = [(doc, line) for kind, doc, _pos, line in held if kind == "doc"]
        if not docs:
            if held:
                self._held = held  # nothing to probe yet (blank or bad lines only)
            return
        # The last record read so far: the farthest into the file, so a look-alike that
        # shares only its first KiB (or more) with an old file does not pass for it.
        probe = docs[-1]
        legacy = _stored_with_legacy_id(self.shipper, self.identity, *probe)
        self._held = held
        self._replay(LEGACY_IDS if legacy else RECORD_IDS)

    def _replay(self, scheme: int) -> None:
        """Fix the scheme and ship the held records in order."""
        self.scheme = scheme
        held, self._held = self._held, []
        for kind, payload, position, line in held:
            if position is not None:
                position = Position(position.key, {**position.state, "ids": self.scheme})
            if kind == "doc":
                payload["_id"] = line_event_id(self.identity, line.offset, line.data, self.scheme)
                self.shipper.send(payload, source=self.source, position=position)
            elif kind == "mark" and position is not None:
                self.shipper.mark(position)
            elif kind == "reject":
                original, reason, where, length = payload
                self.shipper.reject(
                    self.source,
                    original,
                    reason,
                    position=position,
                    position_text=where,
                    length=length,
                )

    def finish(self) -> None:
        """Ship what is still held (the source ended before its scheme was decided)."""
        if self._held:
            self._decide()
            if self._held:  # no event at all: nothing to probe
                self._replay(RECORD_IDS)

    def _decide_without_probe(self) -> None:
        held, self._held = self._held, []
        for kind, payload, position, _line in held:
            if position is not None:
                position = Position(position.key, {**position.state, "ids": self.scheme})
            if kind == "mark" and position is not None:
                self.shipper.mark(position)
            elif kind == "reject":
                original, reason, where, length = payload
                self.shipper.reject(
                    self.source,
                    original,
                    reason,
                    position=position,
                    position_text=where,
                    length=length,
                )

    def _one(self, line: Line, *, hold: bool) -> None:
        shipper = self.shipper
        source = self.source
        position = None
        if self.position_key is not None:
            # anchor: the last bytes of the line (with its ending), so that a restart can tell
            # whether the file still holds what was read before the checkpoint's offset.
            # line_sha/line_len: a digest of the whole line, so that a look-alike file
            # (same first bytes, lines ending alike) is not taken for this one.
            state: dict[str, Any] = {"offset": line.end, "anchor": ""}
            if not line.too_long:
                raw = line.data + (b"\r\n" if line.length > len(line.data) else b"\n")
                state["anchor"] = raw[-CHECKPOINT_ANCHOR:].hex()
                state["line_sha"] = line_digest(raw)
                state["line_len"] = len(raw)
            if self.scheme is not None:
                state["ids"] = self.scheme
            position = Position(self.position_key, state)
        reject: tuple[Any, ...] | None = None
        if line.too_long:
            too_long = f"line longer than {self.max_line} bytes"
            reject = (line.data, too_long, line.offset, line.length)
        else:
            data = line.data
            if not data or data.isspace():
                if hold:
                    self._held.append(("mark", None, position, line))
                elif position is not None:
                    shipper.mark(position)
                return
            text = data.decode("utf-8", errors="replace")
            try:
                doc = self.parser.parse(text, self.ctx)
            except ParseError as exc:
                reject = (text, str(exc) or "line does not parse", line.offset, None)
            except Exception as exc:  # a parser bug must not stop the run
                reject = (text, f"parser failed: {type(exc).__name__}: {exc}", line.offset, None)
        if reject is not None:
            original, reason, where, length = reject
            if hold:
                self._held.append(("reject", reject, position, line))
                return
            shipper.reject(
                source, original, reason, position=position, position_text=where, length=length
            )
            return
        log = doc.get("log")
        if not isinstance(log, dict):
            log = doc["log"] = {}
        log_file = log.get("file")
        if not isinstance(log_file, dict):
            log_file = log["file"] = {}
        if self.file_path is not None:
            log_file["path"] = self.file_path
        log_file["offset"] = line.offset
        if hold:
            self._held.append(("doc", doc, position, line))
            return
        if self.scheme == LEGACY_IDS:
            doc["_id"] = line_event_id(self.identity, line.offset, b"", LEGACY_IDS)
        else:
            digest = self._id_base.copy()
            digest.update(b"%d\x1f" % line.offset)
            digest.update(line.data)
            doc["_id"] = digest.hexdigest()
        shipper.send(doc, source=source, position=position)


def _stored_with_legacy_id(shipper: Shipper, identity: str, doc: dict, line: Line) -> bool:
    """Whether the store already holds this record under its scheme-1 id (same original
    text when the stored event kept one)."""
    try:
        stored = shipper.store.get_event(line_event_id(identity, line.offset, b"", LEGACY_IDS))
    except Exception:  # the store is unreachable: the write that follows will retry and say so
        return False
    if not stored:
        return False
    original = (stored.get("event") or {}).get("original")
    mine = (doc.get("event") or {}).get("original")
    if isinstance(original, str) and isinstance(mine, str):
        return original == mine
    return (stored.get("log") or {}).get("file", {}).get("offset") == line.offset


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
            sink.finish()
            offset, prefix, seen = splitter.partial()
            shipper.reject(source, prefix, str(exc), position_text=offset, length=seen)
            return
        except OSError as exc:
            sink.finish()
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
        sink.finish()


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
