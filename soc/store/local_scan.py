"""One pass of many rules over the local store: the scan behind grouped detection.

``scan_rules`` reads the events of one subset (a log-source condition, a time range) once and
evaluates every rule query of a group on each row in the same SQL statement, instead of one
full query per rule. It streams the matching rows, oldest first, on a connection of its own
(WAL readers never block writers), so the caller may write alerts while it iterates and
memory stays bounded by one fetch. Mixed into LocalStore.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from soc.store.base import Hit, QueryError

#: Rows fetched from SQLite at a time while a scan streams.
SCAN_FETCH = 500


class LocalScan:
    """The ``scan_rules`` method of LocalStore."""

    path: Path
    _run_query: Callable[[Callable[[], tuple[str, list[Any]]]], list[tuple[Any, ...]]]
    _where: Callable[..., tuple[list[str], list[Any]]]
    _reader_setup: Callable[[sqlite3.Connection], None]

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
        flags = ", ".join(f"coalesce(({q}), 0)" for q in queries)
        any_match = " OR ".join(f"({q})" for q in queries)
        clauses.append(f"({any_match})")
        sql = (
            f"SELECT _id, _ts, _doc, {flags} FROM events WHERE {' AND '.join(clauses)} "
            "ORDER BY _ts, _id"
        )
        # Prepared once through _run_query: it adds the columns the queries name that no event
        # has had yet (they then match nothing) and turns a rejected query into QueryError.
        self._run_query(lambda: (f"{sql} LIMIT 0", params))
        try:
            reader = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise QueryError(f"local store cannot open a reader: {exc}") from None
        try:
            self._reader_setup(reader)
            cursor = reader.execute(sql, params)
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
            reader.close()
