"""Flows: the per-connection record the engine keeps, and what is read off it.

A ``Flow`` holds one connection's endpoints (``src`` is the initiator), its packet and byte
counts each way, the TCP flags and connection-state bits seen, and the application parsers
working on its payloads. The functions below keep the TCP state bits (``note_tcp_flags``),
turn a flow around when the application shows the initiator was guessed wrong
(``turn_around``), and read the Zeek-style connection state (``conn_state``) and the
unsolicited-reply mark (``unsolicited``) written into the flow record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collectors.pcap.dns import DnsMessage
    from collectors.pcap.http import HttpSession
    from collectors.pcap.logins import LoginSession
    from collectors.pcap.quic import QuicClient
    from collectors.pcap.ssh import SshBanners
    from collectors.pcap.streams import TcpStream
    from collectors.pcap.tls import TlsSession

# IP protocol numbers of the transports the engine reads
TCP = 6
UDP = 17
ICMP = 1
ICMP6 = 58
SCTP = 132

# TCP connection-state bits (Flow.state)
ST_SYN_O = 1  # initiator sent SYN
ST_SYNACK_R = 2  # responder sent SYN+ACK
ST_FIN_O = 4
ST_FIN_R = 8
ST_RST_O = 16
ST_RST_R = 32
ST_SYNACK_O = 64  # "initiator" sent SYN+ACK: we met the connection mid-handshake
ST_DATA_R = 128


class Flow:
    """One flow (connection) being tracked; ``src`` is the initiator."""

    __slots__ = (
        "app",
        "bytes_o",
        "bytes_r",
        "dns_pending",
        "dns_seq",
        "dport",
        "dst",
        "flags_o",
        "flags_r",
        "http",
        "http_seq",
        "icmp_code",
        "icmp_type",
        "inner_vlan",
        "key",
        "last",
        "login",
        "moved",
        "pkts_o",
        "pkts_r",
        "probes",
        "proto",
        "quic",
        "quic_src",
        "sport",
        "src",
        "ssh",
        "start",
        "state",
        "streams",
        "tls",
        "ver",
        "vlan",
    )

    def __init__(
        self,
        key: tuple,
        proto: int,
        ver: int,
        src: bytes,
        sport: int,
        dst: bytes,
        dport: int,
        vlan: int | None,
        inner_vlan: int | None,
        ts: int,
    ) -> None:
        self.key = key
        self.proto = proto
        self.ver = ver
        self.src = src
        self.sport = sport
        self.dst = dst
        self.dport = dport
        self.vlan = vlan
        self.inner_vlan = inner_vlan
        self.start = ts
        self.last = ts
        self.moved = ts
        self.pkts_o = self.bytes_o = self.pkts_r = self.bytes_r = 0
        self.flags_o = self.flags_r = 0
        self.state = 0  # TCP: bit set of ST_* above
        self.icmp_type: int | None = None
        self.icmp_code: int | None = None
        self.app: str | None = None
        self.probes = 0
        self.streams: list[TcpStream] | None = None
        self.http: HttpSession | None = None
        self.http_seq = 0
        self.tls: TlsSession | None = None
        self.ssh: SshBanners | None = None
        self.login: LoginSession | None = None
        self.dns_pending: dict[int, tuple[int, DnsMessage, bool]] | None = None
        self.dns_seq = 0
        self.quic: QuicClient | None = None
        self.quic_src = True  # the QUIC client is the flow's source


def note_tcp_flags(flow: Flow, forward: bool, flags: int) -> bool:
    """Add what a segment's SYN, FIN and RST flags say to ``flow.state`` (``forward``: sent
    by the initiator); True when the connection is now closed (a RST either way, or FIN both
    ways), so that it ends after the closed timeout."""
    if flags & 0x02:
        if flags & 0x10:
            flow.state |= ST_SYNACK_R if not forward else ST_SYNACK_O
        elif forward:
            flow.state |= ST_SYN_O
    if flags & 0x01:
        flow.state |= ST_FIN_O if forward else ST_FIN_R
    if flags & 0x04:
        flow.state |= ST_RST_O if forward else ST_RST_R
    state = flow.state
    return bool(state & (ST_RST_O | ST_RST_R) or (state & ST_FIN_O and state & ST_FIN_R))


def unsolicited(flow: Flow) -> bool:
    """True when the initiator only received answers it never asked for: a TCP flow met with
    a SYN-ACK to which the initiator sent no SYN, FIN or data (at most ACKs and RSTs), or a
    UDP/ICMP flow in which only replies were seen. Reflection and amplification victims
    and the targets of backscatter see such flows."""
    if flow.proto == TCP:
        s = flow.state
        return bool(s & ST_SYNACK_R) and not s & ST_SYN_O and not flow.flags_o & 0x0B
    return flow.pkts_o == 0 and flow.pkts_r > 0


def conn_state(flow: Flow) -> str:
    """Zeek-style connection state of a flow (see docs/pcap.md for the codes)."""
    if flow.proto != TCP:
        if not flow.pkts_o:
            return "SHR"  # only the responder's replies were seen
        return "SF" if flow.pkts_r else "S0"
    s = flow.state
    syn = s & ST_SYN_O
    synack = s & ST_SYNACK_R
    if syn and not synack:
        if s & ST_RST_O:
            return "RSTOS0"
        if s & ST_RST_R:
            return "REJ"
        if s & ST_FIN_O:
            return "SH"
        return "S0" if not flow.pkts_r else "OTH"
    if synack and not syn:
        if s & ST_RST_R:
            return "RSTRH"
        if s & ST_FIN_R:
            return "SHR"
        return "OTH"
    if syn and synack:
        if s & ST_RST_O:
            return "RSTO"
        if s & ST_RST_R:
            return "RSTR"
        if s & ST_FIN_O and s & ST_FIN_R:
            return "SF"
        if s & ST_FIN_O:
            return "S2"
        if s & ST_FIN_R:
            return "S3"
        return "S1"
    return "OTH"


def turn_around(flow: Flow) -> bool:
    """Turn a flow met mid-stream around (the application showed who the client is);
    False, and nothing changed, when a handshake already fixed the orientation."""
    s = flow.state
    if s & (ST_SYN_O | ST_SYNACK_R):
        return False
    flow.src, flow.dst = flow.dst, flow.src
    flow.sport, flow.dport = flow.dport, flow.sport
    flow.pkts_o, flow.pkts_r = flow.pkts_r, flow.pkts_o
    flow.bytes_o, flow.bytes_r = flow.bytes_r, flow.bytes_o
    flow.flags_o, flow.flags_r = flow.flags_r, flow.flags_o
    swapped = 0
    for a, b in ((ST_FIN_O, ST_FIN_R), (ST_RST_O, ST_RST_R), (ST_SYNACK_O, ST_SYNACK_R)):
        if s & a:
            swapped |= b
        if s & b:
            swapped |= a
    flow.state = swapped
    return True
