"""Checkpoint registry: where each followed source stopped, kept durable across restarts.

The registry is one JSON file (``<data_dir>/checkpoints.json``) mapping a source key to a small
JSON object (for files: identity, path, device, inode, fingerprint length and the byte offset
after the last record the store acknowledged). It is rewritten atomically on every save:
written to a temporary file in the same directory, fsync'd, then ``os.replace``'d over the old
one (and the directory fsync'd), so a crash leaves either the old or the new registry, never a
torn one. A temporary file left by a writer killed mid-save is deleted when a registry is next
opened (unless its process still runs).

Only the shipper advances offsets, and only after the store acknowledged the batch holding the
records before that offset (see collectors.ship.Shipper.flush).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

CHECKPOINTS_FILE = "checkpoints.json"
_FORMAT_VERSION = 1


class CheckpointError(Exception):
    """The registry file cannot be read or written; the message is one line for a person."""


class CheckpointRegistry:
    """Source key -> state, persisted atomically in one JSON file.

    ``get``/``set``/``merge`` change the in-memory copy; ``save`` makes it durable. A missing
    file is an empty registry; an unreadable one raises CheckpointError naming the file.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._entries: dict[str, dict[str, Any]] = {}
        self._dirty = False
        self._remove_stale_temporaries()
        self._load()

    def _remove_stale_temporaries(self) -> None:
        """Delete ``.<name>.<pid>.tmp`` files left by a writer killed mid-save (SIGKILL): a
        process that no longer exists will never rename them. A live writer's are kept."""
        prefix = f".{self.path.name}."
        try:
            names = os.listdir(self.path.parent)
        except OSError:
            return
        for name in names:
            if not (name.startswith(prefix) and name.endswith(".tmp")):
                continue
            pid = name[len(prefix) : -len(".tmp")]
            if pid.isascii() and pid.isdigit() and _alive(int(pid)):
                continue
            with contextlib.suppress(OSError):
                (self.path.parent / name).unlink()

    @classmethod
    def in_data_dir(cls, data_dir: Path | str) -> CheckpointRegistry:
        """The registry kept in ``data_dir/checkpoints.json``."""
        return cls(Path(data_dir) / CHECKPOINTS_FILE)

    def _load(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except OSError as exc:
            raise CheckpointError(f"{self.path}: cannot read: {exc.strerror or exc}") from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise CheckpointError(f"{self.path}: not a checkpoint registry: {exc}") from None
        entries = data.get("sources") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            raise CheckpointError(f"{self.path}: not a checkpoint registry (no 'sources')")
        self._entries = {str(k): dict(v) for k, v in entries.items() if isinstance(v, dict)}

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every (key, state) pair; the states are copies."""
        for key, value in list(self._entries.items()):
            yield key, dict(value)

    def get(self, key: str) -> dict[str, Any] | None:
        """A copy of the state of ``key``, or None."""
        value = self._entries.get(key)
        return dict(value) if value is not None else None

    def set(self, key: str, state: Mapping[str, Any]) -> None:
        """Replace the state of ``key`` (in memory until save())."""
        self._entries[key] = {**state, "updated": time.time()}
        self._dirty = True

    def merge(self, key: str, changes: Mapping[str, Any]) -> None:
        """Update some fields of the state of ``key``, creating it if needed."""
        entry = self._entries.setdefault(key, {})
        entry.update(changes)
        entry["updated"] = time.time()
        self._dirty = True

    def remove(self, key: str) -> None:
        """Forget ``key``."""
        if self._entries.pop(key, None) is not None:
            self._dirty = True

    def prune(self, max_age_seconds: float, keep: Callable[[dict[str, Any]], bool]) -> int:
        """Forget entries not updated for ``max_age_seconds`` unless ``keep(state)`` says
        otherwise (e.g. the file still exists); returns how many were dropped."""
        cutoff = time.time() - max_age_seconds
        old = [
            k
            for k, v in self._entries.items()
            if float(v.get("updated", 0)) < cutoff and not keep(dict(v))
        ]
        for key in old:
            del self._entries[key]
        if old:
            self._dirty = True
        return len(old)

    def save(self) -> None:
        """Write the registry durably and atomically (temp file, fsync, os.replace)."""
        if not self._dirty and self.path.exists():
            return
        payload = json.dumps(
            {"version": _FORMAT_VERSION, "sources": self._entries},
            ensure_ascii=False,
            sort_keys=True,
            indent=1,
        )
        directory = self.path.parent
        tmp = directory / f".{self.path.name}.{os.getpid()}.tmp"
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
            _fsync_dir(directory)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise CheckpointError(f"{self.path}: cannot write: {exc.strerror or exc}") from None
        self._dirty = False


def _alive(pid: int) -> bool:
    """Whether a process with this id exists (another user's counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (best effort where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
