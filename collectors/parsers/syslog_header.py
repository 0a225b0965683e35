"""Syslog headers (RFC 3164 and RFC 5424, with or without PRI): reading them, the ECS fields
they give, and the system.syslog event of a line. The parsers of logs with syslog headers
(syslog, auth, bind, iptables) share these.

Accepted headers:
  <PRI>Mon DD hh:mm:ss[.ffffff] [YYYY] host tag[pid]: message      (RFC 3164, PRI optional)
  <PRI>YYYY-MM-DDThh:mm:ss[.f](Z|+hh:mm) host tag[pid]: message     (rsyslog high precision)
  <PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD...] MSG                (RFC 5424, PRI optional)
RFC 3164 times have no year and no zone: the year comes from the reader's YearTracker (one per
reader, hence one reader per source) and the zone is ctx.timezone.
"""

from __future__ import annotations

import re
from typing import Any

from collectors.parsers._common import (
    MONTHS,
    YearTracker,
    iso_to_utc,
    new_event,
    seconds_suffix,
    set_host,
    utc_minute_prefix,
)
from collectors.parsers.base import ParseContext, ParseError

FACILITIES = (
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
)
SEVERITIES = (
    "emergency",
    "alert",
    "critical",
    "error",
    "warning",
    "notice",
    "informational",
    "debug",
)

_BSD = re.compile(
    r"(?:<(\d{1,3})>)?([A-Za-z]{3}) {1,2}(\d{1,2}) (?:(\d{4}) )?(\d\d):(\d\d):(\d\d)"
    r"(?:\.(\d{1,6})\d*)?(?: (\d{4}))? ?(.*)",
    re.S,
)
_ISO = re.compile(
    r"(?:<(\d{1,3})>)?(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:[Zz]|[+-]\d\d:?\d\d)?)"
    r" (.*)",
    re.S,
)
_R5424 = re.compile(r"(?:<(\d{1,3})>)?(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) ?(.*)", re.S)
_TAG = re.compile(r"([^\s\[\]:]{1,128})(?:\[([^\]\s]{0,32})\])?: ?")
_SD_PARAM = re.compile(r'\s*([^\s=\]"]+)="((?:[^"\\]|\\.)*)"')


class SyslogHeader:
    """The parts of a syslog line's header: timestamp, host, program, pid, message, PRI..."""

    __slots__ = ("extra", "host", "message", "pid", "pri", "program", "timestamp")

    def __init__(
        self,
        timestamp: str,
        host: str | None,
        program: str | None,
        pid: str | None,
        message: str,
        pri: int | None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.timestamp = timestamp
        self.host = host
        self.program = program
        self.pid = pid
        self.message = message
        self.pri = pri
        self.extra = extra


def sniff_header(line: str) -> bool:
    """True when the line starts like a syslog line (RFC 3164, ISO or RFC 5424 header)."""
    head = line[:64]
    m = _BSD.match(head)
    if m is not None and m.group(2) in MONTHS:
        return True
    return bool(_ISO.match(head) or _is_5424(head))


def _is_5424(head: str) -> bool:
    m = _R5424.match(head)
    return bool(m and m.group(2) == "1" and (m.group(3) == "-" or _ISO.match(m.group(3) + " x")))


def _split_tag(rest: str, with_host: bool) -> tuple[str | None, str | None, str | None, str]:
    host = None
    if with_host:
        sp = rest.find(" ")
        first = rest if sp < 0 else rest[:sp]
        if first and not first.endswith(":") and "[" not in first:
            host = first
            rest = "" if sp < 0 else rest[sp + 1 :]
    m = _TAG.match(rest)
    if m is None:
        return host, None, None, rest
    return host, m.group(1), m.group(2), rest[m.end() :]


class HeaderReader:
    """Reads syslog headers of one source, keeping its year tracker and a per-second cache."""

    def __init__(self) -> None:
        self.years = YearTracker()

    def read(self, line: str, ctx: ParseContext) -> SyslogHeader:
        """The header of ``line`` (already length-checked); ParseError when it has none."""
        m = _BSD.match(line)
        if m is not None and m.group(2) in MONTHS:
            pri_s, mon, day_s, year_a, hh, mm, ss, frac, year_b, rest = m.groups()
            month = MONTHS[mon]
            day = int(day_s)
            year_s = year_a or year_b
            year = int(year_s) if year_s else self.years.year_for(month, day, ctx)
            ts = utc_minute_prefix(
                year, month, day, int(hh), int(mm), ctx.timezone
            ) + seconds_suffix(ss, frac)
            host, program, pid, message = _split_tag(rest, True)
            return SyslogHeader(ts, host, program, pid, message, _pri(pri_s))
        m = _ISO.match(line)
        if m is not None:
            ts = iso_to_utc(m.group(2).replace(",", "."), ctx.timezone)
            host, program, pid, message = _split_tag(m.group(3), True)
            return SyslogHeader(ts, host, program, pid, message, _pri(m.group(1)))
        m = _R5424.match(line)
        if m is not None and m.group(2) == "1":
            return self._read_5424(m, ctx)
        raise ParseError("no syslog header")

    def _read_5424(self, m: re.Match[str], ctx: ParseContext) -> SyslogHeader:
        pri_s, version, ts_s, host, app, procid, msgid, rest = m.groups()
        if ts_s == "-":
            raise ParseError("RFC 5424 line without a timestamp")
        ts = iso_to_utc(ts_s, ctx.timezone)
        sd, message = _structured_data(rest)
        if message.startswith("\ufeff"):
            message = message[1:]
        extra: dict[str, Any] = {"version": version}
        if msgid != "-":
            extra["msgid"] = msgid
        if sd:
            extra["structured_data"] = sd
        return SyslogHeader(
            ts,
            None if host == "-" else host,
            None if app == "-" else app,
            None if procid == "-" else procid,
            message,
            _pri(pri_s),
            extra,
        )


def _pri(text: str | None) -> int | None:
    if text is None:
        return None
    value = int(text)
    if value > 191:
        raise ParseError(f"syslog priority {value} out of range")
    return value


def _structured_data(rest: str) -> tuple[dict[str, dict[str, str]], str]:
    """RFC 5424 STRUCTURED-DATA as {sd-id: {param: value}} and the message after it."""
    if rest.startswith("-"):
        return {}, rest[2:] if rest.startswith("- ") else rest[1:]
    sd: dict[str, dict[str, str]] = {}
    pos = 0
    while pos < len(rest) and rest[pos] == "[":
        end_id = pos + 1
        while end_id < len(rest) and rest[end_id] not in " ]":
            end_id += 1
        sd_id = rest[pos + 1 : end_id]
        params: dict[str, str] = {}
        pos = end_id
        while True:
            pm = _SD_PARAM.match(rest, pos)
            if pm is None:
                break
            value = pm.group(2).replace('\\"', '"').replace("\\]", "]").replace("\\\\", "\\")
            params[pm.group(1)] = value
            pos = pm.end()
        if pos >= len(rest) or rest[pos] != "]":
            raise ParseError("malformed RFC 5424 structured data")
        sd[sd_id] = params
        pos += 1
    if pos == 0:
        raise ParseError("malformed RFC 5424 structured data")
    return sd, rest[pos + 1 :] if rest[pos : pos + 1] == " " else rest[pos:]


def syslog_fields(doc: dict[str, Any], header: SyslogHeader) -> None:
    """Fill log.syslog.*, process.name/pid and host.name of ``doc`` from a syslog header."""
    log_syslog: dict[str, Any] = {}
    if header.pri is not None:
        fac, sev = header.pri >> 3, header.pri & 7
        log_syslog["priority"] = header.pri
        log_syslog["facility"] = {"code": fac, "name": FACILITIES[fac]}
        log_syslog["severity"] = {"code": sev, "name": SEVERITIES[sev]}
    if header.host:
        log_syslog["hostname"] = header.host
        set_host(doc, header.host)
    if header.program:
        log_syslog["appname"] = header.program
        process: dict[str, Any] = {"name": header.program}
        if header.pid:
            log_syslog["procid"] = header.pid
            if header.pid.isdigit():
                process["pid"] = int(header.pid)
        doc["process"] = process
    if header.extra:
        log_syslog.update(header.extra)
    doc["log"] = {"syslog": log_syslog}


def syslog_event(line: str, header: SyslogHeader, ctx: ParseContext) -> dict[str, Any]:
    """A system.syslog event for an already-read header (used by parsers that fall back)."""
    doc = new_event(ctx, line, header.timestamp, "system", "system.syslog")
    doc["event"]["category"] = ["host"]
    doc["event"]["type"] = ["info"]
    syslog_fields(doc, header)
    doc["message"] = header.message
    return doc
