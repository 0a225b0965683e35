"""ECS documents for what the engine found: flows, DNS transactions, HTTP exchanges, TLS and
SSH handshakes.

Ids are deterministic: ``event_id("pcap:" + flow key + "@" + flow start, kind and sequence)``,
so reading the same capture again produces the same ids and the store keeps one copy.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from collectors.pcap import dns as dnsmod
from collectors.pcap.community_id import ICMP4_REPLIES, ICMP6_REPLIES, flow_community_id
from collectors.pcap.event_fields import (
    TRANSPORTS,
    ecs_serial,
    flags,
    flow_source,
    host_and_port,
    ip_text,
    iso,
    md5_hex,
    protocol_of,
    version_text,
)
from collectors.pcap.tls import cipher_name, is_grease, version_of
from soc.ecs import event_id

if TYPE_CHECKING:
    from collectors.pcap.dns import DnsMessage
    from collectors.pcap.flows import Flow
    from collectors.pcap.http import Exchange
    from collectors.pcap.logins import Attempt
    from collectors.pcap.quic import QuicClient
    from collectors.pcap.ssh import SshBanners
    from collectors.pcap.tls import ClientHello, ServerHello, TlsSession


class EventBuilder:
    """Builds the ECS documents; the host name and department go on every event."""

    def __init__(self, host_name: str | None, department: str | None, seed: int = 0) -> None:
        self.host_name = host_name or socket.gethostname()
        self.department = department
        self.seed = seed

    # --- common parts ------------------------------------------------------------------------

    def _base(
        self,
        flow: Flow,
        dataset: str,
        category: list[str],
        kind_type: list[str],
        ts: int,
        position: str,
    ) -> dict[str, Any]:
        network: dict[str, Any] = {
            "transport": TRANSPORTS.get(flow.proto, str(flow.proto)),
            "iana_number": str(flow.proto),
            "type": "ipv4" if flow.ver == 4 else "ipv6",
            "community_id": self.community_id(flow),
        }
        if flow.vlan is not None:
            network["vlan"] = {"id": str(flow.vlan)}
            if flow.inner_vlan is not None:
                network["inner"] = {"vlan": {"id": str(flow.inner_vlan)}}
        doc: dict[str, Any] = {
            "_id": event_id(flow_source(flow), position),
            "@timestamp": iso(ts),
            "event": {
                "kind": "event",
                "category": category,
                "type": kind_type,
                "module": "network",
                "dataset": dataset,
            },
            "network": network,
            "host": {"name": self.host_name},
        }
        if self.department:
            doc["labels"] = {"department": self.department}
        return doc

    def community_id(self, flow: Flow) -> str:
        """The flow's Community ID v1. An ICMP flow that started with a reply is oriented
        towards the host that asked, so the message that set its type came from ``dst``."""
        replies = ICMP4_REPLIES if flow.proto == 1 else ICMP6_REPLIES
        sender, receiver = flow.src, flow.dst
        if flow.icmp_type in replies:
            sender, receiver = receiver, sender
        return flow_community_id(
            flow.proto,
            sender,
            receiver,
            flow.sport,
            flow.dport,
            flow.icmp_type,
            flow.icmp_code,
            self.seed,
        )

    def _endpoints(self, doc: dict[str, Any], flow: Flow, client_is_src: bool = True) -> None:
        src, sport, dst, dport = flow.src, flow.sport, flow.dst, flow.dport
        if not client_is_src:
            src, sport, dst, dport = dst, dport, src, sport
        s, d = ip_text(src), ip_text(dst)
        doc["source"] = {"ip": s}
        doc["destination"] = {"ip": d}
        if flow.proto in (6, 17, 132):
            doc["source"]["port"] = sport
            doc["destination"]["port"] = dport
        doc["related"] = {"ip": [s] if s == d else [s, d]}

    # --- flows -------------------------------------------------------------------------------

    def flow(
        self, flow: Flow, reason: str, state: str, unsolicited: bool = False
    ) -> dict[str, Any]:
        """The flow record: both directions' counts, times, flags and connection state."""
        doc = self._base(flow, "pcap.flow", ["network"], ["connection", "end"], flow.start, "flow")
        self._endpoints(doc, flow)
        doc["source"].update(bytes=flow.bytes_o, packets=flow.pkts_o)
        doc["destination"].update(bytes=flow.bytes_r, packets=flow.pkts_r)
        event = doc["event"]
        event["start"] = doc["@timestamp"]
        event["end"] = iso(flow.last)
        event["duration"] = flow.last - flow.start
        event["reason"] = reason
        network = doc["network"]
        network["bytes"] = flow.bytes_o + flow.bytes_r
        network["packets"] = flow.pkts_o + flow.pkts_r
        network["connection"] = {"state": state}
        if unsolicited:
            network["connection"]["unsolicited"] = True
        protocol = protocol_of(flow)
        if protocol:
            network["protocol"] = protocol
        if flow.proto == 6:
            network["tcp"] = {
                "flags": flags(flow.flags_o | flow.flags_r),
                "source_flags": flags(flow.flags_o),
                "destination_flags": flags(flow.flags_r),
            }
        if flow.icmp_type is not None:
            doc["icmp"] = {"type": str(flow.icmp_type), "code": str(flow.icmp_code)}
        return doc

    # --- DNS ---------------------------------------------------------------------------------

    def dns(
        self,
        flow: Flow,
        query: tuple[int, DnsMessage, bool] | None,
        response: tuple[int, DnsMessage] | None,
        seq: int,
        client_is_src: bool | None,
    ) -> dict[str, Any]:
        """One DNS transaction: the query, its response, or both."""
        ts = query[0] if query else response[0]  # type: ignore[index]
        doc = self._base(flow, "pcap.dns", ["network"], ["protocol"], ts, f"dns:{seq}")
        if query is not None:
            client_is_src = query[2]
        self._endpoints(doc, flow, client_is_src if client_is_src is not None else True)
        doc["network"]["protocol"] = "dns"
        q = query[1] if query else None
        r = response[1] if response else None
        first = q or r
        assert first is not None
        out: dict[str, Any] = {
            "id": str(first.id),
            "type": "answer" if r is not None else "query",
            "op_code": dnsmod.OPCODES.get(first.opcode, str(first.opcode)),
        }
        if first.qname is not None:
            out["question"] = {
                "name": first.qname,
                "type": dnsmod.type_name(first.qtype or 0),
                "class": dnsmod.class_name(first.qclass or 0),
            }
            if first.qfacts:
                out["question"].update(
                    {
                        "name_length": first.qfacts["length"],
                        "max_label_length": first.qfacts["max_label_length"],
                        "binary": first.qfacts["binary"],
                        "entropy": first.qfacts["entropy"],
                    }
                )
        if r is not None:
            out["response_code"] = dnsmod.RCODES.get(r.rcode, str(r.rcode))
            out["header_flags"] = r.flags
            if r.answers:
                out["answers"] = r.answers
                resolved = [a["data"] for a in r.answers if a["type"] in ("A", "AAAA")]
                if resolved:
                    out["resolved_ip"] = resolved
        elif q is not None:
            out["header_flags"] = q.flags
        doc["dns"] = out
        if query is not None and response is not None:
            doc["event"]["start"] = iso(query[0])
            doc["event"]["end"] = iso(response[0])
            doc["event"]["duration"] = response[0] - query[0]
        if r is not None:
            doc["event"]["outcome"] = "success" if r.rcode == 0 else "failure"
        return doc

    # --- HTTP --------------------------------------------------------------------------------

    def http(self, flow: Flow, exchange: Exchange, seq: int) -> dict[str, Any]:
        """One HTTP request and, when seen, its response."""
        req = exchange.request
        doc = self._base(
            flow, "pcap.http", ["network", "web"], ["protocol", "access"], req.ts, f"http:{seq}"
        )
        self._endpoints(doc, flow)
        doc["network"]["protocol"] = "http"
        http: dict[str, Any] = {"request": {"method": req.method}}
        if req.version.upper().startswith("HTTP/"):
            http["version"] = req.version[5:]
        url: dict[str, Any] = {"original": req.target}
        host = req.headers.get("host")
        target = req.target
        if req.method == "CONNECT":
            url["domain"], port = host_and_port(target)
            if port:
                url["port"] = port
        else:
            path = target
            if "://" in target[:16]:
                parts = urlsplit(target)
                if parts.hostname:
                    host = host or parts.netloc
                    url["scheme"] = parts.scheme
                path = parts.path + (f"?{parts.query}" if parts.query else "")
            raw_path, _sep, query = path.partition("?")
            url["path"] = unquote(raw_path)
            if _sep:
                url["query"] = unquote(query)
        if host:
            domain, port = host_and_port(host)
            url["domain"] = domain
            if port:
                url["port"] = port
        doc["url"] = url
        if "user-agent" in req.headers:
            doc["user_agent"] = {"original": req.headers["user-agent"]}
        if "referer" in req.headers:
            http["request"]["referrer"] = req.headers["referer"]
        length = req.headers.get("content-length", "").strip()
        if length.isascii() and length.isdigit() and len(length) < 19:
            http["request"]["body"] = {"bytes": int(length)}
        resp = exchange.response
        if resp is not None:
            response: dict[str, Any] = {"status_code": resp.status}
            ctype = resp.headers.get("content-type")
            if ctype:
                response["mime_type"] = ctype.split(";", 1)[0].strip().lower()
            length = resp.headers.get("content-length")
            length = (length or "").strip()
            if length.isascii() and length.isdigit() and len(length) < 19:
                response["body"] = {"bytes": int(length)}
            http["response"] = response
            doc["event"]["outcome"] = "success" if resp.status < 400 else "failure"
            doc["event"]["start"] = iso(req.ts)
            doc["event"]["end"] = iso(resp.ts)
            doc["event"]["duration"] = max(0, resp.ts - req.ts)
        doc["http"] = http
        return doc

    # --- TLS ---------------------------------------------------------------------------------

    def tls(self, flow: Flow, session: TlsSession) -> dict[str, Any]:
        """One TLS handshake: what the client offered, what the server chose and showed."""
        ts = session.client_ts if session.client_ts is not None else flow.start
        doc = self._base(flow, "pcap.tls", ["network"], ["protocol"], ts, "tls")
        self._endpoints(doc, flow)
        doc["network"]["protocol"] = "tls"
        tls: dict[str, Any] = {}
        hello = session.client_hello
        client = self._client_hello(hello, "t") if hello is not None else {}
        if session.server_hello is not None:
            _server_hello(tls, session.server_hello)
        cert = session.certificate
        if cert is not None:
            server = tls.setdefault("server", {})
            server["subject"] = cert.subject
            server["issuer"] = cert.issuer
            if cert.not_before:
                server["not_before"] = cert.not_before
            if cert.not_after:
                server["not_after"] = cert.not_after
            x509: dict[str, Any] = {
                "subject": {"distinguished_name": cert.subject},
                "issuer": {"distinguished_name": cert.issuer},
                "serial_number": ecs_serial(cert.serial),
            }
            if cert.subject_cn:
                x509["subject"]["common_name"] = cert.subject_cn
            if cert.issuer_cn:
                x509["issuer"]["common_name"] = cert.issuer_cn
            server["x509"] = x509
        if client:
            tls["client"] = client
        doc["tls"] = tls
        return doc

    def tls_retry(self, flow: Flow, session: TlsSession) -> dict[str, Any]:
        """The second ClientHello of a handshake the server asked to retry."""
        ts = session.client_ts if session.client_ts is not None else flow.start
        doc = self._base(flow, "pcap.tls", ["network"], ["protocol"], ts, "tls:2")
        self._endpoints(doc, flow)
        doc["network"]["protocol"] = "tls"
        hello = session.second_hello
        assert hello is not None
        doc["tls"] = {"client": self._client_hello(hello, "t")}
        return doc

    @staticmethod
    def _client_hello(hello: ClientHello, transport: str) -> dict[str, Any]:
        """tls.client.* of a ClientHello; ``transport`` is JA4's t (TCP) or q (QUIC)."""
        client: dict[str, Any] = {}
        if hello.server_name:
            client["server_name"] = hello.server_name
        client["ja3"] = hello.ja3()
        client["ja3_string"] = hello.ja3_string()
        client["ja4"] = hello.ja4(transport)
        client["supported_ciphers"] = [cipher_name(c) for c in hello.ciphers]
        offered = hello.supported_versions or [hello.version]
        client["supported_versions"] = [version_text(v) for v in offered if not is_grease(v)]
        if hello.alpn:
            client["alpn"] = hello.alpn
        return client

    def quic(self, flow: Flow, client: QuicClient) -> dict[str, Any]:
        """The ClientHello of a QUIC connection, read from its Initial packets."""
        ts = client.ts if client.ts is not None else flow.start
        doc = self._base(flow, "pcap.tls", ["network"], ["protocol"], ts, "quic")
        self._endpoints(doc, flow, flow.quic_src)
        doc["network"]["protocol"] = "quic"
        hello = client.hello
        assert hello is not None
        tls: dict[str, Any] = {"version_protocol": "tls", "client": self._client_hello(hello, "q")}
        if client.server_hello is not None:
            _server_hello(tls, client.server_hello)
        doc["tls"] = tls
        return doc

    # --- SSH ---------------------------------------------------------------------------------

    def ssh(self, flow: Flow, banners: SshBanners) -> dict[str, Any]:
        """The identification strings of an SSH connection (client and server software)."""
        doc = self._base(flow, "pcap.ssh", ["network"], ["protocol"], flow.start, "ssh")
        self._endpoints(doc, flow)
        doc["network"]["protocol"] = "ssh"
        ssh: dict[str, Any] = {}
        if banners.client:
            ssh["client"] = {"banner": banners.client}
        if banners.server:
            ssh["server"] = {"banner": banners.server}
        if banners.kex_done_ts is not None:
            outcome = banners.outcome(flow.last)
            auth: dict[str, Any] = {"attempts": banners.auth_attempts}
            if outcome is not None:
                auth["success"] = outcome == "success"
                doc["event"]["outcome"] = outcome
                doc["event"]["category"] = ["network", "authentication"]
                doc["event"]["action"] = "ssh_session"
            ssh["auth"] = auth
            ssh["session"] = {
                "seconds_after_kex": round((flow.last - banners.kex_done_ts) / 1e9, 3)
            }
        doc["ssh"] = ssh
        return doc

    def ssh_failed_attempt(
        self, flow: Flow, session: dict[str, Any], attempt: int
    ) -> dict[str, Any]:
        """One more failed attempt (number ``attempt``) of a failed SSH session whose event is
        ``session``: dataset pcap.ssh, ``event.action: ssh_auth_failure``, no banners."""
        doc = self._base(
            flow, "pcap.ssh", ["network", "authentication"], ["protocol"], flow.start,
            f"ssh:attempt:{attempt}",
        )  # fmt: skip
        self._endpoints(doc, flow)
        doc["network"]["protocol"] = "ssh"
        doc["event"].update(action="ssh_auth_failure", outcome="failure")
        doc["ssh"] = {"auth": {"attempt": attempt, "success": False}}
        doc["@timestamp"] = session["@timestamp"]
        return doc

    # --- clear-text logins (FTP, SMTP, POP3, IMAP) -------------------------------------------

    def login(self, flow: Flow, protocol: str, attempt: Attempt, seq: int) -> dict[str, Any]:
        """One settled login attempt of a clear-text protocol (dataset ``pcap.<protocol>``)."""
        doc = self._base(
            flow, f"pcap.{protocol}", ["network", "authentication"], ["protocol"], attempt.ts,
            f"login:{seq}",
        )  # fmt: skip
        self._endpoints(doc, flow)
        doc["network"]["protocol"] = protocol
        event = doc["event"]
        event["action"] = f"{protocol}_login"
        event["outcome"] = "success" if attempt.success else "failure"
        if attempt.user:
            doc["user"] = {"name": attempt.user}
            doc["related"]["user"] = [attempt.user]
        doc[protocol] = {"command": attempt.command, "reply": attempt.reply}
        return doc


def _server_hello(tls: dict[str, Any], sh: ServerHello) -> None:
    """tls.version, tls.cipher, tls.next_protocol and tls.server.ja3s of a ServerHello."""
    chosen = version_of(sh.selected_version or sh.version)
    if chosen:
        tls["version_protocol"], tls["version"] = chosen
    tls["cipher"] = cipher_name(sh.cipher)
    if sh.alpn:
        tls["next_protocol"] = sh.alpn
    tls.setdefault("server", {})["ja3s"] = md5_hex(sh.ja3s_string())
    tls["established"] = True
