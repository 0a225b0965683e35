"""Login outcomes of clear-text protocols: FTP, SMTP AUTH, POP3 and IMAP.

Both directions of the connection are cut into lines. The client's login commands (FTP and
POP3 ``USER``/``PASS``, POP3 ``APOP``, IMAP ``LOGIN`` and ``AUTHENTICATE``, SMTP and POP3
``AUTH``) open an *attempt*; the server's reply that settles it closes it:

| protocol | success | failure |
|---|---|---|
| FTP | 230 | 530 (and other 5xx to PASS) |
| SMTP | 235 | 535 (and other 5xx to AUTH) |
| POP3 | ``+OK`` to PASS / APOP / AUTH | ``-ERR`` |
| IMAP | ``<tag> OK`` | ``<tag> NO`` / ``<tag> BAD`` |

Each settled attempt becomes one ``Attempt`` (user name when the protocol shows it: the
FTP/POP3 USER argument, the IMAP LOGIN argument, the user of SMTP ``AUTH PLAIN`` / ``AUTH
LOGIN`` decoded from base64). Passwords are never kept. Lines are bounded (1 KiB, longer
lines are cut) and at most MAX_ATTEMPTS attempts are recorded per connection.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

MAX_LINE = 1024
MAX_ATTEMPTS = 1000
#: TCP ports on which the login decoder is started, and the protocol they carry.
PORTS: dict[int, str] = {21: "ftp", 25: "smtp", 587: "smtp", 2525: "smtp", 110: "pop3", 143: "imap"}


@dataclass
class Attempt:
    """One settled login attempt."""

    ts: int
    success: bool
    user: str | None
    command: str
    reply: str


def _b64_text(text: str) -> str | None:
    try:
        return base64.b64decode(text.strip(), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None


class LoginSession:
    """The state of one connection: the pending attempt and the settled ones."""

    __slots__ = (
        "attempts",
        "client",
        "pending",
        "protocol",
        "seq",
        "server",
        "stage",
        "starttls",
        "user",
    )

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        self.attempts: list[Attempt] = []  # settled, not yet turned into events
        self.seq = 0  # attempts turned into events
        self.starttls = False  # the client asked for TLS: the rest is not lines
        self.user: str | None = None
        self.pending: tuple[str, str] | None = None  # (command, imap tag or "")
        self.stage = ""  # SMTP/IMAP/POP3 AUTH LOGIN: which base64 line comes next
        self.client = LineSide(self, True)
        self.server = LineSide(self, False)

    # --- client ------------------------------------------------------------------------------

    def client_line(self, line: str) -> None:
        """One command line of the client."""
        if self.stage:
            self._auth_continuation(line)
            return
        if self.protocol == "imap":
            tag, _, rest = line.partition(" ")
            verb, _, arg = rest.partition(" ")
        else:
            tag = ""
            verb, _, arg = line.partition(" ")
        verb = verb.upper()
        if verb in ("STARTTLS", "STLS", "AUTH") and (
            verb != "AUTH" or arg.strip().upper() in ("TLS", "SSL", "TLS-C")
        ):
            self.client.done = self.server.done = True  # what follows is TLS
            self.starttls = True
            return
        if verb == "USER" and self.protocol in ("ftp", "pop3"):
            self.user = arg.strip() or None
        elif verb in ("PASS", "APOP"):
            if verb == "APOP":
                self.user = arg.split(" ", 1)[0] or None
            self.pending = (verb, "")
        elif verb == "LOGIN" and self.protocol == "imap":
            self.user = _imap_word(arg)
            self.pending = ("LOGIN", tag)
        elif verb in ("AUTH", "AUTHENTICATE"):
            mech, _, initial = arg.partition(" ")
            mech = mech.upper()
            self.pending = (f"{verb} {mech}", tag)
            if mech == "PLAIN":
                if initial.strip() and initial.strip() != "=":
                    self._plain(initial)
                else:
                    self.stage = "plain"
            elif mech == "LOGIN":
                if initial.strip():
                    self.user = _b64_text(initial)
                    self.stage = "password"
                else:
                    self.stage = "user"
            else:
                self.stage = "other"

    def _plain(self, text: str) -> None:
        decoded = _b64_text(text)
        if decoded is not None:
            parts = decoded.split("\0")
            if len(parts) >= 2:
                self.user = parts[1] or parts[0] or None

    def _auth_continuation(self, line: str) -> None:
        if line.strip() == "*":  # the client cancelled the exchange
            self.stage = ""
            return
        if self.stage == "plain":
            self._plain(line)
            self.stage = "sent"
        elif self.stage == "user":
            self.user = _b64_text(line)
            self.stage = "password"
        elif self.stage in ("password", "other"):
            self.stage = "sent"

    # --- server ------------------------------------------------------------------------------

    def server_line(self, line: str, ts: int) -> None:
        """One reply line of the server; settles the pending attempt when it answers it."""
        if self.pending is None:
            return
        command, tag = self.pending
        verdict: bool | None = None
        if self.protocol in ("ftp", "smtp"):
            code = line[:3]
            if len(line) > 3 and line[3] == "-":  # a multi-line reply goes on
                return
            if not code.isdigit():
                return
            if code[0] in "13":  # continuation (334 for AUTH, 331 for USER)
                return
            verdict = code[0] == "2"
        elif self.protocol == "pop3":
            if line.startswith("+OK"):
                verdict = True
            elif line.startswith("-ERR"):
                verdict = False
            else:
                return  # "+ " continuation of AUTH
        else:
            head, _, rest = line.partition(" ")
            if head != tag:
                return
            word = rest.split(" ", 1)[0].upper()
            if word not in ("OK", "NO", "BAD"):
                return
            verdict = word == "OK"
        self.pending = None
        self.stage = ""
        if len(self.attempts) < MAX_ATTEMPTS:
            self.attempts.append(Attempt(ts, verdict, self.user, command, line[:200]))


def _imap_word(arg: str) -> str | None:
    arg = arg.strip()
    if arg.startswith('"'):
        end = arg.find('"', 1)
        return arg[1:end] if end > 0 else None
    return arg.split(" ", 1)[0] or None


class LineSide:
    """Sink of one direction: cuts the reassembled bytes into lines for the session."""

    __slots__ = ("buf", "client", "done", "session")

    def __init__(self, session: LoginSession, client: bool) -> None:
        self.session = session
        self.client = client
        self.buf = b""
        self.done = False

    def gap(self, size: int) -> None:
        """Lost bytes: drop the partial line, and forget a half-sent command."""
        self.buf = b""
        if not self.client:
            return
        self.session.stage = ""

    def feed(self, data: bytes, ts: int) -> None:
        """The next in-order bytes of this direction."""
        if self.done:
            return
        buf = self.buf + data
        start = 0
        while True:
            end = buf.find(b"\n", start)
            if end < 0:
                break
            line = buf[start:end][:MAX_LINE].rstrip(b"\r").decode("utf-8", "replace")
            if self.client:
                self.session.client_line(line)
            else:
                self.session.server_line(line, ts)
            start = end + 1
            if self.done:
                return
        rest = buf[start:]
        self.buf = rest[:MAX_LINE]
