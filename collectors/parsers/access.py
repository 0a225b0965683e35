"""Apache / nginx access logs (common, combined, vhost_combined) -> apache.access / nginx.access.

    [vhost[:port] ]client ident user [dd/Mon/yyyy:hh:mm:ss +zzzz] "request" status bytes
        ["referrer" "user agent"] [anything else]

``-`` means absent. url.original is the raw request target; url.path and url.query are
URL-decoded with percent-decoding only ("+" stays "+"). Quoted fields may contain escaped
quotes (\\"), which are unescaped in user_agent.original and http.request.referrer. A request
that is not "METHOD target HTTP/x" (scanners send TLS bytes or junk) keeps the raw text in
url.original and sets no method.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

from collectors.parsers._common import (
    MONTHS,
    add_related,
    check_line,
    clean_ip,
    new_event,
    parse_offset,
    seconds_suffix,
    utc_minute_prefix,
)
from collectors.parsers.base import ParseContext, ParseError

_Q = r'"([^"\\]*(?:\\.[^"\\]*)*)"'
_ACCESS = re.compile(
    r"(?:(\S+) )?(\S+) (\S+) (\S+) \[(\d\d?)/(\w{3})/(\d{4}):(\d\d):(\d\d):(\d\d)(?:\.(\d+))?"
    r" ?([+-]\d{4})?\] " + _Q + r" (\d{3}|-) (\d+|-)(?: " + _Q + r" " + _Q + r")?(.*)",
    re.S,
)
_SNIFF = re.compile(r"(?:\S+ )?\S+ \S+ \S+ \[\d\d?/\w{3}/\d{4}:\d\d:\d\d:\d\d[^\]]*\] \"")
_METHOD = re.compile(r"[A-Za-z][A-Za-z_-]{0,19}$")


_HOST = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})$")


def _unwrap(line: str) -> str:
    """The line without one pair of wrapping double quotes (as some exporters write access
    lines into CSV or JSON strings): inner ``""`` or ``\\"`` become ``"``. Other lines as they
    are."""
    if len(line) > 2 and line[0] == '"' and line.rstrip()[-1:] == '"' and line[1] != '"':
        inner = line.rstrip()[1:-1]
        if '""' in inner:
            return inner.replace('""', '"')
        if '\\"' in inner and inner.replace('\\"', "").count('"') == 0:
            return inner.replace('\\"', '"')
        return inner
    return line


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    return text.replace('\\"', '"').replace("\\\\", "\\")


def _decode(text: str) -> str:
    return unquote(text, errors="replace") if "%" in text else text


class AccessParser:
    """Common/combined/vhost access lines. Holds a per-second timestamp cache: one per source."""

    name = "apache_access"
    module = "apache"

    def __init__(self) -> None:
        self._ts_cache: dict[tuple[object, ...], str] = {}

    def sniff(self, line: str) -> bool:
        """True for a line with the access-log shape (client ... [time] "request"), also when
        the whole line is wrapped in one pair of double quotes."""
        return _SNIFF.match(_unwrap(line[:512])) is not None

    def parse(self, line: str, ctx: ParseContext) -> dict[str, Any]:
        """The <module>.access event of ``line``; ParseError when it is not an access line or
        its client is neither an address nor a host name. A line wrapped in one pair of
        double quotes (inner quotes doubled or backslash-escaped) is read unwrapped."""
        line = check_line(line)
        m = _ACCESS.match(_unwrap(line))
        if m is None:
            raise ParseError("not an access log line")
        if clean_ip(m.group(2)) is None and not _HOST.match(m.group(2)):
            raise ParseError(f"client {m.group(2)[:60]!r} is not an address or a host name")
        (vhost, client, _ident, user, day, mon, year, hh, mm, ss, frac, tz,
         request, status, size, referrer, agent, _rest) = m.groups()  # fmt: skip
        ts = self._timestamp(day, mon, year, hh, mm, ss, frac, tz, ctx)
        module = self.module
        if ctx.dataset_hint and ctx.dataset_hint.startswith(("nginx", "apache")):
            module = ctx.dataset_hint.split(".", 1)[0]
        doc = new_event(ctx, line, ts, module, module + ".access")
        event = doc["event"]
        event["category"] = ["web"]
        event["type"] = ["access"]
        ip = clean_ip(client)
        source: dict[str, Any] = {"ip": ip} if ip else {"address": client, "domain": client}
        doc["source"] = source
        users: list[str | None] = []
        if user != "-":
            user = _unescape(user)
            doc["user"] = {"name": user}
            users.append(user)
        http: dict[str, Any] = {}
        request_part: dict[str, Any] = {}
        if request and request != "-":
            self._request(_unescape(request), doc, http, request_part)
        if status != "-":
            code = int(status)
            http["response"] = {"status_code": code}
            event["outcome"] = "success" if code < 400 else "failure"
        if size != "-":
            http.setdefault("response", {})["body"] = {"bytes": int(size)}
        if referrer is not None and referrer != "-":
            request_part["referrer"] = _unescape(referrer)
        if request_part:
            http["request"] = request_part
        if http:
            doc["http"] = http
        if agent is not None and agent != "-":
            doc["user_agent"] = {"original": _unescape(agent)}
        if vhost is not None and vhost != "-":
            host, _, port = vhost.rpartition(":") if vhost.count(":") == 1 else (vhost, "", "")
            dest: dict[str, Any] = {"domain": host or vhost}
            if port.isdigit():
                dest["port"] = int(port)
            doc["destination"] = dest
        add_related(doc, [ip], users)
        return doc

    def _timestamp(
        self,
        day: str,
        mon: str,
        year: str,
        hh: str,
        mm: str,
        ss: str,
        frac: str | None,
        tz: str | None,
        ctx: ParseContext,
    ) -> str:
        key = (day, mon, year, hh, mm, tz, ctx.timezone)
        prefix = self._ts_cache.get(key)
        if prefix is None:
            month = MONTHS.get(mon)
            if month is None:
                raise ParseError(f"unknown month {mon!r}")
            y, d, h, mi = int(year), int(day), int(hh), int(mm)
            if tz:
                prefix = utc_minute_prefix(y, month, d, h, mi, None, parse_offset(tz))
            else:
                prefix = utc_minute_prefix(y, month, d, h, mi, ctx.timezone)
            if len(self._ts_cache) > 4096:
                self._ts_cache.clear()
            self._ts_cache[key] = prefix
        return prefix + seconds_suffix(ss, frac)

    def _request(
        self, request: str, doc: dict[str, Any], http: dict[str, Any], req: dict[str, Any]
    ) -> None:
        parts = request.split(" ")
        if len(parts) >= 2 and _METHOD.match(parts[0]):
            method = parts[0]
            if len(parts) >= 3 and parts[-1].startswith("HTTP/"):
                target = " ".join(parts[1:-1])
                http["version"] = parts[-1][5:]
            else:
                target = " ".join(parts[1:])
            req["method"] = method
            doc["url"] = _url(target)
        else:
            doc["url"] = {"original": request}


def _url(target: str) -> dict[str, Any]:
    url: dict[str, Any] = {"original": target}
    if target.startswith("/") or target == "*":
        path, sep, query = target.partition("?")
        if "#" in (query if sep else path):
            if sep:
                query, _, fragment = query.partition("#")
            else:
                path, _, fragment = path.partition("#")
            url["fragment"] = fragment
        url["path"] = _decode(path)
        if sep:
            url["query"] = _decode(query)
        return url
    try:
        parts = urlsplit(target)
    except ValueError:
        return url
    if parts.scheme:
        url["scheme"] = parts.scheme
    if parts.hostname:
        url["domain"] = parts.hostname
    try:
        if parts.port is not None:
            url["port"] = parts.port
    except ValueError:
        pass
    if parts.path:
        url["path"] = _decode(parts.path)
    if parts.query:
        url["query"] = _decode(parts.query)
    if parts.fragment:
        url["fragment"] = parts.fragment
    return url


class ApacheAccessParser(AccessParser):
    """Apache access logs -> apache.access (ctx.dataset_hint "nginx" switches the dataset)."""

    name = "apache_access"
    module = "apache"


class NginxAccessParser(AccessParser):
    """nginx access logs -> nginx.access."""

    name = "nginx_access"
    module = "nginx"
