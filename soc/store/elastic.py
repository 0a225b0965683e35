"""The Elasticsearch store: the Store protocol on Elasticsearch 8/9 or an OpenSearch-API server.

Layout on the server (``<prefix>`` is ``elasticsearch.index_prefix``, default ``soc``):
- events in one index per ingest day ``<prefix>-events-YYYY.MM.DD`` behind the alias
  ``<prefix>-events`` (indices of the earlier event-day layout stay behind it too); the index
  template (soc.store.es_template) maps their fields and sets shards, replicas, refresh;
- records in ``<prefix>-alerts``, ``<prefix>-cases``, ``<prefix>-audit``, ``<prefix>-state``.

Modules: es_write (bulk ingest), es_batch (batched and conditional operations), es_query
(alert-list and report queries), es_layout (retention, migration), es_node (HTTP node and
request log), es_template (mappings), es_util (error texts).

Events are written with bulk ``create`` operations under their deterministic ``_id``, so a
re-shipped event is a version conflict and counts as a duplicate (ids stored in other event
indices are checked first; see soc.store.es_write). The id is also stored as ``event.id``
(a keyword), the tie-breaker of the (@timestamp, id) sort that search_after pages on; it is
removed again from documents handed back.

Queries are Lucene ``query_string`` text (what pySigma's Lucene backend produces); the
exact-match ``filters`` become term queries, which apply the lowercase normalizer like the
local store's NOCASE columns.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout, TlsError, TransportError
from elasticsearch import (
    ApiError,
    AuthenticationException,
    AuthorizationException,
    ConflictError,
    Elasticsearch,
    NotFoundError,
    UnsupportedProductError,
)

from soc import ecs
from soc.config import Settings, mask_url
from soc.store.base import (
    RECORD_KINDS,
    Bucket,
    Hit,
    QueryError,
    RecordKind,
    SearchPage,
    StoreError,
    StoreUnavailable,
)
from soc.store.es_batch import COMPOSITE_PAGE, BatchOps
from soc.store.es_node import CompatNode, RequestLog, ServerIdentity, identity_from_root
from soc.store.es_query import RecordQueries
from soc.store.es_template import (
    RECORD_ID_FIELD,
    TEMPLATE_VERSION,
    IndexLayout,
    composable_template,
    legacy_template,
    record_mappings,
)
from soc.store.es_util import (
    as_list,
    connection_text,
    error_reason,
    one_line,
    sort_value,
    split_url,
)
from soc.store.es_write import BULK_TOKEN_FIELD, EventWriter

T = TypeVar("T")

#: Largest page the server returns in one search (index.max_result_window default).
MAX_PAGE = 10_000
#: Bulk requests are cut at this many events or this many bytes, whichever comes first.
BULK_EVENTS = 5_000
BULK_BYTES = 8 * 1024 * 1024
#: Whole-request retries on 429, 5xx and connection errors (exponential backoff, full jitter).
RETRY_ATTEMPTS = 4
RETRY_BASE_SECONDS = 0.5
RETRY_CAP_SECONDS = 8.0
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def _version_pair(version: str) -> tuple[int, int]:
    """(major, minor) of a version string, (0, 0) when unreadable."""
    parts = version.split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return 0, 0


class ElasticStore(EventWriter, BatchOps, RecordQueries):
    """The Store protocol on an Elasticsearch (8, 9) or OpenSearch-API server."""

    kind = "elasticsearch"

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        verify_certs: bool = True,
        index_prefix: str = "soc",
        timeout: float = 30.0,
        retry_attempts: int = RETRY_ATTEMPTS,
        retry_base_seconds: float = RETRY_BASE_SECONDS,
        layout: IndexLayout | None = None,
        bulk_concurrency: int = 2,
        bulk_timeout: float = 120.0,
        bulk_events: int = BULK_EVENTS,
        bulk_bytes: int = BULK_BYTES,
    ) -> None:
        """Connect to ``url`` and check that the server answers; raises StoreUnavailable
        with one line naming the (masked) URL and the cause when it cannot be used.
        ``layout`` sets shards, replicas, refresh and field limit of event indices; bulks
        carry at most ``bulk_events`` events and ``bulk_bytes`` bytes, up to
        ``bulk_concurrency`` of them in flight, each allowed ``bulk_timeout`` seconds."""
        self.url = url
        self.layout = layout or IndexLayout()
        self.bulk_concurrency = max(1, int(bulk_concurrency))
        self.bulk_timeout = float(bulk_timeout)
        # an ids search checks a bulk's ids: at most one page (index.max_result_window)
        self.bulk_events = max(1, min(int(bulk_events), MAX_PAGE))
        self.bulk_bytes = max(1024, int(bulk_bytes))
        #: every request this store sent (method, path, status, bytes): tests and bench count it
        self.request_log = RequestLog()
        self.display_url = mask_url(url)
        self.prefix = index_prefix
        self.events_alias = f"{index_prefix}-events"
        self.retry_attempts = max(1, retry_attempts)
        self.retry_base_seconds = retry_base_seconds
        self._template_ready = False
        self._record_indices: set[str] = set()
        #: event indices behind the alias (read once, then kept up to date by this store)
        self._event_index_cache: set[str] | None = None
        self._known_indices: set[str] = set()
        #: record indices this store wrote to since it last refreshed them
        self._unrefreshed: set[str] = set()
        try:
            clean_url, url_user, url_password = split_url(url)
        except ValueError as exc:
            raise StoreUnavailable(f"Elasticsearch at {self.display_url}: {exc}") from None
        username = username or url_user
        password = password if password is not None else url_password
        options: dict[str, Any] = {
            "node_class": type(
                "LoggedCompatNode", (CompatNode,), {"request_log": self.request_log}
            ),
            "request_timeout": timeout,
            "max_retries": 0,
            "retry_on_timeout": False,
        }
        if api_key:
            # "id:key" as shown by Kibana, or the base64 form (which never contains ":")
            options["api_key"] = tuple(api_key.split(":", 1)) if ":" in api_key else api_key
        elif username:
            options["basic_auth"] = (username, password or "")
        if ca_file and not os.path.isfile(os.path.expanduser(ca_file)):
            raise StoreUnavailable(
                f"Elasticsearch at {self.display_url}: CA file {ca_file} is not a readable file"
            )
        if clean_url.startswith("https"):
            options["verify_certs"] = verify_certs
            if ca_file:
                ca_file = os.path.expanduser(ca_file)
                options["ca_certs"] = ca_file
            if not verify_certs:
                options["ssl_show_warn"] = False
        try:
            self._client = Elasticsearch(clean_url, **options)
        except (ValueError, TypeError) as exc:
            raise StoreUnavailable(f"Elasticsearch at {self.display_url}: {exc}") from None
        self.identity = self._connect()

    @classmethod
    def from_settings(cls, settings: Settings) -> ElasticStore:
        """The store the ``elasticsearch.*`` settings describe, connected and verified."""
        url = settings.get("elasticsearch.url")
        if not url:
            raise StoreUnavailable("Elasticsearch: no URL configured (elasticsearch.url)")
        return cls(
            str(url),
            api_key=settings.get("elasticsearch.api_key"),
            username=settings.get("elasticsearch.username"),
            password=settings.get("elasticsearch.password"),
            ca_file=settings.get("elasticsearch.ca_file"),
            verify_certs=bool(settings.get("elasticsearch.verify_certs", True)),
            index_prefix=str(settings.get("elasticsearch.index_prefix", "soc")),
            timeout=float(settings.get("elasticsearch.timeout", 30.0)),
            layout=IndexLayout.from_settings(settings),
            bulk_concurrency=int(settings.get("elasticsearch.bulk_concurrency", 2)),
            bulk_timeout=float(settings.get("elasticsearch.bulk_timeout", 120.0)),
            bulk_events=int(settings.get("elasticsearch.bulk_events", BULK_EVENTS)),
            bulk_bytes=int(settings.get("elasticsearch.bulk_bytes", BULK_BYTES)),
        )

    # --- connection and errors ------------------------------------------------------------
    def _unavailable(self, exc: Exception) -> StoreUnavailable:
        return StoreUnavailable(f"Elasticsearch at {self.display_url}: {self._cause(exc)}")

    def _cause(self, exc: Exception) -> str:
        if isinstance(exc, TlsError):
            text = connection_text(exc.message)
            if "WRONG_VERSION_NUMBER" in text:
                text += " (does the server speak plain HTTP? then use an http:// URL)"
            elif "CERTIFICATE_VERIFY_FAILED" in text:
                text += " (set elasticsearch.ca_file to the CA that signed the server certificate)"
            return f"TLS failure: {text}"
        if isinstance(exc, ConnectionTimeout):
            return "no answer within the timeout"
        if isinstance(exc, TransportConnectionError):
            return f"cannot connect: {connection_text(exc.message)}"
        if isinstance(exc, AuthenticationException):
            return (
                f"authentication failed (HTTP 401): {error_reason(exc.body, 'wrong credentials')}"
            )
        if isinstance(exc, AuthorizationException):
            return f"not authorised (HTTP 403): {error_reason(exc.body, 'forbidden')}"
        if isinstance(exc, UnsupportedProductError):
            return "the server is not Elasticsearch or OpenSearch"
        if isinstance(exc, ApiError):
            return f"HTTP {exc.meta.status}: {error_reason(exc.body, str(exc.message))}"
        if isinstance(exc, TransportError):
            return one_line(exc.message) or type(exc).__name__
        return one_line(exc) or type(exc).__name__

    def _connect(self) -> ServerIdentity:
        try:
            body = self._client.info().body
        except (ApiError, TransportError) as exc:
            self._client.close()
            raise self._unavailable(exc) from None
        identity = identity_from_root(body)
        if identity is None:
            self._client.close()
            raise StoreUnavailable(
                f"Elasticsearch at {self.display_url}: the answer to GET / is not a cluster's"
            )
        return identity

    def _call(self, what: str, func: Callable[[], T]) -> T:
        """Run one request, retrying 429/5xx, connection failures and timeouts with
        exponential backoff and full jitter, then raising StoreUnavailable (connection,
        timeout, TLS) or StoreError. Other API errors are raised for the caller to judge."""
        for attempt in range(1, self.retry_attempts + 1):
            try:
                return func()
            except TlsError as exc:
                raise self._unavailable(exc) from None
            except (TransportConnectionError, ConnectionTimeout) as exc:
                if attempt == self.retry_attempts:
                    raise self._unavailable(exc) from None
            except TransportError as exc:  # e.g. an answer that is not JSON
                raise StoreError(
                    f"Elasticsearch at {self.display_url}: {what}: {self._cause(exc)}"
                ) from None
            except ApiError as exc:
                if exc.meta.status not in _RETRY_STATUSES:
                    raise
                if attempt == self.retry_attempts:
                    raise StoreError(
                        f"Elasticsearch at {self.display_url}: {what} failed after "
                        f"{attempt} attempts: {self._cause(exc)}"
                    ) from None
            self._backoff(attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int) -> None:
        ceiling = min(RETRY_CAP_SECONDS, self.retry_base_seconds * 2 ** (attempt - 1))
        time.sleep(random.uniform(0, ceiling))

    def _request(self, what: str, func: Callable[[], T]) -> T:
        """_call, with any other server refusal turned into a one-line StoreError."""
        try:
            return self._call(what, func)
        except (AuthenticationException, AuthorizationException, TlsError) as exc:
            raise self._unavailable(exc) from None
        except ApiError as exc:
            raise StoreError(
                f"Elasticsearch at {self.display_url}: {what}: {self._cause(exc)}"
            ) from None

    # --- setup ----------------------------------------------------------------------------
    def ensure_template(self) -> None:
        """Install the event index template unless the same or a newer version is there:
        composable (``_index_template``), or legacy (``_template``) on servers that answer
        the composable endpoint with 400/405 (no such endpoint)."""
        if self._template_ready:
            return
        name = f"{self.prefix}-events"
        legacy = False
        try:
            current = self._call(
                "template check", lambda: self._client.indices.get_index_template(name=name)
            )
            templates = current.body.get("index_templates", [])
            body = templates[0]["index_template"] if templates else {}
            version = body.get("version")
            layout = (body.get("_meta") or {}).get("layout")
            if version is not None and (
                int(version) > TEMPLATE_VERSION
                or (int(version) == TEMPLATE_VERSION and layout == self.layout.fingerprint())
            ):
                self._template_ready = True
                return
        except NotFoundError:
            pass  # no template yet
        except ApiError as exc:
            if exc.meta.status not in {400, 405}:
                raise StoreError(
                    f"Elasticsearch at {self.display_url}: reading the index template: "
                    f"{self._cause(exc)}"
                ) from None
            legacy = True
        if legacy:
            self._request(
                "installing the legacy index template",
                lambda: self._client.indices.put_template(
                    name=name, **legacy_template(self.prefix, self.layout)
                ),
            )
        else:
            self._request(
                "installing the index template",
                lambda: self._client.indices.put_index_template(
                    name=name, **self._composable_template()
                ),
            )
        self._template_ready = True

    def _composable_template(self) -> dict[str, Any]:
        """The event template for this server: on Elasticsearch 8.13 and later, dynamic
        fields past the field limit are kept unindexed instead of refusing the event."""
        body = composable_template(self.prefix, self.layout)
        major, minor = _version_pair(self.identity.version)
        if self.identity.distribution == "elasticsearch" and (major, minor) >= (8, 13):
            limit = body["template"]["settings"]["index"]["mapping"]["total_fields"]
            limit["ignore_dynamic_beyond_limit"] = True
        return body

    def _event_indices(self) -> set[str]:
        """The event indices behind the alias (one GET _alias the first time)."""
        if self._event_index_cache is None:
            try:
                answer = self._call(
                    "listing event indices",
                    lambda: self._client.indices.get_alias(name=self.events_alias),
                ).body
                self._event_index_cache = set(answer)
            except NotFoundError:
                self._event_index_cache = set()
            except ApiError as exc:
                raise StoreError(
                    f"Elasticsearch at {self.display_url}: listing event indices: "
                    f"{self._cause(exc)}"
                ) from None
        return self._event_index_cache | self._known_indices

    def _record_index(self, kind: RecordKind) -> str:
        if kind not in RECORD_KINDS:
            raise ValueError(f"unknown record kind {kind!r}; expected one of {RECORD_KINDS}")
        return f"{self.prefix}-{kind}"

    def _ensure_record_index(self, kind: RecordKind) -> str:
        index = self._record_index(kind)
        if index in self._record_indices:
            return index
        try:
            self._call(
                f"creating index {index}",
                lambda: self._client.indices.create(
                    index=index,
                    settings={"index": {"mapping": {"total_fields": {"limit": 10000}}}},
                    mappings=record_mappings(),
                ),
            )
        except ApiError as exc:
            text = json.dumps(exc.body) if isinstance(exc.body, Mapping) else str(exc.body)
            if "already_exists" not in text:
                raise StoreError(
                    f"Elasticsearch at {self.display_url}: creating index {index}: "
                    f"{self._cause(exc)}"
                ) from None
        self._record_indices.add(index)
        return index

    # --- events ---------------------------------------------------------------------------
    def _query(
        self,
        query: str | None,
        filters: Mapping[str, Any] | None,
        start: datetime | None,
        end: datetime | None,
    ) -> dict[str, Any]:
        clauses: list[dict[str, Any]] = []
        exclusions: list[dict[str, Any]] = []
        if query and query.strip():
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

    def _search(self, what: str, **body: Any) -> dict[str, Any]:
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
        section = source.get("event")
        if isinstance(section, dict) and section.get("id") == hit.get("_id"):
            section = {k: v for k, v in section.items() if k != "id"}
            if section:
                source["event"] = section
            else:
                del source["event"]
        return source

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
        self,
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
        self,
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

    def get_event(self, event_id: str) -> dict[str, Any] | None:
        """One event by id, or None."""
        response = self._search(
            "get event", query={"ids": {"values": [event_id]}}, size=1, track_total_hits=False
        )
        hits = response.get("hits", {}).get("hits", [])
        return self._source(hits[0]) if hits else None

    # --- records --------------------------------------------------------------------------
    @staticmethod
    def _record_body(record_id: str, record: Mapping[str, Any]) -> dict[str, Any]:
        return {**record, RECORD_ID_FIELD: record_id}

    @staticmethod
    def _record_source(source: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in source.items() if k != RECORD_ID_FIELD}

    def put_record(self, kind: RecordKind, record_id: str, record: Mapping[str, Any]) -> bool:
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

    def _record_error(self, kind: str, record_id: str, exc: ApiError) -> StoreError:
        if isinstance(exc, AuthenticationException | AuthorizationException):
            return self._unavailable(exc)
        return StoreError(
            f"Elasticsearch at {self.display_url}: {kind} record {record_id!r}: {self._cause(exc)}"
        )

    def _get_record_raw(self, kind: RecordKind, record_id: str) -> dict[str, Any] | None:
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

    def get_record(self, kind: RecordKind, record_id: str) -> dict[str, Any] | None:
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

    def upsert_record(self, kind: RecordKind, record_id: str, record: Mapping[str, Any]) -> None:
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

    def _refresh_records(self, index: str) -> None:
        """Make this store's own record writes visible to searches of ``index``."""
        if index in self._unrefreshed:
            self._request(
                f"refreshing {index}",
                lambda: self._client.indices.refresh(index=index, ignore_unavailable=True),
            )
            self._unrefreshed.discard(index)

    def list_records(
        self,
        kind: RecordKind,
        *,
        filters: Mapping[str, Any] | None = None,
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Records whose top-level fields equal every filter value (a list value means "any
        of"), ordered by a top-level field (records lacking it first when ascending, last
        when descending, as SQL orders NULLs), ties by id; all of them unless ``limit``."""
        index = self._record_index(kind)
        clauses: list[dict[str, Any]] = []
        for name, value in (filters or {}).items():
            values = as_list(value)
            if values is not None:
                if not values:
                    return []
                clauses.append({"terms": {name: values}})
            elif value is None:
                clauses.append({"bool": {"must_not": {"exists": {"field": name}}}})
            else:
                clauses.append({"term": {name: value}})
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

    # --- housekeeping ---------------------------------------------------------------------
    def refresh(self) -> None:
        """Make every event and record written so far visible to searches."""
        indices = f"{self.prefix}-events-*,{self.prefix}-alerts,{self.prefix}-cases," + (
            f"{self.prefix}-audit,{self.prefix}-state"
        )
        self._request(
            "refresh",
            lambda: self._client.indices.refresh(
                index=indices, ignore_unavailable=True, allow_no_indices=True
            ),
        )
        self._unrefreshed.clear()

    def _record_count(self, kind: RecordKind) -> int:
        self._refresh_records(self._record_index(kind))
        response = self._request(
            f"counting {kind}",
            lambda: self._client.count(
                index=self._record_index(kind), ignore_unavailable=True, allow_no_indices=True
            ),
        )
        return int(response.body.get("count", 0))

    def info(self) -> dict[str, Any]:
        """What `soc doctor` shows: store kind, masked URL, server distribution, version and
        cluster name, reachability, event and record counts."""
        info: dict[str, Any] = {
            "store": self.kind,
            "url": self.display_url,
            "distribution": self.identity.distribution,
            "version": self.identity.version,
            "cluster_name": self.identity.cluster_name,
            "index_prefix": self.prefix,
            "events_alias": self.events_alias,
            "reachable": True,
        }
        try:
            info["events"] = self.count()
            info["alerts"] = self._record_count("alerts")
            info["cases"] = self._record_count("cases")
            info["audit_records"] = self._record_count("audit")
        except StoreError as exc:
            info["reachable"] = False
            info["error"] = str(exc)
        return info

    def close(self) -> None:
        """Release the client's connections."""
        with contextlib.suppress(Exception):
            self._client.close()
