"""BIND (named) query log lines -> bind.query.

    21-Nov-2026 08:00:00.123 [queries: info: ]client [@0x7f..] 10.0.0.1#5353 [(name)]:
        [view v: ]query: example.com IN A +E(0)K (10.0.0.2)

The line may instead carry a syslog header ("Nov 21 08:00:00 ns1 named[42]: client ...").
Times are zone-less and read in ctx.timezone. Flags: "+" recursion desired (RD in
dns.header_flags), "-" not; "T" means TCP (network.transport), "E(n)" EDNS version n, "S"
signed, "D" DNSSEC OK (DO), "C" checking disabled (CD), "K" cookie. The address in the final
parentheses is the server's (destination.ip). Lines that are not queries are a ParseError.
"""

from __future__ import annotations

import re
from typing import Any

from collectors.parsers._common import (
    MONTHS,
    add_related,
    check_line,
    clean_ip,
    new_event,
    seconds_suffix,
    utc_minute_prefix,
)
from collectors.parsers.base import ParseContext, ParseError
from collectors.parsers.syslog_header import HeaderReader, sniff_header, syslog_fields

_TIME = re.compile(r"(\d\d?)-(\w{3})-(\d{4}) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))? (.*)", re.S)
_QUERY = re.compile(
    r"(?:[\w-]+: \w+: )?client (?:@0x[0-9a-fA-F]+ )?(\S+?)#(\d+)(?: \(([^)]*)\))?:"
    r"(?: view ([^:]+):)? query: (\S+) (\S+) (\S+) (\S*)(?: \(([^)]*)\))?"
)


class BindParser:
    """BIND query log lines. Holds a timestamp cache and year tracker: one per source."""

    name = "bind"

    def __init__(self) -> None:
        self.headers = HeaderReader()
        self._ts_cache: dict[tuple[object, ...], str] = {}

    def sniff(self, line: str) -> bool:
        """True for a line with BIND's "client ... query:" shape."""
        head = line[:1024]
        return "client " in head and " query: " in head and "#" in head

    def parse(self, line: str, ctx: ParseContext) -> dict[str, Any]:
        """The bind.query event of ``line``; ParseError when it is not a query line."""
        line = check_line(line)
        header = None
        m = _TIME.match(line)
        if m is not None:
            ts = self._timestamp(m, ctx)
            body = m.group(8)
        elif sniff_header(line):
            header = self.headers.read(line, ctx)
            ts, body = header.timestamp, header.message
        else:
            raise ParseError("no BIND or syslog timestamp")
        q = _QUERY.match(body)
        if q is None:
            raise ParseError("not a BIND query line")
        client_ip, client_port, _qname, view, name, qclass, qtype, flags, server = q.groups()
        doc = new_event(ctx, line, ts, "bind", "bind.query")
        if header is not None:
            syslog_fields(doc, header)
        event = doc["event"]
        event["category"] = ["network"]
        event["type"] = ["protocol", "info"]
        event["action"] = "dns_query"
        src_ip = clean_ip(client_ip)
        doc["source"] = {"ip": src_ip, "port": int(client_port)} if src_ip else {
            "address": client_ip, "port": int(client_port)}  # fmt: skip
        dst_ip = clean_ip(server) if server else None
        if dst_ip:
            doc["destination"] = {"ip": dst_ip}
        header_flags = ["RD"] if flags.startswith("+") else []
        if "D" in flags:
            header_flags.append("DO")
        if "C" in flags:
            header_flags.append("CD")
        dns: dict[str, Any] = {
            "type": "query",
            "question": {"name": name.rstrip(".") or ".", "type": qtype, "class": qclass},
        }
        if header_flags:
            dns["header_flags"] = header_flags
        doc["dns"] = dns
        doc["network"] = {"transport": "tcp" if "T" in flags else "udp", "protocol": "dns"}
        bind: dict[str, Any] = {"flags": flags}
        if view:
            bind["view"] = view
        if "E(" in flags:
            bind["edns_version"] = flags.split("E(", 1)[1].split(")", 1)[0]
        doc["bind"] = bind
        add_related(doc, [src_ip, dst_ip], [])
        return doc

    def _timestamp(self, m: re.Match[str], ctx: ParseContext) -> str:
        day, mon, year, hh, mm, ss, frac = m.groups()[:7]
        key = (day, mon, year, hh, mm, ctx.timezone)
        prefix = self._ts_cache.get(key)
        if prefix is None:
            month = MONTHS.get(mon)
            if month is None:
                raise ParseError(f"unknown month {mon!r}")
            prefix = utc_minute_prefix(int(year), month, int(day), int(hh), int(mm), ctx.timezone)
            if len(self._ts_cache) > 4096:
                self._ts_cache.clear()
            self._ts_cache[key] = prefix
        return prefix + seconds_suffix(ss, frac)
