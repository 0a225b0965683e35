"""FortiGate key=value logs -> fortinet.firewall.

The key=value part may follow a syslog header or a PRI ("<189>date=..."); it starts at the
first "date=", "devname=", "logver=", "eventtime=", "logid=" or "itime=". Time: "eventtime="
(epoch in s/ms/us/ns, judged by its digits) when present, else date= and time= read with tz=
("+0700") or, without tz=, in ctx.timezone. Every raw key is kept as a string under
``fortinet.firewall.<key>``; the usual ones are mapped to ECS: source/destination ip, port,
bytes, packets, nat; network.transport/iana_number; event.action (= action, or the log's
subtype for logs without one); rule.id/name; observer.*; user.name; url.*; message.
"""

from __future__ import annotations

import re
from typing import Any

from collectors.parsers._common import (
    add_related,
    check_line,
    clean_ip,
    epoch_to_utc,
    local_to_utc,
    offset_to_utc,
    parse_offset,
    set_host,
)
from collectors.parsers.base import ParseContext, ParseError

_START = re.compile(r"(?:^|[\s>])(?=(?:date|devname|logver|eventtime|logid|itime)=)")
# (?<![\w-]): keys start after a separator, so each run is tried once (linear).
_KV = re.compile(r'(?<![\w-])([\w-]+)=(?:"([^"\\]*(?:\\.[^"\\]*)*)"|(\S*+))')
_DATE = re.compile(r"(\d{4})-(\d\d)-(\d\d)$")
_TIME = re.compile(r"(\d\d):(\d\d):(\d\d)$")

TRANSPORTS = {"1": "icmp", "2": "igmp", "6": "tcp", "17": "udp", "47": "gre", "50": "esp",
              "51": "ah", "58": "ipv6-icmp", "132": "sctp"}  # fmt: skip
_ALLOWED = frozenset(("accept", "close", "timeout", "server-rst", "client-rst", "start",
                      "pass", "passthrough", "allow", "permit", "ip-conn"))  # fmt: skip
_DENIED = frozenset(("deny", "block", "blocked", "drop", "dropped", "reset", "reject"))


def _kv(text: str) -> dict[str, str]:
    return {
        key: (quoted.replace('\\"', '"') if "\\" in quoted else quoted) or bare
        for key, quoted, bare in _KV.findall(text)
    }


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isascii() and value.isdigit() else None


class FortigateParser:
    """FortiGate key=value lines. Stateless; get_parser still returns a fresh instance."""

    name = "fortigate"

    def sniff(self, line: str) -> bool:
        """True when the line carries FortiGate's devname=/logid= key=value fields."""
        head = line[:2048]
        return ("devname=" in head or "devid=" in head) and ("logid=" in head or "type=" in head)

    def parse(self, line: str, ctx: ParseContext) -> dict[str, Any]:
        """The fortinet.firewall event of ``line``; ParseError when it is not FortiGate k=v."""
        line = check_line(line)
        m = _START.search(line)
        if m is None:
            raise ParseError("not a FortiGate key=value line")
        kv = _kv(line[m.end() :])
        if not kv or not ("devname" in kv or "logid" in kv or "devid" in kv):
            raise ParseError("not a FortiGate key=value line")
        ts = _timestamp(kv, ctx)
        event: dict[str, Any] = {"kind": "event", "module": "fortinet",
                                 "dataset": "fortinet.firewall"}  # fmt: skip
        if ctx.keep_original:
            event["original"] = line
        doc: dict[str, Any] = {"@timestamp": ts, "event": event}
        if ctx.host_name:
            doc["host"] = {"name": ctx.host_name}
        if ctx.department:
            doc["labels"] = {"department": ctx.department}
        observer: dict[str, Any] = {"vendor": "Fortinet", "product": "FortiGate",
                                    "type": "firewall"}  # fmt: skip
        if "devname" in kv:
            observer["name"] = kv["devname"]
            set_host(doc, kv["devname"])
        if "devid" in kv:
            observer["serial_number"] = kv["devid"]
        if kv.get("srcintf"):
            observer["ingress"] = {"interface": {"name": kv["srcintf"]}}
        if kv.get("dstintf"):
            observer["egress"] = {"interface": {"name": kv["dstintf"]}}
        doc["observer"] = observer
        src_ip = clean_ip(kv.get("srcip"))
        dst_ip = clean_ip(kv.get("dstip"))
        source = _endpoint(kv, src_ip, "srcport", "sentbyte", "sentpkt", "transip", "transport")
        dest = _endpoint(kv, dst_ip, "dstport", "rcvdbyte", "rcvdpkt", "tranip", "tranport")
        if source:
            doc["source"] = source
        if dest:
            doc["destination"] = dest
        network: dict[str, Any] = {}
        proto = kv.get("proto")
        if proto:
            network["iana_number"] = proto
            if proto in TRANSPORTS:
                network["transport"] = TRANSPORTS[proto]
        if kv.get("service"):
            network["protocol"] = kv["service"].lower()
        if network:
            doc["network"] = network
        action = kv.get("action") or kv.get("utmaction")
        kind = kv.get("type", "")
        if action:
            event["action"] = action
        elif kv.get("subtype"):
            event["action"] = kv["subtype"]
        if kind == "traffic" or src_ip or dst_ip:
            event["category"] = ["network"]
            if action in _DENIED or (action is None and kv.get("utmaction") in _DENIED):
                event["type"] = ["connection", "denied"]
                event["outcome"] = "failure"
            elif action in _ALLOWED:
                event["type"] = ["connection", "allowed"]
                event["outcome"] = "success"
            else:
                event["type"] = ["connection"]
        else:
            event["category"] = ["host"]
            event["type"] = ["info"]
        if kv.get("policyid"):
            rule: dict[str, Any] = {"id": kv["policyid"]}
            if kv.get("policyname"):
                rule["name"] = kv["policyname"]
            doc["rule"] = rule
        if kv.get("level"):
            doc["log"] = {"level": kv["level"]}
        user = kv.get("user") or kv.get("srcuser")
        if user:
            doc["user"] = {"name": user}
        if kv.get("msg"):
            doc["message"] = kv["msg"]
        if kv.get("hostname") or kv.get("url"):
            url: dict[str, Any] = {}
            if kv.get("hostname"):
                url["domain"] = kv["hostname"]
            if kv.get("url"):
                url["original"] = kv["url"]
            doc["url"] = url
        doc["fortinet"] = {"firewall": kv}
        add_related(doc, [src_ip, dst_ip], [user])
        return doc


def _endpoint(
    kv: dict[str, str],
    ip: str | None,
    port: str,
    nbytes: str,
    pkts: str,
    nat_ip: str,
    nat_port: str,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if ip:
        out["ip"] = ip
    if (p := _int(kv.get(port))) is not None:
        out["port"] = p
    if (b := _int(kv.get(nbytes))) is not None:
        out["bytes"] = b
    if (n := _int(kv.get(pkts))) is not None:
        out["packets"] = n
    nip = clean_ip(kv.get(nat_ip))
    if nip and nip != "0.0.0.0":
        nat: dict[str, Any] = {"ip": nip}
        if (np := _int(kv.get(nat_port))) is not None:
            nat["port"] = np
        out["nat"] = nat
    return out


def _timestamp(kv: dict[str, str], ctx: ParseContext) -> str:
    raw = kv.get("eventtime", "")
    if raw.isascii() and raw.isdigit() and len(raw) <= 19:  # longer: no real clock; use date=
        value = int(raw)
        digits = len(raw)
        if digits >= 18:
            return epoch_to_utc(value / 1e9)
        if digits >= 15:
            return epoch_to_utc(value / 1e6)
        if digits >= 12:
            return epoch_to_utc(value / 1e3)
        return epoch_to_utc(float(value))
    dm = _DATE.match(kv.get("date", ""))
    tm = _TIME.match(kv.get("time", ""))
    if dm is None or tm is None:
        raise ParseError("FortiGate line without date=/time= or eventtime=")
    y, mo, d = (int(x) for x in dm.groups())
    hh, mi, ss = (int(x) for x in tm.groups())
    tz = kv.get("tz")
    if tz:
        return offset_to_utc(y, mo, d, hh, mi, ss, 0, parse_offset(tz))
    return local_to_utc(ctx.timezone, y, mo, d, hh, mi, ss)
