"""Rule files on disk: which files a set of rule paths holds, the key of each file's
content in the load cache, and which of them the cache lacks.

Nothing here needs pySigma, so a hunt can find which rule files are new to the caches (and
hand their conversion to its workers) before it imports pySigma (see soc.hunt.run).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from soc.detect.rule_cache import RuleCache, open_cache
from soc.file_walk import files_under
from soc.resources import rules_dir

RULE_SUFFIXES = (".yml", ".yaml")

#: What tells a file or folder changed without reading it: size, modification and change
#: times (ns) and inode. Editing, replacing, renaming or adding to a folder changes one of
#: them; the change time cannot be set back (soc.detect.rule_snapshot relies on this).
Signature = tuple[int, int, int, int]


def signature_of(stat: os.stat_result) -> Signature:
    """The Signature of a stat result."""
    return (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)


def rule_paths(extra: Sequence[Path] = (), *, include_pack: bool = True) -> list[Path]:
    """The city rule pack (unless excluded) followed by the extra folders, without repeats."""
    paths: list[Path] = []
    if include_pack and rules_dir().is_dir():
        paths.append(rules_dir())
    for p in extra:
        if p not in paths:
            paths.append(p)
    return paths


def iter_rule_files(
    paths: Iterable[Path], folders: dict[str, Signature] | None = None
) -> Iterator[Path]:
    """Every .yml/.yaml file under the given folders or given directly. A folder's files
    come in path order (as sorted Paths: folder by folder, name by name), its symbolic links
    to folders are not followed, and folders it may not read are left out. ``folders``, when
    given, receives the Signature of every folder walked, taken before it was listed."""
    on_folder = _recorder(folders)
    for path in paths:
        if path.is_dir():
            found = files_under(os.fspath(path), wanted=_is_rule_file, on_folder=on_folder)
            yield from (Path(name) for _, name in found)
        elif path.is_file():
            yield path


def _recorder(folders: dict[str, Signature] | None) -> Callable[[str], None] | None:
    """What records a folder's signature in ``folders`` before it is listed (None: none)."""
    if folders is None:
        return None

    def record(folder: str) -> None:
        folders[folder] = signature_of(os.stat(folder))

    return record


def _is_rule_file(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in RULE_SUFFIXES


def content_key(data: bytes) -> str:
    """The load cache's key for a rule file with these bytes."""
    return "load:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class RuleFile:
    """One rule file as read: its bytes and their load-cache key, or why it was unreadable."""

    path: Path
    data: bytes | None
    key: str | None
    error: str | None = None
    #: The file's Signature, taken on the open file before its bytes were read.
    signature: Signature | None = None


def read_rule_files(
    paths: Iterable[Path], folders: dict[str, Signature] | None = None
) -> list[RuleFile]:
    """Every rule file under ``paths`` (iter_rule_files), read once: a run that first asks
    which files the cache lacks and then loads them reads each file one time, and loads
    exactly the bytes it asked about. ``folders``: as for iter_rule_files."""
    read: list[RuleFile] = []
    for path in iter_rule_files(paths, folders):
        try:
            with open(path, "rb") as file:
                signature = signature_of(os.fstat(file.fileno()))
                data = file.read()
        except OSError as exc:
            read.append(RuleFile(path, None, None, f"cannot read: {exc}"))
            continue
        read.append(RuleFile(path, data, content_key(data), signature=signature))
    return read


def files_to_load(
    paths: Sequence[Path] | Sequence[RuleFile], cache: RuleCache | Path | str | None
) -> list[Path]:
    """The rule files under ``paths`` (or of read_rule_files' result) whose content the
    load cache does not hold (all of them without a cache): what a load_rules of them would
    parse."""
    files = _as_read(paths)
    store = open_cache(cache)
    if store is None:
        return [f.path for f in files]
    try:
        present = store.present(f.key for f in files if f.key is not None)
    finally:
        if store is not cache:
            store.close()
    return [f.path for f in files if f.key is None or f.key not in present]


def _as_read(paths: Sequence[Path] | Sequence[RuleFile]) -> list[RuleFile]:
    if all(isinstance(p, RuleFile) for p in paths):
        return list(paths)  # type: ignore[arg-type]
    return read_rule_files(paths)  # type: ignore[arg-type]
