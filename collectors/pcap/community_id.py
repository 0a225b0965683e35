"""Community ID flow hashing, version 1 (the public spec by Corelight).

``1:`` + base64(sha1(seed(2 bytes, big endian) + src ip + dst ip + protocol + 0 + src port +
dst port)). The endpoints are ordered so that both directions of a flow hash the same: the
lower (ip, port) comes first. For ICMP and ICMPv6 the "ports" are the message type and,
for messages that have a counterpart (echo request/reply and the like), the counterpart's
type; otherwise the code, and such one-way messages are never reordered. Protocols without
ports (anything but TCP, UDP, SCTP, ICMP, ICMPv6) hash without the port fields.
"""

from __future__ import annotations

import base64
import hashlib
import struct

ICMP = 1
TCP = 6
UDP = 17
ICMP6 = 58
SCTP = 132
PORT_PROTOCOLS = frozenset({TCP, UDP, SCTP})

#: ICMP message type -> the type of its counterpart (request <-> reply).
ICMP4_PAIRS = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17}
ICMP6_PAIRS = {
    128: 129,
    129: 128,
    130: 131,
    131: 130,
    133: 134,
    134: 133,
    135: 136,
    136: 135,
    139: 140,
    140: 139,
    144: 145,
    145: 144,
}

#: ICMP messages that answer a request (echo, timestamp, information, address mask replies;
#: for ICMPv6 also MLD reports, router and neighbour advertisements): a flow that starts
#: with one is oriented towards its receiver, the host that asked.
ICMP4_REPLIES = frozenset({0, 14, 16, 18})
ICMP6_REPLIES = frozenset({129, 131, 134, 136, 140, 145})


def icmp_ports(proto: int, icmp_type: int, icmp_code: int) -> tuple[int, int, bool]:
    """(pseudo source port, pseudo destination port, one_way) for an ICMP message."""
    pairs = ICMP4_PAIRS if proto == ICMP else ICMP6_PAIRS
    other = pairs.get(icmp_type)
    if other is None:
        return icmp_type, icmp_code, True
    return icmp_type, other, False


def community_id(
    proto: int,
    src: bytes,
    dst: bytes,
    sport: int | None = None,
    dport: int | None = None,
    seed: int = 0,
    one_way: bool = False,
) -> str:
    """The Community ID v1 string of a flow. ``src``/``dst`` are packed addresses (4 or 16
    bytes); for ICMP pass the pseudo ports from ``icmp_ports`` and its one_way flag."""
    has_ports = (
        sport is not None
        and dport is not None
        and (proto in PORT_PROTOCOLS or proto in (ICMP, ICMP6))
    )
    if not one_way and (src > dst or (src == dst and has_ports and (sport or 0) > (dport or 0))):
        src, dst, sport, dport = dst, src, dport, sport
    data = struct.pack("!H", seed) + src + dst + bytes((proto, 0))
    if has_ports:
        data += struct.pack("!HH", sport, dport)
    digest = hashlib.sha1(data).digest()
    return "1:" + base64.b64encode(digest).decode("ascii")


def flow_community_id(
    proto: int,
    src: bytes,
    dst: bytes,
    sport: int,
    dport: int,
    icmp_type: int | None = None,
    icmp_code: int | None = None,
    seed: int = 0,
) -> str:
    """Community ID of a flow from ``src``, the sender of the ICMP message whose type and
    code are given (for ICMP), or from the ports (other transports)."""
    if proto in (ICMP, ICMP6) and icmp_type is not None:
        sp, dp, one_way = icmp_ports(proto, icmp_type, icmp_code or 0)
        return community_id(proto, src, dst, sp, dp, seed, one_way)
    if proto in PORT_PROTOCOLS:
        return community_id(proto, src, dst, sport, dport, seed)
    return community_id(proto, src, dst, None, None, seed)
