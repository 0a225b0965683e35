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

import sqlite3
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from soc import ecs
from soc.store import like_any
from soc.store.base import Bucket, Hit, QueryError, SearchPage, SearchRequest, SearchResult
from soc.store.local_documents import DOCUMENT_SQL, document_sql, stored_document
from soc.store.scan_candidates import AUTOMATON, CandidatePlan

if TYPE_CHECKING:  # the reader of literals is for conversion; scans take its output
    from soc.store.sql_literals import Need


def quote_identifier(name: str) -> str:
    """A column name quoted for SQLite (dotted ECS paths are column names)."""
    return '"' + name.replace('"', '""') + '"'


#: Rows fetched from SQLite at a time while a scan streams.
SCAN_FETCH = 500
#: Most queries evaluated by one statement (SQLite limits an expression's depth to 1000).
MAX_QUERIES_PER_SCAN = 150
#: Narrowed queries evaluated by one statement (a CASE on the query number), and most
#: (query, row) candidate pairs handed to one statement.
NARROWED_PER_STATEMENT = 64
PAIRS_PER_STATEMENT = 20_000
#: Fewest queries with literals for which the candidate pass pays: it reads every row of the
#: subset into Python once (a few microseconds a row), where SQLite evaluates a query on a
#: row in about one.
MIN_NARROWED = 8
#: Most events whose candidates the narrowed pass holds at once: a subset larger than this is
#: read in consecutive time slices of this many events of the range, so that the memory of
#: the candidate pass stays the same however much data the range holds.
SLICE_ROWS = 50_000
#: The document's columns of the events table joined as ``e``.
_JOINED_DOCUMENT = document_sql("e")


class LocalScan:
    """The batch reads of LocalStore: ``scan_rules`` (and ``prepare_queries`` for scans
    that stream side by side, ``holds_events`` to skip a group with nothing to read),
    ``search_many``, ``group_counts``."""

    path: Path
    _run_query: Callable[[Callable[[], tuple[str, list[Any]]]], list[tuple[Any, ...]]]
    _where: Callable[..., tuple[list[str], list[Any]]]
    _reader_setup: Callable[[sqlite3.Connection], None]
    _scan_reader: sqlite3.Connection | None
    _columns: dict[str, str]
    _scan_columns: tuple[int, dict[str, str]]
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
        literals: Sequence[Need] | None = None,
    ) -> Iterator[tuple[Hit, list[int]]]:
        """Every event in ``[start, end)`` matching ``prefilter`` and at least one of
        ``queries``, with the indexes of the queries it matches; each query's events come
        oldest first (by @timestamp, id), and an event matched by queries read in different
        passes comes once per pass. ``prefilter`` must be implied by each query (it only
        narrows the rows read, e.g. a shared log-source condition that indexes serve).

        ``literals`` gives, per query, the (column, text) pairs one of which an event
        matching it holds (soc.store.sql_literals.required_literals), or None. The subset is
        then (when at least MIN_NARROWED queries have them) read once for all the columns
        they name, one automaton finds which queries each event may match, and each query is
        evaluated on its candidates only. Their row ids are held in memory for at most
        SLICE_ROWS events of the range at a time. The queries without literals are evaluated
        on every row of the subset, MAX_QUERIES_PER_SCAN to a statement. A query the store
        rejects raises QueryError."""
        if not queries:
            return
        clauses, params = self._where(prefilter, filters, start, end)
        needs = [_beyond(n, prefilter) for n in literals] if literals else [None] * len(queries)
        narrowed = [i for i, need in enumerate(needs) if need]
        if not AUTOMATON or len(narrowed) < MIN_NARROWED:
            narrowed = []
        chosen = set(narrowed)
        wide = [i for i in range(len(queries)) if i not in chosen]
        # The rows of the subset first, by the indexes the prefilter names: beside the
        # rules' own conditions (a dataset every event shares, an OR of channels) SQLite
        # may otherwise pick an index that reads the whole range.
        subset = [f"rowid IN (SELECT rowid FROM events WHERE {' AND '.join(clauses)})"]
        wide_clauses = subset if prefilter and clauses else clauses
        for at in range(0, len(wide), MAX_QUERIES_PER_SCAN):
            part = wide[at : at + MAX_QUERIES_PER_SCAN]
            yield from self._scan_wide(queries, part, wide_clauses, params)
        if narrowed:
            yield from self._scan_narrowed(queries, narrowed, needs, clauses, params, start, end)

    def holds_events(
        self, prefilter: str | None, *, start: datetime | None, end: datetime | None
    ) -> bool:
        """Whether some event in ``[start, end)`` satisfies ``prefilter`` (a rule group's
        log-source condition), read on the indexes it names; True when the store cannot tell
        (a column no event has had yet), so that the group is scanned as usual."""
        clauses, params = self._where(prefilter, None, start, end)
        sql = f"SELECT 1 FROM events WHERE {' AND '.join(clauses) or '1'} LIMIT 1"
        cursor = self._scan_cursor()
        try:
            return cursor.execute(sql, params).fetchone() is not None
        except sqlite3.Error:
            return True
        finally:
            cursor.close()

    def prepare_queries(self, queries: Sequence[str]) -> None:
        """Add the columns that ``queries`` name and no event has had yet (such a query
        matches nothing there), so that scans of them can then stream side by side: the
        scan connection does not see a column added while one of its statements is open.
        Raises QueryError for a query the store rejects."""
        for query in dict.fromkeys(queries):
            sql = f"SELECT 1 FROM events WHERE ({query}) LIMIT 0"
            self._run_query(lambda sql=sql: (sql, []))

    def _scan_wide(
        self, queries: Sequence[str], indexes: list[int], clauses: list[str], params: list[Any]
    ) -> Iterator[tuple[Hit, list[int]]]:
        """The rows matching any of ``indexes``' queries, every query evaluated on every row
        of the subset in one statement."""
        rewritten = [like_any.rewrite(queries[i]) for i in indexes]
        flags = ", ".join(f"coalesce(({q}), 0)" for q in rewritten)
        any_match = " OR ".join(f"({q})" for q in rewritten)
        where = " AND ".join([*clauses, f"({any_match})"])
        sql = (
            f"SELECT _id, _ts, {DOCUMENT_SQL}, {flags} FROM events WHERE {where} ORDER BY _ts, _id"
        )
        cursor = self._scan_cursor()
        try:
            self._execute_scan(cursor, sql, params)
            for row in _stream(cursor):
                yield _hit(row), [indexes[k] for k, flag in enumerate(row[5:]) if flag]
        except sqlite3.Error as exc:
            raise QueryError(f"local store rejected the query: {exc}") from None
        finally:
            cursor.close()

    def _scan_narrowed(
        self,
        queries: Sequence[str],
        indexes: list[int],
        needs: Sequence[Need],
        clauses: list[str],
        params: list[Any],
        start: datetime | None,
        end: datetime | None,
    ) -> Iterator[tuple[Hit, list[int]]]:
        """The rows matching each of ``indexes``' queries, each query evaluated only on the
        rows that satisfy its literal clauses: one statement per NARROWED_PER_STATEMENT
        queries reads its (query, row) candidates from a JSON parameter, joins each to its
        row and evaluates the query it is a candidate for (a CASE on the query number)."""
        cursor = self._scan_cursor()
        try:
            for more, more_params in self._slices(cursor, clauses, params, start, end):
                candidates = self._stable_candidates(
                    cursor, indexes, needs, [*clauses, *more], [*params, *more_params]
                )
                yield from self._evaluate(cursor, queries, candidates)
        except sqlite3.Error as exc:
            raise QueryError(f"local store rejected the query: {exc}") from None
        finally:
            cursor.close()

    def _slices(
        self,
        cursor: sqlite3.Cursor,
        clauses: list[str],
        params: list[Any],
        start: datetime | None,
        end: datetime | None,
    ) -> Iterator[tuple[list[str], list[Any]]]:
        """Clauses (and their parameters) that cut the subset into consecutive slices,
        oldest first: none when it holds at most SLICE_ROWS events, else slices of SLICE_ROWS
        events of the whole range each, bounded by (@timestamp, id) so that no event falls in
        two slices. Each bound is found on the (_ts, _id) index."""
        where = " AND ".join(clauses) or "1"
        subset = cursor.execute(f"SELECT count(*) FROM events WHERE {where}", params).fetchone()
        if subset[0] <= SLICE_ROWS:
            yield [], []
            return
        span, span_params = self._where(None, None, start, end)
        lower: list[str] = []
        lower_params: list[Any] = []
        while True:
            bound = " AND ".join([*span, *lower]) or "1"
            row = cursor.execute(
                f"SELECT _ts, _id FROM events WHERE {bound} ORDER BY _ts, _id LIMIT 1 OFFSET ?",
                [*span_params, *lower_params, SLICE_ROWS],
            ).fetchone()
            if row is None:
                yield lower, lower_params
                return
            # "_ts <= ?" beside the row value lets the indexes on (field, _ts) serve the range
            upper = ["_ts <= ?", "(_ts, _id) < (?, ?)"]
            yield [*lower, *upper], [*lower_params, row[0], row[0], row[1]]
            lower = ["_ts >= ?", "(_ts, _id) >= (?, ?)"]
            lower_params = [row[0], row[0], row[1]]

    def _evaluate(
        self, cursor: sqlite3.Cursor, queries: Sequence[str], candidates: dict[int, array[int]]
    ) -> Iterator[tuple[Hit, list[int]]]:
        """Each query evaluated on its candidate rows: its matches, oldest first."""
        for part in _statements(candidates):
            pairs = "[" + ",".join(f"[{k},{rid}]" for k in part for rid in candidates[k]) + "]"
            cases = " ".join(
                f"WHEN {k} THEN coalesce(({like_any.rewrite(queries[k])}), 0)" for k in part
            )
            sql = (
                f"SELECT e._id, e._ts, {_JOINED_DOCUMENT}, c.k FROM (SELECT "
                "json_extract(value, '$[0]') AS k, json_extract(value, '$[1]') AS rid "
                "FROM json_each(?)) AS c "
                f"JOIN events AS e ON e.rowid = c.rid WHERE CASE c.k {cases} ELSE 0 END "
                "ORDER BY c.k, e._ts, e._id"
            )
            self._execute_scan(cursor, sql, [pairs])
            for row in _stream(cursor):
                yield _hit(row), [row[5]]

    def _stable_candidates(
        self,
        cursor: sqlite3.Cursor,
        indexes: list[int],
        needs: Sequence[Need],
        clauses: list[str],
        params: list[Any],
    ) -> dict[int, array[int]]:
        """The candidates, read again if a column the literals name was added while they
        were read (columns are only ever added: one absent after the read was absent
        during it, so no row read could hold it)."""
        wanted = {
            column.lower() for i in indexes for clause in needs[i] or () for column, _ in clause
        }
        version, present = self._table_columns(cursor)
        while True:
            candidates = self._candidates(cursor, indexes, needs, present, clauses, params)
            after_version, after = self._table_columns(cursor)
            if after_version == version or not (wanted & (after.keys() - present.keys())):
                return candidates
            version, present = after_version, after

    def _table_columns(self, cursor: sqlite3.Cursor) -> tuple[int, dict[str, str]]:
        """The schema's version and the events table's columns (lower-case name -> name),
        read again only when the version changed (a table of hundreds of columns)."""
        version = cursor.execute("PRAGMA schema_version").fetchone()[0]
        known: tuple[int, dict[str, str]] | None = getattr(self, "_scan_columns", None)
        if known is not None and known[0] == version:
            return known
        rows = cursor.execute("PRAGMA table_info(events)").fetchall()
        self._scan_columns = (version, {row[1].lower(): row[1] for row in rows})
        return self._scan_columns

    def _candidates(
        self,
        cursor: sqlite3.Cursor,
        indexes: list[int],
        needs: Sequence[Need],
        present: Mapping[str, str],
        clauses: list[str],
        params: list[Any],
    ) -> dict[int, array[int]]:
        """For each query index, the rowids of the subset that satisfy all its clauses
        (soc.store.scan_candidates): the subset is read once for every column they name."""
        plan = CandidatePlan(indexes, needs, present)
        if not plan.queries:
            return {}
        selected = ", ".join(quote_identifier(c) for c in plan.columns)
        where = " AND ".join(clauses) or "1"
        cursor.execute(f"SELECT rowid, {selected} FROM events WHERE {where}", params)
        return plan.candidates(_stream(cursor))

    def _execute_scan(self, cursor: sqlite3.Cursor, sql: str, params: list[Any]) -> None:
        try:
            cursor.execute(sql, params)
        except sqlite3.OperationalError:
            # Prepared again through _run_query: it adds the columns the queries name that
            # no event has had yet (they then match nothing), or raises QueryError. Only on
            # failure, so a long statement is not compiled twice.
            self._run_query(lambda: (f"{sql} LIMIT 0", params))
            cursor.execute(sql, params)

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


def _statements(candidates: Mapping[int, Sequence[int]]) -> Iterator[list[int]]:
    """The query numbers of each narrowed statement, in order: at most
    NARROWED_PER_STATEMENT queries and, unless one query alone has more, PAIRS_PER_STATEMENT
    candidate pairs (the pairs are a statement's parameter: this bounds its size)."""
    part: list[int] = []
    pairs = 0
    for k in sorted(candidates):
        count = len(candidates[k])
        if part and (len(part) >= NARROWED_PER_STATEMENT or pairs + count > PAIRS_PER_STATEMENT):
            yield part
            part, pairs = [], 0
        part.append(k)
        pairs += count
    if part:
        yield part


def _beyond(need: Need, prefilter: str | None) -> Need:
    """``need`` without the clauses on columns that ``prefilter`` names (every row read
    satisfies those, e.g. the event id of a log source)."""
    if not need or not prefilter:
        return need
    kept = tuple(
        clause
        for clause in need
        if not all(quote_identifier(c) in prefilter or f"`{c}`" in prefilter for c, _ in clause)
    )
    return kept or None


def _hit(row: tuple[Any, ...]) -> Hit:
    """The hit of a row that starts with _id, _ts and the DOCUMENT_SQL columns."""
    return Hit(id=row[0], source=stored_document(row[2], row[3], row[4]), sort=(row[1], row[0]))


def _stream(cursor: sqlite3.Cursor) -> Iterator[tuple[Any, ...]]:
    """The rows of an executed statement, SCAN_FETCH at a time."""
    while True:
        rows = cursor.fetchmany(SCAN_FETCH)
        if not rows:
            return
        yield from rows


def _project(hit: Hit, fields: Sequence[str]) -> Hit:
    """The hit with only ``fields`` (dotted paths) of its document."""
    doc: dict[str, Any] = {}
    for path in fields:
        value = ecs.get_field(hit.source, path)
        if value is not None:
            ecs.set_field(doc, path, value)
    return Hit(id=hit.id, source=doc, sort=hit.sort)
