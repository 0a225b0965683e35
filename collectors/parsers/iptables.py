"""netfilter / iptables / UFW kernel log lines -> iptables.log.

    Nov 21 08:00:00 gw kernel: [12.34] [UFW BLOCK] IN=eth0 OUT= MAC=.. SRC=1.2.3.4 DST=10.0.0.1
        LEN=60 ... PROTO=TCP SPT=51234 DPT=22 WINDOW=29200 RES=0x00 SYN URGP=0

The text between the kernel tag (and its uptime stamp) and "IN=" is the log prefix; it
names the rule (rule.name) and gives event.action: "block" (BLOCK, REJECT), "drop" (DROP,
DENY), "allow" (ALLOW, ACCEPT, PASS), else "log". Every KEY=value and bare flag is kept under
``iptables.*`` (upper-case keys lowered, flags as a list in iptables.flags). Lines of the
same file that are not netfilter lines but have a syslog header become system.syslog events
(a kern.log mixes both); only lines without either are a ParseError.
"""

from __future__ import annotations

import re
from typing import Any

from collectors.parsers._common import add_related, check_line, clean_ip, new_event
from collectors.parsers.base import ParseContext, ParseError
from collectors.parsers.syslog_header import (
    HeaderReader,
    SyslogHeader,
    sniff_header,
    syslog_event,
    syslog_fields,
)

_KERNEL_TS = re.compile(r"(?:\[\s*\d+\.\d+\]\s*)?")
_NON_SPACE = re.compile(r"\S*")
_TRANSPORTS = {"2": "igmp", "6": "tcp", "17": "udp", "1": "icmp", "58": "ipv6-icmp",
               "ICMPV6": "ipv6-icmp"}  # fmt: skip
_INT_KEYS = frozenset(("LEN", "TTL", "ID", "WINDOW", "URGP", "HOPLIMIT", "TC", "TYPE", "CODE",
                       "MARK", "FLOWLBL", "SEQ", "ACK", "TOS_VAL"))  # fmt: skip


def prefix_action(prefix: str) -> str:
    """block, drop, allow or log from a netfilter log prefix such as "[UFW BLOCK]"."""
    p = prefix.upper()
    if "BLOCK" in p or "REJECT" in p:
        return "block"
    if "DROP" in p or "DENY" in p or "DENIED" in p:
        return "drop"
    if "ALLOW" in p or "ACCEPT" in p or "PASS" in p:
        return "allow"
    return "log"


class IptablesParser:
    """netfilter LOG lines (syslog-framed or bare). Stateful (year tracker): one per source."""

    name = "iptables"

    def __init__(self) -> None:
        self.headers = HeaderReader()

    def sniff(self, line: str) -> bool:
        """True for a line with netfilter's IN= OUT= ... SRC= DST= fields."""
        return " IN=" in line and " OUT=" in line and " SRC=" in line

    def parse(self, line: str, ctx: ParseContext) -> dict[str, Any]:
        """The iptables.log event of ``line`` (system.syslog for other kernel lines)."""
        line = check_line(line)
        if not sniff_header(line):
            raise ParseError("no syslog header")
        header = self.headers.read(line, ctx)
        return netfilter_event(line, header, ctx) or syslog_event(line, header, ctx)


def _netfilter_fields(message: str) -> tuple[str, str, str, str] | None:
    """(prefix, IN, OUT, rest) of a netfilter message: the first ``IN=<if> OUT=<if>`` that
    starts a word, in one pass (a regex with a lazy prefix was quadratic on blank runs)."""
    start = _KERNEL_TS.match(message).end()  # type: ignore[union-attr]
    pos = start
    while True:
        i = message.find("IN=", pos)
        if i < 0:
            return None
        if i > 0 and (message[i - 1].isalnum() or message[i - 1] == "_"):
            pos = i + 1
            continue
        end_in = _NON_SPACE.match(message, i + 3).end()  # type: ignore[union-attr]
        if message.startswith(" OUT=", end_in):
            end_out = _NON_SPACE.match(message, end_in + 5).end()  # type: ignore[union-attr]
            prefix = message[start:i].rstrip()
            return prefix, message[i + 3 : end_in], message[end_in + 5 : end_out], message[end_out:]
        pos = end_in  # any IN= inside this run ends at the same place: it fails too


def netfilter_event(line: str, header: SyslogHeader, ctx: ParseContext) -> dict[str, Any] | None:
    """The iptables.log event of a syslog line whose message is a netfilter log, else None."""
    found = _netfilter_fields(header.message)
    if found is None or " SRC=" not in found[3]:
        return None
    prefix, iface_in, iface_out, rest = found
    doc = new_event(ctx, line, header.timestamp, "iptables", "iptables.log")
    syslog_fields(doc, header)
    doc["message"] = header.message
    fields: dict[str, Any] = {}
    flags: list[str] = []
    for tok in rest.split():
        key, eq, value = tok.partition("=")
        if eq:
            if key in _INT_KEYS and value.isdigit():
                fields[key.lower()] = int(value)
            elif value:
                fields[key.lower()] = value
        elif tok.isupper():
            flags.append(tok)
    raw: dict[str, Any] = dict(fields)
    if flags:
        raw["flags"] = flags
    prefix = prefix.strip()
    action = prefix_action(prefix)
    event = doc["event"]
    event["category"] = ["network"]
    event["action"] = action
    if action == "allow":
        event["type"] = ["connection", "allowed"]
        event["outcome"] = "success"
    elif action in ("block", "drop"):
        event["type"] = ["connection", "denied"]
        event["outcome"] = "failure"
    else:
        event["type"] = ["connection"]
    if prefix:
        doc["rule"] = {"name": prefix}
    src_ip = clean_ip(fields.get("src"))
    dst_ip = clean_ip(fields.get("dst"))
    source: dict[str, Any] = {}
    dest: dict[str, Any] = {}
    if src_ip:
        source["ip"] = src_ip
    if dst_ip:
        dest["ip"] = dst_ip
    spt, dpt = fields.get("spt", ""), fields.get("dpt", "")
    if isinstance(spt, str) and spt.isdigit():
        source["port"] = int(spt)
    if isinstance(dpt, str) and dpt.isdigit():
        dest["port"] = int(dpt)
    mac = fields.get("mac")
    if isinstance(mac, str) and mac.count(":") >= 11:
        octets = mac.split(":")
        dest["mac"] = "-".join(octets[0:6]).upper()
        source["mac"] = "-".join(octets[6:12]).upper()
    if source:
        doc["source"] = source
    if dest:
        doc["destination"] = dest
    proto = str(fields.get("proto", ""))
    if proto:
        doc["network"] = {"transport": _TRANSPORTS.get(proto.upper(), proto.lower())}
    observer: dict[str, Any] = {}
    if iface_in:
        observer["ingress"] = {"interface": {"name": iface_in}}
    if iface_out:
        observer["egress"] = {"interface": {"name": iface_out}}
    if observer:
        doc["observer"] = observer
    raw["in"] = iface_in
    raw["out"] = iface_out
    doc["iptables"] = raw
    add_related(doc, [src_ip, dst_ip], [])
    return doc
