"""Following files (``soc collect files``, ``soc ingest logs --follow``) across rotation and
restarts.

Every ``poll`` seconds the follower expands its patterns (plain paths, directories, globs;
``.gz`` files are not followed), reads what each file gained since the last poll, and hands
complete lines to the shipper with a checkpoint Position (the offset after the line).

- Identity: a followed file is recognised by (device, inode) plus the fingerprint of its first
  bytes (``fp`` over ``fp_len`` bytes, at most 1 KiB). Both are kept in the checkpoint
  registry under the key ``file:<fp>``, which is also the identity the event ids are made
  from. A file first seen shorter than 1 KiB keeps that shorter fingerprint (pinned in the
  registry before anything is shipped), so its ids do not change as it grows.
- Restart: a file whose (device, inode) and fingerprint match a registry entry resumes at the
  entry's offset; one whose fingerprint alone matches (a copy, or a file moved to another
  file system) resumes there too; anything else starts at the beginning.
- Rotation by rename: when the path names another inode (or disappears), the old file is kept
  open and read until it has been quiet for ``linger`` seconds (a writer may still append to
  it), then closed; the new file at the path is read from its beginning.
- copytruncate: when a file becomes shorter than what was read, its first bytes no longer
  match its fingerprint, or the bytes just before the read position are no longer the ones
  read there (checked before reading and after every chunk: truncated and rewritten past
  our position, perhaps with the same first bytes), reading restarts at 0 as new content
  with its own registry entry; the old content's copy, when followed, resumes the old entry.
- Another path with the same fingerprint as a file already followed (a copy) is skipped. A
  copy is told from a look-alike (same first bytes, different body) by the last line read:
  the checkpoint keeps a digest of that whole line (``line_sha``, ``line_len``) and a file
  is taken for the entry only when it holds the same line just before the entry's offset.

Lines are never checkpointed before the store acknowledged them (see collectors.ship), so a
crash at any point re-sends at most one batch, which the deterministic ids make a no-op.
"""

from __future__ import annotations

import glob
import hashlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from collectors.checkpoint import CheckpointRegistry
from collectors.parsers import ParseContext, detect_format, get_parser
from collectors.ship import Shipper
from collectors.sources.files import (
    EVTX_MAGIC,
    FINGERPRINT_BYTES,
    GZIP_MAGIC,
    LEGACY_IDS,
    RECORD_IDS,
    SAMPLE_BYTES,
    detection_name,
    identity_of,
    sample_lines,
)
from collectors.sources.lines import LineSplitter
from collectors.sources.logs import IngestOptions, LineSink, line_digest

#: Most bytes read from one file per poll, so that many busy files share the time.
READ_BUDGET = 8 << 20
READ_SIZE = 1 << 20
#: Bytes before the read position that must still be in the file for it to be the same
#: content (copytruncate detection, like Filebeat's fingerprint but at our position).
ANCHOR_BYTES = 64
#: Checkpoints of files that no longer exist are forgotten after this long (seconds).
FORGET_AFTER = 90 * 86400


def _hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _pread(handle: BinaryIO, size: int, offset: int) -> bytes:
    """``size`` bytes at ``offset`` (fewer at the end; empty on error or when size is 0)."""
    if size <= 0 or offset < 0:
        return b""
    try:
        return os.pread(handle.fileno(), size, offset)
    except OSError:
        return b""


@dataclass
class _Followed:
    path: str
    handle: BinaryIO
    dev: int
    ino: int
    key: str
    fmt: str
    fp: str
    fp_len: int
    splitter: LineSplitter
    sink: LineSink
    tail: bytes = b""  # the last ANCHOR_BYTES bytes read, just before handle.tell()
    last_data: float = field(default_factory=time.monotonic)


def _scheme_of(entry: dict) -> int | None:
    """The event-id scheme of a checkpointed file: the one recorded; scheme 1 for an entry
    written before schemes were recorded that already shipped something (its records are
    stored under scheme-1 ids); None (decide by asking the store) for a new file."""
    scheme = entry.get("ids")
    if scheme in (LEGACY_IDS, RECORD_IDS):
        return int(scheme)
    if int(entry.get("offset", 0) or 0) > 0:
        return LEGACY_IDS
    return None


class FileFollower:
    """Follows files matching ``patterns`` into ``shipper`` until ``stop`` is set."""

    def __init__(
        self,
        patterns: list[str],
        shipper: Shipper,
        registry: CheckpointRegistry,
        options: IngestOptions,
        *,
        poll: float = 0.25,
        linger: float = 2.0,
        stop: threading.Event | None = None,
        on_bytes: Callable[[int], None] | None = None,
    ) -> None:
        self.patterns = patterns
        self.shipper = shipper
        self.registry = registry
        self.options = options
        self.poll = poll
        self.linger = linger
        self.stop = stop or threading.Event()
        self.on_bytes = on_bytes
        self.read_budget = READ_BUDGET
        self._by_path: dict[str, _Followed] = {}
        self._retired: list[_Followed] = []
        self._unknown: set[tuple[int, int]] = set()  # files dead-lettered as unknown format
        # Files not (yet) worth opening, by (device, inode): the size they had then. They are
        # looked at again only when their size changes (empty, binary, undetected yet).
        self._skipped: dict[tuple[int, int], int] = {}
        # Entries of files gone for FORGET_AFTER are dropped so the registry stays small.
        registry.prune(FORGET_AFTER, lambda entry: os.path.exists(str(entry.get("path", ""))))

    # --- main loop ----------------------------------------------------------------------------
    def run(self) -> None:
        """Poll until ``stop`` is set, then flush what was read (checkpointing it) and close."""
        try:
            while not self.stop.is_set():
                self.poll_once()
                self.shipper.tick()
                self.stop.wait(self.poll)
        finally:
            try:
                self.shipper.flush()
            finally:
                self.close()

    def poll_once(self) -> None:
        """One round: notice new, rotated and truncated files, and read what they gained."""
        current = self._expand()
        for path in list(self._by_path):
            if path not in current:
                self._retire(self._by_path.pop(path))
        for path in current:
            try:
                st = os.stat(path)
            except OSError:
                continue
            followed = self._by_path.get(path)
            if followed is not None and (st.st_dev, st.st_ino) != (followed.dev, followed.ino):
                self._retire(self._by_path.pop(path))
                followed = None
            if followed is None:
                followed = self._open(path)
                if followed is None:
                    continue
                self._by_path[path] = followed
            self._read(followed)
        now = time.monotonic()
        for old in list(self._retired):
            got = self._read(old)
            if not got and now - old.last_data >= self.linger:
                self._finish(old)
                self._retired.remove(old)

    def close(self) -> None:
        """Close every open file (without reading further)."""
        for followed in [*self._by_path.values(), *self._retired]:
            followed.handle.close()
        self._by_path.clear()
        self._retired.clear()

    # --- files --------------------------------------------------------------------------------
    def _expand(self) -> list[str]:
        found: list[str] = []
        seen: set[str] = set()
        for pattern in self.patterns:
            path = Path(pattern).expanduser()
            if path.is_dir():
                candidates = sorted(
                    str(p) for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
                )
            elif any(ch in pattern for ch in "*?["):
                candidates = sorted(
                    p for p in glob.glob(os.path.expanduser(pattern), recursive=True)
                )
            else:
                candidates = [str(path)] if path.is_file() else []
            for candidate in candidates:
                if candidate.endswith(".gz") or candidate in seen or not os.path.isfile(candidate):
                    continue
                seen.add(candidate)
                found.append(candidate)
        return found

    def _open(self, path: str) -> _Followed | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        ident = (st.st_dev, st.st_ino)
        if ident in self._unknown or self._skipped.get(ident) == st.st_size:
            return None
        try:
            handle = open(path, "rb")  # noqa: SIM115 - kept open while followed
        except OSError:
            return None
        try:
            st = os.fstat(handle.fileno())
            head = handle.read(SAMPLE_BYTES)
        except OSError:
            handle.close()
            return None
        if not head or head[:2] == GZIP_MAGIC or head.startswith(EVTX_MAGIC):
            self._skipped[(st.st_dev, st.st_ino)] = st.st_size
            handle.close()
            return None
        key, entry = self._match(head, st, handle)
        if key is None:
            fmt = self._detect(path, head)
            if fmt is None:
                if len(head) >= SAMPLE_BYTES:
                    self._unknown.add((st.st_dev, st.st_ino))
                    self.shipper.reject(path, head[:4096], "unknown format")
                else:
                    self._skipped[(st.st_dev, st.st_ino)] = st.st_size  # wait for more lines
                handle.close()
                return None
            fp_len = min(len(head), FINGERPRINT_BYTES)
            fp = _hash(head[:fp_len])
            identity = identity_of(fp)
            key = identity
            if key in self.registry or self._followed(key) is not None:
                # The same first bytes as a file seen before, but not its content at its
                # position (truncated and rewritten alike, a look-alike): its own entry.
                key = f"{identity}~{st.st_dev}:{st.st_ino}:{st.st_mtime_ns}"
            entry = {
                "fp": fp,
                "fp_len": fp_len,
                "offset": 0,
                "format": fmt,
                "identity": identity,
            }
        else:
            other = self._followed(key)
            if other is not None:
                handle.close()  # a copy of a file already followed: read once, there
                return None
        entry.update({"path": str(Path(path).resolve()), "dev": st.st_dev, "ino": st.st_ino})
        # Pin the identity before anything of this file is shipped.
        self.registry.set(key, entry)
        self.registry.save()
        offset = int(entry.get("offset", 0))
        fmt = str(entry.get("format") or self.options.format or "syslog")
        handle.seek(offset)
        self.shipper.set_format(path, fmt)
        opts = self.options
        ctx = ParseContext(
            source=path,
            timezone=opts.timezone,
            host_name=opts.host_name,
            department=opts.department,
            keep_original=opts.keep_original,
        )
        sink = LineSink(
            self.shipper,
            source=path,
            identity=str(entry.get("identity") or key),
            parser=get_parser(fmt),
            ctx=ctx,
            max_line=opts.max_line,
            file_path=str(Path(path).resolve()),
            position_key=key,
            scheme=_scheme_of(entry),
        )
        return _Followed(
            path=path,
            handle=handle,
            dev=st.st_dev,
            ino=st.st_ino,
            key=key,
            fmt=fmt,
            fp=str(entry["fp"]),
            fp_len=int(entry["fp_len"]),
            splitter=LineSplitter(offset, opts.max_line),
            sink=sink,
            tail=_pread(handle, min(offset, ANCHOR_BYTES), offset - min(offset, ANCHOR_BYTES)),
        )

    def _followed(self, key: str) -> _Followed | None:
        for f in (*self._by_path.values(), *self._retired):
            if f.key == key:
                return f
        return None

    def _match(self, head: bytes, st: os.stat_result, handle: BinaryIO) -> tuple[str | None, dict]:
        """The registry entry of this file: same inode and fingerprint first, then the same
        fingerprint anywhere (a copy or a move). An entry matches only when the file still
        holds, just before the entry's offset, the bytes the entry recorded there
        (``anchor``): a file truncated and rewritten past that offset, or another file that
        merely starts alike, is not taken for it."""
        by_fp: tuple[str, dict] | None = None
        for key, entry in self.registry.items():
            fp_len = entry.get("fp_len")
            fp = entry.get("fp")
            if not isinstance(fp_len, int) or not isinstance(fp, str) or len(head) < fp_len:
                continue
            if _hash(head[:fp_len]) != fp:
                continue
            offset = int(entry.get("offset", 0))
            if offset > st.st_size + 1:  # +1: unterminated last line
                continue  # same start but shorter than what was read: truncated and rewritten
            anchor = entry.get("anchor")
            line_len = entry.get("line_len")
            if offset and isinstance(line_len, int) and 0 < line_len <= offset:
                # the whole last line read must be there, not only its end
                if line_digest(_pread(handle, line_len, offset - line_len)) != entry.get(
                    "line_sha"
                ):
                    continue
            elif offset and isinstance(anchor, str) and anchor:
                want = bytes.fromhex(anchor)
                if _pread(handle, len(want), offset - len(want)) != want:
                    continue
            if entry.get("dev") == st.st_dev and entry.get("ino") == st.st_ino:
                return key, entry
            if by_fp is None:
                by_fp = (key, entry)
        if by_fp is not None:
            return by_fp
        return None, {}

    def _detect(self, path: str, head: bytes) -> str | None:
        if self.options.format:
            return self.options.format
        try:
            return detect_format(sample_lines(head, len(head) < SAMPLE_BYTES), detection_name(path))
        except Exception:
            return None

    def _read(self, followed: _Followed) -> bool:
        """Read what the file gained; returns whether anything was read.

        Before reading, and again after each chunk is read (a truncation may happen while
        we read), the bytes just before the read position must still be the ones read
        there; otherwise the file was truncated (copytruncate) and perhaps regrown past our
        position: the chunk is dropped and the file starts over as new content, while the
        old content is finished from its copy (when the copy is followed too) from the
        acknowledged checkpoint."""
        handle = followed.handle
        try:
            size = os.fstat(handle.fileno()).st_size
        except OSError:
            return False
        position = handle.tell()
        if size == position and self._intact(followed, position):
            return False
        if size < position or not self._intact(followed, position):
            self._truncated(followed)
            return True
        got = False
        budget = self.read_budget
        while budget > 0:
            try:
                chunk = handle.read(min(READ_SIZE, budget))
            except OSError:
                break
            if not chunk:
                break
            if self.on_bytes is not None:
                self.on_bytes(len(chunk))
            if not self._intact(followed, position):
                self._truncated(followed)  # truncated while we read: the chunk is not trusted
                return True
            position += len(chunk)
            got = True
            budget -= len(chunk)
            followed.tail = (followed.tail + chunk[-ANCHOR_BYTES:])[-ANCHOR_BYTES:]
            followed.sink.handle(followed.splitter.feed(chunk))
        if got:
            followed.last_data = time.monotonic()
        return got

    @staticmethod
    def _intact(followed: _Followed, position: int) -> bool:
        """The file still starts with its fingerprinted bytes and holds, just before
        ``position``, the bytes read there."""
        fd = followed.handle.fileno()
        try:
            head = os.pread(fd, followed.fp_len, 0)
            tail = os.pread(fd, len(followed.tail), position - len(followed.tail))
        except OSError:
            return True
        if len(head) != followed.fp_len or _hash(head) != followed.fp:
            return False
        return tail == followed.tail

    def _truncated(self, followed: _Followed) -> None:
        """copytruncate: the content was replaced; start over with a new identity."""
        path = followed.path
        followed.handle.close()
        if self._by_path.get(path) is followed:
            del self._by_path[path]
            fresh = self._open(path)
            if fresh is not None:
                self._by_path[path] = fresh
                self._read(fresh)
        elif followed in self._retired:
            self._retired.remove(followed)

    def _retire(self, followed: _Followed) -> None:
        """The path now names another file (or none): keep reading the old one a while."""
        self._read(followed)
        followed.last_data = time.monotonic()  # the linger clock starts at the rotation
        self._retired.append(followed)

    def _finish(self, followed: _Followed) -> None:
        """Close a rotated-away file after shipping its unterminated last line, if any."""
        last = followed.splitter.finish()
        if last is not None:
            followed.sink.handle([last])
        followed.handle.close()
