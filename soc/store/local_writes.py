"""The write path of the local store: events become rows of the events table, with a
column added for every field path not seen before. Mixed into LocalStore.

Value rules for the per-field columns (the JSON document always keeps the original):
- a list with one element is stored as that element; a longer list as JSON text;
- booleans are stored as 1/0; objects inside lists stay JSON text in their list's column.

SQLite treats column names case-insensitively, so paths that differ only in case share one
column. Past MAX_FIELD_COLUMNS, new fields live only in the JSON document; so do the fields
outside a store's ``column_fields`` when it has them (a hunt's scratch store, which only the
hunt's rules read: see LocalStore).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from soc import ecs, fast_json
from soc.store.base import ID_FIELD, EventFailure, StoreUnavailable, WriteResult
from soc.store.local_documents import ORIGINAL_APART, ORIGINAL_FIELD, without_original
from soc.store.local_scan import quote_identifier as _quote
from soc.store.local_schema import EVENTS_TABLE, append_columns, events_table_sql

#: SQLite allows 2000 columns per table; beyond this many, new fields live only in the JSON.
MAX_FIELD_COLUMNS = 1900

#: New columns of one batch from which they are added in one schema change instead of
#: one ALTER TABLE each (LocalWrites._add_columns_at_once).
COLUMNS_AT_ONCE = 8
#: The columns every row has before its field columns: id, time (epoch microseconds),
#: the document as JSON, and whether its raw record is kept apart (soc.store.local_documents).
INTERNAL_COLUMNS = ("_id", "_ts", "_doc", ORIGINAL_APART)

#: A prepared row: id, time, the document's JSON (without its raw record when the document
#: has one to keep apart), the flattened fields, and then the whole document (else None).
_Prepared = tuple[str, int, str, dict[str, Any], dict[str, Any] | None]
_SQL_TYPES = {
    "date": "TEXT",
    "long": "INTEGER",
    "float": "REAL",
    "ip": "TEXT COLLATE NOCASE",
    "text": "TEXT COLLATE NOCASE",
    "keyword": "TEXT COLLATE NOCASE",
}


#: The integers an SQLite column holds as integers (64-bit).
_SMALLEST_INT = -(2**63)
_LARGEST_INT = 2**63 - 1


def epoch_us(moment: datetime) -> int:
    """``moment`` in whole microseconds since the Unix epoch (the ``_ts`` column); a naive
    datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def column_value(value: Any) -> Any:
    """``value`` as its field column holds it (the value rules above); filters compare
    with this form too."""
    if isinstance(value, list):
        if len(value) == 1 and not isinstance(value[0], dict | list):
            return column_value(value[0])
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and not _SMALLEST_INT <= value <= _LARGEST_INT:
        return str(value)  # beyond SQLite's 64-bit integers; the document keeps it whole
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value


class LocalWrites:
    """The event writes of LocalStore: ``write_events``, ``write_event_groups``, and the
    columns they add."""

    path: Path
    _conn: sqlite3.Connection
    _transaction: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _load_columns: Callable[[], None]
    _columns: dict[str, str]
    _lookup: dict[str, str | None]
    _lookup_for: dict[str, str] | None
    _lookup_size: int
    _paths_with_columns: set[str]
    _column_fields: frozenset[str] | None

    def write_events(self, events: Sequence[Mapping[str, Any]]) -> WriteResult:
        """Store events by ``_id``; an id already stored is a duplicate and left as it was."""
        return self.write_event_groups([events])[0]

    def write_event_groups(
        self, groups: Sequence[Sequence[Mapping[str, Any]]]
    ) -> list[WriteResult]:
        """Store several lists of events (e.g. one per source) in one transaction, as
        write_events would one after another: a result per list. One transaction is cheaper
        for this process and for other writers than one per list."""
        results: list[WriteResult] = []
        prepared: list[list[_Prepared]] = []
        for events in groups:
            result = WriteResult()
            rows = [row for event in events if (row := self._prepare(event, result)) is not None]
            results.append(result)
            prepared.append(rows)
        if not any(prepared):
            return results
        try:
            inserted = self._insert(prepared)
        except sqlite3.OperationalError as exc:
            # Busy or locked beyond the timeout, disk full...: the batch was rolled back
            # whole, so the caller may retry it.
            raise StoreUnavailable(f"{self.path}: cannot write events: {exc}") from None
        for result, rows, count in zip(results, prepared, inserted, strict=True):
            result.stored = count
            result.duplicates = len(rows) - count
        return results

    def _insert(self, prepared: list[list[_Prepared]]) -> list[int]:
        """Insert lists of prepared rows in one transaction; how many of each were new.

        The rows are laid out by column before the write lock is taken (a field without a
        column is assumed to get one under its own name); only when a new column turns out
        otherwise (another process made it, in other case, or the column limit is reached)
        are they laid out again inside. Other writers wait less that way."""
        known = self._columns
        verified = self._paths_with_columns
        allowed = self._column_fields
        new_paths: dict[str, Any] = {}
        for rows in prepared:
            for _, _, _, flat, _ in rows:
                if not flat.keys() - verified:  # the usual case, one set operation
                    continue
                for path, value in flat.items():
                    if path in verified or path in new_paths:
                        continue
                    key = path.lower()
                    if key in known or (allowed is not None and key not in allowed):
                        verified.add(path)  # a column, or none wanted: nothing to add
                    else:
                        new_paths[path] = value
        layouts = [self._rows_by_columns(rows, new_paths) for rows in prepared]
        with self._transaction():
            if new_paths:
                self._ensure_columns(list(new_paths), new_paths)
                if any(self._columns.get(p.lower()) != p for p in new_paths):
                    layouts = [self._rows_by_columns(rows, {}) for rows in prepared]
            counts = []
            for layout in layouts:
                inserted = 0
                for names, group in layout.items():
                    column_sql = ", ".join(_quote(n) for n in (*INTERNAL_COLUMNS, *names))
                    marks = ", ".join("?" for _ in range(len(names) + len(INTERNAL_COLUMNS)))
                    cursor = self._conn.executemany(
                        f"INSERT OR IGNORE INTO {EVENTS_TABLE} ({column_sql}) VALUES ({marks})",
                        group,
                    )
                    inserted += cursor.rowcount
                counts.append(inserted)
        return counts

    def _rows_by_columns(
        self, rows: list[_Prepared], assumed: Mapping[str, Any]
    ) -> dict[tuple[str, ...], list[tuple[Any, ...]]]:
        """The rows' values grouped by their column lists; a path in ``assumed`` is taken to
        have a column of its own name. A document prepared without its raw record keeps it
        apart when the ``event.original`` column takes it from that very path; otherwise
        the whole document is written."""
        column_of = self._column_lookup()
        # Events of one kind have the same paths in the same order: their columns (and which
        # of their values go to a column; the first path of a column wins) are worked out
        # once per layout.
        layouts: dict[tuple[str, ...], tuple[tuple[str, ...], tuple[int, ...], bool]] = {}
        groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for event_id, ts, doc_json, flat, whole in rows:
            paths = tuple(flat)
            layout = layouts.get(paths)
            if layout is None:
                layout = layouts[paths] = _layout(paths, assumed, column_of)
            names, picks, holds_original = layout
            apart = None
            if whole is not None:
                if holds_original:
                    apart = 1
                else:
                    doc_json = fast_json.dumps(whole)
            values = list(flat.values())
            row: list[Any] = [event_id, ts, doc_json, apart]
            for index in picks:
                value = values[index]
                kind = type(value)
                if kind is str or (kind is int and _SMALLEST_INT <= value <= _LARGEST_INT):
                    row.append(value)
                else:
                    row.append(column_value(value))
            groups.setdefault(names, []).append(tuple(row))
        return groups

    def _column_lookup(self) -> Callable[[str], str | None]:
        """The column of a field path (None past the column limit, or outside the store's
        column_fields), memoized by exact path for as long as the known columns stay the
        same."""
        known = self._columns
        allowed = self._column_fields
        if self._lookup_for is not known or len(known) != self._lookup_size:
            self._lookup = {}
            self._lookup_for = known
            self._lookup_size = len(known)
        memo = self._lookup

        def column_of(path: str) -> str | None:
            try:
                return memo[path]
            except KeyError:
                key = path.lower()
                found = known.get(key) if allowed is None or key in allowed else None
                memo[path] = found
                return found

        return column_of

    @staticmethod
    def _prepare(event: Mapping[str, Any], result: WriteResult) -> _Prepared | None:
        event_id = event.get(ID_FIELD)
        if not event_id or not isinstance(event_id, str):
            result.failures.append(EventFailure(str(event_id), "event has no _id", event))
            return None
        doc = {k: v for k, v in event.items() if k != ID_FIELD}
        stamp = ecs.get_field(doc, "@timestamp")
        if not isinstance(stamp, str):
            result.failures.append(EventFailure(event_id, "event has no @timestamp", event))
            return None
        try:
            ts = epoch_us(ecs.parse_timestamp(stamp))
        except ValueError:
            result.failures.append(
                EventFailure(event_id, f"@timestamp is not a date: {stamp!r}", event)
            )
            return None
        slim = without_original(doc)
        try:
            doc_json = fast_json.dumps(doc if slim is None else slim)
        except (TypeError, ValueError) as exc:
            result.failures.append(EventFailure(event_id, f"not JSON: {exc}", event))
            return None
        return event_id, ts, doc_json, ecs.flatten(doc), None if slim is None else doc

    def _ensure_columns(self, paths: Sequence[str], sample: Mapping[str, Any]) -> None:
        """Add a column for every path not yet known (caller holds the write lock)."""
        if len(paths) >= COLUMNS_AT_ONCE and self._add_columns_at_once(paths, sample):
            return
        for path in paths:
            if path.lower() in self._columns:
                continue
            if len(self._columns) >= MAX_FIELD_COLUMNS + len(INTERNAL_COLUMNS):
                continue
            sql_type = self._sql_type(path, sample.get(path))
            try:
                self._conn.execute(
                    f"ALTER TABLE {EVENTS_TABLE} ADD COLUMN {_quote(path)} {sql_type}"
                )
            except sqlite3.OperationalError as exc:
                if "duplicate column" not in str(exc):
                    raise
                self._load_columns()  # another process added it meanwhile
                continue
            self._columns[path.lower()] = path

    def _add_columns_at_once(self, paths: Sequence[str], sample: Mapping[str, Any]) -> bool:
        """Add the columns of every path not yet known in one schema change
        (soc.store.local_schema.append_columns); False, with nothing changed, when SQLite
        refuses it (the caller then adds them one by one). Caller holds the write lock."""
        table_sql = events_table_sql(self._conn)  # first: the columns read next are current
        self._load_columns()
        additions: dict[str, str] = {}  # lower-cased name -> column definition
        room = MAX_FIELD_COLUMNS + len(INTERNAL_COLUMNS) - len(self._columns)
        for path in paths:
            key = path.lower()
            if key in self._columns or key in additions or len(additions) >= room:
                continue
            additions[key] = f"{_quote(path)} {self._sql_type(path, sample.get(path))}"
        if not additions:
            return True
        added = append_columns(self._conn, table_sql, additions)
        self._load_columns()
        return added

    @staticmethod
    def _sql_type(path: str, value: Any) -> str:
        declared = ecs.field_type(path)
        if declared != "keyword":
            return _SQL_TYPES.get(declared, "TEXT COLLATE NOCASE")
        if isinstance(value, bool | int | float):
            return "NUMERIC COLLATE NOCASE"
        return "TEXT COLLATE NOCASE"


def _layout(
    paths: tuple[str, ...], assumed: Mapping[str, Any], column_of: Callable[[str], str | None]
) -> tuple[tuple[str, ...], tuple[int, ...], bool]:
    """The columns an event with these field paths fills, the index of the path whose
    value each one takes (the first path of a column; a path in ``assumed`` is taken to
    have a column of its own name, a path without a column is left to the document), and
    whether the ``event.original`` column takes the value of the path ``event.original``."""
    names: dict[str, int] = {}
    holds_original = False
    for index, path in enumerate(paths):
        column = path if path in assumed else column_of(path)
        if column is not None and column not in names:
            names[column] = index
            holds_original = holds_original or path == ORIGINAL_FIELD
    return tuple(names), tuple(names.values()), holds_original
