"""The link and network layers: from a captured frame to the IP payload.

``NetworkDecoder.frame`` reads the link layer of a frame (Ethernet and 802.3/SNAP, Linux
cooked v1/v2, raw IP, BSD loopback, PPP, FDDI, NFLOG, 802.11 and radiotap), then from its
EtherType the VLAN tags (802.1Q/QinQ), shims (FabricPath, 802.1ah, VN-Tag), MPLS labels and
PPPoE, then IPv4 or IPv6 with their extension headers. Fragments go through a
``FragmentReassembler``. Each IP payload is handed to the ``transport`` callback (the
engine) with where it sits in the frame; tunnels come back in through ``ether``, ``ipv4``
and ``ipv6``. Headers are read with ``struct.unpack_from`` on the frame bytes: no packet
object is built.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from collectors.pcap.config import EngineStats
from collectors.pcap.fragments import FragmentReassembler
from collectors.pcap.links import (
    LINK_ETHERNET,
    LINK_FDDI,
    LINK_IEEE802_11,
    LINK_LOOP,
    LINK_NFLOG,
    LINK_NULL,
    LINK_PPP,
    LINK_PPP_HDLC,
    LINK_RADIOTAP,
    LINK_SLL,
    LINK_SLL2,
    RAW_LINKS,
    nflog,
    wifi,
)

_ipv4_header = struct.Struct("!BBHHHBBH4s4s").unpack_from
_ipv6_header = struct.Struct("!IHBB16s16s").unpack_from


#: where an IP payload goes (the engine's flow tracking), called with: the frame's time and
#: length on the wire, how many frames carried the payload, the IP version, source,
#: destination and protocol, the bytes holding the payload between ``off`` and ``end``, the
#: two VLAN ids and how many tunnels the packet was found in
Transport = Callable[
    [int, int, int, int, bytes, bytes, int, bytes, int, int, int | None, int | None, int], None
]


class NetworkDecoder:
    """Decodes the link and network layers of frames and hands each IP payload to
    ``transport``. ``cut``: bytes of the current IP packet beyond the captured part;
    ``frames``: frames making up the current (possibly reassembled) datagram."""

    __slots__ = ("cut", "fragments", "frames", "stats", "transport")

    def __init__(self, stats: EngineStats, transport: Transport) -> None:
        self.stats = stats
        self.transport = transport
        self.cut = 0
        self.frames = 1
        self.fragments = FragmentReassembler(stats, self._lost)

    def frame(self, ts: int, linktype: int, data: bytes, wirelen: int) -> None:
        """One captured frame (``ts`` in ns, the capture's link type, the captured bytes, the
        length on the wire): find the network layer behind the link layer and decode it;
        frames of other protocols and unknown link types are counted in ``stats``."""
        self.frames = 1  # here: a datagram given up on before this frame left its count
        stats = self.stats
        n = len(data)
        if linktype == LINK_ETHERNET:
            if n < 14:
                stats.malformed += 1
                return
            etype = (data[12] << 8) | data[13]
            off = 14
            if etype <= 1500 and n >= 22 and data[14] == 0xAA and data[15] == 0xAA:
                etype = (data[20] << 8) | data[21]  # 802.3 length + LLC/SNAP
                off = 22
        elif linktype == LINK_SLL:
            if n < 16:
                stats.malformed += 1
                return
            etype = (data[14] << 8) | data[15]
            off = 16
        elif linktype == LINK_SLL2:
            if n < 20:
                stats.malformed += 1
                return
            etype = (data[0] << 8) | data[1]
            off = 20
        elif linktype in RAW_LINKS:
            if n < 1:
                stats.malformed += 1
                return
            version = data[0] >> 4
            etype = 0x0800 if version == 4 else 0x86DD if version == 6 else 0
            off = 0
        elif linktype in (LINK_NULL, LINK_LOOP):
            if n < 4:
                stats.malformed += 1
                return
            family = data[0] | data[3]  # host byte order: one end holds the value
            etype = 0x0800 if family == 2 else 0x86DD if family in (10, 24, 28, 30) else 0
            off = 4
        elif linktype in (LINK_PPP, LINK_PPP_HDLC):
            off = 2 if n >= 2 and data[0] == 0xFF and data[1] == 0x03 else 0
            if off + 2 > n:
                stats.malformed += 1
                return
            proto = (data[off] << 8) | data[off + 1]
            off += 2
            etype = 0x0800 if proto == 0x0021 else 0x86DD if proto == 0x0057 else -1
            if etype < 0:
                stats.non_ip += 1
                return
        elif linktype == LINK_FDDI:
            if n < 21 or data[13] != 0xAA or data[14] != 0xAA:
                stats.non_ip += 1
                return
            etype = (data[19] << 8) | data[20]
            off = 21
        elif linktype == LINK_NFLOG:
            etype, off = nflog(data, n)
            if etype < 0:
                stats.non_ip += 1
                return
        elif linktype in (LINK_IEEE802_11, LINK_RADIOTAP):
            off = 0
            if linktype == LINK_RADIOTAP:
                if n < 4:
                    stats.malformed += 1
                    return
                off = data[2] | (data[3] << 8)
            etype, off = wifi(data, off, n)
            if etype < 0:
                stats.non_ip += 1
                return
        else:
            stats.skipped_link_type += 1
            stats.unknown_link_types.add(linktype)
            return
        if etype == 0x0800:  # the common case goes straight to IPv4
            self.ipv4(ts, wirelen, data, off, n, None, None, 0)
        else:
            self.ether(ts, wirelen, data, off, n, etype, None, None, 0)

    def ether(
        self,
        ts: int,
        wirelen: int,
        data: bytes,
        off: int,
        n: int,
        etype: int,
        vlan: int | None,
        inner: int | None,
        depth: int,
    ) -> None:
        """From an EtherType onwards (the frame's bytes end at ``n``; ``vlan``/``inner``: the VLAN
        ids seen so far; ``depth``: tunnels around): VLAN tags, MPLS, PPPoE, then IP."""
        stats = self.stats
        for _ in range(64):  # tags and shims before the network layer (each 4+ bytes)
            if etype == 0x8100 or etype == 0x88A8 or etype == 0x9100:  # 802.1Q / QinQ
                if off + 4 > n:
                    stats.malformed += 1
                    return
                vid = ((data[off] << 8) | data[off + 1]) & 0x0FFF
                if vlan is None:
                    vlan = vid
                elif inner is None:
                    inner = vid
                etype = (data[off + 2] << 8) | data[off + 3]
                off += 4
            elif etype == 0x8903 and off + 16 <= n:  # Cisco FabricPath: tag, original frame
                off += 16
                etype = (data[off - 2] << 8) | data[off - 1]
            elif etype == 0x88E7 and off + 18 <= n:  # 802.1ah I-TAG, customer frame
                off += 18
                etype = (data[off - 2] << 8) | data[off - 1]
            elif etype == 0x8926 and off + 6 <= n:  # VN-Tag
                off += 6
                etype = (data[off - 2] << 8) | data[off - 1]
            else:
                break
        if etype == 0x0800:
            self.ipv4(ts, wirelen, data, off, n, vlan, inner, depth)
        elif etype == 0x86DD:
            self.ipv6(ts, wirelen, data, off, n, vlan, inner, depth)
        elif etype == 0x8847 or etype == 0x8848:  # MPLS: skip the label stack
            for _ in range(16):
                if off + 4 > n:
                    stats.malformed += 1
                    return
                bottom = data[off + 2] & 1
                off += 4
                if bottom:
                    break
            if off < n:
                version = data[off] >> 4
                if version == 4:
                    self.ipv4(ts, wirelen, data, off, n, vlan, inner, depth)
                    return
                if version == 6:
                    self.ipv6(ts, wirelen, data, off, n, vlan, inner, depth)
                    return
            stats.non_ip += 1
        elif etype == 0x8864:  # PPPoE session
            if off + 8 > n:
                stats.malformed += 1
                return
            proto = (data[off + 6] << 8) | data[off + 7]
            if proto == 0x0021:
                self.ipv4(ts, wirelen, data, off + 8, n, vlan, inner, depth)
            elif proto == 0x0057:
                self.ipv6(ts, wirelen, data, off + 8, n, vlan, inner, depth)
            else:
                stats.non_ip += 1
        else:
            stats.non_ip += 1

    def ipv4(
        self,
        ts: int,
        wirelen: int,
        data: bytes,
        off: int,
        n: int,
        vlan: int | None,
        inner: int | None,
        depth: int,
    ) -> None:
        """An IPv4 packet at ``off`` (``n``: where the frame's bytes end): its payload to
        ``transport``, through the reassembler when it is a fragment."""
        if off + 20 > n:
            self.stats.malformed += 1
            return
        vihl, _tos, total, ident, frag, _ttl, proto, _csum, src, dst = _ipv4_header(data, off)
        ihl = (vihl & 0x0F) * 4
        if vihl >> 4 != 4 or ihl < 20 or off + ihl > n:
            self.stats.malformed += 1
            return
        end = off + total
        self.cut = 0
        if total < ihl:
            if total != 0:  # zero: TCP segmentation offload on the capturing host
                self.stats.malformed += 1
                return
            end = n
        elif end > n:
            self.cut = end - n
            end = n  # cut by the snap length
        if frag & 0x3FFF:
            self.stats.fragments += 1
            more = bool(frag & 0x2000)
            offset = (frag & 0x1FFF) * 8
            key = (4, src, dst, ident, proto)
            whole = self.fragments.add(
                ts, key, offset, more, data[off + ihl : end], wirelen, (vlan, inner, depth)
            )
            if whole is None:
                return
            payload, wirelen, count = whole
            self.frames = count  # what a tunnel inside carries counts as that many frames
            self.transport(
                ts, wirelen, count, 4, src, dst, proto, payload, 0, len(payload), vlan, inner, depth
            )
            return
        self.transport(
            ts, wirelen, self.frames, 4, src, dst, proto, data, off + ihl, end, vlan, inner, depth
        )

    def ipv6(
        self,
        ts: int,
        wirelen: int,
        data: bytes,
        off: int,
        n: int,
        vlan: int | None,
        inner: int | None,
        depth: int,
    ) -> None:
        """An IPv6 packet at ``off`` (``n``: where the frame's bytes end): past its extension
        headers, its payload to ``transport``, through the reassembler when it is a
        fragment."""
        if off + 40 > n:
            self.stats.malformed += 1
            return
        first, plen, nxt, _hops, src, dst = _ipv6_header(data, off)
        if first >> 28 != 6:
            self.stats.malformed += 1
            return
        pos = off + 40
        end = pos + plen
        self.cut = 0
        if plen == 0:
            end = n  # jumbogram or offload: take what was captured
        elif end > n:
            self.cut = end - n
            end = n
        for _ in range(8):
            if nxt == 0 or nxt == 43 or nxt == 60 or nxt == 135:
                if nxt == 135:
                    break  # mobility header: no transport follows
                if pos + 2 > end:
                    self.stats.malformed += 1
                    return
                nxt, length = data[pos], (data[pos + 1] + 1) * 8
                pos += length
            elif nxt == 51:  # authentication header
                if pos + 2 > end:
                    self.stats.malformed += 1
                    return
                nxt, length = data[pos], (data[pos + 1] + 2) * 4
                pos += length
            elif nxt == 44:  # fragment header
                if pos + 8 > end:
                    self.stats.malformed += 1
                    return
                self.stats.fragments += 1
                frag_next = data[pos]
                offset_bits = (data[pos + 2] << 8) | data[pos + 3]
                ident = struct.unpack_from("!I", data, pos + 4)[0]
                offset = offset_bits & 0xFFF8
                more = bool(offset_bits & 1)
                if offset == 0 and not more:  # atomic fragment
                    nxt = frag_next
                    pos += 8
                    continue
                key = (6, src, dst, ident, frag_next)
                whole = self.fragments.add(
                    ts, key, offset, more, data[pos + 8 : end], wirelen, (vlan, inner, depth)
                )
                if whole is None:
                    return
                payload, wirelen, count = whole
                self.frames = count
                self.transport(
                    ts,
                    wirelen,
                    count,
                    6,
                    src,
                    dst,
                    frag_next,
                    payload,
                    0,
                    len(payload),
                    vlan,
                    inner,
                    depth,
                )
                return
            else:
                break
            if pos > end:
                self.stats.malformed += 1
                return
        self.transport(
            ts, wirelen, self.frames, 6, src, dst, nxt, data, pos, end, vlan, inner, depth
        )

    def _lost(
        self, ts: int, wirelen: int, count: int, key: tuple, first: bytes, where: tuple
    ) -> None:
        """A datagram the reassembler gave up on, whose first fragment is there: account it
        to its flow from the transport header that fragment carries."""
        ver, src, dst, _ident, proto = key
        vlan, inner, depth = where
        self.frames = count
        self.cut = 0
        self.transport(ts, wirelen, count, ver, src, dst, proto, first, 0, len(first), vlan,
                        inner, depth)  # fmt: skip
