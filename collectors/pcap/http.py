"""HTTP/1.x heads on a reassembled TCP stream: requests matched with their responses.

Each direction of a connection is a small state machine: read a head (request or status line
and headers, bounded to MAX_HEAD bytes), then skip the body (Content-Length, chunked, or up
to the end of the connection for responses without a length), then the next head. A gap in
the stream (lost segments) inside a body is skipped over; inside a head it makes the parser
wait for the next segment that starts like a head. Requests are paired with responses in
order (pipelining); 1xx responses are not final and pair with nothing.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

MAX_HEAD = 64 * 1024
MAX_PENDING = 256
MAX_CHUNK_LINE = 1024

METHODS = (
    b"GET",
    b"POST",
    b"HEAD",
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"CONNECT",
    b"TRACE",
    b"PATCH",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"SEARCH",
    b"REPORT",
    b"SUBSCRIBE",
    b"NOTIFY",
    b"MSEARCH",
    b"M-SEARCH",
    b"BPROPFIND",
    b"POLL",
)
REQUEST_STARTS = tuple(m + b" " for m in METHODS)


#: Any other method token (RFC 9110 tchar, upper case in practice) on a full request line.
_REQUEST_LINE = re.compile(rb"[A-Z][A-Z0-9_.!#$%&'*+^`|~-]{1,31} [^ \r\n]+ HTTP/\d\.\d\r?\n")


_PARTIAL_LINE = re.compile(rb"[A-Z][A-Z0-9_.!#$%&'*+^`|~-]{0,31}( [^ \r\n]*( H[TP/0-9.]*)?)?\r?$")


def looks_like_request(data: bytes) -> bool:
    """True when ``data`` starts like an HTTP/1.x request line: a known method, or any
    method token when the whole request line (up to ``HTTP/x.y``) is there."""
    return data.startswith(REQUEST_STARTS) or _REQUEST_LINE.match(data, 0, 4096) is not None


def looks_like_response(data: bytes) -> bool:
    """True when ``data`` starts like an HTTP/1.x status line."""
    return data.startswith((b"HTTP/1.", b"HTTP/0.9"))


@dataclass
class Request:
    """One request head."""

    ts: int
    method: str
    target: str
    version: str
    headers: dict[str, str]


@dataclass
class Response:
    """One final response head."""

    ts: int
    status: int
    version: str
    headers: dict[str, str]


@dataclass
class Exchange:
    """A request and, when it was seen, its response."""

    request: Request
    response: Response | None = None


def parse_datagram(data: bytes, ts: int) -> Request | None:
    """The request in one datagram (HTTP over UDP, as SSDP), or None when it is not one."""
    if not looks_like_request(data[:4096]):
        return None
    end = data.find(b"\r\n\r\n")
    head = data if end < 0 else data[:end]
    lines = _split_head(head[:MAX_HEAD])
    first = lines[0].split(None, 2)
    if len(first) < 2:
        return None
    version = first[2].decode("latin-1") if len(first) > 2 else ""
    return Request(ts, first[0].decode("latin-1"), first[1].decode("latin-1"), version,
                   _headers(lines[1:]))  # fmt: skip


def _headers(lines: list[bytes]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        key = name.strip().lower().decode("latin-1")
        if key and key not in headers:
            headers[key] = value.strip().decode("latin-1")
    return headers


def _split_head(head: bytes) -> list[bytes]:
    return [line.rstrip(b"\r") for line in head.split(b"\n")]


class _Direction:
    """Heads and bodies of one direction of a connection."""

    HEAD, BODY, CHUNK_SIZE, CHUNK_DATA, CHUNK_TRAILER, UNTIL_CLOSE, RESYNC = range(7)

    def __init__(self, session: HttpSession, client: bool) -> None:
        self.session = session
        self.client = client
        self.mode = self.HEAD
        self.buf = b""
        self.remaining = 0
        self.ts = 0

    def _starts_head(self, data: bytes) -> bool:
        return looks_like_request(data) if self.client else looks_like_response(data)

    def gap(self, size: int) -> None:
        """``size`` bytes of the stream were never seen."""
        if self.mode in (self.BODY, self.CHUNK_DATA) and self.remaining > size:
            self.remaining -= size
            return
        if self.mode == self.UNTIL_CLOSE:
            return
        self.flush()
        self.mode = self.RESYNC
        self.buf = b""

    def flush(self) -> None:
        """The stream ends or breaks inside a head: a head whose first line is whole is
        taken as far as it goes (a capture cut by its snap length still shows the request)."""
        if self.mode != self.HEAD or not self.buf:
            return
        data, self.buf = self.buf, b""
        if b"\n" in data:
            if not self._starts_head(data[:4096]):
                return
            head = data[: data.rfind(b"\n")]
        elif data.count(b" ") >= 2 and data.startswith(REQUEST_STARTS if self.client else b"HTTP/"):
            head = data  # the first line itself is cut, but its target is whole
        else:
            return
        self._head(head, self.ts)
        self.mode = self.RESYNC

    def feed(self, data: bytes, ts: int) -> None:
        """The next in-order bytes of this direction, starting a TCP segment."""
        self.ts = ts
        if self.mode == self.RESYNC:
            if not self._starts_head(data):
                return
            self.mode = self.HEAD
        if self.buf:
            data = self.buf + data
            self.buf = b""
        pos = 0
        size = len(data)
        guard = size + 8
        while pos < size and guard > 0:
            guard -= 1
            mode = self.mode
            if mode == self.HEAD:
                while pos < size and data[pos] in (13, 10):
                    pos += 1  # stray line ends between messages
                if pos >= size:
                    return
                end = data.find(b"\r\n\r\n", pos)
                skip = 4
                if end < 0:
                    end = data.find(b"\n\n", pos)
                    skip = 2
                if end < 0:
                    rest = data[pos:]
                    if len(rest) > MAX_HEAD or not (
                        self._starts_head(rest[:4096]) or self._could_start(rest)
                    ):
                        self.mode = self.RESYNC
                        return
                    self.buf = rest
                    return
                if not self._starts_head(data[pos : pos + 4096]):
                    self.mode = self.RESYNC
                    return
                self._head(data[pos:end], ts)
                pos = end + skip
            elif mode == self.BODY:
                take = min(self.remaining, size - pos)
                self.remaining -= take
                pos += take
                if self.remaining == 0:
                    self.mode = self.HEAD
            elif mode == self.CHUNK_SIZE or mode == self.CHUNK_TRAILER:
                end = data.find(b"\n", pos)
                if end < 0:
                    if size - pos > MAX_CHUNK_LINE:
                        self.mode = self.RESYNC
                        return
                    self.buf = data[pos:]
                    return
                line = data[pos:end].strip()
                pos = end + 1
                if mode == self.CHUNK_TRAILER:
                    if not line:
                        self.mode = self.HEAD
                    continue
                try:
                    chunk = int(line.split(b";", 1)[0] or b"x", 16)
                except ValueError:
                    self.mode = self.RESYNC
                    return
                if chunk == 0:
                    self.mode = self.CHUNK_TRAILER
                else:
                    self.remaining = chunk + 2  # the data and its CRLF
                    self.mode = self.CHUNK_DATA
            elif mode == self.CHUNK_DATA:
                take = min(self.remaining, size - pos)
                self.remaining -= take
                pos += take
                if self.remaining == 0:
                    self.mode = self.CHUNK_SIZE
            else:  # UNTIL_CLOSE
                return

    def _could_start(self, data: bytes) -> bool:
        """A fragment that may still grow into a head (``GE`` of ``GET``, a request line
        whose ``HTTP/1.1`` has not arrived yet)."""
        if self.client:
            if len(data) < 16 and any(s.startswith(data) for s in REQUEST_STARTS):
                return True
            return b"\n" not in data[:4096] and _PARTIAL_LINE.match(data, 0, 4096) is not None
        return b"HTTP/1.".startswith(data[:7]) or data.startswith(b"HTTP/")

    def _head(self, head: bytes, ts: int) -> None:
        lines = _split_head(head)
        first = lines[0].split(None, 2)
        headers = _headers(lines[1:])
        if self.client:
            if len(first) < 2:
                return
            method = first[0].decode("latin-1")
            target = first[1].decode("latin-1")
            version = first[2].decode("latin-1") if len(first) > 2 else ""
            self.session._request(Request(ts, method, target, version, headers))
            self._body(headers, request_method=None, status=None)
        else:
            version = first[0].decode("latin-1")
            try:
                status = int(first[1][:3]) if len(first) > 1 else 0
            except ValueError:
                status = 0
            method = self.session._response(Response(ts, status, version, headers))
            self._body(headers, request_method=method, status=status)

    def _body(self, headers: dict[str, str], request_method: str | None, status: int | None):
        if status is not None:
            if request_method == "HEAD" or 100 <= status < 200 or status in (204, 304):
                self.mode = self.HEAD
                return
            if request_method == "CONNECT" and 200 <= status < 300:
                self.session.tunnel = True
                self.mode = self.UNTIL_CLOSE
                return
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self.mode = self.CHUNK_SIZE
            return
        length = headers.get("content-length")
        if length is not None:
            try:
                value = int(length.split(",")[0].strip())
            except ValueError:
                value = -1
            if value >= 1 << 63:
                value = -1  # no implementation reads such a length; taken as none
            if value > 0:
                self.remaining = value
                self.mode = self.BODY
                return
            if value == 0:
                self.mode = self.HEAD
                return
        if status is None:
            self.mode = self.HEAD  # a request without a length has no body
        else:
            self.mode = self.UNTIL_CLOSE


@dataclass
class HttpSession:
    """Both directions of one HTTP connection and the exchanges completed so far."""

    pending: deque[Exchange] = field(default_factory=deque)
    done: list[Exchange] = field(default_factory=list)
    tunnel: bool = False
    requests: int = 0

    def __post_init__(self) -> None:
        self.client = _Direction(self, client=True)
        self.server = _Direction(self, client=False)

    def _request(self, request: Request) -> None:
        self.requests += 1
        if len(self.pending) >= MAX_PENDING:
            self.done.append(self.pending.popleft())
        self.pending.append(Exchange(request))

    def _response(self, response: Response) -> str | None:
        """Pair a response with the oldest open request; the request's method, if any."""
        if 100 <= response.status < 200:
            return self.pending[0].request.method if self.pending else None
        if not self.pending:
            return None
        exchange = self.pending.popleft()
        exchange.response = response
        self.done.append(exchange)
        return exchange.request.method

    def finish(self) -> None:
        """The connection is over: requests still waiting are done, without a response."""
        self.client.flush()
        self.server.flush()
        while self.pending:
            self.done.append(self.pending.popleft())
