"""Syslog lines (headers: see collectors.parsers.syslog_header) -> system.syslog events;
kernel netfilter/UFW lines among them -> iptables.log events, as the iptables parser makes
them."""

from __future__ import annotations

from typing import Any

from collectors.parsers._common import check_line
from collectors.parsers.base import ParseContext
from collectors.parsers.iptables import netfilter_event
from collectors.parsers.syslog_header import HeaderReader, sniff_header, syslog_event


class SyslogParser:
    """Generic syslog: one event per line (system.syslog; netfilter kernel lines iptables.log).

    Stateful (year tracker): one per source.
    """

    name = "syslog"

    def __init__(self) -> None:
        self.headers = HeaderReader()

    def sniff(self, line: str) -> bool:
        """True when the line has a syslog header."""
        return sniff_header(line)

    def parse(self, line: str, ctx: ParseContext) -> dict[str, Any]:
        """The system.syslog event of ``line``; ParseError("no syslog header") otherwise.

        Kernel netfilter/UFW lines (a syslog or kern.log mixes them in) become iptables.log
        events, as the iptables parser makes them.
        """
        line = check_line(line)
        header = self.headers.read(line, ctx)
        if header.program == "kernel" and " SRC=" in header.message:
            doc = netfilter_event(line, header, ctx)
            if doc is not None:
                return doc
        return syslog_event(line, header, ctx)
