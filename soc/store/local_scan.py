"""Batch reads of the local store: many rules in one pass (the scan behind grouped
detection), many searches at once, and group counts for correlation candidates.

``scan_rules`` reads the events of one subset (a log-source condition, a time range) once and
evaluates every rule query of a group on each row in the same SQL statement, instead of one
full query per rule. It streams the matching rows, oldest first, on a connection of its own
(WAL readers never block writers; the connection is kept for the next scans, with its page
cache), so the caller may write alerts while it iterates and
memory stays bounded by one fetch. Mixed into LocalStore.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from soc import ecs
from soc.store import like_any
from soc.store.base import Bucket, Hit, QueryError, SearchPage, SearchRequest, SearchResult


def quote_identifier(name: str) -> str:
    """A column name quoted for SQLite (dotted ECS paths are column names)."""
    return '"' + name.replace('"', '""') + '"'


#: Rows fetched from SQLite at a time while a scan streams.
SCAN_FETCH = 500


class LocalScan:
    """The batch reads of LocalStore: ``scan_rules``, ``search_many``, ``group_counts``."""

    path: Path
    _run_query: Callable[[Callable[[], tuple[str, list[Any]]]], list[tuple[Any, ...]]]
    _where: Callable[..., tuple[list[str], list[Any]]]
    _reader_setup: Callable[[sqlite3.Connection], None]
    _scan_reader: sqlite3.Connection | None
    _columns: dict[str, str]
    search: Callable[..., SearchPage]
    count: Callable[..., int]

    def scan_rules(
        self,
        queries: Sequence[str],
        *,
        prefilter: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> Iterator[tuple[Hit, list[int]]]:
        """Every event in ``[start, end)`` matching ``prefilter`` and at least one of
        ``queries``, oldest first (by @timestamp, id), with the indexes of the queries it
        matches. ``prefilter`` must be implied by each query (it only narrows the rows read,
        e.g. a shared log-source condition that indexes serve). A query the store rejects
        raises QueryError before the first row."""
        if not queries:
            return
        clauses, params = self._where(prefilter, filters, start, end)
        queries = [like_any.rewrite(q) for q in queries]
        flags = ", ".join(f"coalesce(({q}), 0)" for q in queries)
        any_match = " OR ".join(f"({q})" for q in queries)
        clauses.append(f"({any_match})")
        sql = (
            f"SELECT _id, _ts, _doc, {flags} FROM events WHERE {' AND '.join(clauses)} "
            "ORDER BY _ts, _id"
        )
        cursor = self._scan_cursor()
        try:
            try:
                cursor.execute(sql, params)
            except sqlite3.OperationalError:
                # Prepared again through _run_query: it adds the columns the queries name that
                # no event has had yet (they then match nothing), or raises QueryError. Only
                # on failure, so a long statement is not compiled twice.
                self._run_query(lambda: (f"{sql} LIMIT 0", params))
                cursor.execute(sql, params)
            while True:
                rows = cursor.fetchmany(SCAN_FETCH)
                if not rows:
                    return
                for row in rows:
                    matched = [i for i, flag in enumerate(row[3:]) if flag]
                    hit = Hit(id=row[0], source=json.loads(row[2]), sort=(row[1], row[0]))
                    yield hit, matched
        except sqlite3.Error as exc:
            raise QueryError(f"local store rejected the query: {exc}") from None
        finally:
            cursor.close()

    def _scan_cursor(self) -> sqlite3.Cursor:
        """A cursor on the store's scan connection, opened on first use and kept, so that
        its page cache serves the next scans over the same subsets."""
        reader: sqlite3.Connection | None = getattr(self, "_scan_reader", None)
        if reader is None:
            try:
                reader = sqlite3.connect(
                    self.path, timeout=30.0, isolation_level=None, check_same_thread=False
                )
                self._reader_setup(reader)
            except sqlite3.Error as exc:
                raise QueryError(f"local store cannot open a reader: {exc}") from None
            self._scan_reader = reader
        return reader.cursor()

    def _close_scan_reader(self) -> None:
        reader: sqlite3.Connection | None = getattr(self, "_scan_reader", None)
        if reader is not None:
            reader.close()
            self._scan_reader = None

    def search_many(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        """One result per request, in order: its page (hits with only the requested fields)
        and the exact total. A rejected query raises QueryError naming its index."""
        results: list[SearchResult] = []
        for answer in self.search_each(requests):
            if isinstance(answer, QueryError):
                raise answer
            results.append(answer)
        return results

    def search_each(self, requests: Sequence[SearchRequest]) -> list[SearchResult | QueryError]:
        """As search_many, but a rejected query takes its place in the answers as a
        QueryError naming its index, and the other requests are still answered."""
        results: list[SearchResult | QueryError] = []
        for index, request in enumerate(requests):
            try:
                total = self.count(
                    request.query, filters=request.filters, start=request.start, end=request.end
                )
                page = SearchPage(hits=[], next_after=None)
                if request.size > 0:
                    page = self.search(
                        request.query,
                        filters=request.filters,
                        start=request.start,
                        end=request.end,
                        size=request.size,
                        after=request.after,
                    )
                    if request.fields is not None:
                        page = SearchPage(
                            hits=[_project(h, request.fields) for h in page.hits],
                            next_after=page.next_after,
                        )
            except QueryError as exc:
                results.append(QueryError(f"search {index} of the batch: {exc}"))
                continue
            results.append(SearchResult(page=page, total=total))
        return results

    def group_counts(
        self,
        query: str | None,
        group_by: Sequence[str],
        *,
        start: datetime | None,
        end: datetime | None,
        distinct_field: str | None = None,
        min_count: int = 1,
    ) -> list[Bucket]:
        """Every group of ``group_by`` values (events having them all) whose event count, or
        distinct count of ``distinct_field``, is at least ``min_count``; ordered by key."""
        if not group_by:
            raise ValueError("group_counts() needs at least one group-by field")

        def build() -> tuple[str, list[Any]]:
            clauses, params = self._where(query, None, start, end)
            columns = [quote_identifier(self._columns.get(f.lower(), f)) for f in group_by]
            clauses.extend(f"{c} IS NOT NULL" for c in columns)
            measure = "count(*)"
            if distinct_field is not None:
                name = self._columns.get(distinct_field.lower(), distinct_field)
                counted = quote_identifier(name)
                measure = f"count(DISTINCT {counted})"
            group = ", ".join(columns)
            sql = (
                f"SELECT {group}, {measure} AS n FROM events "
                f"WHERE {' AND '.join(clauses)} GROUP BY {group} HAVING n >= ? ORDER BY {group}"
            )
            return sql, [*params, min_count]

        return [Bucket(key=tuple(r[:-1]), count=int(r[-1])) for r in self._run_query(build)]


def _project(hit: Hit, fields: Sequence[str]) -> Hit:
    """The hit with only ``fields`` (dotted paths) of its document."""
    doc: dict[str, Any] = {}
    for path in fields:
        value = ecs.get_field(hit.source, path)
        if value is not None:
            ecs.set_field(doc, path, value)
    return Hit(id=hit.id, source=doc, sort=hit.sort)
