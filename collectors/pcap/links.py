"""Link layers: pcap link-type numbers and the small decoders of 802.11 and NFLOG frames.

Only what the engine needs to find the network layer inside a frame; see
https://www.tcpdump.org/linktypes.html for the numbers.
"""

from __future__ import annotations

LINK_NULL = 0
LINK_ETHERNET = 1
LINK_RAW = 101
LINK_LOOP = 108
LINK_SLL = 113
LINK_IPV4 = 228
LINK_IPV6 = 229
LINK_SLL2 = 276
LINK_IEEE802_11 = 105
LINK_RADIOTAP = 127
LINK_NFLOG = 239
LINK_PPP = 9
LINK_FDDI = 10
LINK_PPP_HDLC = 50
RAW_LINKS = frozenset({LINK_RAW, 12, 14, LINK_IPV4, LINK_IPV6})
SUPPORTED_LINKS = frozenset(
    {
        LINK_NULL,
        LINK_ETHERNET,
        LINK_LOOP,
        LINK_SLL,
        LINK_SLL2,
        LINK_IEEE802_11,
        LINK_RADIOTAP,
        LINK_NFLOG,
        LINK_PPP,
        LINK_FDDI,
        LINK_PPP_HDLC,
    }
    | set(RAW_LINKS)
)


def nflog(data: bytes, n: int) -> tuple[int, int]:
    """(EtherType, offset) of the packet inside a Linux NFLOG record (its payload TLV)."""
    if n < 4:
        return -1, 0
    family = data[0]
    etype = 0x0800 if family == 2 else 0x86DD if family == 10 else -1
    pos = 4
    for _ in range(64):
        if pos + 4 > n:
            break
        length = data[pos] | (data[pos + 1] << 8)  # host byte order; captures are LE
        kind = (data[pos + 2] | (data[pos + 3] << 8)) & 0x7FFF
        if length < 4:
            break
        if kind == 9:  # NFULA_PAYLOAD
            return etype, pos + 4
        pos += (length + 3) & ~3
    return -1, 0


def wifi(data: bytes, off: int, n: int) -> tuple[int, int]:
    """(EtherType, payload offset) of an 802.11 data frame carrying LLC/SNAP; (-1, 0) for
    management, control, protected or non-SNAP frames."""
    if off + 24 > n:
        return -1, 0
    fc = data[off]
    flags = data[off + 1]
    if (fc >> 2) & 3 != 2 or flags & 0x40:
        return -1, 0
    subtype = fc >> 4
    if subtype & 4:  # null function: no body
        return -1, 0
    hdr = 30 if flags & 3 == 3 else 24
    if subtype & 8:  # QoS data
        hdr += 2
        if flags & 0x80:
            hdr += 4
    pos = off + hdr
    if pos + 8 > n or data[pos] != 0xAA or data[pos + 1] != 0xAA or data[pos + 2] != 0x03:
        return -1, 0
    return (data[pos + 6] << 8) | data[pos + 7], pos + 8
