"""DNS messages (RFC 1035 wire format) to plain values: header, first question, answers.

Every loop is bounded by the message length, compression pointers may only jump backwards
and at most 64 times per name, and at most MAX_RECORDS records are read, so a hostile message
cannot make the parser loop or allocate without bound.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

MAX_RECORDS = 100
MAX_JUMPS = 64

#: RR type numbers -> mnemonic (IANA DNS parameters).
TYPES: dict[int, str] = {
    1: "A",
    2: "NS",
    5: "CNAME",
    6: "SOA",
    12: "PTR",
    13: "HINFO",
    15: "MX",
    16: "TXT",
    17: "RP",
    18: "AFSDB",
    24: "SIG",
    25: "KEY",
    28: "AAAA",
    29: "LOC",
    33: "SRV",
    35: "NAPTR",
    37: "CERT",
    39: "DNAME",
    41: "OPT",
    43: "DS",
    44: "SSHFP",
    46: "RRSIG",
    47: "NSEC",
    48: "DNSKEY",
    50: "NSEC3",
    51: "NSEC3PARAM",
    52: "TLSA",
    59: "CDS",
    60: "CDNSKEY",
    64: "SVCB",
    65: "HTTPS",
    99: "SPF",
    249: "TKEY",
    250: "TSIG",
    251: "IXFR",
    252: "AXFR",
    255: "ANY",
    256: "URI",
    257: "CAA",
}
CLASSES = {1: "IN", 3: "CH", 4: "HS", 254: "NONE", 255: "ANY"}
RCODES = {
    0: "NOERROR",
    1: "FORMERR",
    2: "SERVFAIL",
    3: "NXDOMAIN",
    4: "NOTIMP",
    5: "REFUSED",
    6: "YXDOMAIN",
    7: "YXRRSET",
    8: "NXRRSET",
    9: "NOTAUTH",
    10: "NOTZONE",
}
OPCODES = {0: "QUERY", 1: "IQUERY", 2: "STATUS", 4: "NOTIFY", 5: "UPDATE"}


def type_name(value: int) -> str:
    """Mnemonic of an RR type, ``TYPE<n>`` for types without one (RFC 3597)."""
    return TYPES.get(value) or f"TYPE{value}"


def class_name(value: int) -> str:
    """Mnemonic of a DNS class (the mDNS unicast-response bit is ignored)."""
    return CLASSES.get(value & 0x7FFF) or f"CLASS{value}"


class DnsError(ValueError):
    """The bytes are not a DNS message."""


@dataclass
class DnsMessage:
    """What the pipeline uses of one DNS message."""

    id: int
    response: bool
    opcode: int
    rcode: int
    flags: list[str]
    qname: str | None = None
    qtype: int | None = None
    qclass: int | None = None
    answers: list[dict[str, object]] = field(default_factory=list)
    counts: tuple[int, int, int, int] = (0, 0, 0, 0)


def _name(msg: bytes, pos: int) -> tuple[str, int]:
    """The domain name at ``pos`` and the position after it (following compression)."""
    labels: list[str] = []
    end = -1
    jumps = 0
    size = len(msg)
    total = 0
    while True:
        if pos >= size:
            raise DnsError("name runs past the message")
        length = msg[pos]
        if length == 0:
            pos += 1
            break
        kind = length & 0xC0
        if kind == 0xC0:
            if pos + 1 >= size:
                raise DnsError("compression pointer cut short")
            target = ((length & 0x3F) << 8) | msg[pos + 1]
            if end < 0:
                end = pos + 2
            jumps += 1
            if jumps > MAX_JUMPS or target >= size:
                raise DnsError("compression loop")
            pos = target
            continue
        if kind:
            raise DnsError("unsupported label type")
        pos += 1
        if pos + length > size:
            raise DnsError("label runs past the message")
        total += length + 1
        if total > 1024:
            raise DnsError("name too long")
        labels.append(msg[pos : pos + length].decode("ascii", "backslashreplace"))
        pos += length
    return ".".join(labels), (end if end >= 0 else pos)


def _rdata(msg: bytes, rtype: int, start: int, rdlen: int) -> str:
    """The presentation form of the record data (names expanded, addresses printed)."""
    end = start + rdlen
    if rtype == 1 and rdlen == 4:
        return socket.inet_ntop(socket.AF_INET, msg[start:end])
    if rtype == 28 and rdlen == 16:
        return socket.inet_ntop(socket.AF_INET6, msg[start:end])
    try:
        if rtype in (2, 5, 12, 39):
            return _name(msg, start)[0]
        if rtype == 15 and rdlen >= 3:
            (pref,) = struct.unpack_from("!H", msg, start)
            return f"{pref} {_name(msg, start + 2)[0]}"
        if rtype == 33 and rdlen >= 7:
            prio, weight, port = struct.unpack_from("!HHH", msg, start)
            return f"{prio} {weight} {port} {_name(msg, start + 6)[0]}"
        if rtype == 6:
            mname, pos = _name(msg, start)
            rname, pos = _name(msg, pos)
            if pos + 20 <= end:
                serial, refresh, retry, expire, minimum = struct.unpack_from("!IIIII", msg, pos)
                return f"{mname} {rname} {serial} {refresh} {retry} {expire} {minimum}"
            return f"{mname} {rname}"
        if rtype in (16, 99):
            parts = []
            pos = start
            while pos < end:
                n = msg[pos]
                parts.append(msg[pos + 1 : min(pos + 1 + n, end)].decode("utf-8", "replace"))
                pos += 1 + n
            return " ".join(parts)
    except DnsError:
        pass
    return msg[start:end].hex()


def parse_dns(msg: bytes) -> DnsMessage:
    """Parse a DNS message. Raises DnsError when even the header or the first question is
    unreadable; damaged answer sections keep the answers read before the damage."""
    if len(msg) < 12:
        raise DnsError("shorter than a DNS header")
    ident, bits, qd, an, ns, ar = struct.unpack_from("!HHHHHH", msg, 0)
    flags = []
    if bits & 0x0400:
        flags.append("AA")
    if bits & 0x0200:
        flags.append("TC")
    if bits & 0x0100:
        flags.append("RD")
    if bits & 0x0080:
        flags.append("RA")
    if bits & 0x0020:
        flags.append("AD")
    if bits & 0x0010:
        flags.append("CD")
    out = DnsMessage(
        id=ident,
        response=bool(bits & 0x8000),
        opcode=(bits >> 11) & 0xF,
        rcode=bits & 0xF,
        flags=flags,
        counts=(qd, an, ns, ar),
    )
    pos = 12
    size = len(msg)
    for i in range(min(qd, MAX_RECORDS)):
        name, pos = _name(msg, pos)
        if pos + 4 > size:
            raise DnsError("question cut short")
        qtype, qclass = struct.unpack_from("!HH", msg, pos)
        pos += 4
        if i == 0:
            out.qname, out.qtype, out.qclass = name, qtype, qclass
    try:
        for _ in range(min(an, MAX_RECORDS)):
            name, pos = _name(msg, pos)
            if pos + 10 > size:
                break
            rtype, rclass, ttl, rdlen = struct.unpack_from("!HHIH", msg, pos)
            pos += 10
            if pos + rdlen > size:
                break
            out.answers.append(
                {
                    "name": name,
                    "type": type_name(rtype),
                    "class": class_name(rclass),
                    "ttl": ttl,
                    "data": _rdata(msg, rtype, pos, rdlen),
                }
            )
            pos += rdlen
    except DnsError:
        pass
    return out
