"""DNS messages (RFC 1035 wire format) to plain values: header, first question, answers.

Every loop is bounded by the message length, compression pointers may only jump backwards
and at most 64 times per name, and at most MAX_RECORDS records are read, so a hostile message
cannot make the parser loop or allocate without bound.
"""

from __future__ import annotations

import math
import socket
import struct
from dataclasses import dataclass, field

MAX_RECORDS = 100
MAX_JUMPS = 64

#: RR type numbers -> mnemonic (IANA DNS parameters).
TYPES: dict[int, str] = {
    1: "A",
    2: "NS",
    3: "MD",
    4: "MF",
    5: "CNAME",
    6: "SOA",
    7: "MB",
    8: "MG",
    9: "MR",
    10: "NULL",
    11: "WKS",
    12: "PTR",
    13: "HINFO",
    14: "MINFO",
    15: "MX",
    16: "TXT",
    17: "RP",
    18: "AFSDB",
    19: "X25",
    20: "ISDN",
    21: "RT",
    22: "NSAP",
    23: "NSAP-PTR",
    24: "SIG",
    25: "KEY",
    26: "PX",
    27: "GPOS",
    28: "AAAA",
    29: "LOC",
    30: "NXT",
    31: "EID",
    32: "NIMLOC",
    33: "SRV",
    34: "ATMA",
    35: "NAPTR",
    36: "KX",
    37: "CERT",
    38: "A6",
    39: "DNAME",
    40: "SINK",
    41: "OPT",
    42: "APL",
    43: "DS",
    44: "SSHFP",
    45: "IPSECKEY",
    46: "RRSIG",
    47: "NSEC",
    48: "DNSKEY",
    49: "DHCID",
    50: "NSEC3",
    51: "NSEC3PARAM",
    52: "TLSA",
    53: "SMIMEA",
    55: "HIP",
    56: "NINFO",
    57: "RKEY",
    58: "TALINK",
    59: "CDS",
    60: "CDNSKEY",
    61: "OPENPGPKEY",
    62: "CSYNC",
    63: "ZONEMD",
    64: "SVCB",
    65: "HTTPS",
    99: "SPF",
    100: "UINFO",
    101: "UID",
    102: "GID",
    103: "UNSPEC",
    104: "NID",
    105: "L32",
    106: "L64",
    107: "LP",
    108: "EUI48",
    109: "EUI64",
    249: "TKEY",
    250: "TSIG",
    251: "IXFR",
    252: "AXFR",
    253: "MAILB",
    254: "MAILA",
    255: "ANY",
    256: "URI",
    257: "CAA",
    258: "AVC",
    259: "DOA",
    260: "AMTRELAY",
    32768: "TA",
    32769: "DLV",
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
    qfacts: dict[str, object] | None = None
    answers: list[dict[str, object]] = field(default_factory=list)
    counts: tuple[int, int, int, int] = (0, 0, 0, 0)


#: label bytes -> text: printable ASCII stays, 8-bit bytes become the Latin-1 character of
#: the same value (one character per byte, so a rule's character runs and lengths still see
#: the label whole); only control bytes, space, "." and the backslash are escaped as \xNN.
_LABEL_TABLE = {b: chr(b) for b in range(256)}
for _b in (*range(0x21), 0x2E, 0x5C, 0x7F):
    _LABEL_TABLE[_b] = f"\\x{_b:02x}"
_PLAIN = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def label_text(raw: bytes) -> str:
    """The text of one label: ASCII as is, 8-bit bytes as Latin-1 characters (one character
    per byte), control bytes, space, dot and backslash as ``\\xNN``."""
    if raw.isascii() and (raw.isalnum() or not raw or set(raw) <= _PLAIN):
        return raw.decode("ascii")
    return "".join(_LABEL_TABLE[b] for b in raw)


def name_facts(labels: list[bytes]) -> dict[str, object]:
    """Facts about a query name taken from its bytes: ``length`` (bytes of the name in dotted
    form, escapes decoded), ``max_label_length``, ``binary`` (a label holds a byte that is not
    a letter, digit, hyphen or underscore) and ``entropy`` (Shannon entropy, bits per byte,
    of the labels left of the last two, or of the whole name when it has two labels or fewer;
    rounded to 3 decimals)."""
    if not labels:
        return {"length": 0, "max_label_length": 0, "binary": False, "entropy": 0.0}
    length = sum(len(x) for x in labels) + len(labels) - 1
    sub = b".".join(labels[:-2]) if len(labels) > 2 else b".".join(labels)
    counts: dict[int, int] = {}
    for b in sub:
        counts[b] = counts.get(b, 0) + 1
    total = len(sub)
    entropy = -sum(c / total * math.log2(c / total) for c in counts.values()) if total else 0.0
    return {
        "length": length,
        "max_label_length": max(len(x) for x in labels),
        "binary": any(not set(x) <= _PLAIN for x in labels),
        "entropy": round(entropy + 0.0, 3),
    }


def name_labels(msg: bytes, pos: int) -> list[bytes]:
    """The raw labels of the name at ``pos`` (compression followed); [] when unreadable."""
    out: list[bytes] = []
    jumps = 0
    size = len(msg)
    while pos < size and len(out) < 128:
        length = msg[pos]
        if length == 0:
            return out
        if length & 0xC0 == 0xC0:
            if pos + 1 >= size or jumps >= MAX_JUMPS:
                return []
            jumps += 1
            pos = ((length & 0x3F) << 8) | msg[pos + 1]
            continue
        if length & 0xC0 or pos + 1 + length > size:
            return []
        out.append(msg[pos + 1 : pos + 1 + length])
        pos += 1 + length
    return out


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
        labels.append(label_text(msg[pos : pos + length]))
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
            out.qfacts = name_facts(name_labels(msg, 12))
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
