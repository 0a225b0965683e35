"""Records (alerts, cases, audit entries, scheduler state) of the Elasticsearch store, one
document per record id in ``<prefix>-<kind>`` (mixed into ElasticStore)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from elasticsearch import (
    ApiError,
    AuthenticationException,
    AuthorizationException,
    ConflictError,
    NotFoundError,
)

from soc.store.base import RecordKind, StoreError
from soc.store.es_search import MAX_PAGE
from soc.store.es_template import RECORD_ID_FIELD
from soc.store.es_util import as_list

if TYPE_CHECKING:
    from soc.store.elastic import ElasticStore


def record_clauses(filters: Mapping[str, Any] | None) -> list[dict[str, Any]] | None:
    """Query clauses for exact top-level record filters (a list value means "any of", None
    means "absent"); None when a filter can match nothing (an empty list)."""
    clauses: list[dict[str, Any]] = []
    for name, value in (filters or {}).items():
        values = as_list(value)
        if values is not None:
            if not values:
                return None
            clauses.append({"terms": {name: values}})
        elif value is None:
            clauses.append({"bool": {"must_not": {"exists": {"field": name}}}})
        else:
            clauses.append({"term": {name: value}})
    return clauses


class RecordOps:
    """put_record, get_record, update_record, upsert_record and list_records."""

    # --- records --------------------------------------------------------------------------
    @staticmethod
    def _record_body(record_id: str, record: Mapping[str, Any]) -> dict[str, Any]:
        return {**record, RECORD_ID_FIELD: record_id}

    @staticmethod
    def _record_source(source: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in source.items() if k != RECORD_ID_FIELD}

    def put_record(
        self: ElasticStore, kind: RecordKind, record_id: str, record: Mapping[str, Any]
    ) -> bool:
        """Create a record; False, changing nothing, if the id exists. get_record sees it at
        once (GET is real-time); this store's list_records refreshes the index first."""
        index = self._ensure_record_index(kind)
        try:
            self._call(
                f"creating {kind} record",
                lambda: self._client.create(
                    index=index,
                    id=record_id,
                    document=self._record_body(record_id, record),
                ),
            )
        except ConflictError:
            return False
        except ApiError as exc:
            raise self._record_error(kind, record_id, exc) from None
        self._unrefreshed.add(index)
        return True

    def _record_error(self: ElasticStore, kind: str, record_id: str, exc: ApiError) -> StoreError:
        if isinstance(exc, AuthenticationException | AuthorizationException):
            return self._unavailable(exc)
        return StoreError(
            f"Elasticsearch at {self.display_url}: {kind} record {record_id!r}: {self._cause(exc)}"
        )

    def _get_record_raw(
        self: ElasticStore, kind: RecordKind, record_id: str
    ) -> dict[str, Any] | None:
        index = self._record_index(kind)
        try:
            response = self._call(
                f"reading {kind} record", lambda: self._client.get(index=index, id=record_id)
            )
        except NotFoundError:
            return None
        except ApiError as exc:
            raise self._record_error(kind, record_id, exc) from None
        return dict(response.body)

    def get_record(self: ElasticStore, kind: RecordKind, record_id: str) -> dict[str, Any] | None:
        """A record by id, or None."""
        raw = self._get_record_raw(kind, record_id)
        if raw is None or not raw.get("found", True):
            return None
        return self._record_source(raw.get("_source") or {})

    def update_record(
        self, kind: RecordKind, record_id: str, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Merge top-level ``changes`` into an existing record (a changed field is replaced
        whole) and return the result; KeyError if there is no such record. Concurrent updates
        are serialised with optimistic concurrency control (if_seq_no/if_primary_term)."""
        index = self._record_index(kind)
        for _ in range(10):
            raw = self._get_record_raw(kind, record_id)
            if raw is None or not raw.get("found", True):
                raise KeyError(f"no {kind} record {record_id!r}")
            merged = self._record_source(raw.get("_source") or {})
            merged.update(changes)
            try:
                self._call(
                    f"updating {kind} record",
                    lambda merged=merged, raw=raw: self._client.index(
                        index=index,
                        id=record_id,
                        document=self._record_body(record_id, merged),
                        if_seq_no=raw["_seq_no"],
                        if_primary_term=raw["_primary_term"],
                    ),
                )
            except ConflictError:
                continue  # someone else changed it in between: merge again
            except ApiError as exc:
                raise self._record_error(kind, record_id, exc) from None
            self._unrefreshed.add(index)
            return merged
        raise StoreError(
            f"Elasticsearch at {self.display_url}: {kind} record {record_id!r} keeps changing "
            "under concurrent updates"
        )

    def upsert_record(
        self: ElasticStore, kind: RecordKind, record_id: str, record: Mapping[str, Any]
    ) -> None:
        """Create or replace a record (visible to this store's reads at once, like
        put_record)."""
        index = self._ensure_record_index(kind)
        try:
            self._call(
                f"writing {kind} record",
                lambda: self._client.index(
                    index=index,
                    id=record_id,
                    document=self._record_body(record_id, record),
                ),
            )
        except ApiError as exc:
            raise self._record_error(kind, record_id, exc) from None
        self._unrefreshed.add(index)

    def _refresh_records(self: ElasticStore, index: str) -> None:
        """Make this store's own record writes visible to searches of ``index``."""
        if index in self._unrefreshed:
            self._request(
                f"refreshing {index}",
                lambda: self._client.indices.refresh(index=index, ignore_unavailable=True),
            )
            self._unrefreshed.discard(index)

    def list_records(
        self: ElasticStore,
        kind: RecordKind,
        *,
        filters: Mapping[str, Any] | None = None,
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
        fresh: bool = True,
    ) -> list[dict[str, Any]]:
        """Records whose top-level fields equal every filter value (a list value means "any
        of"), ordered by a top-level field (records lacking it first when ascending, last
        when descending, as SQL orders NULLs), ties by id; all of them unless ``limit``.
        ``fresh=False``: no refresh of this store's own latest record writes first."""
        clauses = record_clauses(filters)
        if clauses is None:
            return []
        return self._list_sorted(kind, clauses, order_by, descending, limit, fresh)

    def _list_sorted(
        self: ElasticStore,
        kind: RecordKind,
        clauses: list[dict[str, Any]],
        order_by: str | None,
        descending: bool,
        limit: int | None,
        fresh: bool = True,
    ) -> list[dict[str, Any]]:
        """Records matching every clause, ordered by ``order_by`` (missing values first when
        ascending, last when descending) then id, at most ``limit``: one search per page."""
        index = self._record_index(kind)
        order = "desc" if descending else "asc"
        sort: list[dict[str, Any]] = []
        if order_by:
            sort.append(
                {
                    order_by: {
                        "order": order,
                        "missing": "_last" if descending else "_first",
                        "unmapped_type": "keyword",
                    }
                }
            )
        sort.append({RECORD_ID_FIELD: {"order": order}})
        query = {"bool": {"filter": clauses}} if clauses else {"match_all": {}}
        if fresh:
            self._refresh_records(index)
        records: list[dict[str, Any]] = []
        after: list[Any] | None = None
        while limit is None or len(records) < limit:
            page = MAX_PAGE if limit is None else min(MAX_PAGE, limit - len(records))
            body: dict[str, Any] = {"query": query, "sort": sort, "size": page}
            if after is not None:
                body["search_after"] = after
            try:
                response = self._call(
                    f"listing {kind}",
                    lambda body=body: self._client.search(
                        index=index, ignore_unavailable=True, allow_no_indices=True, **body
                    ),
                ).body
            except ApiError as exc:
                if isinstance(exc, AuthenticationException | AuthorizationException):
                    raise self._unavailable(exc) from None
                raise StoreError(
                    f"Elasticsearch at {self.display_url}: listing {kind}: {self._cause(exc)}"
                ) from None
            hits = response.get("hits", {}).get("hits", [])
            records.extend(self._record_source(h.get("_source") or {}) for h in hits)
            if len(hits) < page:
                break
            after = hits[-1].get("sort")
        return records
