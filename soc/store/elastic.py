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
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout, TlsError, TransportError
from elasticsearch import (
    ApiError,
    AuthenticationException,
    AuthorizationException,
    Elasticsearch,
    NotFoundError,
    UnsupportedProductError,
)

from soc.config import Settings, mask_url
from soc.store.base import (
    RECORD_KINDS,
    RecordKind,
    StoreError,
    StoreUnavailable,
)
from soc.store.es_batch import BatchOps
from soc.store.es_node import CompatNode, RequestLog, ServerIdentity, identity_from_root
from soc.store.es_query import RecordQueries
from soc.store.es_records import RecordOps
from soc.store.es_search import MAX_PAGE, EventReads
from soc.store.es_template import (
    TEMPLATE_VERSION,
    IndexLayout,
    composable_template,
    legacy_template,
    record_mappings,
)
from soc.store.es_util import (
    connection_text,
    error_reason,
    one_line,
    split_url,
)
from soc.store.es_write import EventWriter

T = TypeVar("T")

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


class ElasticStore(EventReads, RecordOps, EventWriter, BatchOps, RecordQueries):
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
        dedup_across_days: bool = True,
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
        self.dedup_across_days = dedup_across_days
        #: id -> tokens of bulks that got no answer (they may have landed); see es_write
        self._uncertain: dict[str, set[str]] = {}
        self._uncertain_lock = threading.Lock()
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
        #: rollover layout: None until decided, then whether the server rolls over
        self._rollover_state: bool | None = None
        self._write_index: str | None = None
        self._rollover_lock = threading.Lock()
        self._rollover_checked = datetime.min.replace(tzinfo=UTC)
        #: one-line warnings already shown (e.g. rollover asked for, not supported)
        self.warnings: list[str] = []
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

    @property
    def write_batch_events(self) -> int:
        """How many events one write_events call should carry to keep every bulk slot busy:
        the bulk size times the bulks in flight (what `soc ingest` hands over at once)."""
        return self.bulk_events * self.bulk_concurrency

    @classmethod
    def from_settings(cls, settings: Settings) -> ElasticStore:
        """The store the ``elasticsearch.*`` settings describe, connected and verified."""
        url = settings.get("elasticsearch.url")
        if not url:
            raise StoreUnavailable("Elasticsearch: no URL configured (elasticsearch.url)")
        try:
            layout = IndexLayout.from_settings(settings)
        except ValueError as exc:
            raise StoreUnavailable(f"Elasticsearch settings: {exc}") from None
        return cls(
            str(url),
            api_key=settings.get("elasticsearch.api_key"),
            username=settings.get("elasticsearch.username"),
            password=settings.get("elasticsearch.password"),
            ca_file=settings.get("elasticsearch.ca_file"),
            verify_certs=bool(settings.get("elasticsearch.verify_certs", True)),
            index_prefix=str(settings.get("elasticsearch.index_prefix", "soc")),
            timeout=float(settings.get("elasticsearch.timeout", 30.0)),
            layout=layout,
            bulk_concurrency=int(settings.get("elasticsearch.bulk_concurrency", 2)),
            bulk_timeout=float(settings.get("elasticsearch.bulk_timeout", 120.0)),
            bulk_events=int(settings.get("elasticsearch.bulk_events", BULK_EVENTS)),
            bulk_bytes=int(settings.get("elasticsearch.bulk_bytes", BULK_BYTES)),
            dedup_across_days=bool(settings.get("elasticsearch.dedup_across_days", True)),
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
        cluster name, the index layout settings, reachability, event, event-index and record
        counts."""
        info: dict[str, Any] = {
            "store": self.kind,
            "url": self.display_url,
            "distribution": self.identity.distribution,
            "version": self.identity.version,
            "cluster_name": self.identity.cluster_name,
            "index_prefix": self.prefix,
            "events_alias": self.events_alias,
            "layout": {
                "shards": self.layout.shards,
                "replicas": self.layout.replicas,
                "refresh_interval": self.layout.refresh_interval,
                "total_fields_limit": self.layout.total_fields_limit,
                "lifecycle": self.layout.lifecycle,
                "retention_days": self.layout.retention_days,
                "wildcard_copies": self.layout.wildcard_copies,
                "rollover": dict(self.layout.rollover),
                "bulk_concurrency": self.bulk_concurrency,
            },
            "reachable": True,
        }
        try:
            info["events"] = self.count()
            info["event_indices"] = len(self._event_indices())
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
