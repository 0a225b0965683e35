"""Real servers on 127.0.0.1 for the output tests: an HTTP endpoint, an SMTP server with
STARTTLS and AUTH (aiosmtpd), and syslog listeners on UDP and TCP."""

from __future__ import annotations

import json
import socket
import socketserver
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class WebhookServer:
    """Collects JSON POSTs; answers ``fail_with`` (e.g. 500) while ``failing`` is true."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.failing = False
        self.fail_with = 500
        self.attempts = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                outer.attempts += 1
                if outer.failing:
                    self.send_response(outer.fail_with)
                    self.end_headers()
                    return
                outer.posts.append({"headers": dict(self.headers), "json": json.loads(body)})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (made by the openssl command) and its key."""
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


class SmtpServer:
    """aiosmtpd on 127.0.0.1 that requires STARTTLS, then AUTH (user soc / password s3cret)."""

    def __init__(self, tmp: Path) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.messages: list[Any] = []
        self.logins: list[str] = []
        cert, key = self_signed(tmp)
        self.ca_file = cert
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                outer.messages.append(envelope)
                return "250 OK"

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login == b"soc" and auth_data.password == b"s3cret"
            if ok:
                outer.logins.append(auth_data.login.decode())
            return AuthResult(success=ok)

        self.port = free_port()
        self.controller = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=True,
        )
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()


class SyslogListener:
    """Receives syslog messages on UDP and TCP (octet-counted) at one port each."""

    def __init__(self) -> None:
        self.udp_lines: list[str] = []
        self.tcp_lines: list[str] = []
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp_port = self.udp.getsockname()[1]
        outer = self

        class Tcp(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                data = self.rfile.read()
                while data:
                    size, _, rest = data.partition(b" ")
                    n = int(size)
                    outer.tcp_lines.append(rest[:n].decode())
                    data = rest[n:]

        self.tcp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Tcp)
        self.tcp_port = self.tcp.server_address[1]
        threading.Thread(target=self.tcp.serve_forever, daemon=True).start()
        threading.Thread(target=self._read_udp, daemon=True).start()

    def _read_udp(self) -> None:
        while True:
            try:
                data, _ = self.udp.recvfrom(65535)
            except OSError:
                return
            self.udp_lines.append(data.decode())

    def close(self) -> None:
        self.udp.close()
        self.tcp.shutdown()
        self.tcp.server_close()
