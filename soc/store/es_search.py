"""Event reads of the Elasticsearch store (mixed into ElasticStore): search, count, terms,
date histogram and get_event over the events alias.

Queries are Lucene ``query_string`` text (what pySigma's Lucene backend produces); the
exact-match ``filters`` become term queries, which apply the lowercase normalizer like the
local store's NOCASE columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from elastic_transport import TlsError
from elasticsearch import ApiError, AuthenticationException, AuthorizationException

from soc import ecs
from soc.store import es_wildcard
from soc.store.base import Bucket, Hit, QueryError, SearchPage, StoreError
from soc.store.es_util import as_list, error_reason, sort_value

if TYPE_CHECKING:
    from soc.store.elastic import ElasticStore

#: Largest page the server returns in one search (index.max_result_window default).
MAX_PAGE = 10_000
#: Composite aggregation page size (buckets per request; below search.max_buckets).
COMPOSITE_PAGE = 5_000
#: Private field holding the token of the bulk request that wrote a document (es_write).
BULK_TOKEN_FIELD = "soc_bulk"


class EventReads:
    """_query, _search, _source, search, count, terms, date_histogram and get_event."""

    # --- events ---------------------------------------------------------------------------
    def _query(
        self: ElasticStore,
        query: str | None,
        filters: Mapping[str, Any] | None,
        start: datetime | None,
        end: datetime | None,
    ) -> dict[str, Any]:
        clauses: list[dict[str, Any]] = []
        exclusions: list[dict[str, Any]] = []
        if query and query.strip():
            if self.layout.wildcard_copies:
                query = es_wildcard.rewrite(query)
            clauses.append({"query_string": {"query": query}})
        for name, value in (filters or {}).items():
            values = as_list(value)
            if values is not None:
                if not values:
                    return {"bool": {"must_not": {"match_all": {}}}}
                clauses.append({"terms": {name: values}})
            elif value is None:
                exclusions.append({"exists": {"field": name}})
            else:
                clauses.append({"term": {name: value}})
        if start is not None or end is not None:
            bounds: dict[str, str] = {}
            if start is not None:
                bounds["gte"] = ecs.format_timestamp(start)
            if end is not None:
                bounds["lt"] = ecs.format_timestamp(end)
            clauses.append({"range": {"@timestamp": bounds}})
        if not clauses and not exclusions:
            return {"match_all": {}}
        return {"bool": {"filter": clauses, "must_not": exclusions}}

    def _search(self: ElasticStore, what: str, **body: Any) -> dict[str, Any]:
        """A search on the events alias; a query the server refuses raises QueryError."""
        try:
            return self._call(
                what,
                lambda: self._client.search(
                    index=self.events_alias,
                    ignore_unavailable=True,
                    allow_no_indices=True,
                    **body,
                ),
            ).body
        except (AuthenticationException, AuthorizationException, TlsError) as exc:
            raise self._unavailable(exc) from None
        except ApiError as exc:
            if exc.meta.status == 400:
                raise QueryError(
                    f"Elasticsearch rejected the query: {error_reason(exc.body, 'bad query')}"
                ) from None
            raise StoreError(
                f"Elasticsearch at {self.display_url}: {what}: {self._cause(exc)}"
            ) from None

    @staticmethod
    def _source(hit: Mapping[str, Any]) -> dict[str, Any]:
        """The document as written: without the id copy the store added."""
        source = dict(hit.get("_source") or {})
        source.pop(BULK_TOKEN_FIELD, None)
        source.pop(es_wildcard.COPY_ROOT, None)
        section = source.get("event")
        if isinstance(section, dict) and section.get("id") == hit.get("_id"):
            section = {k: v for k, v in section.items() if k != "id"}
            if section:
                source["event"] = section
            else:
                del source["event"]
        return source

    def search(
        self: ElasticStore,
        query: str | None = None,
        *,
        filters: Mapping[str, Any] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        ascending: bool = True,
        size: int = 100,
        after: tuple[Any, ...] | None = None,
    ) -> SearchPage:
        """Matching events ordered by (@timestamp, id), at most ``size`` (capped at 10,000)
        per page; ``after`` (a previous page's next_after) continues with search_after, so
        there is no limit on depth. A query the server rejects raises QueryError."""
        size = max(1, min(int(size), MAX_PAGE))
        order = "asc" if ascending else "desc"
        body: dict[str, Any] = {
            "query": self._query(query, filters, start, end),
            "sort": [
                {"@timestamp": {"order": order, "unmapped_type": "date_nanos"}},
                {"event.id": {"order": order, "unmapped_type": "keyword"}},
            ],
            "size": size,
            "track_total_hits": False,
        }
        if after is not None:
            body["search_after"] = list(after)
        response = self._search("search", **body)
        hits = [
            Hit(id=str(h["_id"]), source=self._source(h), sort=tuple(h.get("sort") or ()))
            for h in response.get("hits", {}).get("hits", [])
        ]
        next_after = hits[-1].sort if hits and len(hits) == size else None
        return SearchPage(hits=hits, next_after=next_after)

    def count(
        self: ElasticStore,
        query: str | None = None,
        *,
        filters: Mapping[str, Any] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> int:
        """How many events the same arguments as search() would return in total."""
        try:
            response = self._call(
                "count",
                lambda: self._client.count(
                    index=self.events_alias,
                    ignore_unavailable=True,
                    allow_no_indices=True,
                    query=self._query(query, filters, start, end),
                ),
            ).body
        except (AuthenticationException, AuthorizationException, TlsError) as exc:
            raise self._unavailable(exc) from None
        except ApiError as exc:
            if exc.meta.status == 400:
                raise QueryError(
                    f"Elasticsearch rejected the query: {error_reason(exc.body, 'bad query')}"
                ) from None
            raise StoreError(
                f"Elasticsearch at {self.display_url}: count: {self._cause(exc)}"
            ) from None
        return int(response.get("count", 0))

    def _composite(
        self, sources: list[dict[str, Any]], query: dict[str, Any], what: str
    ) -> Iterable[tuple[dict[str, Any], int]]:
        """Every bucket of a composite aggregation, page by page."""
        after_key: dict[str, Any] | None = None
        while True:
            composite: dict[str, Any] = {"size": COMPOSITE_PAGE, "sources": sources}
            if after_key is not None:
                composite["after"] = after_key
            response = self._search(
                what, query=query, size=0, aggs={"groups": {"composite": composite}}
            )
            groups = response.get("aggregations", {}).get("groups", {})
            buckets = groups.get("buckets", [])
            for bucket in buckets:
                yield bucket["key"], int(bucket["doc_count"])
            after_key = groups.get("after_key")
            if not buckets or after_key is None or len(buckets) < COMPOSITE_PAGE:
                return

    def terms(
        self: ElasticStore,
        fields: Sequence[str],
        query: str | None = None,
        *,
        filters: Mapping[str, Any] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        size: int = 10,
    ) -> list[Bucket]:
        """The most frequent value combinations of ``fields`` among matching events that
        have all of them, largest count first (ties by key), at most ``size``. Counts are
        exact: a composite aggregation walks every combination."""
        if not fields:
            raise ValueError("terms() needs at least one field")
        names = [f"f{i}" for i in range(len(fields))]
        sources = [
            {name: {"terms": {"field": field}}} for name, field in zip(names, fields, strict=True)
        ]
        buckets = [
            Bucket(key=tuple(key[n] for n in names), count=count)
            for key, count in self._composite(
                sources, self._query(query, filters, start, end), "terms aggregation"
            )
        ]
        buckets.sort(key=lambda b: (-b.count, tuple(sort_value(v) for v in b.key)))
        return buckets[: max(0, size)]

    def date_histogram(
        self: ElasticStore,
        interval_seconds: int,
        query: str | None = None,
        *,
        filters: Mapping[str, Any] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[tuple[datetime, int]]:
        """Event counts per fixed UTC interval (bucket starts are multiples of the interval
        since the epoch), oldest first, empty buckets omitted."""
        if interval_seconds <= 0:
            raise ValueError("interval_seconds must be positive")
        sources = [
            {
                "t": {
                    "date_histogram": {
                        "field": "@timestamp",
                        "fixed_interval": f"{int(interval_seconds)}s",
                    }
                }
            }
        ]
        rows = [
            (datetime.fromtimestamp(int(key["t"]) / 1000, UTC), count)
            for key, count in self._composite(
                sources, self._query(query, filters, start, end), "date histogram"
            )
            if count
        ]
        rows.sort(key=lambda row: row[0])
        return rows

    def get_event(self: ElasticStore, event_id: str) -> dict[str, Any] | None:
        """One event by id, or None."""
        response = self._search(
            "get event", query={"ids": {"values": [event_id]}}, size=1, track_total_hits=False
        )
        hits = response.get("hits", {}).get("hits", [])
        return self._source(hits[0]) if hits else None
