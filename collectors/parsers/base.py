"""The parser interface: one line of text in, one nested ECS document out.

A shipper (collectors/...) keeps ONE parser object per source: ``get_parser(name)`` returns a
fresh, stateful instance every call (it holds the source's year tracker for RFC 3164 times
that carry no year, and small caches). Do not share one instance between sources.

    parser = get_parser("auth")                      # or detect_format(sample, filename)
    ctx = ParseContext(source="/var/log/auth.log", timezone=ZoneInfo("Asia/Ho_Chi_Minh"))
    try:
        doc = parser.parse(line, ctx)                # nested ECS dict, no "_id"
    except ParseError as err:
        dead_letter(line, reason=str(err))           # short reason, e.g. "not an sshd line"

Documents carry no ``_id``: the shipper adds ``soc.ecs.event_id(source, position)``.
Lines longer than ``MAX_LINE_BYTES`` are refused with ``ParseError`` before any regex runs.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePath
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

#: Longest line (in UTF-8 bytes, measured as characters, an upper bound) any parser accepts.
MAX_LINE_BYTES = 1 << 20

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"


def _default_zone() -> ZoneInfo:
    return ZoneInfo(DEFAULT_TIMEZONE)


@dataclass(frozen=True)
class ParseContext:
    """What a parser needs to know about the source a line came from."""

    source: str  # source identity (path or name) for messages
    timezone: ZoneInfo = field(default_factory=_default_zone)  # zone for times without one
    host_name: str | None = None  # default host.name when the line has none
    department: str | None = None  # labels.department
    keep_original: bool = True  # keep event.original
    reference_time: datetime | None = None  # "now" for year inference (default: now UTC)
    dataset_hint: str | None = None  # e.g. "nginx" vs "apache" for access logs


class ParseError(ValueError):
    """A line cannot be parsed; the message is a short reason such as "not an sshd line"."""


@runtime_checkable
class LineParser(Protocol):
    """A parser of one text format. Instances may be stateful: use one per source."""

    name: str  # format name used by --format

    def parse(self, line: str, ctx: ParseContext) -> dict[str, Any]:
        """The nested ECS document for ``line`` (no trailing newline needed), or ParseError."""
        ...

    def sniff(self, line: str) -> bool:
        """A cheap check whether ``line`` looks like this format (for auto-detection)."""
        ...


# name -> "module:Class" (modules imported on first use, so importing base stays cheap)
_REGISTRY: dict[str, str] = {
    "syslog": "collectors.parsers.syslog:SyslogParser",
    "auth": "collectors.parsers.auth:AuthParser",
    "auditd": "collectors.parsers.auditd:AuditdParser",
    "apache_access": "collectors.parsers.access:ApacheAccessParser",
    "nginx_access": "collectors.parsers.access:NginxAccessParser",
    "apache_error": "collectors.parsers.weberror:ApacheErrorParser",
    "nginx_error": "collectors.parsers.weberror:NginxErrorParser",
    "json": "collectors.parsers.jsonlines:JsonParser",
    "fortigate": "collectors.parsers.fortigate:FortigateParser",
    "iptables": "collectors.parsers.iptables:IptablesParser",
    "bind": "collectors.parsers.bind:BindParser",
    "cisco_ios": "collectors.parsers.cisco:CiscoIosParser",
}

#: Format names accepted by ``--format`` (and returned by detect_format).
FORMATS: tuple[str, ...] = tuple(_REGISTRY)

#: Extra spellings accepted by get_parser.
ALIASES: dict[str, str] = {
    "access": "apache_access",
    "apache": "apache_access",
    "nginx": "nginx_access",
    "error": "apache_error",
    "sshd": "auth",
    "audit": "auditd",
    "jsonl": "json",
    "ndjson": "json",
    "ecs": "json",
    "winlogbeat": "json",
    "fortinet": "fortigate",
    "ufw": "iptables",
    "netfilter": "iptables",
    "named": "bind",
    "cisco": "cisco_ios",
    "ios": "cisco_ios",
}


def get_parser(name: str) -> LineParser:
    """A NEW parser instance for format ``name`` (or an alias); one per source, never shared.

    Raises ValueError("unknown format 'x' (known: syslog, auth, ...)") for an unknown name.
    """
    key = name.strip().lower().replace("-", "_")
    key = ALIASES.get(key, key)
    target = _REGISTRY.get(key)
    if target is None:
        raise ValueError(f"unknown format {name!r} (known: {', '.join(FORMATS)})")
    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls()


# Specific formats first: a line a specific parser claims beats the generic syslog reading.
_DETECT_ORDER: tuple[str, ...] = (
    "json",
    "auditd",
    "fortigate",
    "bind",
    "cisco_ios",
    "iptables",
    "apache_access",
    "apache_error",
    "nginx_error",
    "auth",
    "syslog",
)


_AUTH_NAME = re.compile(r"(?:^|[-_.])(?:auth|secure)(?:[-_.]|$)")


def detect_format(sample_lines: list[str], filename: str | None = None) -> str | None:
    """The format name of a file judged from a sample of its lines (and its name), or None.

    A specific format wins when it claims at least half of the non-empty sample lines;
    otherwise syslog when any line is syslog-framed, else the format claiming most lines.
    Syslog-framed files named like auth.log, secure, app01-auth.log are "auth"; access and
    error logs are nginx_* when the file's path mentions nginx, else apache_*. None means no
    format claims any line.
    """
    lines = [ln for ln in sample_lines if ln.strip()][:200]
    if not lines:
        return None
    base = PurePath(filename).name.lower() if filename else ""
    full = filename.lower() if filename else ""
    hits: dict[str, int] = {}
    for fmt in _DETECT_ORDER:
        parser = get_parser(fmt)
        hits[fmt] = sum(1 for ln in lines if len(ln) <= MAX_LINE_BYTES and parser.sniff(ln))
    need = (len(lines) + 1) // 2
    framed = hits["syslog"]
    if framed >= need and _AUTH_NAME.search(base):
        return "auth"
    choice: str | None = None
    for fmt in _DETECT_ORDER:
        if fmt in ("syslog", "auth"):
            continue
        if hits[fmt] >= need:
            choice = fmt
            break
    if choice is None:
        if hits["auth"] >= need:
            choice = "auth"
        elif framed:
            choice = "syslog"
        else:
            best = max(_DETECT_ORDER, key=lambda f: hits[f])
            choice = best if hits[best] else None
    if choice in ("apache_access", "apache_error") and "nginx" in full:
        choice = choice.replace("apache", "nginx")
    return choice
