"""The store contract: what every store (embedded SQLite, Elasticsearch) promises.

Events are ECS documents with a deterministic ``_id``; writing the same id twice keeps one
document. Queries are *store-native* strings (SQL boolean expressions for the local store,
Lucene ``query_string`` syntax for Elasticsearch) as produced by the Sigma compiler, optionally
combined with exact-match ``filters`` that every store understands the same way.

Records (alerts, cases, audit entries, scheduler state) are plain JSON objects kept by id in
one collection per kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

#: The record collections a store keeps besides events.
RecordKind = Literal["alerts", "cases", "audit", "state"]
RECORD_KINDS: tuple[RecordKind, ...] = ("alerts", "cases", "audit", "state")

#: Field name under which an event's id travels inside the document handed to write_events.
ID_FIELD = "_id"


class StoreError(Exception):
    """A store cannot do what was asked; the message is one line meant for a person."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or opened (bad URL, credentials, TLS, corrupt file...)."""


class QueryError(StoreError):
    """The store rejected a query; the message carries the store's own explanation."""


class Conflict(StoreError):
    """A conditional write lost: the record changed (or appeared) since it was read."""


@dataclass(frozen=True)
class RecordVersion:
    """Opaque optimistic-concurrency token of a stored record (ES: seq_no + primary_term;
    local: an integer version column)."""

    seq_no: int
    primary_term: int = 1


@dataclass(frozen=True)
class EventFailure:
    """One event the store refused, with the store's reason."""

    id: str
    reason: str
    event: Mapping[str, Any]


@dataclass
class WriteResult:
    """Outcome of one write_events call: every event given lands in exactly one bucket."""

    stored: int = 0
    duplicates: int = 0
    failures: list[EventFailure] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.failures)


@dataclass(frozen=True)
class Hit:
    """One event returned by a search: its id, its document and its sort key."""

    id: str
    source: dict[str, Any]
    sort: tuple[Any, ...]


@dataclass(frozen=True)
class SearchPage:
    """A page of hits; pass ``next_after`` back as ``after`` to get the following page."""

    hits: list[Hit]
    next_after: tuple[Any, ...] | None


@dataclass(frozen=True)
class Bucket:
    """One group of a terms aggregation: the values of the grouped fields and the count."""

    key: tuple[Any, ...]
    count: int


@dataclass(frozen=True)
class SearchRequest:
    """One search of a search_many batch: the arguments of search(), plus the fields to
    return (dotted ECS paths; None = the whole document)."""

    query: str | None
    start: datetime | None = None
    end: datetime | None = None
    size: int = 1000  # 0 = count only
    fields: tuple[str, ...] | None = None
    after: tuple[Any, ...] | None = None
    filters: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class SearchResult:
    """The answer to one SearchRequest: a page whose hits carry only the requested fields,
    and the exact number of matching events."""

    page: SearchPage
    total: int


@runtime_checkable
class Store(Protocol):
    """What detection, triage and reports may ask of a store."""

    #: "local" or "elasticsearch"
    kind: str

    # --- events -------------------------------------------------------------------------
    def write_events(self, events: Sequence[Mapping[str, Any]]) -> WriteResult:
        """Store events by their ``_id``; an id already stored counts as a duplicate and
        leaves the stored document unchanged. Per-event refusals are returned, not raised."""
        ...

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
        """Events matching the native query and the exact-match filters, with
        ``start <= @timestamp < end``, ordered by (@timestamp, id); ``after`` continues a
        previous page with no limit on depth."""
        ...

    def count(
        self,
        query: str | None = None,
        *,
        filters: Mapping[str, Any] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> int:
        """How many events the same arguments as search() would return in total."""
        ...

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
        """The most frequent value combinations of ``fields`` among matching events that
        have all of them, largest count first (ties by key), at most ``size`` buckets."""
        ...

    def date_histogram(
        self,
        interval_seconds: int,
        query: str | None = None,
        *,
        filters: Mapping[str, Any] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[tuple[datetime, int]]:
        """Event counts per fixed UTC interval (bucket start, count), oldest first, empty
        buckets omitted."""
        ...

    def get_event(self, event_id: str) -> dict[str, Any] | None:
        """One event by id, or None."""
        ...

    # --- records ------------------------------------------------------------------------
    def put_record(self, kind: RecordKind, record_id: str, record: Mapping[str, Any]) -> bool:
        """Create a record; returns False (and changes nothing) if the id already exists."""
        ...

    def get_record(self, kind: RecordKind, record_id: str) -> dict[str, Any] | None:
        """A record by id, or None."""
        ...

    def update_record(
        self, kind: RecordKind, record_id: str, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Merge top-level ``changes`` into an existing record and return the result;
        raises KeyError if there is no such record."""
        ...

    def upsert_record(self, kind: RecordKind, record_id: str, record: Mapping[str, Any]) -> None:
        """Create or replace a record."""
        ...

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
        """Records whose top-level fields equal every filter value (a list value means "any
        of"), ordered by a top-level field (ties by id). ``fresh=False`` lets a store whose
        searches lag its writes (Elasticsearch) skip making this process's latest record
        writes visible first (no refresh): what another search would show a second later."""
        ...

    # --- records in batches -------------------------------------------------------------
    def get_records(self, kind: RecordKind, record_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The records that exist among ``record_ids`` (id -> record), in ONE request (ES:
        _mget); missing ids are simply absent. Never refreshes."""
        ...

    def create_records(
        self, kind: RecordKind, records: Mapping[str, Mapping[str, Any]]
    ) -> set[str]:
        """Create many records in ONE request (ES: one _bulk of ``create``, chunked only past
        the store's size limit); an id that already exists is left unchanged. Returns the ids
        that were created. Never refreshes."""
        ...

    # --- optimistic concurrency (scheduler leases and watermarks) ------------------------
    def get_record_versioned(
        self, kind: RecordKind, record_id: str
    ) -> tuple[dict[str, Any], RecordVersion] | None:
        """A record and its version, or None."""
        ...

    def put_record_if(
        self,
        kind: RecordKind,
        record_id: str,
        record: Mapping[str, Any],
        version: RecordVersion | None,
    ) -> RecordVersion:
        """Write ``record`` only if it is still at ``version`` (None: only if it does not
        exist yet); returns the new version; raises Conflict otherwise. Works between
        processes on the local store."""
        ...

    # --- many searches at once -----------------------------------------------------------
    def search_many(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        """One result per request, in order (ES: one _msearch per up to 100 requests). A
        request whose query is invalid raises QueryError naming its index in the batch."""
        ...

    def search_each(self, requests: Sequence[SearchRequest]) -> list[SearchResult | QueryError]:
        """As search_many, but an invalid query's place in the answers holds its QueryError
        (naming its index) and every other request is answered, at the same cost."""
        ...

    # --- correlation candidates ----------------------------------------------------------
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
        """EVERY group (values of ``group_by``) of matching events whose event count (or,
        with ``distinct_field``, distinct count of that field) is at least ``min_count``; no
        size cap. A group that cannot reach a threshold over the whole range cannot reach it
        in any window inside it."""
        ...

    # --- housekeeping -------------------------------------------------------------------
    def refresh(self) -> None:
        """Make everything written so far visible to searches."""
        ...

    def info(self) -> dict[str, Any]:
        """What `soc doctor` shows: kind, location, server version, counts."""
        ...

    def close(self) -> None:
        """Release connections and file handles."""
        ...


def ids_of(events: Iterable[Mapping[str, Any]]) -> list[str]:
    """The ``_id`` of each event, in order."""
    return [str(e[ID_FIELD]) for e in events]
