"""The packet engine: raw frames -> flows, DNS transactions, HTTP exchanges, TLS and SSH
handshakes, as ECS events.

An ``Engine`` ties the parts of the package together, in the order a frame meets them:

- ``network.NetworkDecoder``: link layer, VLAN tags, MPLS, PPPoE, IPv4/IPv6 with extension
  headers; fragments through ``fragments.FragmentReassembler`` (bounded);
- ``tunnels.TunnelDecoder``: GRE and UDP tunnels (IP-in-IP needs no decoder of its own),
  whose inner packets go back to the network decoder;
- this module: the transport header (TCP/UDP/ICMP/SCTP) and the flow table;
- ``apps.AppLayer``: the application protocol of each flow and its parsers (DNS, HTTP, TLS,
  SSH, QUIC, logins);
- ``flows``: the ``Flow`` record and its TCP state; ``events``: the ECS documents.

The hot path reads headers with ``struct.unpack_from`` on the frame bytes and never builds a
packet object; only the payloads that carry an application protocol are sliced out and handed
to their parsers.

Flows are keyed on (transport, lower endpoint, higher endpoint, VLAN ids) and oriented so
that ``source`` is the initiator. They end on an idle timeout, are cut into consecutive
records by an active timeout, and the table holds at most ``max_flows`` flows: when it is
full the least recently active flow is evicted (emitted, and counted). Timeouts run on packet
time, so reading a file gives the same events however fast it is read.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from typing import Any

from collectors.pcap import events as ev
from collectors.pcap.apps import AppLayer
from collectors.pcap.community_id import ICMP4_PAIRS, ICMP4_REPLIES, ICMP6_PAIRS, ICMP6_REPLIES
from collectors.pcap.config import EngineConfig, EngineStats
from collectors.pcap.flows import (
    ICMP,
    ICMP6,
    SCTP,
    TCP,
    UDP,
    Flow,
    conn_state,
    note_tcp_flags,
    unsolicited,
)
from collectors.pcap.network import NetworkDecoder
from collectors.pcap.tunnels import MAX_TUNNEL_DEPTH, UDP_TUNNELS, TunnelDecoder

__all__ = ["Engine", "EngineConfig", "EngineStats", "Flow", "conn_state", "unsolicited"]

DNS_PORTS = frozenset({53, 5353, 5355})

_ports = struct.Struct("!HH").unpack_from
_tcp = struct.Struct("!HHIIBB").unpack_from


class Engine:
    """Turns frames into ECS events; ``events`` collects them until the caller takes them."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self.stats = EngineStats()
        self.flows: OrderedDict[tuple, Flow] = OrderedDict()
        self.events: list[dict[str, Any]] = []
        self.idle_ns = int(self.config.idle_timeout * 1_000_000_000)
        self.active_ns = int(self.config.active_timeout * 1_000_000_000)
        self.closed_ns = int(self.config.closed_timeout * 1_000_000_000)
        self.closing: dict[tuple, Flow] = {}  # closed TCP flows waiting for closed_timeout
        self.last_sweep = 0
        self.now = 0
        self.decoder = NetworkDecoder(self.stats, self._transport)
        self.tunnels = TunnelDecoder(self.decoder)
        self.fragments = self.decoder.fragments  # the sweep and finish() give up on datagrams
        self.builder = ev.EventBuilder(
            host_name=self.config.host_name,
            department=self.config.department,
            seed=self.config.community_id_seed,
        )
        self.apps = AppLayer(self.builder, self._emit)

    # --- frames ------------------------------------------------------------------------------

    def packet(self, ts: int, linktype: int, data: bytes, wirelen: int) -> None:
        """One captured frame: ``ts`` in ns since the epoch, the link type of the capture,
        the captured bytes and the frame's original length on the wire. Never raises on
        traffic: a packet whose decoding fails is counted in ``stats.errors`` and skipped."""
        stats = self.stats
        try:
            stats.packets += 1
            stats.bytes += wirelen
            if ts > self.now:
                self.now = ts
                if ts - self.last_sweep >= 1_000_000_000:
                    self.sweep(ts)
            self.decoder.frame(ts, linktype, data, wirelen)
        except Exception:
            stats.errors += 1

    # --- transport ---------------------------------------------------------------------------

    def _transport(
        self,
        ts: int,
        wirelen: int,
        count: int,
        ver: int,
        src: bytes,
        dst: bytes,
        proto: int,
        data: bytes,
        off: int,
        end: int,
        vlan: int | None,
        inner: int | None,
        depth: int,
    ) -> None:
        """An IP payload from the network decoder (see ``network.Transport``): read the
        transport header, account the packet to its flow (made on its first packet, oriented
        towards the side that asked), keep the TCP state, and hand the payload to the
        application layer, or a tunnel's payload back to the decoders."""
        stats = self.stats
        flags = 0
        seq = 0
        itype = icode = None
        if proto == TCP:
            if off + 20 > end:
                stats.malformed += 1
                return
            sport, dport, seq, _ack, doff, flags = _tcp(data, off)
            hlen = (doff >> 4) * 4
            if hlen < 20:
                stats.malformed += 1
                return
            poff = off + hlen
            if poff > end:
                poff = end
        elif proto == UDP:
            if off + 8 > end:
                stats.malformed += 1
                return
            sport, dport, ulen = struct.unpack_from("!HHH", data, off)
            poff = off + 8
            if ulen >= 8 and off + ulen < end:
                end = off + ulen
        elif proto in (ICMP, ICMP6):
            if off + 2 > end:
                stats.malformed += 1
                return
            itype = data[off]
            icode = data[off + 1]
            sport, dport = itype, icode
            pairs = ICMP4_PAIRS if proto == ICMP else ICMP6_PAIRS
            other = pairs.get(itype)
            if other is not None:
                dport = other  # request and reply share a flow
            poff = end
        elif (proto == 4 or proto == 41) and depth < MAX_TUNNEL_DEPTH:  # IP in IP
            stats.decoded += 1
            self._count_tunnel(ts, wirelen, count, ver, src, dst, proto, vlan, inner)
            if proto == 4:
                self.decoder.ipv4(ts, wirelen, data, off, end, vlan, inner, depth + 1)
            else:
                self.decoder.ipv6(ts, wirelen, data, off, end, vlan, inner, depth + 1)
            return
        elif proto == 47 and depth < MAX_TUNNEL_DEPTH:  # GRE
            stats.decoded += 1
            self._count_tunnel(ts, wirelen, count, ver, src, dst, proto, vlan, inner)
            self.tunnels.gre(ts, wirelen, data, off, end, vlan, inner, depth + 1)
            return
        elif proto == SCTP:
            if off + 4 > end:
                stats.malformed += 1
                return
            sport, dport = _ports(data, off)
            poff = end
        else:
            sport = dport = 0
            poff = end
        stats.decoded += 1

        # --- the flow ------------------------------------------------------------------------
        if src < dst or (src == dst and sport <= dport):
            key = (proto, src, sport, dst, dport, vlan, inner)
        else:
            key = (proto, dst, dport, src, sport, vlan, inner)
        flows = self.flows
        flow = flows.get(key)
        if flow is not None and ts - flow.start >= self.active_ns and self.active_ns > 0:
            self._end(flow, "active_timeout")
            del flows[key]
            old = flow
            flow = Flow(key, proto, ver, old.src, old.sport, old.dst, old.dport, vlan, inner, ts)
            flow.icmp_type, flow.icmp_code = old.icmp_type, old.icmp_code
            self._add(key, flow)
        if flow is None:
            if proto == TCP and flags & 0x12 == 0x12:  # SYN+ACK first: dst initiated
                flow = Flow(key, proto, ver, dst, dport, src, sport, vlan, inner, ts)
            elif proto != TCP or not flags & 0x02:
                if (
                    sport < 1024 <= dport
                    or (proto == UDP and sport in DNS_PORTS and dport not in DNS_PORTS)
                    or (proto == UDP and poff + 3 <= end and _dns_response(data, poff, sport))
                    or (proto == ICMP and itype in ICMP4_REPLIES)
                    or (proto == ICMP6 and itype in ICMP6_REPLIES)
                ):  # the first packet is a reply: its receiver asked (or is said to have)
                    flow = Flow(key, proto, ver, dst, dport, src, sport, vlan, inner, ts)
                else:
                    flow = Flow(key, proto, ver, src, sport, dst, dport, vlan, inner, ts)
                if itype is not None:
                    flow.icmp_type, flow.icmp_code = itype, icode
            else:
                flow = Flow(key, proto, ver, src, sport, dst, dport, vlan, inner, ts)
            self._add(key, flow)
        else:
            flow.last = ts
            if ts - flow.moved >= 1_000_000_000:
                flows.move_to_end(key)
                flow.moved = ts
        forward = src == flow.src and sport == flow.sport
        if forward:
            flow.pkts_o += count
            flow.bytes_o += wirelen
        else:
            flow.pkts_r += count
            flow.bytes_r += wirelen

        if proto == TCP:
            if forward:
                flow.flags_o |= flags
            else:
                flow.flags_r |= flags
            if flags & 0x07 and note_tcp_flags(flow, forward, flags):
                self.closing[flow.key] = flow
            app = flow.app
            if app == "none" or app == "done":
                return
            if poff < end or flags & 0x02:
                missing = self.decoder.cut if count == 1 else 0
                self.apps.tcp_payload(flow, forward, flags, seq, data, poff, end, sport, dport, ts,
                                      missing)  # fmt: skip
        elif proto == UDP and poff < end:
            if sport in DNS_PORTS or dport in DNS_PORTS:
                self.apps.dns(flow, forward, data[poff:end], ts)
            elif (dport in UDP_TUNNELS or sport in UDP_TUNNELS) and depth < MAX_TUNNEL_DEPTH:
                self.tunnels.udp(ts, wirelen, data, poff, end, sport, dport, vlan, inner, depth)
            elif dport == 1900 or sport == 1900:
                self.apps.ssdp(flow, data[poff:end], ts)
            elif flow.app != "none" and flow.app != "done":
                self.apps.udp_payload(flow, forward, data, poff, end, ts)

    def _count_tunnel(
        self,
        ts: int,
        wirelen: int,
        count: int,
        ver: int,
        src: bytes,
        dst: bytes,
        proto: int,
        vlan: int | None,
        inner: int | None,
    ) -> None:
        """The outer flow of a tunnel (IP-in-IP, GRE) is a flow of its own."""
        if src < dst:
            key = (proto, src, 0, dst, 0, vlan, inner)
        else:
            key = (proto, dst, 0, src, 0, vlan, inner)
        flow = self.flows.get(key)
        if flow is None:
            flow = Flow(key, proto, ver, src, 0, dst, 0, vlan, inner, ts)
            self._add(key, flow)
        flow.last = ts
        if src == flow.src:
            flow.pkts_o += count
            flow.bytes_o += wirelen
        else:
            flow.pkts_r += count
            flow.bytes_r += wirelen

    def _add(self, key: tuple, flow: Flow) -> None:
        """Put a new flow in the table; when the table is full, the least recently active flow
        is evicted first (ended, and counted)."""
        flows = self.flows
        if len(flows) >= self.config.max_flows:
            _old_key, old = flows.popitem(last=False)
            self.stats.evicted += 1
            self._end(old, "evicted")
        flows[key] = flow
        self.stats.flows += 1

    # --- ending ------------------------------------------------------------------------------

    def _emit(self, event: dict[str, Any]) -> None:
        """Keep an event for ``take_events`` and count it by dataset."""
        self.events.append(event)
        dataset = event["event"]["dataset"]
        counts = self.stats.events
        counts[dataset] = counts.get(dataset, 0) + 1

    def _end(self, flow: Flow, reason: str) -> None:
        """A flow is over: emit what its parsers hold, then the flow record (a failure is
        counted in ``stats.errors``)."""
        try:
            self.apps.end(flow)
            self._emit(self.builder.flow(flow, reason, conn_state(flow), unsolicited(flow)))
        except Exception:
            self.stats.errors += 1

    def sweep(self, now: int) -> None:
        """End flows idle for longer than the idle timeout (packet time ``now``) and drop
        fragments that waited too long."""
        self.last_sweep = now
        self.fragments.expire(now)
        flows = self.flows
        if self.closing:
            closed_limit = now - self.closed_ns
            for key, flow in list(self.closing.items()):
                if flow.last <= closed_limit:
                    del self.closing[key]
                    if flows.get(key) is flow:
                        del flows[key]
                        self._end(flow, "closed")
        limit = now - self.idle_ns
        while flows:
            key, flow = next(iter(flows.items()))
            if flow.moved > limit:
                break
            if flow.last > limit:
                flows.move_to_end(key)
                flow.moved = flow.last
                continue
            del flows[key]
            self._end(flow, "idle_timeout")

    def finish(self) -> None:
        """End every flow still open (end of the capture or of the live run), after counting
        the fragments of datagrams that never completed."""
        self.fragments.drop_all()
        self.closing.clear()
        while self.flows:
            _key, flow = self.flows.popitem(last=False)
            self._end(flow, "end_of_capture")

    def take_events(self) -> list[dict[str, Any]]:
        """The events produced since the last call."""
        out = self.events
        self.events = []
        return out


def _dns_response(data: bytes, poff: int, sport: int) -> bool:
    """True when a UDP payload from a DNS port has the QR (response) bit set."""
    return sport in DNS_PORTS and bool(data[poff + 2] & 0x80)
