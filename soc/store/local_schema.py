"""The embedded store's schema: the tables a new store file gets, the steps that bring an
older file up to date, and new event columns appended in one schema change.

The events table starts with the internal columns (``_id``, ``_ts``, ``_doc``) and the
indexed ECS fields; soc.store.local_writes adds a column for every other field path as events
bring it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping

from soc.store.local_documents import ORIGINAL_APART, ORIGINAL_FIELD
from soc.store.local_records import migrate_records_v3
from soc.store.local_scan import quote_identifier

EVENTS_TABLE = "events"
#: Columns created with the table so that common filters have indexes from the start.
INDEXED_FIELDS = ("event.dataset", "event.action", "source.ip", "user.name", "host.name")
#: The indexes of INDEXED_FIELDS after ``event.dataset``: they serve an analyst's searches
#: (by action, source address, user, host), never a rule group's log-source condition
#: (dataset, channel, event id). See drop_pivot_indexes.
PIVOT_INDEXES = tuple(f"events_f{i}" for i in range(1, len(INDEXED_FIELDS)))
#: Windows rules select by channel and event id first (schema version 2).
WINDOWS_INDEXED = (
    ("winlog.event_id", "NUMERIC COLLATE NOCASE"),
    ("winlog.channel", "TEXT COLLATE NOCASE"),
)


def create_schema(conn: sqlite3.Connection) -> None:
    """Schema version 1: the events table with its time and ECS field indexes, and the
    records table."""
    indexed = ", ".join(f"{quote_identifier(f)} TEXT COLLATE NOCASE" for f in INDEXED_FIELDS)
    conn.execute(
        f"CREATE TABLE {EVENTS_TABLE} (_id TEXT PRIMARY KEY, _ts INTEGER NOT NULL, "
        f'_doc TEXT NOT NULL, "@timestamp" TEXT, {indexed})'
    )
    conn.execute(f"CREATE INDEX events_ts ON {EVENTS_TABLE} (_ts, _id)")
    conn.execute(
        "CREATE TABLE records (kind TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL, "
        "PRIMARY KEY (kind, id))"
    )
    for i, name in enumerate(INDEXED_FIELDS):
        column = quote_identifier(name)
        conn.execute(f"CREATE INDEX events_f{i} ON {EVENTS_TABLE} ({column}, _ts)")


def index_windows_fields(conn: sqlite3.Connection) -> None:
    """Schema version 2: indexes on the Windows channel and event id; without them each of
    thousands of rules scans the table. Events may have added the columns already."""
    present = {row[1].lower() for row in conn.execute(f"PRAGMA table_info({EVENTS_TABLE})")}
    for i, (name, sql_type) in enumerate(WINDOWS_INDEXED):
        column = quote_identifier(name)
        if name.lower() not in present:
            conn.execute(f"ALTER TABLE {EVENTS_TABLE} ADD COLUMN {column} {sql_type}")
        conn.execute(f"CREATE INDEX events_w{i} ON {EVENTS_TABLE} ({column}, _ts)")


def drop_pivot_indexes(conn: sqlite3.Connection) -> None:
    """Drop PIVOT_INDEXES (caller holds the write lock). Queries answer the same without
    them, reading more rows."""
    for name in PIVOT_INDEXES:
        conn.execute(f"DROP INDEX IF EXISTS {name}")


def keep_original_apart(conn: sqlite3.Connection) -> None:
    """Schema version 4: a row may keep its raw record (``event.original``, often the
    largest field) once, in the field's column, instead of in its document as well; the
    internal column ORIGINAL_APART marks such rows (soc.store.local_writes). The
    ``event.original`` column is made now if no event has brought it yet, so that every
    read may select it."""
    present = {row[1].lower() for row in conn.execute(f"PRAGMA table_info({EVENTS_TABLE})")}
    if ORIGINAL_APART not in present:
        conn.execute(f"ALTER TABLE {EVENTS_TABLE} ADD COLUMN {ORIGINAL_APART} INTEGER")
    if ORIGINAL_FIELD not in present:
        column = quote_identifier(ORIGINAL_FIELD)
        conn.execute(f"ALTER TABLE {EVENTS_TABLE} ADD COLUMN {column} TEXT COLLATE NOCASE")


#: The step that brings the schema from version N-1 to N.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: create_schema,
    2: index_windows_fields,
    3: migrate_records_v3,
    4: keep_original_apart,
}


def events_table_sql(conn: sqlite3.Connection) -> str:
    """The events table's CREATE statement as the file holds it now. Reading it makes the
    connection load the schema again when another connection changed it, so that what it
    reads of the table afterwards (PRAGMA table_info) is current too."""
    row = conn.execute(
        "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?", (EVENTS_TABLE,)
    ).fetchone()
    return str(row[0]).rstrip() if row else ""


def append_columns(conn: sqlite3.Connection, table_sql: str, columns: Mapping[str, str]) -> bool:
    """Append ``columns`` (lower-cased name -> column definition, none of them in the table)
    to the events table whose CREATE statement is ``table_sql`` (events_table_sql, read in
    this transaction), in one schema change; False, with nothing changed, when SQLite
    refuses it. The caller holds the write lock.

    Each ALTER TABLE ADD COLUMN makes SQLite parse the whole schema again, so adding the
    500 columns of a first batch of Windows events one by one costs time that grows with
    the square of their number (0.2 s of CPU, holding the write lock). ADD COLUMN itself
    only appends the column's definition to the table's CREATE statement in sqlite_schema
    and bumps the schema version: existing rows are left as they are and read the new
    columns as NULL. This does the same for all the columns at once, the procedure SQLite
    documents for schema changes that leave the file's content alone ("Making Other Kinds
    Of Table Schema Changes")."""
    if not table_sql.endswith(")") or not columns:  # not a table this store made
        return False
    conn.execute("SAVEPOINT append_columns")
    try:
        version = conn.execute("PRAGMA schema_version").fetchone()[0]
        conn.execute("PRAGMA writable_schema = ON")
        try:
            conn.execute(
                "UPDATE sqlite_schema SET sql = ? WHERE type = 'table' AND name = ?",
                (f"{table_sql[:-1]}, {', '.join(columns.values())})", EVENTS_TABLE),
            )
            conn.execute(f"PRAGMA schema_version = {version + 1}")
        finally:
            conn.execute("PRAGMA writable_schema = OFF")
        present = {row[1].lower() for row in conn.execute(f"PRAGMA table_info({EVENTS_TABLE})")}
        if not present.issuperset(columns):
            raise sqlite3.OperationalError("the new columns did not appear")
    except sqlite3.Error:  # e.g. a SQLite built to refuse writes to its schema
        conn.execute("ROLLBACK TO append_columns")
        conn.execute("RELEASE append_columns")
        return False
    conn.execute("RELEASE append_columns")
    return True
