"""The embedded store: one SQLite file (stdlib sqlite3, WAL) holding events and records.

Events are rows with one column per ECS field path, named exactly by the dotted path
(``"source.ip"``), added as new fields appear, plus the whole document as JSON, so that SQL
compiled from Sigma by pySigma's SQLite backend runs on it unchanged. String columns compare
case-insensitively (``COLLATE NOCASE``) because Sigma matching is case-insensitive.

Value rules for the per-field columns (the JSON document always keeps the original):
- a list with one element is stored as that element; a longer list as JSON text;
- booleans are stored as 1/0; objects inside lists stay JSON text in their list's column.

SQLite treats column names case-insensitively, so paths that differ only in case share one
column. A query that names a field the store has never seen gets that (empty) column added and
is retried, so it matches nothing instead of failing.

This module opens the file and answers single queries; LocalStore mixes in the event writes
(soc.store.local_writes), the batch reads (soc.store.local_scan) and the records
(soc.store.local_records).
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from soc.store import like_any
from soc.store.base import Bucket, Hit, QueryError, SearchPage, StoreUnavailable
from soc.store.local_documents import DOCUMENT_SQL, stored_document
from soc.store.local_readonly import ReadOnlyConnection
from soc.store.local_records import LocalRecords
from soc.store.local_scan import LocalScan
from soc.store.local_scan import quote_identifier as _quote
from soc.store.local_schema import (
    EVENTS_TABLE,
    INDEXED_FIELDS,
    MIGRATIONS,
    WINDOWS_INDEXED,
    drop_pivot_indexes,
)
from soc.store.local_writes import INTERNAL_COLUMNS as _INTERNAL_COLUMNS
from soc.store.local_writes import MAX_FIELD_COLUMNS, LocalWrites
from soc.store.local_writes import column_value as _column_value
from soc.store.local_writes import epoch_us as _epoch_us

#: Marks a SQLite file as a citysoc store (PRAGMA application_id), ASCII "CSOC".
APPLICATION_ID = 0x43534F43
#: Current schema version (PRAGMA user_version); see soc.store.local_schema.MIGRATIONS.
SCHEMA_VERSION = 4

#: Read tuning, per connection (docs/detection.md, "SQLite settings"): a 16 MiB page cache
#: instead of SQLite's 2 MiB, so that a group's candidate rows, read again right after its
#: subset, are still in memory. 64 MiB (chosen when every rule scanned the store on its
#: own) took the same CPU with grouped scans and twice the memory: the city pack over 100k
#: auth events peaked at 189 MB against 92 MB, over 1M at 205 MB against 109 MB. No memory
#: map: every mapped page would count in the process's resident memory, which then grows
#: with the database (measured: 450 MB against 273 MB for 100k events, for the same time).
#: Sorts may spill to temporary files.
_READ_TUNING = ("cache_size = -16384", "mmap_size = 0")

#: Page size of a new store file (SQLite's default is 4 KiB; an existing file keeps the size
#: it was made with). An event row holds its JSON document and a few dozen columns, 4-6 KB for
#: a Windows event: with 4 KiB pages most rows spill onto overflow pages, which a scan of any
#: later column must walk. With 32 KiB pages, writing the corpus EVTX took a fifth less CPU
#: and scanning every SigmaHQ Windows rule group a seventh less (docs/detection.md).
PAGE_SIZE = 32768

_MISSING_COLUMN = re.compile(r"no such column: (.+)$")


@lru_cache(maxsize=4096)
def _compiled_regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _sql_regexp(pattern: str | None, value: Any) -> int | None:
    """SQLite's ``value REGEXP pattern``: Python ``re`` search semantics, as Sigma's ``|re``
    means; NULL when either side is NULL, no match for a pattern Python cannot compile."""
    if pattern is None or value is None:
        return None
    compiled = _compiled_regex(pattern)
    if compiled is None:
        return 0
    return 1 if compiled.search(str(value)) else 0


def _from_epoch_us(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1_000_000, UTC)


class LocalStore(LocalRecords, LocalScan, LocalWrites):
    """The Store protocol on one SQLite file; safe to share between threads of one process
    and between processes (WAL, busy timeout)."""

    kind = "local"

    def __init__(
        self,
        path: Path | str,
        *,
        durable: bool = True,
        column_fields: Iterable[str] | None = None,
    ) -> None:
        """Open (creating it when new) the store file at ``path``. ``durable=False`` is for
        a scratch store deleted after use (a hunt's): this connection never waits for the
        disk (SQLite's ``synchronous = OFF``), so a crash of the machine, not of the
        process, may damage the file; see docs/detection.md, "SQLite settings".

        ``column_fields`` (names, any case): the events this connection writes get a column
        only for those fields (and the indexed ones); the others are in their documents
        alone, where searches and queries on columns do not see them. For a scratch store
        that only known queries read (a hunt's rules: soc.hunt.run)."""
        self.path = Path(path)
        self.durable = durable
        self._column_fields: frozenset[str] | None = None
        if column_fields is not None:
            always = ("@timestamp", *INDEXED_FIELDS, *(name for name, _ in WINDOWS_INDEXED))
            self._column_fields = frozenset(f.lower() for f in (*column_fields, *always))
        self.read_only = False
        self._lock = threading.RLock()
        self._conn = self._open()
        self._columns: dict[str, str] = {}  # lower-cased name -> column name as created
        self._lookup: dict[str, str | None] = {}  # exact path -> column (see _column_lookup)
        self._lookup_for: dict[str, str] | None = None
        self._lookup_size = 0
        #: Exact field paths known to have a column (columns are never dropped), or to want
        #: none (outside column_fields): a row whose paths are all here needs no per-path
        #: check for new columns (LocalWrites._insert).
        self._paths_with_columns: set[str] = set()
        self._load_columns()

    # --- opening --------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(
                f"cannot create data directory {self.path.parent}: {exc.strerror or exc}"
            ) from None
        try:
            conn = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # a no-op for an existing file
            self._reader_setup(conn)
            self._check_and_migrate(conn)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {'NORMAL' if self.durable else 'OFF'}")
        except sqlite3.Error as exc:
            readonly = self._open_read_only()
            if readonly is not None:
                return readonly
            raise StoreUnavailable(f"{self.path}: cannot open the local store: {exc}") from None
        return conn

    @staticmethod
    def _reader_setup(conn: sqlite3.Connection) -> None:
        """What every connection to a store needs: busy timeout, REGEXP, read tuning."""
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.create_function("REGEXP", 2, _sql_regexp, deterministic=True)
        like_any.install(conn)
        for pragma in _READ_TUNING:
            conn.execute(f"PRAGMA {pragma}")

    def _open_read_only(self) -> sqlite3.Connection | None:
        """A read-only connection to an existing, current store in a directory (or file) this
        process may not write: read-only commands still work there; writes fail with
        "attempt to write a readonly database". None when that is not the case."""
        if not self.path.is_file() or (
            os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK)
        ):
            return None
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        for suffix in ("", "&immutable=1"):  # WAL needs a -shm file it may not create
            try:
                conn = sqlite3.connect(
                    uri + suffix,
                    uri=True,
                    isolation_level=None,
                    check_same_thread=False,
                    factory=ReadOnlyConnection,
                )
                conn.data_dir = self.path.parent
                conn.create_function("REGEXP", 2, _sql_regexp, deterministic=True)
                like_any.install(conn)
                app_id = conn.execute("PRAGMA application_id").fetchone()[0]
                version = conn.execute("PRAGMA user_version").fetchone()[0]
            except sqlite3.Error:
                continue
            if app_id == APPLICATION_ID and version == SCHEMA_VERSION:
                self.read_only = True
                return conn
            conn.close()
            if app_id == APPLICATION_ID and version < SCHEMA_VERSION:
                raise StoreUnavailable(
                    f"{self.path}: store schema version {version} is older than this citysoc "
                    f"reads ({SCHEMA_VERSION}) and cannot be upgraded here (read-only): run "
                    "`soc doctor` once where it can be written"
                )
            return None
        return None

    def _check_and_migrate(self, conn: sqlite3.Connection) -> None:
        # Everything is read and changed inside one write transaction, so a second process
        # opening a new file at the same moment waits, then sees a finished store.
        conn.execute("BEGIN IMMEDIATE")
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if app_id != APPLICATION_ID and (app_id != 0 or tables):
                raise StoreUnavailable(
                    f"{self.path}: is a SQLite database but not a citysoc store "
                    "(move it away or choose another --data-dir)"
                )
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreUnavailable(
                    f"{self.path}: store schema version {version} is newer than this citysoc "
                    f"understands ({SCHEMA_VERSION}); upgrade citysoc"
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[target](conn)
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {target}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            conn.close()
            raise

    def _load_columns(self) -> None:
        rows = self._conn.execute(f"PRAGMA table_info({EVENTS_TABLE})").fetchall()
        self._columns = {row[1].lower(): row[1] for row in rows}

    # --- helpers --------------------------------------------------------------------------
    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:  # a failed COMMIT leaves it open too
                    self._conn.execute("ROLLBACK")
                raise

    def _run_query(self, build: Callable[[], tuple[str, list[Any]]]) -> list[tuple[Any, ...]]:
        """Run a read query; add columns that the query names but the table lacks."""
        for _ in range(64):
            sql, params = build()
            try:
                with self._lock:
                    return self._conn.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                missing = _MISSING_COLUMN.search(str(exc))
                if not missing or missing.group(1).lower() in self._columns:
                    raise QueryError(f"local store rejected the query: {exc}") from None
                with self._transaction():
                    self._load_columns()
                    self._ensure_columns([missing.group(1)], {})
                if missing.group(1).lower() not in self._columns:
                    raise QueryError(
                        f"local store cannot query field {missing.group(1)!r}: the events "
                        f"table is at SQLite's column limit ({MAX_FIELD_COLUMNS} fields)"
                    ) from None
            except sqlite3.Error as exc:
                raise QueryError(f"local store rejected the query: {exc}") from None
        raise QueryError("local store rejected the query: too many unknown fields")

    def _where(
        self,
        query: str | None,
        filters: Mapping[str, Any] | None,
        start: datetime | None,
        end: datetime | None,
    ) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if query and query.strip():
            clauses.append(f"({query})")
        for name, value in (filters or {}).items():
            column = _quote(self._columns.get(name.lower(), name))
            if isinstance(value, list | tuple | set | frozenset):
                values = [_column_value(v) for v in value]
                if not values:
                    clauses.append("0")
                    continue
                clauses.append(f"{column} IN ({', '.join('?' for _ in values)})")
                params.extend(values)
            elif value is None:
                clauses.append(f"{column} IS NULL")
            else:
                clauses.append(f"{column} = ?")
                params.append(_column_value(value))
        if start is not None:
            clauses.append("_ts >= ?")
            params.append(_epoch_us(start))
        if end is not None:
            clauses.append("_ts < ?")
            params.append(_epoch_us(end))
        return clauses, params

    # --- events ---------------------------------------------------------------------------
    def search(
        self,
        query: str | None = None,
        *,
        filters: Mapping[str, Any] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        ascending: bool = True,
        size: int = 100,
        after: tuple[Any, ...] | None = None,
    ) -> SearchPage:
        """Matching events ordered by (@timestamp, id); ``after`` continues a previous page."""

        def build() -> tuple[str, list[Any]]:
            clauses, params = self._where(query, filters, start, end)
            if after is not None:
                clauses.append("(_ts, _id) > (?, ?)" if ascending else "(_ts, _id) < (?, ?)")
                params.extend(after)
            where = " AND ".join(clauses) or "1"
            order = "ASC" if ascending else "DESC"
            sql = (
                f"SELECT _id, _ts, {DOCUMENT_SQL} FROM {EVENTS_TABLE} WHERE {where} "
                f"ORDER BY _ts {order}, _id {order} LIMIT ?"
            )
            return sql, [*params, size]

        rows = self._run_query(build)
        hits = [Hit(id=r[0], source=stored_document(*r[2:5]), sort=(r[1], r[0])) for r in rows]
        next_after = hits[-1].sort if len(hits) == size and hits else None
        return SearchPage(hits=hits, next_after=next_after)

    def count(
        self,
        query: str | None = None,
        *,
        filters: Mapping[str, Any] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> int:
        """How many events match."""

        def build() -> tuple[str, list[Any]]:
            clauses, params = self._where(query, filters, start, end)
            where = " AND ".join(clauses) or "1"
            return f"SELECT count(*) FROM {EVENTS_TABLE} WHERE {where}", params

        return int(self._run_query(build)[0][0])

    def terms(
        self,
        fields: Sequence[str],
        query: str | None = None,
        *,
        filters: Mapping[str, Any] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        size: int = 10,
    ) -> list[Bucket]:
        """Most frequent value combinations of ``fields``, largest first, ties by key."""
        if not fields:
            raise ValueError("terms() needs at least one field")

        def build() -> tuple[str, list[Any]]:
            clauses, params = self._where(query, filters, start, end)
            columns = [_quote(self._columns.get(f.lower(), f)) for f in fields]
            clauses.extend(f"{c} IS NOT NULL" for c in columns)
            where = " AND ".join(clauses)
            group = ", ".join(columns)
            sql = (
                f"SELECT {group}, count(*) AS n FROM {EVENTS_TABLE} WHERE {where} "
                f"GROUP BY {group} ORDER BY n DESC, {group} LIMIT ?"
            )
            return sql, [*params, size]

        return [Bucket(key=tuple(r[:-1]), count=int(r[-1])) for r in self._run_query(build)]

    def date_histogram(
        self,
        interval_seconds: int,
        query: str | None = None,
        *,
        filters: Mapping[str, Any] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[tuple[datetime, int]]:
        """Event counts per fixed UTC interval, oldest first, empty buckets omitted."""
        if interval_seconds <= 0:
            raise ValueError("interval_seconds must be positive")
        width = interval_seconds * 1_000_000

        def build() -> tuple[str, list[Any]]:
            clauses, params = self._where(query, filters, start, end)
            where = " AND ".join(clauses) or "1"
            sql = (
                f"SELECT (_ts - (((_ts % ?) + ?) % ?)) AS bucket, count(*) FROM {EVENTS_TABLE} "
                f"WHERE {where} GROUP BY bucket ORDER BY bucket"
            )
            return sql, [width, width, width, *params]

        return [(_from_epoch_us(int(r[0])), int(r[1])) for r in self._run_query(build)]

    def get_event(self, event_id: str) -> dict[str, Any] | None:
        """One event by id, or None."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {DOCUMENT_SQL} FROM {EVENTS_TABLE} WHERE _id = ?", (event_id,)
            ).fetchone()
        return stored_document(*row) if row else None

    # --- housekeeping ---------------------------------------------------------------------
    def drop_pivot_indexes(self) -> None:
        """Drop the indexes that only an analyst's searches use (event.action, source.ip,
        user.name, host.name), for a store that lives for one hunt and is then deleted:
        each costs every stored event an index insert, made while the event holds the
        store's one write lock, and detection never reads them. Searches still answer the
        same, reading more rows."""
        with self._transaction() as conn:
            drop_pivot_indexes(conn)

    def refresh(self) -> None:
        """See what other connections wrote: SQLite shows committed rows at once; the
        columns that other processes added are read again."""
        with self._lock:
            self._load_columns()

    def info(self) -> dict[str, Any]:
        """Kind, file, versions and counts, for `soc doctor`."""
        with self._lock:
            events = self._conn.execute(f"SELECT count(*) FROM {EVENTS_TABLE}").fetchone()[0]
            counts = dict(
                self._conn.execute("SELECT kind, count(*) FROM records GROUP BY kind").fetchall()
            )
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        return {
            "store": self.kind,
            "path": str(self.path),
            "reachable": True,
            "sqlite_version": sqlite3.sqlite_version,
            "schema_version": version,
            "events": events,
            "alerts": counts.get("alerts", 0),
            "cases": counts.get("cases", 0),
            "audit_records": counts.get("audit", 0),
            "field_columns": len(self._columns) - len(_INTERNAL_COLUMNS),
            "size_bytes": self.path.stat().st_size if self.path.exists() else 0,
        }

    def close(self) -> None:
        """Close the SQLite connections."""
        with self._lock:
            self._close_scan_reader()
            self._conn.close()
