"""Files as sources: finding them (paths, directories, globs, ``-``), reading them as byte
chunks (plain or gzip, with truncation detected), and naming them stably.

Source identity (used for deterministic event ids, ``line_event_id(identity, byte offset,
line bytes)``):
``"file:" + blake2b-128 of the first FINGERPRINT_BYTES (1 KiB) of the file's content`` (the
decompressed content for ``.gz``). It does not depend on the path, device or inode, so the
same log re-ingested from a copy, after a rename, or after rotation and compression
(``auth.log.1`` -> ``auth.log.2.gz``) gets the same ids and is not doubled. A file shorter
than 1 KiB is fingerprinted over what it holds; a follower pins that shorter fingerprint in
its checkpoint registry so the ids do not change as the file grows (a *one-shot* ingestion of
the same file after it grew past 1 KiB would, however, get new ids for its first lines).
"""

from __future__ import annotations

import glob
import hashlib
import os
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from collectors.sources.lines import CHUNK_SIZE

#: Bytes of content hashed into a file's identity.
FINGERPRINT_BYTES = 1024
#: Bytes of (decompressed) content sampled for format detection.
SAMPLE_BYTES = 64 * 1024
#: Lines of that sample given to detect_format.
SAMPLE_LINES = 200
EVTX_MAGIC = b"ElfFile\x00"
GZIP_MAGIC = b"\x1f\x8b"
STDIN = "-"

ByteCounter = Callable[[int], None]


class InputError(Exception):
    """A path given on the command line cannot be used (usage error); one line naming it."""


class TruncatedInput(Exception):
    """The input ended early or is corrupt after some content was read; the message is the
    reason for the dead letter of the rest."""


def fingerprint(head: bytes) -> str:
    """The hex fingerprint of a file from its first bytes (only the first 1 KiB counts)."""
    return hashlib.blake2b(head[:FINGERPRINT_BYTES], digest_size=16).hexdigest()


def identity_of(fp: str) -> str:
    """The source identity for a file fingerprint (see the module docstring)."""
    return f"file:{fp}"


#: Event-id schemes of file lines: 1 = (identity, offset), the scheme before records' own
#: bytes were folded in (kept for stores and checkpoints filled with it); 2 = the current one.
LEGACY_IDS = 1
RECORD_IDS = 2


def line_id_base(identity: str) -> hashlib.blake2b:
    """The hash state every line id of ``identity`` starts from (copy it per line)."""
    return hashlib.blake2b(f"{identity}\x1f".encode(), digest_size=16)


def line_event_id(identity: str, offset: int, data: bytes, scheme: int = RECORD_IDS) -> str:
    """The event id of the line ``data`` (without its line ending) at byte ``offset`` of the
    source ``identity``: blake2b-128 of ``identity, offset and the line's bytes`` (scheme 2),
    or of ``identity, offset`` only (scheme 1, equal to ``soc.ecs.event_id(identity,
    offset)``). The same line shipped twice gets the same id; lines that differ never share
    one, even in files whose first KiB is the same."""
    digest = line_id_base(identity)
    digest.update(b"%d" % offset)
    if scheme != LEGACY_IDS:
        digest.update(b"\x1f")
        digest.update(data)
    return digest.hexdigest()


def expand_paths(args: list[str]) -> list[str]:
    """The files named by command-line arguments, in order: files as given, directories
    recursively (sorted, regular files only, hidden files skipped), globs (``*``, ``?``,
    ``[``, ``**``) expanded, and ``-`` for stdin. Raises InputError naming the first argument
    that matches nothing."""
    out: list[str] = []
    seen: set[str] = set()

    def add(item: str) -> None:
        if item not in seen:
            seen.add(item)
            out.append(item)

    for arg in args:
        if arg == STDIN:
            add(STDIN)
            continue
        path = Path(arg).expanduser()
        if path.is_dir():
            for found in _walk(path):
                add(str(found))
            continue
        if path.exists():
            if not path.is_file():
                raise InputError(f"{arg}: not a regular file")
            add(str(path))
            continue
        if any(ch in arg for ch in "*?["):
            matches = sorted(glob.glob(os.path.expanduser(arg), recursive=True))
            files = [m for m in matches if Path(m).is_file()]
            for m in matches:
                if Path(m).is_dir():
                    files.extend(str(f) for f in _walk(Path(m)))
            if not files:
                raise InputError(f"{arg}: no file matches")
            for f in files:
                add(f)
            continue
        raise InputError(f"{arg}: no such file or directory")
    return out


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            full = Path(dirpath) / name
            if full.is_file():
                yield full


def is_gzip(head: bytes) -> bool:
    """Whether raw bytes start like a gzip stream."""
    return head[:2] == GZIP_MAGIC


def raw_chunks(
    handle: BinaryIO, size: int = CHUNK_SIZE, on_bytes: ByteCounter | None = None
) -> Iterator[bytes]:
    """The bytes of an open binary stream, ``size`` at a time."""
    while True:
        chunk = handle.read(size)
        if not chunk:
            return
        if on_bytes is not None:
            on_bytes(len(chunk))
        yield chunk


def gzip_chunks(
    handle: BinaryIO, size: int = CHUNK_SIZE, on_bytes: ByteCounter | None = None
) -> Iterator[bytes]:
    """The decompressed bytes of a gzip stream (several members allowed), at most ``size``
    at a time whatever the compression ratio. Everything decodable is yielded first; then a
    truncated or corrupt stream raises TruncatedInput with the reason."""
    decomp = zlib.decompressobj(wbits=31)
    produced = 0
    started = False  # the current member has been fed bytes
    pending = b""
    while True:
        if not pending:
            pending = handle.read(size)
            if not pending:
                if decomp.eof or not started:
                    return
                raise TruncatedInput(
                    "truncated gzip stream: the input ends before the end of the compressed "
                    f"data (after {produced} decompressed bytes)"
                )
            if on_bytes is not None:
                on_bytes(len(pending))
        if decomp.eof:
            if not pending.strip(b"\x00"):
                pending = b""  # zero padding after the last member
                continue
            decomp = zlib.decompressobj(wbits=31)  # another gzip member follows
        started = True
        try:
            out = decomp.decompress(pending, size)
        except zlib.error as exc:
            raise TruncatedInput(
                f"corrupt gzip data after {produced} decompressed bytes: {exc}"
            ) from None
        if out:
            produced += len(out)
            yield out
        pending = decomp.unused_data if decomp.eof else decomp.unconsumed_tail


def open_chunks(
    path: Path, on_bytes: ByteCounter | None = None
) -> tuple[BinaryIO, Iterator[bytes]]:
    """Open ``path`` and return the handle and its content chunks (decompressed when the
    file is gzip, judged by its magic bytes, not its name)."""
    handle = open(path, "rb")  # noqa: SIM115 - the caller closes it
    magic = handle.read(2)
    handle.seek(0)
    if is_gzip(magic):
        return handle, gzip_chunks(handle, on_bytes=on_bytes)
    return handle, raw_chunks(handle, on_bytes=on_bytes)


def read_head(path: Path, size: int = SAMPLE_BYTES) -> tuple[bytes, bytes]:
    """(raw first bytes, content first bytes): the content is decompressed for gzip files.
    A truncated gzip yields whatever decompressed before the break."""
    with open(path, "rb") as handle:
        raw = handle.read(max(size, 16))
        if not is_gzip(raw):
            return raw, raw[:size]
        handle.seek(0)
        out = bytearray()
        try:
            for chunk in gzip_chunks(handle, size=64 * 1024):
                out += chunk
                if len(out) >= size:
                    break
        except TruncatedInput:
            pass
        return raw, bytes(out[:size])


def sample_lines(head: bytes, complete: bool) -> list[str]:
    """Lines of a content sample for format detection; the last line is dropped unless the
    sample is the complete content (it may be cut)."""
    lines = head.split(b"\n")
    if not complete and len(lines) > 1:
        lines.pop()
    return [ln.decode("utf-8", errors="replace").rstrip("\r") for ln in lines[:SAMPLE_LINES]]


def detection_name(path: str) -> str:
    """The file name format detection should see (``auth.log.2.gz`` -> ``auth.log.2``)."""
    name = Path(path).name
    return name[:-3] if name.endswith(".gz") else name
