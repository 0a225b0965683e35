"""What alert lists and reports ask of the Elasticsearch store (mixed into ElasticStore):
records filtered by a date range and a limit *in the query*, and events fetched by id a page
at a time, instead of reading every record and one search per event id.

Record timestamps (``first_seen``, ``last_seen``, ``created``...) are stored as formatted
UTC strings (soc.ecs.format_timestamp), exact keywords in record indices; their text order
is their time order, so a ``range`` query on them is a date range.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from soc.store.base import RecordKind
from soc.store.es_records import record_clauses
from soc.store.es_search import MAX_PAGE as PAGE

if TYPE_CHECKING:
    from soc.store.elastic import ElasticStore


def _between_clauses(
    filters: Mapping[str, Any] | None, field: str, start: str | None, end: str | None
) -> list[dict[str, Any]] | None:
    """The filter clauses of records whose fields equal ``filters`` and whose ``field`` is in
    ``[start, end)``; None when the filters can match nothing."""
    clauses = record_clauses(filters)
    if clauses is None:
        return None
    bounds: dict[str, str] = {}
    if start is not None:
        bounds["gte"] = start
    if end is not None:
        bounds["lt"] = end
    if bounds:
        clauses.append({"range": {field: bounds}})
    return clauses


class RecordQueries:
    """list_records_between and get_events for ElasticStore."""

    def list_records_between(
        self: ElasticStore,
        kind: RecordKind,
        *,
        field: str,
        start: str | None = None,
        end: str | None = None,
        filters: Mapping[str, Any] | None = None,
        descending: bool = True,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Records whose top-level ``field`` (a formatted timestamp) is in ``[start, end)``
        (either bound optional) and whose fields equal ``filters`` (a list means "any of"),
        ordered by ``field`` (ties by id), at most ``limit``: the range, filters, order and
        limit are all in the server's query, one search per 10,000 records returned."""
        clauses = _between_clauses(filters, field, start, end)
        if clauses is None:
            return []
        return self._list_sorted(kind, clauses, field, descending, limit)

    def count_records_between(
        self: ElasticStore,
        kind: RecordKind,
        *,
        field: str,
        start: str | None = None,
        end: str | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> int:
        """How many records list_records_between would return with no limit: one ``_count``
        request with the same range and filters."""
        clauses = _between_clauses(filters, field, start, end)
        if clauses is None:
            return 0
        index = self._record_index(kind)
        query = {"bool": {"filter": clauses}} if clauses else {"match_all": {}}
        self._refresh_records(index)
        response = self._call(
            f"counting {kind}",
            lambda: self._client.count(
                index=index, ignore_unavailable=True, allow_no_indices=True, query=query
            ),
        ).body
        return int(response.get("count", 0))

    def get_events(self: ElasticStore, event_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored events among ``event_ids`` (id -> document), with one ``ids`` search
        per 10,000 ids over the events alias (an ``_mget`` cannot span the alias's indices);
        missing ids are absent."""
        wanted = list(dict.fromkeys(str(i) for i in event_ids))
        found: dict[str, dict[str, Any]] = {}
        for first in range(0, len(wanted), PAGE):
            page = wanted[first : first + PAGE]
            response = self._search(
                "reading events by id",
                query={"ids": {"values": page}},
                size=len(page),
                track_total_hits=False,
            )
            for hit in response.get("hits", {}).get("hits", []):
                found[str(hit["_id"])] = self._source(hit)
        return found
