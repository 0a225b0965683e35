"""What `soc hunt` reads: files and folders of any kind, each recognised by its content.

A file is EVTX (``ElfFile`` signature), a packet capture (pcap or pcapng magic, gzip'd or
not), a zip archive (its members are unpacked into a scratch folder and recognised in turn),
an empty file, or text for the log parsers (plain or gzip'd; the parsers decide the format).
Names and extensions are never trusted: an EVTX saved as ``.log`` is still read as EVTX.
"""

from __future__ import annotations

import gzip
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from soc.file_walk import files_under

EVTX_MAGIC = b"ElfFile\x00"
PCAP_MAGICS = (
    b"\xd4\xc3\xb2\xa1",
    b"\xa1\xb2\xc3\xd4",
    b"\x4d\x3c\xb2\xa1",
    b"\xa1\xb2\x3c\x4d",
    b"\x0a\x0d\x0d\x0a",  # pcapng section header
)
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"

#: Limits of what one zip archive may unpack to (a zip bomb is refused, not expanded).
MAX_ARCHIVE_BYTES = 8 * 1024**3
MAX_ARCHIVE_MEMBERS = 100_000


class HuntInputError(Exception):
    """A path given to `soc hunt` does not exist or cannot be listed (one line)."""


@dataclass
class InputFile:
    """One file to read: where it is on disk, what the person should see as its name, and
    the kind found from its content (evtx, pcap, log, empty, or skipped with a reason)."""

    path: Path
    display: str
    kind: str
    size: int = 0
    reason: str | None = None


def sniff(path: Path) -> str:
    """The kind of a file from its first bytes: "evtx", "pcap", "zip", "empty" or "log"
    (text, plain or gzip'd). Raises OSError when the file cannot be read."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    if not head:
        return "empty"
    if head.startswith(EVTX_MAGIC):
        return "evtx"
    if head[:4] in PCAP_MAGICS:
        return "pcap"
    if head.startswith(ZIP_MAGIC):
        return "zip"
    if head.startswith(GZIP_MAGIC):
        try:
            with gzip.open(path, "rb") as inner:
                inner_head = inner.read(8)
        except (OSError, EOFError):
            return "log"  # the text reader reports the damaged gzip stream with its offset
        if inner_head[:4] in PCAP_MAGICS:
            return "pcap"
        if inner_head.startswith(EVTX_MAGIC):
            return "evtx.gz"
        if not inner_head:
            return "empty"
    return "log"


def expand(paths: list[str]) -> list[Path]:
    """Every file named or found (recursively, hidden entries left out) under the paths, in
    order and without repeats. Raises HuntInputError naming the first path that is missing."""
    return list(expand_named(paths))


def expand_named(paths: list[str]) -> dict[Path, str]:
    """Like expand, with the name each file is shown by: as given on the command line, or
    the folder's name followed by the path inside it. A folder's files come in path order
    (soc.file_walk); a file named twice (the same folder given again, a link to a file
    already found) is kept the first time."""
    out: dict[Path, str] = {}
    seen: set[tuple[int, int]] = set()
    for text in paths:
        path = Path(text)
        if path.is_dir():
            base = path.resolve().name or str(path)
            root = os.fspath(path)
            candidates = [
                (Path(found), f"{base}/{_inside(found, root)}")
                for _, found in files_under(root, hidden=False)
            ]
        elif path.is_file():
            candidates = [(path, text)]
        else:
            raise HuntInputError(f"{text}: no such file or directory")
        for candidate, shown in candidates:
            try:
                status = os.stat(candidate)
            except OSError:  # gone since it was listed: classify reports it unreadable
                key = (-1, len(seen))
            else:
                key = (status.st_dev, status.st_ino)
            if key not in seen:
                seen.add(key)
                out[candidate] = shown
    return out


def _inside(found: str, root: str) -> str:
    """The path of ``found`` (a path under ``root``, as listed) below the root, with "/"."""
    return found[len(root) :].lstrip(os.sep).replace(os.sep, "/")


def _unpack_zip(path: Path, display: str, scratch: Path) -> tuple[list[InputFile], str | None]:
    """The members of a zip archive, unpacked under ``scratch``; (files, problem)."""
    target = scratch / f"zip-{len(list(scratch.iterdir())):04d}"
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) > MAX_ARCHIVE_MEMBERS:
                return (
                    [],
                    f"zip archive with {len(members):,} members (limit {MAX_ARCHIVE_MEMBERS:,})",
                )
            total = sum(m.file_size for m in members)
            if total > MAX_ARCHIVE_BYTES:
                return [], f"zip archive unpacks to {total:,} bytes (limit {MAX_ARCHIVE_BYTES:,})"
            out: list[InputFile] = []
            for index, member in enumerate(members):
                # never trust member names as paths: each member gets a numbered file
                dest = target / f"{index:06d}"
                dest.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as src, open(dest, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                out.extend(
                    classify([dest], scratch, displays={dest: f"{display}!{member.filename}"})
                )
            return out, None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, RuntimeError) as exc:
        return [], f"unreadable zip archive: {exc}"


def _gunzip(path: Path, scratch: Path) -> Path:
    dest = scratch / f"gz-{len(list(scratch.iterdir())):04d}"
    with gzip.open(path, "rb") as src, open(dest, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return dest


def classify(
    files: list[Path], scratch: Path, *, displays: dict[Path, str] | None = None
) -> list[InputFile]:
    """Each file with its kind; zip archives are replaced by their members (unpacked under
    ``scratch``), gzip'd EVTX is unpacked there too. Unreadable files come back as kind
    "skipped" with the reason."""
    out: list[InputFile] = []
    for path in files:
        display = (displays or {}).get(path, str(path))
        try:
            kind = sniff(path)
            size = path.stat().st_size
        except OSError as exc:
            out.append(
                InputFile(path, display, "skipped", 0, f"cannot read: {exc.strerror or exc}")
            )
            continue
        if kind == "zip":
            members, problem = _unpack_zip(path, display, scratch)
            if problem:
                out.append(InputFile(path, display, "skipped", size, problem))
            elif not members:
                out.append(InputFile(path, display, "empty", size, "zip archive with no files"))
            out.extend(members)
            continue
        if kind == "evtx.gz":
            try:
                unpacked = _gunzip(path, scratch)
            except (OSError, EOFError) as exc:
                out.append(InputFile(path, display, "skipped", size, f"bad gzip stream: {exc}"))
                continue
            out.append(InputFile(unpacked, display, "evtx", unpacked.stat().st_size))
            continue
        reason = "empty file" if kind == "empty" else None
        out.append(InputFile(path, display, kind, size, reason))
    return out


__all__ = ["HuntInputError", "InputFile", "classify", "expand", "expand_named", "sniff"]
