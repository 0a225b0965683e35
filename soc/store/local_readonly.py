"""A SQLite connection to a store in a directory this process may not write.

Read-only commands work on it as on any store; a write ends with one line a person
understands (the data directory, and that the command needs to write) instead of SQLite's
"attempt to write a readonly database".
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from soc.store.base import StoreError


class ReadOnlyStoreError(StoreError):
    """A command tried to write to a local store opened read-only."""


class ReadOnlyConnection(sqlite3.Connection):
    """A sqlite3 connection whose failed writes raise ReadOnlyStoreError naming the data
    directory (set ``data_dir`` after connecting)."""

    data_dir: Path | None = None

    def _read_only(self) -> ReadOnlyStoreError:
        where = self.data_dir if self.data_dir is not None else "the data directory"
        return ReadOnlyStoreError(
            f"data directory {where} is read-only: this command needs to write to the store "
            "(use a writable --data-dir, or only read-only commands here)"
        )

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        """As sqlite3.Connection.execute; a write refused as read-only is a one-line error."""
        try:
            return super().execute(sql, parameters)
        except sqlite3.OperationalError as exc:
            if "readonly" in str(exc):
                raise self._read_only() from None
            raise

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        """As sqlite3.Connection.executemany, with the same one-line read-only error."""
        try:
            return super().executemany(sql, parameters)
        except sqlite3.OperationalError as exc:
            if "readonly" in str(exc):
                raise self._read_only() from None
            raise


__all__ = ["ReadOnlyConnection", "ReadOnlyStoreError"]
