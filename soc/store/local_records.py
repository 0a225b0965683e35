"""Records of the local store (alerts, cases, audit, scheduler state): one ``records`` table
keyed by (kind, id), the record as JSON, and an integer ``version`` bumped by every write
(optimistic concurrency: put_record_if). Mixed into LocalStore.

Alert bookkeeping looks alerts up by rule and suppression key; an expression index on those
two JSON fields (schema v3) makes that an index range instead of a scan of every alert.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from soc import fast_json
from soc.store.base import RECORD_KINDS, Conflict, RecordKind, RecordVersion

#: Most ids bound in one ``IN (...)`` (SQLite's default variable limit is 32766).
ID_CHUNK = 900
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_]+$")


def json_path_sql(name: str) -> tuple[str, list[Any]]:
    """``json_extract(doc, <path>)`` for a top-level field, with the path written literally
    for plain names, so that it is the very expression the indexes of schema v3 use."""
    path = "$." + json.dumps(name)
    if _PLAIN_NAME.match(name):
        return f"json_extract(doc, '{path}')", []
    return "json_extract(doc, ?)", [path]


def _dump(record: Mapping[str, Any]) -> str:
    return fast_json.dumps_any(record)


class LocalRecords:
    """The record methods of the Store protocol on the ``records`` table."""

    _conn: sqlite3.Connection
    _lock: threading.RLock

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def _check_kind(kind: str) -> None:
        if kind not in RECORD_KINDS:
            raise ValueError(f"unknown record kind {kind!r}; expected one of {RECORD_KINDS}")

    def put_record(self, kind: RecordKind, record_id: str, record: Mapping[str, Any]) -> bool:
        """Create a record; False (nothing changed) if the id exists."""
        self._check_kind(kind)
        with self._lock:
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO records (kind, id, doc) VALUES (?, ?, ?)",
                (kind, record_id, _dump(record)),
            )
        return cursor.rowcount == 1

    def get_record(self, kind: RecordKind, record_id: str) -> dict[str, Any] | None:
        """A record by id, or None."""
        self._check_kind(kind)
        with self._lock:
            row = self._conn.execute(
                "SELECT doc FROM records WHERE kind = ? AND id = ?", (kind, record_id)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def update_record(
        self, kind: RecordKind, record_id: str, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Merge top-level changes into an existing record; KeyError if it is missing."""
        self._check_kind(kind)
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT doc FROM records WHERE kind = ? AND id = ?", (kind, record_id)
            ).fetchone()
            if row is None:
                raise KeyError(f"no {kind} record {record_id!r}")
            doc = json.loads(row[0])
            doc.update(changes)
            conn.execute(
                "UPDATE records SET doc = ?, version = version + 1 WHERE kind = ? AND id = ?",
                (_dump(doc), kind, record_id),
            )
        return doc

    def upsert_record(self, kind: RecordKind, record_id: str, record: Mapping[str, Any]) -> None:
        """Create or replace a record."""
        self._check_kind(kind)
        with self._lock:
            self._conn.execute(
                "INSERT INTO records (kind, id, doc) VALUES (?, ?, ?) "
                "ON CONFLICT (kind, id) DO UPDATE SET doc = excluded.doc, "
                "version = records.version + 1",
                (kind, record_id, _dump(record)),
            )

    def list_records(
        self,
        kind: RecordKind,
        *,
        filters: Mapping[str, Any] | None = None,
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
        fresh: bool = True,
    ) -> list[dict[str, Any]]:
        """Records whose top-level fields equal the filters (list = any of), ordered
        (``fresh`` changes nothing here: SQLite always sees its own writes)."""
        self._check_kind(kind)
        clauses = ["kind = ?"]
        params: list[Any] = [kind]
        for name, value in (filters or {}).items():
            expr, expr_params = json_path_sql(name)
            if isinstance(value, list | tuple | set | frozenset):
                values = list(value)
                if not values:
                    return []
                clauses.append(f"{expr} IN ({', '.join('?' for _ in values)})")
                params.extend([*expr_params, *values])
            else:
                clauses.append(f"{expr} = ?")
                params.extend([*expr_params, value])
        order = "DESC" if descending else "ASC"
        sql = f"SELECT doc FROM records WHERE {' AND '.join(clauses)}"
        if order_by:
            sql += f" ORDER BY json_extract(doc, ?) {order}, id {order}"
            params.append("$." + json.dumps(order_by))
        else:
            sql += f" ORDER BY id {order}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [json.loads(r[0]) for r in rows]

    # --- batches --------------------------------------------------------------------------
    def get_records(self, kind: RecordKind, record_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The records that exist among ``record_ids`` (id -> record); one statement per
        900 ids, missing ids absent."""
        self._check_kind(kind)
        found: dict[str, dict[str, Any]] = {}
        with self._lock:
            for chunk in _chunks(list(dict.fromkeys(record_ids))):
                marks = ", ".join("?" for _ in chunk)
                rows = self._conn.execute(
                    f"SELECT id, doc FROM records WHERE kind = ? AND id IN ({marks})",
                    [kind, *chunk],
                ).fetchall()
                found.update((r[0], json.loads(r[1])) for r in rows)
        return found

    def create_records(
        self, kind: RecordKind, records: Mapping[str, Mapping[str, Any]]
    ) -> set[str]:
        """Create the records whose ids do not exist yet, in one transaction; returns the
        ids created (existing ones are left unchanged)."""
        self._check_kind(kind)
        if not records:
            return set()
        created: set[str] = set()
        with self._transaction() as conn:
            ids = list(records)
            existing: set[str] = set()
            for chunk in _chunks(ids):
                marks = ", ".join("?" for _ in chunk)
                existing.update(
                    r[0]
                    for r in conn.execute(
                        f"SELECT id FROM records WHERE kind = ? AND id IN ({marks})",
                        [kind, *chunk],
                    )
                )
            rows = [(kind, i, _dump(records[i])) for i in ids if i not in existing]
            conn.executemany("INSERT INTO records (kind, id, doc) VALUES (?, ?, ?)", rows)
            created.update(r[1] for r in rows)
        return created

    # --- optimistic concurrency -----------------------------------------------------------
    def get_record_versioned(
        self, kind: RecordKind, record_id: str
    ) -> tuple[dict[str, Any], RecordVersion] | None:
        """A record and its version, or None."""
        self._check_kind(kind)
        with self._lock:
            row = self._conn.execute(
                "SELECT doc, version FROM records WHERE kind = ? AND id = ?", (kind, record_id)
            ).fetchone()
        return (json.loads(row[0]), RecordVersion(int(row[1]))) if row else None

    def put_record_if(
        self,
        kind: RecordKind,
        record_id: str,
        record: Mapping[str, Any],
        version: RecordVersion | None,
    ) -> RecordVersion:
        """Write ``record`` only if it is still at ``version`` (None: only if absent); the
        new version, or Conflict. One SQL statement, so atomic between processes."""
        self._check_kind(kind)
        with self._lock:
            if version is None:
                cursor = self._conn.execute(
                    "INSERT OR IGNORE INTO records (kind, id, doc, version) VALUES (?, ?, ?, 1)",
                    (kind, record_id, _dump(record)),
                )
                if cursor.rowcount != 1:
                    raise Conflict(f"{kind} record {record_id!r} exists already")
                return RecordVersion(1)
            cursor = self._conn.execute(
                "UPDATE records SET doc = ?, version = version + 1 "
                "WHERE kind = ? AND id = ? AND version = ?",
                (_dump(record), kind, record_id, version.seq_no),
            )
        if cursor.rowcount != 1:
            raise Conflict(f"{kind} record {record_id!r} changed since version {version.seq_no}")
        return RecordVersion(version.seq_no + 1)


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(ids), ID_CHUNK):
        yield ids[i : i + ID_CHUNK]


def migrate_records_v3(conn: sqlite3.Connection) -> None:
    """Schema v3: a version per record (optimistic concurrency) and the alert index of
    suppression look-ups (rule, suppression key)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(records)")}
    if "version" not in columns:
        conn.execute("ALTER TABLE records ADD COLUMN version INTEGER NOT NULL DEFAULT 1")
    rule, _ = json_path_sql("rule_id")
    key, _ = json_path_sql("suppress_key")
    conn.execute(f"CREATE INDEX IF NOT EXISTS records_alert_rule ON records (kind, {rule}, {key})")
