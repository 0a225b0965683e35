"""The HTTP node the Elasticsearch client talks through: plain JSON for servers that need it.

The official client (9.x) sends ``application/vnd.elasticsearch+json; compatible-with=9``.
Elasticsearch 9 understands that; Elasticsearch 8 refuses ``compatible-with=9`` and
OpenSearch-API servers (OpenSearch, osmem-server) refuse the vendor media type altogether.
All of them accept plain ``application/json`` (and ``application/x-ndjson`` for bulk).

:class:`CompatNode` is an ``elastic_transport`` node class (the client's public extension
point, passed as ``node_class=``). The first time it is used it asks the server ``GET /`` in
plain JSON; when the server is not Elasticsearch of the client's own major version it rewrites
the Accept and Content-Type of every request to the plain media types. OpenSearch does not send
the ``X-Elastic-Product`` header the client checks for, so for such servers the node adds it
to successful responses (the server's identity is what the probe found, not what the header
says). Nothing in the client's own modules is patched.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, ClassVar

import elasticsearch
from elastic_transport import HttpHeaders, NodeConfig, Urllib3HttpNode
from elastic_transport.client_utils import DEFAULT, DefaultType

#: application/vnd.elasticsearch+json; compatible-with=9 -> application/json
_VENDOR_MIMETYPE = re.compile(
    r"application/vnd\.elasticsearch\+([\w.-]+)(?:\s*;\s*compatible-with=\d+)?"
)
_PRODUCT_HEADER = "X-Elastic-Product"

CLIENT_MAJOR = int(elasticsearch.__versionstr__.split(".", 1)[0])


@dataclass(frozen=True)
class ServerIdentity:
    """What ``GET /`` says about the server."""

    distribution: str  # "elasticsearch" or "opensearch" (or whatever the server names)
    version: str
    cluster_name: str

    @property
    def major(self) -> int | None:
        head = self.version.split(".", 1)[0]
        return int(head) if head.isdigit() else None

    @property
    def needs_plain_json(self) -> bool:
        """True unless the server is Elasticsearch of the client's own major version."""
        return self.distribution != "elasticsearch" or self.major != CLIENT_MAJOR


def identity_from_root(body: Any) -> ServerIdentity | None:
    """The server identity in a ``GET /`` answer, or None if the answer is not one."""
    if not isinstance(body, dict) or not isinstance(body.get("version"), dict):
        return None
    version = body["version"]
    return ServerIdentity(
        distribution=str(version.get("distribution") or "elasticsearch").lower(),
        version=str(version.get("number") or ""),
        cluster_name=str(body.get("cluster_name") or ""),
    )


def plain_mimetype(value: str) -> str:
    """A media type with the Elasticsearch vendor form replaced by the plain one."""
    return _VENDOR_MIMETYPE.sub(r"application/\1", value)


@dataclass(frozen=True)
class LoggedRequest:
    """One HTTP request as it went over the wire."""

    method: str
    path: str
    status: int  # 0 when no answer came (timeout, connection failure)
    request_bytes: int
    response_bytes: int
    seconds: float


class RequestLog:
    """Every request a store's client sent (thread-safe): running totals, and the latest
    ``keep`` requests in order, so a long-running scheduler does not grow without bound.
    What tests and the bench count to show how many requests and bytes an operation costs."""

    def __init__(self, keep: int = 100_000) -> None:
        self.requests: deque[LoggedRequest] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._count = 0
        self._sent = 0
        self._received = 0

    def add(self, entry: LoggedRequest) -> None:
        """Record one request."""
        with self._lock:
            self.requests.append(entry)
            self._count += 1
            self._sent += entry.request_bytes
            self._received += entry.response_bytes

    def clear(self) -> None:
        """Forget every request recorded so far."""
        with self._lock:
            self.requests.clear()
            self._count = self._sent = self._received = 0

    def matching(self, pattern: str) -> list[LoggedRequest]:
        """The kept requests whose "METHOD /path" matches the regular expression ``pattern``."""
        regex = re.compile(pattern)
        with self._lock:
            return [r for r in self.requests if regex.search(f"{r.method} {r.path}")]

    def totals(self) -> tuple[int, int, int]:
        """(requests, request bytes, response bytes) since the last clear()."""
        with self._lock:
            return self._count, self._sent, self._received


class CompatNode(Urllib3HttpNode):
    """A urllib3 node that speaks plain JSON to servers that are not Elasticsearch of the
    client's major version (decided once per node by probing ``GET /``). When the class
    attribute ``request_log`` is set (a per-store subclass does that) every request is
    recorded in it."""

    request_log: ClassVar[RequestLog | None] = None

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        self._probe_lock = threading.Lock()
        self.identity: ServerIdentity | None = None
        self._plain: bool | None = None

    def _probe(
        self, request_headers: HttpHeaders | None, request_timeout: DefaultType | float | None
    ) -> None:
        """Ask ``GET /`` in plain JSON, with the request's own credentials, and decide."""
        with self._probe_lock:
            if self._plain is not None:
                return
            headers = HttpHeaders(
                {
                    name: value
                    for name, value in (request_headers or {}).items()
                    if name.lower() not in {"accept", "content-type"}
                }
            )
            headers["accept"] = "application/json"
            meta, raw = super().perform_request(
                "GET", "/", headers=headers, request_timeout=request_timeout
            )
            if meta.status != 200:
                return  # e.g. 401: the real request will report it; probe again next time
            try:
                identity = identity_from_root(json.loads(raw))
            except ValueError:
                identity = None
            self.identity = identity
            self._plain = identity.needs_plain_json if identity else True

    def perform_request(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: HttpHeaders | None = None,
        request_timeout: DefaultType | float | None = DEFAULT,
    ) -> Any:
        """Send one request; in plain mode with plain media types, and mark OpenSearch's
        successful answers as the client expects."""
        if self._plain is None:
            self._probe(headers, request_timeout)
        if self._plain and headers:
            headers = headers.copy()
            for name in ("accept", "content-type"):
                if name in headers:
                    headers[name] = plain_mimetype(headers[name])
        started = time.monotonic()
        try:
            response = super().perform_request(
                method, target, body=body, headers=headers, request_timeout=request_timeout
            )
        except Exception:
            self._log(method, target, 0, body, b"", started)
            raise
        self._log(method, target, response.meta.status, body, response.body, started)
        meta = response.meta
        if self._plain and 200 <= meta.status < 300 and _PRODUCT_HEADER not in meta.headers:
            meta.headers[_PRODUCT_HEADER] = "Elasticsearch"
        return response

    def _log(
        self, method: str, target: str, status: int, body: Any, answer: Any, started: float
    ) -> None:
        log = type(self).request_log
        if log is not None:
            log.add(
                LoggedRequest(
                    method=method,
                    path=target.split("?", 1)[0],
                    status=status,
                    request_bytes=len(body or b""),
                    response_bytes=len(answer or b""),
                    seconds=time.monotonic() - started,
                )
            )
