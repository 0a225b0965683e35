"""Cisco IOS / IOS-XE system messages -> cisco.ios.

A message is ``[seq:] [*]Mmm dd [yyyy] hh:mm:ss[.fff] [TZ]: %FACILITY-SEVERITY-MNEMONIC: text``,
as a device sends it, optionally behind a syslog PRI, a syslog header, or the address of the
device that a collector wrote in front (``172.16.5.10 6705: Feb 17 13:40:03.673: %PARSER-5-
CFGLOG_LOGGEDCMD: User:admin  logged command:no dot1x port-control``). Times carry no year
(inferred per source like RFC 3164 times); a zone name the device appends is not trusted,
times are read in ctx.timezone.

Fields: ``cisco.ios.facility``/``severity``/``mnemonic``/``sequence``, ``event.code``
(``FACILITY-SEVERITY-MNEMONIC``), ``log.syslog.severity.code``, ``message`` (the text after
the code), ``observer.ip`` or ``observer.hostname`` (the device, when the line names it).
Configuration commands logged by the config logger (``%PARSER-5-CFGLOG_LOGGEDCMD``) and AAA
command accounting also get ``user.name``, ``process.command_line`` (the command) and
``event.action: configuration_command``; logins (``%SEC_LOGIN-5-LOGIN_SUCCESS`` /
``-4-LOGIN_FAILED``) get ``event.action: device_login``, ``user.name``, ``source.ip`` and
``event.outcome``.
"""

from __future__ import annotations

import re
from typing import Any

from collectors.parsers._common import (
    MONTHS,
    YearTracker,
    add_related,
    check_line,
    clean_ip,
    local_to_utc,
    new_event,
)
from collectors.parsers.base import ParseContext, ParseError

# The system-message code: %FACILITY-SEVERITY-MNEMONIC:
_CODE = re.compile(r"%([A-Z][A-Z0-9_]*(?:-[A-Z0-9_]+)?)-([0-7])-([A-Z][A-Z0-9_]*):\s?")
# What stands before the code: [device] [seq:] [*|.]Mmm dd [yyyy] hh:mm:ss[.fff] [TZ]:
# The device and the sequence number start where a run of their characters starts (the
# lookbehinds): trying every position inside a long run made the search quadratic (found by
# `make fuzz`: a 1,000-digit run before the code took 28 ms); a match inside a run would also
# match from its start, so the result is the same.
_HEAD = re.compile(
    r"(?:(?<![\w.:-])(?P<device>[\w.:-]+)\s+)?(?:(?<!\d)(?P<seq>\d+):\s+)?[*.]?"
    r"(?P<mon>[A-Za-z]{3})\s+(?P<day>\d{1,2})\s+(?:(?P<year>\d{4})\s+)?"
    r"(?P<hh>\d\d):(?P<mm>\d\d):(?P<ss>\d\d)(?:\.(?P<frac>\d{1,6}))?(?:\s+[A-Z]{2,5})?:\s*$"
)
_LOGGED_CMD = re.compile(r"User:\s*(?P<user>\S+)\s+logged command:\s*(?P<cmd>.*)$")
_LOGIN = re.compile(r"\[user:\s*(?P<user>[^\]]*)\]\s*\[Source:\s*(?P<src>[^\]]*)\]", re.IGNORECASE)


class CiscoIosParser:
    """Cisco IOS system messages. Stateful (year inference): one instance per source."""

    name = "cisco_ios"

    def __init__(self) -> None:
        self._years = YearTracker()

    def sniff(self, line: str) -> bool:
        """True when the line carries a %FACILITY-SEVERITY-MNEMONIC: code after a time."""
        head = line[:512]
        return "%" in head and _CODE.search(head) is not None

    def parse(self, line: str, ctx: ParseContext) -> dict[str, Any]:
        """The cisco.ios event of ``line``; ParseError when it is not a Cisco message."""
        line = check_line(line)
        code = _CODE.search(line, 0, 1024)
        if code is None:
            raise ParseError("no Cisco %FACILITY-SEVERITY-MNEMONIC code")
        head = _HEAD.search(line, 0, code.start())
        if head is None:
            raise ParseError("no time before the Cisco message code")
        month = MONTHS.get(head["mon"])
        if month is None:
            raise ParseError(f"unknown month {head['mon']!r}")
        day = int(head["day"])
        year = int(head["year"]) if head["year"] else self._years.year_for(month, day, ctx)
        frac = (head["frac"] or "").ljust(6, "0")
        timestamp = local_to_utc(
            ctx.timezone,
            year,
            month,
            day,
            int(head["hh"]),
            int(head["mm"]),
            int(head["ss"]),
            int(frac),
        )
        facility, severity, mnemonic = code.group(1), int(code.group(2)), code.group(3)
        text = line[code.end() :].strip()
        doc = new_event(ctx, line, timestamp, "cisco", "cisco.ios")
        event = doc["event"]
        event["code"] = f"{facility}-{severity}-{mnemonic}"
        event["severity"] = severity
        event["category"] = ["host"]
        event["type"] = ["info"]
        doc["message"] = text
        doc["log"] = {"syslog": {"severity": {"code": severity}}}
        ios: dict[str, Any] = {"facility": facility, "severity": severity, "mnemonic": mnemonic}
        if head["seq"]:
            ios["sequence"] = int(head["seq"])
        doc["cisco"] = {"ios": ios}
        device = head["device"]
        if device:
            ip = clean_ip(device)
            doc["observer"] = {"ip": ip} if ip else {"hostname": device}
            doc.setdefault("host", {"name": device})
        self._details(doc, text)
        return doc

    @staticmethod
    def _details(doc: dict[str, Any], text: str) -> None:
        event = doc["event"]
        command = _LOGGED_CMD.search(text)
        if command:
            user = command["user"]
            doc["user"] = {"name": user}
            doc["process"] = {"command_line": command["cmd"].strip()}
            event["action"] = "configuration_command"
            event["category"] = ["configuration"]
            event["type"] = ["change"]
            add_related(doc, [], [user])
            return
        login = _LOGIN.search(text) if "LOGIN" in event["code"] else None
        if login:
            user, source = login["user"].strip(), clean_ip(login["src"].strip())
            doc["user"] = {"name": user}
            if source:
                doc["source"] = {"ip": source}
            event["action"] = "device_login"
            event["category"] = ["authentication"]
            event["type"] = ["start"]
            event["outcome"] = "failure" if "FAIL" in event["code"] else "success"
            add_related(doc, [source], [user])
