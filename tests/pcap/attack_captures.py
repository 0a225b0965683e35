"""Attack captures built with scapy at test time: each function returns (ts_ns, packet) pairs.

They are made from what the attacks put on the wire (not copied from any capture): SSH and
FTP password guessing, a SYN flood from spoofed sources, SYN-ACK reflection, DNS
amplification, an Nmap service/script scan of one web port and an iodine-like DNS tunnel.
``write_pcap`` writes them to a file for ``soc ingest pcap`` and tshark.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

SECOND = 1_000_000_000
MS = SECOND // 1000
#: 2026-11-26T03:00:00Z
T0 = 1_795_662_000 * SECOND

ATTACKER = "203.0.113.50"
SERVER = "198.51.100.10"
VICTIM = "198.51.100.77"
Frames = list[tuple[int, Any]]


def _eth() -> Any:
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


class Conversation:
    """A TCP connection with correct sequence numbers: handshake, data both ways, FIN."""

    def __init__(self, frames: Frames, client: str, cport: int, server: str, sport: int) -> None:
        self.frames = frames
        self.c, self.cp, self.s, self.sp = client, cport, server, sport
        self.cseq, self.sseq = 1000, 5000

    def _pkt(self, to_server: bool, flags: str, data: bytes = b"") -> Any:
        if to_server:
            ip = IP(src=self.c, dst=self.s)
            tcp = TCP(sport=self.cp, dport=self.sp, flags=flags, seq=self.cseq, ack=self.sseq)
        else:
            ip = IP(src=self.s, dst=self.c)
            tcp = TCP(sport=self.sp, dport=self.cp, flags=flags, seq=self.sseq, ack=self.cseq)
        return _eth() / ip / tcp / data if data else _eth() / ip / tcp

    def open(self, ts: int) -> int:
        """The three-way handshake; returns the time after it."""
        self.frames.append((ts, self._pkt(True, "S")))
        self.cseq += 1
        self.frames.append((ts + MS, self._pkt(False, "SA")))
        self.sseq += 1
        self.frames.append((ts + 2 * MS, self._pkt(True, "A")))
        return ts + 3 * MS

    def send(self, ts: int, to_server: bool, data: bytes) -> int:
        """One data segment; returns the time after it."""
        self.frames.append((ts, self._pkt(to_server, "PA", data)))
        if to_server:
            self.cseq += len(data)
        else:
            self.sseq += len(data)
        return ts + 2 * MS

    def close(self, ts: int) -> int:
        """FIN from the client, FIN-ACK from the server, last ACK."""
        self.frames.append((ts, self._pkt(True, "FA")))
        self.cseq += 1
        self.frames.append((ts + MS, self._pkt(False, "FA")))
        self.sseq += 1
        self.frames.append((ts + 2 * MS, self._pkt(True, "A")))
        return ts + 3 * MS


def _ssh_packet(msg: int, body_len: int) -> bytes:
    """A clear SSH binary packet (RFC 4253 6) with message number ``msg``."""
    padding = 8 - (5 + body_len + 1) % 8 + 4
    payload = bytes([msg]) + b"\x00" * body_len
    length = 1 + len(payload) + padding
    return struct.pack("!IB", length, padding) + payload + b"\x00" * padding


def ssh_session(
    frames: Frames, ts: int, cport: int, failures: int, success: bool, client: str = ATTACKER
) -> int:
    """One SSH connection: banners, clear key exchange up to NEWKEYS, then encrypted segments
    whose sizes follow OpenSSH's (service accept 52, failure 68, success 36)."""
    conv = Conversation(frames, client, cport, SERVER, 22)
    ts = conv.open(ts)
    ts = conv.send(ts, False, b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n")
    ts = conv.send(ts, True, b"SSH-2.0-libssh_0.9.6\r\n")
    ts = conv.send(ts, True, _ssh_packet(20, 900))  # KEXINIT
    ts = conv.send(ts, False, _ssh_packet(20, 1000))
    ts = conv.send(ts, True, _ssh_packet(30, 40))  # KEX_ECDH_INIT
    ts = conv.send(ts, False, _ssh_packet(31, 500))  # KEX_ECDH_REPLY
    ts = conv.send(ts, False, _ssh_packet(21, 0))  # NEWKEYS
    ts = conv.send(ts, True, _ssh_packet(21, 0))
    ts = conv.send(ts, True, b"\xa5" * 52)  # SERVICE_REQUEST (encrypted)
    ts = conv.send(ts, False, b"\x5a" * 52)  # SERVICE_ACCEPT
    ts = conv.send(ts, True, b"\xa5" * 84)  # USERAUTH_REQUEST "none"
    ts = conv.send(ts, False, b"\x5a" * 68)  # USERAUTH_FAILURE listing the methods
    for _ in range(failures):
        ts = conv.send(ts + 300 * MS, True, b"\xa5" * 116)  # password attempt
        ts = conv.send(ts + 1500 * MS, False, b"\x5a" * 68)  # failure
    if success:
        ts = conv.send(ts + 300 * MS, True, b"\xa5" * 116)
        ts = conv.send(ts + 50 * MS, False, b"\x5a" * 36)  # USERAUTH_SUCCESS
        for _ in range(20):  # a shell
            ts = conv.send(ts + 100 * MS, True, b"\xa5" * 68)
            ts = conv.send(ts + 10 * MS, False, b"\x5a" * 180)
    return conv.close(ts)


def ssh_brute_force(sessions: int = 10) -> Frames:
    """One client, ``sessions`` short SSH connections with three failed passwords each."""
    frames: Frames = []
    ts = T0
    for i in range(sessions):
        ts = ssh_session(frames, ts, 40000 + i, failures=3, success=False) + 2 * SECOND
    return frames


def ssh_admin_login() -> Frames:
    """An administrator's SSH login: one wrong password, then success and a shell."""
    frames: Frames = []
    ssh_session(frames, T0, 51000, failures=1, success=True, client="10.20.1.11")
    return frames


def ftp_brute_force(logins: int = 20) -> Frames:
    """20 failed FTP logins in about 37 s from one client, three per connection."""
    frames: Frames = []
    ts = T0
    users = ["admin", "root", "ftp", "test", "user"]
    conv = None
    for i in range(logins):
        if i % 3 == 0:
            if conv is not None:
                ts = conv.close(ts)
            conv = Conversation(frames, ATTACKER, 41000 + i, SERVER, 21)
            ts = conv.open(ts)
            ts = conv.send(ts, False, b"220 (vsFTPd 3.0.5)\r\n")
        assert conv is not None
        ts = conv.send(ts + 100 * MS, True, f"USER {users[i % 5]}\r\n".encode())
        ts = conv.send(ts, False, b"331 Please specify the password.\r\n")
        ts = conv.send(ts + 100 * MS, True, f"PASS guess{i}\r\n".encode())
        ts = conv.send(ts + 1500 * MS, False, b"530 Login incorrect.\r\n")
    assert conv is not None
    conv.close(ts)
    return frames


def ftp_good_login() -> Frames:
    """A successful FTP login and a directory listing command."""
    frames: Frames = []
    conv = Conversation(frames, "10.20.1.11", 42000, SERVER, 21)
    ts = conv.open(T0)
    ts = conv.send(ts, False, b"220-Welcome\r\n220 City FTP\r\n")
    ts = conv.send(ts, True, b"USER backup\r\n")
    ts = conv.send(ts, False, b"331 Password required\r\n")
    ts = conv.send(ts, True, b"PASS s3cret\r\n")
    ts = conv.send(ts, False, b"230 Login successful.\r\n")
    ts = conv.send(ts, True, b"PWD\r\n")
    ts = conv.send(ts, False, b'257 "/" is the current directory\r\n')
    conv.close(ts)
    return frames


def dialogue(
    frames: Frames, ts: int, cport: int, sport: int, lines: list[tuple[bytes, bool]]
) -> int:
    """One connection from the attacker carrying ``lines`` (bytes, sent to the server?) in
    order; returns the time after it closed."""
    conv = Conversation(frames, ATTACKER, cport, SERVER, sport)
    ts = conv.open(ts)
    for line, to_server in lines:
        ts = conv.send(ts, to_server, line)
    return conv.close(ts)


def mail_logins() -> Frames:
    """SMTP AUTH LOGIN refused, SMTP AUTH PLAIN accepted, POP3 and IMAP failures."""
    frames: Frames = []
    smtp = [
        (b"220 mail.city.example ESMTP Postfix\r\n", False),
        (b"EHLO x\r\n", True),
        (b"250-mail.city.example\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n", False),
        (b"AUTH LOGIN\r\n", True),
        (b"334 VXNlcm5hbWU6\r\n", False),
        (b"aW5mb0BjaXR5LmV4YW1wbGU=\r\n", True),  # info@city.example
        (b"334 UGFzc3dvcmQ6\r\n", False),
        (b"d3Jvbmc=\r\n", True),
        (b"535 5.7.8 Error: authentication failed\r\n", False),
        (b"AUTH PLAIN AGluZm9AY2l0eS5leGFtcGxlAHJpZ2h0\r\n", True),
        (b"235 2.7.0 Authentication successful\r\n", False),
    ]
    pop = [
        (b"+OK Dovecot ready.\r\n", False),
        (b"USER mayor\r\n", True),
        (b"+OK\r\n", False),
        (b"PASS x\r\n", True),
        (b"-ERR [AUTH] Authentication failed.\r\n", False),
    ]
    imap = [
        (b"* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n", False),
        (b'a1 LOGIN "clerk" "x"\r\n', True),
        (b"a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n", False),
    ]
    ts = dialogue(frames, T0, 43000, 587, smtp)
    ts = dialogue(frames, ts + SECOND, 43001, 110, pop)
    dialogue(frames, ts + SECOND, 43002, 143, imap)
    return frames


def syn_flood(count: int = 600, seed: int = 7) -> Frames:
    """SYNs from random (spoofed) sources to one web server port in 3 s; the server answers
    each with a SYN-ACK that nobody acknowledges."""
    rng = random.Random(seed)
    frames: Frames = []
    for i in range(count):
        src = ".".join(str(rng.randint(1, 223 if k == 0 else 254)) for k in range(4))
        sport = rng.randint(1024, 65535)
        ts = T0 + i * 5 * MS
        frames.append(
            (ts, _eth() / IP(src=src, dst=VICTIM) / TCP(sport=sport, dport=80, flags="S", seq=i))
        )
        frames.append(
            (
                ts + MS,
                _eth()
                / IP(src=VICTIM, dst=src)
                / TCP(sport=80, dport=sport, flags="SA", seq=9, ack=i + 1),
            )
        )
    return frames


def synack_reflection(reflectors: int = 40) -> Frames:
    """SYN-ACKs from many web servers to one victim (its address was spoofed in SYNs the
    sensor never saw); the victim answers each with a RST."""
    frames: Frames = []
    for i in range(reflectors):
        server = f"192.0.2.{10 + i}"
        vport = 30000 + i * 7
        ts = T0 + i * 20 * MS
        for k in range(3):  # retransmitted SYN-ACKs
            frames.append(
                (
                    ts + k * SECOND,
                    _eth()
                    / IP(src=server, dst=VICTIM)
                    / TCP(sport=443 if i % 2 else 80, dport=vport, flags="SA", seq=7, ack=100),
                )
            )
        frames.append(
            (
                ts + 2 * MS,
                _eth()
                / IP(src=VICTIM, dst=server)
                / TCP(sport=vport, dport=443 if i % 2 else 80, flags="R", seq=100),
            )
        )
    return frames


def dns_amplification(resolvers: int = 40) -> Frames:
    """Large DNS answers (ANY) from many open resolvers to one victim that asked nothing."""
    frames: Frames = []
    for i in range(resolvers):
        resolver = f"192.0.2.{100 + i}"
        answers = [
            DNSRR(rrname="city.example.", type="TXT", rdata="v=spf1 " + "x" * 200) for _ in range(6)
        ]
        dns = DNS(
            id=4000 + i, qr=1, rd=1, ra=1, qd=DNSQR(qname="city.example.", qtype=255), an=answers
        )
        for k in range(3):
            frames.append(
                (
                    T0 + i * 10 * MS + k * 200 * MS,
                    _eth() / IP(src=resolver, dst=VICTIM) / UDP(sport=53, dport=55000) / dns,
                )
            )
    return frames


NSE_UA = "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)"


def nmap_web_scan() -> Frames:
    """An Nmap -sV --script scan of one web port: 32 requests on 32 connections, 28 with
    the NSE user agent, the service probes (GetRequest, HTTPOptions, the "nice ports" probe)
    without one."""
    frames: Frames = []
    paths = [
        "/",
        "/robots.txt",
        "/.git/HEAD",
        "/favicon.ico",
        "/HNAP1",
        "/evox/about",
        "/sdk",
        "/admin/",
        "/phpmyadmin/",
        "/server-status",
        "/.well-known/security.txt",
        "/login",
        "/wp-login.php",
        "/cgi-bin/",
        "/test",
        "/backup/",
        "/icons/",
        "/manager/html",
        "/console",
        "/api",
        "/docs",
        "/images/",
        "/webdav/",
        "/owa/",
        "/rss",
        "/xmlrpc.php",
        "/crossdomain.xml",
        "/clientaccesspolicy.xml",
    ]
    probes = [
        b"GET / HTTP/1.0\r\n\r\n",
        b"OPTIONS / HTTP/1.0\r\n\r\n",
        b"GET /nice%20ports%2C/Tri%6Eity.txt%2ebak HTTP/1.0\r\n\r\n",
        b"OPTIONS / RTSP/1.0\r\n\r\n",
    ]
    requests = [
        f"GET {p} HTTP/1.1\r\nHost: {SERVER}\r\nUser-Agent: {NSE_UA}\r\n\r\n".encode()
        for p in paths
    ] + probes
    ts = T0
    for i, request in enumerate(requests):
        conv = Conversation(frames, ATTACKER, 44000 + i, SERVER, 80)
        ts = conv.open(ts)
        ts = conv.send(ts, True, request)
        status = b"200 OK" if i % 4 == 0 else b"404 Not Found"
        ts = conv.send(ts, False, b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\n\r\n")
        ts = conv.close(ts) + 300 * MS
    return frames


def _base128_label(rng: random.Random, size: int) -> bytes:
    alphabet = bytes(range(0x61, 0x7B)) + bytes(range(0x30, 0x3A)) + bytes(range(0xBC, 0xFE))
    return bytes(rng.choice(alphabet) for _ in range(size))


def iodine_tunnel(queries: int = 60, seed: int = 3) -> Frames:
    """An iodine-like tunnel: NULL queries whose first labels carry base128 data (8-bit
    bytes) under t.tunnel.example, each answered with a NULL record."""
    rng = random.Random(seed)
    frames: Frames = []
    for i in range(queries):
        labels = [_base128_label(rng, 57), _base128_label(rng, 40)]
        qname = (
            b".".join([b"p" + bytes([0x61 + i % 26]), *labels, b"t", b"tunnel", b"example"]) + b"."
        )
        q = DNS(id=7000 + i, rd=1, qd=DNSQR(qname=qname, qtype=10))
        r = DNS(
            id=7000 + i,
            qr=1,
            aa=1,
            qd=DNSQR(qname=qname, qtype=10),
            an=DNSRR(rrname=qname, type=10, rdata=bytes(rng.randrange(256) for _ in range(200))),
        )
        ts = T0 + i * 400 * MS
        frames.append(
            (
                ts,
                _eth()
                / IP(src="10.20.5.40", dst="10.20.0.53")
                / UDP(sport=50000 + i, dport=53)
                / q,
            )
        )
        frames.append(
            (
                ts + 30 * MS,
                _eth()
                / IP(src="10.20.0.53", dst="10.20.5.40")
                / UDP(sport=53, dport=50000 + i)
                / r,
            )
        )
    return frames


def ping_pair() -> Frames:
    """An echo request and its reply (benign)."""
    return [
        (T0, _eth() / IP(src="10.20.5.40", dst="10.20.0.1") / ICMP(type=8, id=1, seq=1)),
        (T0 + MS, _eth() / IP(src="10.20.0.1", dst="10.20.5.40") / ICMP(type=0, id=1, seq=1)),
    ]


def write_pcap(path: Path, frames: Iterable[tuple[int, Any]]) -> Path:
    """Write frames to a pcap file (nanosecond times kept as microseconds)."""
    packets = []
    for ts, frame in frames:
        frame.time = ts / SECOND
        packets.append(frame)
    wrpcap(str(path), packets)
    return path
