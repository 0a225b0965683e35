"""Tunnel decapsulation: the packets inside GRE and UDP tunnels.

``TunnelDecoder`` reads a tunnel's header and hands the packet inside back to the network
decoder: to ``ether`` when it carries a frame or an EtherType, to ``ipv4``/``ipv6`` when it
carries IP. GRE (versions 0 and 1, with PPTP's PPP, transparent Ethernet bridging, ERSPAN
II/III, Aruba's 802.11), and over UDP: VXLAN, Geneve, GTP-U, Teredo, AYIYA, GRE-in-UDP.
IP-in-IP needs no header of its own: the engine sends it straight to ``ipv4``/``ipv6``. The
engine counts the outer flow of a tunnel and stops at MAX_TUNNEL_DEPTH tunnels.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from collectors.pcap.links import wifi

if TYPE_CHECKING:
    from collectors.pcap.network import NetworkDecoder

#: UDP ports of tunnels whose inner packets are decoded (IANA / protocol defaults)
UDP_TUNNELS = frozenset({4789, 6081, 2152, 3544, 5072, 4754})
MAX_TUNNEL_DEPTH = 4  # tunnels inside tunnels decoded at most

_u16 = struct.Struct("!H").unpack_from


class TunnelDecoder:
    """Decapsulates GRE and UDP tunnels into the layers of a ``NetworkDecoder``."""

    __slots__ = ("ether", "ipv4", "ipv6", "stats")

    def __init__(self, network: NetworkDecoder) -> None:
        self.stats = network.stats
        self.ether = network.ether
        self.ipv4 = network.ipv4
        self.ipv6 = network.ipv6

    def gre(
        self,
        ts: int,
        wirelen: int,
        data: bytes,
        off: int,
        end: int,
        vlan: int | None,
        inner: int | None,
        depth: int,
    ) -> None:
        """A GRE packet at ``off`` (versions 0 and 1, PPTP's PPP inside): what it carries,
        IP, Ethernet (bridging, ERSPAN II/III) or 802.11 (Aruba), decoded in turn."""
        if off + 4 > end:
            self.stats.malformed += 1
            return
        bits, proto = struct.unpack_from("!HH", data, off)
        version = bits & 7
        pos = off + 4
        if version == 0:
            pos += 4 * (bool(bits & 0x8000) + bool(bits & 0x2000) + bool(bits & 0x1000))
        elif version == 1:  # enhanced GRE (PPTP): key always, sequence and ack optional
            pos += 4 + 4 * (bool(bits & 0x1000) + bool(bits & 0x0080))
            if proto == 0x880B and pos + 4 <= end and data[pos] == 0xFF:
                pos += 2  # PPP address/control
                ppp = (data[pos] << 8) | data[pos + 1]
                proto = 0x0800 if ppp == 0x0021 else 0x86DD if ppp == 0x0057 else 0
                pos += 2
        if pos > end:
            self.stats.malformed += 1
            return
        if proto == 0x6558 or (
            proto == 0x88BE and not bits & 0x1000
        ):  # transparent Ethernet bridging
            if pos + 14 > end:
                self.stats.malformed += 1
                return
            etype = (data[pos + 12] << 8) | data[pos + 13]
            self.ether(ts, wirelen, data[:end], pos + 14, end, etype, vlan, inner, depth)
        elif 0x8200 <= proto < 0x8300:  # Aruba access points: 802.11 frames
            etype, pos = wifi(data, pos, end)
            if etype < 0:
                self.stats.non_ip += 1
                return
            self.ether(ts, wirelen, data[:end], pos, end, etype, vlan, inner, depth)
        elif proto == 0x88BE or proto == 0x22EB:  # ERSPAN II (8-byte header) / III (12+)
            hdr = 8
            if proto == 0x22EB:
                hdr = 12
                if pos + 12 <= end and data[pos + 11] & 1:
                    hdr += 8  # platform-specific subheader
            pos += hdr
            if pos + 14 > end:
                self.stats.malformed += 1
                return
            etype = (data[pos + 12] << 8) | data[pos + 13]
            self.ether(ts, wirelen, data[:end], pos + 14, end, etype, vlan, inner, depth)
        else:
            self.ether(ts, wirelen, data[:end], pos, end, proto, vlan, inner, depth)

    def udp(
        self,
        ts: int,
        wirelen: int,
        data: bytes,
        off: int,
        end: int,
        sport: int,
        dport: int,
        vlan: int | None,
        inner: int | None,
        depth: int,
    ) -> None:
        """The packet inside a UDP tunnel's payload (between ``off`` and ``end``), told by the
        ports: VXLAN, Geneve, GTP-U, Teredo, AYIYA and GRE-in-UDP. ``depth`` is that of the
        UDP packet; the inner packet is one deeper."""
        ports = (dport, sport)
        depth += 1
        if 4789 in ports:  # VXLAN: 8-byte header, then Ethernet
            if off + 22 <= end and data[off] & 0x08:
                etype = (data[off + 20] << 8) | data[off + 21]
                self.ether(ts, wirelen, data, off + 22, end, etype, vlan, inner, depth)
        elif 6081 in ports:  # Geneve: 8 bytes + options, then the protocol type
            if off + 8 <= end:
                pos = off + 8 + (data[off] & 0x3F) * 4
                proto = (data[off + 2] << 8) | data[off + 3]
                if proto == 0x6558 and pos + 14 <= end:
                    etype = (data[pos + 12] << 8) | data[pos + 13]
                    self.ether(ts, wirelen, data, pos + 14, end, etype, vlan, inner, depth)
                elif pos <= end:
                    self.ether(ts, wirelen, data, pos, end, proto, vlan, inner, depth)
        elif 2152 in ports:  # GTP-U: T-PDU carries an IP packet
            if off + 8 > end or data[off] >> 5 != 1 or data[off + 1] != 0xFF:
                return
            pos = off + 8
            if data[off] & 0x07:
                if pos + 4 > end:
                    return
                next_ext = data[pos + 3]
                pos += 4
                for _ in range(8):
                    if not next_ext or pos >= end:
                        break
                    length = data[pos] * 4
                    if not length or pos + length > end:
                        return
                    next_ext = data[pos + length - 1]
                    pos += length
            self._ip_guess(ts, wirelen, data, pos, end, vlan, inner, depth)
        elif 3544 in ports:  # Teredo: optional authentication / origin indication, then IPv6
            pos = off
            for _ in range(2):
                if pos + 2 > end:
                    return
                if data[pos] == 0 and data[pos + 1] == 1 and pos + 4 <= end:
                    pos += 4 + data[pos + 2] + data[pos + 3] + 9
                elif data[pos] == 0 and data[pos + 1] == 0:
                    pos += 8
            if pos + 40 <= end and data[pos] >> 4 == 6:
                (plen,) = _u16(data, pos + 4)
                if pos + 40 + plen <= end:
                    self.ipv6(ts, wirelen, data, pos, end, vlan, inner, depth)
        elif 5072 in ports:  # AYIYA
            if off + 8 > end:
                return
            pos = off + 8 + (1 << (data[off] >> 4)) + (data[off + 1] >> 4) * 4
            if data[off + 2] & 0x0F != 1 or pos > end:
                return
            if data[off + 3] == 41:
                self.ipv6(ts, wirelen, data, pos, end, vlan, inner, depth)
            elif data[off + 3] == 4:
                self.ipv4(ts, wirelen, data, pos, end, vlan, inner, depth)
        elif 4754 in ports:  # GRE in UDP
            self.gre(ts, wirelen, data, off, end, vlan, inner, depth)

    def _ip_guess(
        self,
        ts: int,
        wirelen: int,
        data: bytes,
        off: int,
        end: int,
        vlan: int | None,
        inner: int | None,
        depth: int,
    ) -> None:
        """IPv4 or IPv6 at ``off``, told apart by the version nibble."""
        if off >= end:
            return
        version = data[off] >> 4
        if version == 4:
            self.ipv4(ts, wirelen, data, off, end, vlan, inner, depth)
        elif version == 6:
            self.ipv6(ts, wirelen, data, off, end, vlan, inner, depth)
