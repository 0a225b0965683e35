"""The application layer of the engine: which protocol a flow's payloads carry, and the
parsers that read them.

``AppLayer`` is handed the payloads of the flows the engine tracks. TCP segments: the first
data segments are looked at to recognise DNS, SSH, TLS, FTP/SMTP/POP3/IMAP logins or HTTP
(at most MAX_PROBES of them), then each direction goes through a ``TcpStream`` (in-order
delivery) to the protocol's parser; after each segment what the parsers completed is
written as events (HTTP exchanges, TLS and SSH handshakes, login attempts). UDP datagrams:
DNS messages (queries paired with their responses), SSDP requests, QUIC Initial packets.
Per-flow parser state lives on the ``Flow``; this object holds only the event builder and
where events go, so ``end`` can write what a flow's parsers hold when the flow ends.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from collectors.pcap.dns import DnsError, DnsMessage, parse_dns
from collectors.pcap.flows import Flow, turn_around
from collectors.pcap.http import (
    Exchange,
    HttpSession,
    looks_like_request,
    looks_like_response,
    parse_datagram,
)
from collectors.pcap.logins import PORTS as LOGIN_PORTS
from collectors.pcap.logins import LoginSession
from collectors.pcap.quic import QuicClient, is_initial
from collectors.pcap.ssh import SSH_PREFIX, SshBanners, SshSide
from collectors.pcap.streams import TcpStream
from collectors.pcap.tls import TlsSession

if TYPE_CHECKING:
    from collectors.pcap.events import EventBuilder

MAX_PROBES = 32  # data segments looked at to recognise the application protocol (STARTTLS)
MAX_DNS_PENDING = 1024  # DNS queries of one flow waiting for their response
#: login greetings and commands of the protocols in LOGIN_PORTS
LOGIN_HEADS = (b"220", b"+OK", b"* OK", b"* PREAUTH", b"USER ", b"EHLO ", b"HELO ", b"AUTH ")

_u16 = struct.Struct("!H").unpack_from


class AppLayer:
    """Recognises the application protocol of flows, feeds their payloads to its parser and
    hands each event the parsers complete to ``emit``."""

    __slots__ = ("builder", "emit")

    def __init__(self, builder: EventBuilder, emit: Callable[[dict[str, Any]], None]) -> None:
        self.builder = builder
        self.emit = emit

    def tcp_payload(
        self,
        flow: Flow,
        forward: bool,
        flags: int,
        seq: int,
        data: bytes,
        poff: int,
        end: int,
        sport: int,
        dport: int,
        ts: int,
        missing: int = 0,
    ) -> None:
        """Application-layer work for one TCP segment: recognise, then reassemble.
        ``missing``: payload bytes the capture cut off (snap length)."""
        client = forward  # the client of the application is the flow's source
        if flow.app is None:
            if poff >= end:
                return
            flow.probes += 1
            head = data[poff : poff + 16]
            app = None
            if sport == 53 or dport == 53:
                app = "dns"
            elif head.startswith(SSH_PREFIX):
                app = "ssh"
            elif len(head) > 5 and head[0] == 0x16 and head[1] == 3 and head[5] in (1, 2):
                app = "tls"
                if (head[5] == 1) != client and turn_around(flow):  # the hello shows the client
                    forward = not forward
            elif (
                flow.login is None and LOGIN_PORTS.get(flow.dport) and head.startswith(LOGIN_HEADS)
            ):
                app = "login"
            elif looks_like_request(data[poff : min(end, poff + 4096)]):
                app = "http"
                if not client and turn_around(flow):
                    forward = not forward
            elif looks_like_response(head):
                app = "http"
            if app is None:
                if flow.probes >= MAX_PROBES:
                    flow.app = "none"
                return
            self._start(flow, app)
        streams = flow.streams
        if streams is None:
            return
        if not forward and flow.ssh is None and data.startswith(SSH_PREFIX, poff):
            # a server that answers with an SSH banner whatever the client sent (HTTP...)
            flow.ssh = SshBanners()
            SshSide(flow.ssh, client=False).feed(data[poff:end], ts)
        stream = streams[0 if forward else 1]
        if flags & 0x02:
            stream.syn(seq)
            if poff >= end:
                return
            seq = (seq + 1) & 0xFFFFFFFF
        stream.segment(seq, data[poff:end], ts, missing)
        self._after(flow, ts)

    def _start(self, flow: Flow, app: str) -> None:
        """Set a flow's application and start its parser: a session and a stream each way."""
        flow.app = app
        if app == "http":
            flow.http = session = HttpSession()
            flow.streams = [TcpStream(session.client), TcpStream(session.server)]
        elif app == "tls":
            flow.tls = tls = TlsSession()
            flow.streams = [TcpStream(tls.client), TcpStream(tls.server)]
        elif app == "ssh":
            flow.ssh = banners = SshBanners()
            flow.streams = [TcpStream(SshSide(banners, True)), TcpStream(SshSide(banners, False))]
        elif app == "login":
            flow.login = login = LoginSession(LOGIN_PORTS[flow.dport])
            flow.streams = [TcpStream(login.client), TcpStream(login.server)]
        elif app == "dns":
            flow.streams = [
                TcpStream(_DnsTcpSide(self, flow, True)),
                TcpStream(_DnsTcpSide(self, flow, False)),
            ]

    def _after(self, flow: Flow, ts: int) -> None:
        """Emit what the application parsers completed with the last segment."""
        app = flow.app
        if app == "http":
            session = flow.http
            if session.done:  # type: ignore[union-attr]
                for exchange in session.done:  # type: ignore[union-attr]
                    flow.http_seq += 1
                    self.emit(self.builder.http(flow, exchange, flow.http_seq))
                session.done.clear()  # type: ignore[union-attr]
            if session.tunnel:  # type: ignore[union-attr]
                session.tunnel = False  # type: ignore[union-attr]
                session.finish()  # type: ignore[union-attr]
                self._after(flow, ts)
                flow.app = None  # a CONNECT tunnel: look again at what flows inside
                flow.probes = 0
                flow.streams = None
                flow.http = None
        elif app == "tls":
            tls = flow.tls
            if tls.complete and not tls.emitted:  # type: ignore[union-attr]
                self._emit_tls(flow, tls)  # type: ignore[arg-type]
                flow.app = "done"
            elif tls.client.done and tls.server.done and not tls.emitted:  # type: ignore[union-attr]
                if tls.client_hello is not None:  # type: ignore[union-attr]
                    self._emit_tls(flow, tls)  # type: ignore[arg-type]
                flow.app = "done"
        elif app == "ssh":
            ssh = flow.ssh
            assert ssh is not None and flow.streams is not None
            if ssh.client and ssh.server and not ssh.emitted and ssh.decided:
                ssh.emitted = True
                self._emit_ssh(flow, ssh)
                flow.app = "done"
            elif all(stream.sink.done for stream in flow.streams):  # type: ignore[attr-defined]
                flow.app = "done"  # the event is written when the flow ends
        elif app == "login":
            login = flow.login
            assert login is not None
            for attempt in login.attempts:
                login.seq += 1
                self.emit(self.builder.login(flow, login.protocol, attempt, login.seq))
            login.attempts.clear()
            if login.starttls:  # look again at what follows: the TLS handshake
                flow.app = None
                flow.probes = 0
                flow.streams = None
            elif login.client.done and login.server.done:
                flow.app = "done"

    def _emit_tls(self, flow: Flow, tls: TlsSession) -> None:
        """The handshake's event, and one more for a ClientHello sent after a retry."""
        tls.emitted = True
        self.emit(self.builder.tls(flow, tls))
        if tls.second_hello is not None:
            self.emit(self.builder.tls_retry(flow, tls))

    def _emit_ssh(self, flow: Flow, ssh: SshBanners) -> None:
        """The session's event, and one more per failed attempt after the first, so that
        brute-force counts from captures mean attempts, as they do from the sshd log."""
        event = self.builder.ssh(flow, ssh)
        self.emit(event)
        if event["event"].get("outcome") == "failure":
            for attempt in range(2, ssh.auth_attempts + 1):
                self.emit(self.builder.ssh_failed_attempt(flow, event, attempt))

    def udp_payload(
        self, flow: Flow, forward: bool, data: bytes, poff: int, end: int, ts: int
    ) -> None:
        """QUIC: read the ClientHello and the ServerHello out of the Initial packets."""
        if flow.app is None:
            if data[poff] & 0xC0 != 0xC0 or not is_initial(data[poff : poff + 8]):
                flow.probes += 1
                if flow.probes >= MAX_PROBES:
                    flow.app = "none"
                return
            flow.app = "quic"
            flow.quic = QuicClient()
            flow.quic_src = forward
        quic = flow.quic
        if quic is None:
            return
        if forward == flow.quic_src:
            quic.datagram(data[poff:end], ts)
        elif data[poff] & 0xC0 == 0xC0:
            quic.server_datagram(data[poff:end])
        if quic.complete:
            flow.app = "done"
            self._emit_quic(flow, quic)

    def _emit_quic(self, flow: Flow, quic: QuicClient) -> None:
        """The QUIC handshake's event, once, when a ClientHello was read."""
        if quic.hello is not None and not quic.emitted:
            quic.emitted = True
            self.emit(self.builder.quic(flow, quic))

    def ssdp(self, flow: Flow, payload: bytes, ts: int) -> None:
        """SSDP (HTTP over UDP on port 1900): each request datagram is an HTTP request."""
        request = parse_datagram(payload, ts)
        if request is not None:
            flow.http_seq += 1
            self.emit(self.builder.http(flow, Exchange(request), flow.http_seq))

    def dns(self, flow: Flow, sender_is_src: bool, payload: bytes, ts: int) -> None:
        """One DNS message sent by the flow's source (``sender_is_src``) or destination."""
        try:
            msg = parse_dns(payload)
        except DnsError:
            return
        pending = flow.dns_pending
        if pending is None:
            pending = flow.dns_pending = {}
        if not msg.response:
            previous = pending.pop(msg.id, None)
            if previous is not None:
                self._dns_emit(flow, previous, None)
            if len(pending) >= MAX_DNS_PENDING:
                self._dns_emit(flow, pending.pop(next(iter(pending))), None)
            pending[msg.id] = (ts, msg, sender_is_src)
            return
        query = pending.pop(msg.id, None)
        if query is not None:
            self._dns_emit(flow, query, (ts, msg))
        else:
            self._dns_emit(flow, None, (ts, msg), not sender_is_src)

    def _dns_emit(
        self,
        flow: Flow,
        query: tuple[int, DnsMessage, bool] | None,
        response: tuple[int, DnsMessage] | None,
        client_is_src: bool | None = None,
    ) -> None:
        """One DNS event: a query with its response, or either alone (``client_is_src``
        orients a response whose query was not seen)."""
        flow.dns_seq += 1
        self.emit(self.builder.dns(flow, query, response, flow.dns_seq, client_is_src))

    def end(self, flow: Flow) -> None:
        """A flow is over: flush its streams and emit what its parsers still hold (the
        engine then writes the flow record)."""
        if flow.streams is not None:
            for stream in flow.streams:
                stream.flush(flow.last)
            self._after(flow, flow.last)
        if flow.http is not None:
            flow.http.finish()
            self._after(flow, flow.last)
        if flow.tls is not None and not flow.tls.emitted and flow.tls.client_hello is not None:
            self._emit_tls(flow, flow.tls)
        if flow.quic is not None:
            self._emit_quic(flow, flow.quic)
        if flow.ssh is not None and not flow.ssh.emitted and (flow.ssh.client or flow.ssh.server):
            flow.ssh.emitted = True
            self._emit_ssh(flow, flow.ssh)
        if flow.dns_pending:
            for query in list(flow.dns_pending.values()):
                self._dns_emit(flow, query, None)
            flow.dns_pending.clear()


class _DnsTcpSide:
    """Sink that cuts one direction of DNS over TCP into messages (2-byte length prefix)."""

    __slots__ = ("apps", "buf", "client", "flow")

    def __init__(self, apps: AppLayer, flow: Flow, client: bool) -> None:
        self.apps = apps
        self.flow = flow
        self.client = client
        self.buf = b""

    def gap(self, size: int) -> None:
        """Bytes lost: drop the message being cut (the next one starts after a gap)."""
        self.buf = b""

    def feed(self, data: bytes, ts: int) -> None:
        """Cut the messages out of the stream's next bytes and hand each to the DNS reader."""
        buf = self.buf + data if self.buf else data
        pos = 0
        while pos + 2 <= len(buf):
            (length,) = _u16(buf, pos)
            if pos + 2 + length > len(buf):
                break
            self.apps.dns(self.flow, self.client, buf[pos + 2 : pos + 2 + length], ts)
            pos += 2 + length
        self.buf = buf[pos:] if pos < len(buf) else b""
        if len(self.buf) > 70000:
            self.buf = b""
