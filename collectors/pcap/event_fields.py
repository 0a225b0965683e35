"""Field values of the pcap ECS documents: timestamps, addresses, TCP flags, transports, the
identity of a flow, and the small text forms (TLS versions, fingerprints, host:port, serials)
that collectors.pcap.events puts into its documents.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from collectors.pcap.tls import version_of
from soc.ecs import format_timestamp

if TYPE_CHECKING:
    from collectors.pcap.flows import Flow

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TRANSPORTS = {
    1: "icmp",
    6: "tcp",
    17: "udp",
    58: "ipv6-icmp",
    132: "sctp",
    47: "gre",
    4: "ipip",
    41: "ipv6",
    50: "esp",
    51: "ah",
    2: "igmp",
    89: "ospf",
    103: "pim",
    112: "vrrp",
}
FLAG_BITS = (
    (0x01, "FIN"),
    (0x02, "SYN"),
    (0x04, "RST"),
    (0x08, "PSH"),
    (0x10, "ACK"),
    (0x20, "URG"),
    (0x40, "ECE"),
    (0x80, "CWR"),
)


def iso(ns: int) -> str:
    """An epoch time in nanoseconds as the stored timestamp form (UTC, microseconds, Z)."""
    return format_timestamp(_EPOCH + timedelta(microseconds=ns // 1000))


def ip_text(addr: bytes) -> str:
    """Printable form of a packed IPv4 or IPv6 address."""
    return socket.inet_ntop(socket.AF_INET if len(addr) == 4 else socket.AF_INET6, addr)


def flags(bits: int) -> list[str]:
    """Names of the TCP flags in ``bits``."""
    return [name for bit, name in FLAG_BITS if bits & bit]


def flow_source(flow: Flow) -> str:
    """The identity under which a flow's events get their ids: its key and its start."""
    proto, a, pa, b, pb, vlan, inner = flow.key
    return f"pcap:{proto}|{ip_text(a)}|{pa}|{ip_text(b)}|{pb}|{vlan}|{inner}@{flow.start}"


def protocol_of(flow: Flow) -> str | None:
    """The application protocol recognised on a flow, if any."""
    if flow.http is not None or flow.http_seq:
        return "http"
    if flow.tls is not None:
        return "tls"
    if flow.ssh is not None:
        return "ssh"
    if flow.dns_seq or flow.app == "dns":
        return "dns"
    return None


def version_text(value: int) -> str:
    """A TLS version number as its name (\"TLS 1.2\"...), or 0x-hex when unknown."""
    known = version_of(value)
    return known[1] if known else f"0x{value:04x}"


def md5_hex(text: str) -> str:
    """The MD5 digest of ``text`` (UTF-8) in lower-case hex: the JA3/JA3S/HASSH form."""
    import hashlib

    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def host_and_port(text: str) -> tuple[str, int | None]:
    """(host, port) of ``host[:port]`` / ``[v6]:port``; the host lower-cased."""
    text = text.strip()
    if text.startswith("["):
        host, _sep, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _sep, port = text.partition(":")
    else:
        host, port = text, ""
    return host.lower(), int(port) if port.isascii() and port.isdigit() and len(port) <= 5 else None


def ecs_serial(hex_text: str) -> str:
    """A certificate serial as ECS wants it: upper-case hex, no sign-padding zero bytes."""
    text = hex_text.upper()
    while len(text) > 2 and text.startswith("00"):
        text = text[2:]
    return text
