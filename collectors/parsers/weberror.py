"""Apache and nginx error logs -> apache.error / nginx.error.

Apache 2.4: [Sat Nov 21 08:00:00.123456 2026] [module:level] [pid N:tid M] [client ip:port]
            AH00126: message
Apache 2.2: [Sat Nov 21 08:00:00 2026] [level] [client ip] message
nginx:      2026/11/21 08:00:00 [level] pid#tid: *cid message, client: ip, server: s,
            request: "GET / HTTP/1.1", host: "h"
Times are zone-less and read in ctx.timezone. Fields: log.level, process.pid,
process.thread.id, source.ip/port, error.code (AH...), message, and for nginx
http.request.method / url.original / url.domain when the message names them.
"""

from __future__ import annotations

import re
from typing import Any

from collectors.parsers._common import (
    MONTHS,
    add_related,
    check_line,
    clean_ip,
    local_to_utc,
    new_event,
)
from collectors.parsers.base import ParseContext, ParseError

_APACHE = re.compile(
    r"\[(?:\w{3} )?(\w{3}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))? (\d{4})\]"
    r" \[(?:([\w-]+):)?(\w+)\](?: \[pid (\d+)(?::tid (\d+))?\])?"
    r"(?: \[client ([^\]]+)\])?\s*(.*)",
    re.S,
)
_AH = re.compile(r"(AH\d{5}): ")
_NGINX = re.compile(
    r"(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d) \[(\w+)\] (\d+)#(\d+): (?:\*(\d+) )?(.*)", re.S
)
_NGX_CLIENT = re.compile(r", client: ([^,\s]+)")
_NGX_SERVER = re.compile(r", server: ([^,\s]*)")
_NGX_REQUEST = re.compile(r', request: "(\S+) (\S+)(?: HTTP/(\S+))?"')
_NGX_HOST = re.compile(r', host: "([^"]*)"')


def _split_hostport(text: str) -> tuple[str | None, int | None]:
    text = text.strip()
    ip = clean_ip(text)
    if ip:
        return ip, None
    host, _, port = text.rpartition(":")
    ip = clean_ip(host)
    return (ip, int(port)) if ip and port.isdigit() else (None, None)


class _ErrorParser:
    module = "apache"

    def __init__(self) -> None:
        self._ts_cache: dict[tuple[Any, ...], str] = {}

    def _ts(self, ctx: ParseContext, y: int, mo: int, d: int, h: int, mi: int, s: int,
            us: int) -> str:  # fmt: skip
        key = (y, mo, d, h, mi, s, us, ctx.timezone)
        ts = self._ts_cache.get(key)
        if ts is None:
            ts = local_to_utc(ctx.timezone, y, mo, d, h, mi, s, us)
            if len(self._ts_cache) > 4096:
                self._ts_cache.clear()
            self._ts_cache[key] = ts
        return ts

    def sniff(self, line: str) -> bool:
        """True for an Apache error log line."""
        return _APACHE.match(line[:300]) is not None

    def parse(self, line: str, ctx: ParseContext) -> dict[str, Any]:
        """The <module>.error event of ``line``; ParseError when it is not an error log line."""
        line = check_line(line)
        m = _APACHE.match(line)
        if m is not None:
            return self._apache(m, line, ctx)
        m = _NGINX.match(line)
        if m is not None:
            return self._nginx(m, line, ctx)
        raise ParseError("not a web server error log line")

    def _module(self, ctx: ParseContext, default: str) -> str:
        hint = ctx.dataset_hint or ""
        if hint.startswith(("nginx", "apache")):
            return hint.split(".", 1)[0]
        return default

    def _apache(self, m: re.Match[str], line: str, ctx: ParseContext) -> dict[str, Any]:
        mon, day, hh, mm, ss, frac, year, module, level, pid, tid, client, msg = m.groups()
        month = MONTHS.get(mon)
        if month is None:
            raise ParseError(f"unknown month {mon!r}")
        us = int(frac.ljust(6, "0")) if frac else 0
        ts = self._ts(ctx, int(year), month, int(day), int(hh), int(mm), int(ss), us)
        name = self._module(ctx, self.module)
        doc = new_event(ctx, line, ts, name, name + ".error")
        self._categorise(doc, level)
        doc["log"] = {"level": level.lower()}
        if module:
            doc["log"]["logger"] = module
        process: dict[str, Any] = {}
        if pid:
            process["pid"] = int(pid)
        if tid:
            process["thread"] = {"id": int(tid)}
        if process:
            doc["process"] = process
        ip = None
        if client:
            ip, port = _split_hostport(client)
            if ip:
                doc["source"] = {"ip": ip} if port is None else {"ip": ip, "port": port}
        code = _AH.match(msg)
        if code:
            doc["error"] = {"code": code.group(1)}
            msg = msg[code.end() :]
        doc["message"] = msg
        add_related(doc, [ip], [])
        return doc

    def _nginx(self, m: re.Match[str], line: str, ctx: ParseContext) -> dict[str, Any]:
        y, mo, d, hh, mm, ss, level, pid, tid, cid, msg = m.groups()
        ts = self._ts(ctx, int(y), int(mo), int(d), int(hh), int(mm), int(ss), 0)
        name = self._module(ctx, "nginx")
        doc = new_event(ctx, line, ts, name, name + ".error")
        self._categorise(doc, level)
        doc["log"] = {"level": level.lower()}
        doc["process"] = {"pid": int(pid), "thread": {"id": int(tid)}}
        if cid:
            doc[name] = {"error": {"connection_id": int(cid)}}
        ip = None
        c = _NGX_CLIENT.search(msg)
        if c:
            ip = clean_ip(c.group(1))
            if ip:
                doc["source"] = {"ip": ip}
        r = _NGX_REQUEST.search(msg)
        if r:
            doc["http"] = {"request": {"method": r.group(1)}}
            if r.group(3):
                doc["http"]["version"] = r.group(3)
            doc["url"] = {"original": r.group(2)}
        h = _NGX_HOST.search(msg)
        if h and h.group(1):
            doc.setdefault("url", {})["domain"] = h.group(1).rsplit(":", 1)[0]
        s = _NGX_SERVER.search(msg)
        if s and s.group(1):
            doc["destination"] = {"domain": s.group(1)}
        doc["message"] = msg
        add_related(doc, [ip], [])
        return doc

    @staticmethod
    def _categorise(doc: dict[str, Any], level: str) -> None:
        event = doc["event"]
        event["category"] = ["web"]
        event["type"] = (
            ["error"] if level.lower() in ("error", "crit", "alert", "emerg") else ["info"]
        )


class ApacheErrorParser(_ErrorParser):
    """Apache error logs (nginx lines in the same file are read too, as nginx.error)."""

    name = "apache_error"
    module = "apache"


class NginxErrorParser(_ErrorParser):
    """nginx error logs."""

    name = "nginx_error"
    module = "nginx"

    def sniff(self, line: str) -> bool:
        """True for an nginx error log line."""
        return _NGINX.match(line[:200]) is not None
