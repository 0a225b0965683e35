"""SSH: the identification lines (RFC 4253 section 4.2) and what the packet sizes after the
key exchange tell about authentication, without decrypting anything.

Until each side sends SSH_MSG_NEWKEYS (21) its binary packets are in clear and are walked by
their length field. After it, only the sizes of the server's segments are looked at, with the
heuristic Zeek's SSH analyzer publishes: the first encrypted server message is the
SERVICE_ACCEPT; a later one 16 bytes shorter is a USERAUTH_SUCCESS (8 bytes of payload
against 24); the first other small one is a USERAUTH_FAILURE and every later one of the same
size is one more failed attempt. The session facts (``SshBanners.auth_*``) end when success
is seen or after MAX_ENCRYPTED server segments.
"""

from __future__ import annotations

import struct

SSH_PREFIX = b"SSH-"
MSG_NEWKEYS = 21
MAX_ENCRYPTED = 64
MAX_CLEAR_PACKET = 35000
#: a server message this much bigger than the SERVICE_ACCEPT is a pre-auth banner, skipped once
BANNER_SLACK = 256
#: a session whose server sent fewer encrypted segments than this (within 30 s of the key
#: exchange) and showed no success is too short for a shell: a refused login
SHORT_SESSION_SEGMENTS = 12


class SshBanners:
    """Both sides of one SSH connection: identification lines and authentication facts."""

    __slots__ = (
        "auth_attempts",
        "auth_failure_size",
        "auth_success",
        "client",
        "client_encrypted",
        "emitted",
        "kex_done_ts",
        "server",
        "server_encrypted",
        "service_accept_size",
        "skipped_banner",
    )

    def __init__(self) -> None:
        self.client: str | None = None
        self.server: str | None = None
        self.emitted = False
        self.client_encrypted = False  # client sent NEWKEYS and then encrypted data
        self.server_encrypted = 0  # encrypted server segments looked at
        self.kex_done_ts: int | None = None  # time of the server's NEWKEYS
        self.service_accept_size = 0
        self.auth_failure_size = 0
        self.skipped_banner = False
        self.auth_attempts = 0  # failed attempts counted by size
        self.auth_success: bool | None = None

    @property
    def decided(self) -> bool:
        """True once success was seen or enough encrypted segments were looked at."""
        return self.auth_success is True or self.server_encrypted >= MAX_ENCRYPTED

    def server_segment(self, size: int) -> None:
        """One encrypted segment from the server (Zeek's size heuristic, see the module)."""
        if not self.client_encrypted or self.decided:
            return
        self.server_encrypted += 1
        if not self.service_accept_size:
            self.service_accept_size = size
            return
        if size + 16 == self.service_accept_size:
            self.auth_success = True  # success (the "none" method if no failure came before)
            return
        if not self.auth_failure_size:
            if not self.skipped_banner and size - self.service_accept_size > BANNER_SLACK:
                self.skipped_banner = True
                return
            self.auth_failure_size = size
            return
        if size == self.auth_failure_size:
            self.auth_attempts += 1

    def outcome(self, end_ts: int) -> str | None:
        """``success``, ``failure`` or None (unknown) for the whole session: success when the
        success size was seen; failure when failures were counted without a success, or when
        the server's encrypted conversation ended after fewer than SHORT_SESSION_SEGMENTS
        segments within 30 s of the key exchange (a client that gave up or was shown the
        door, too short for a shell)."""
        if self.auth_success:
            return "success"
        if self.auth_attempts:
            return "failure"
        if (
            self.client_encrypted
            and self.kex_done_ts is not None
            and 0 < self.server_encrypted < SHORT_SESSION_SEGMENTS
            and end_ts - self.kex_done_ts < 30_000_000_000
        ):
            return "failure"
        return None


class SshSide:
    """Sink of one direction: the ``SSH-`` line, then the clear packets up to NEWKEYS, then
    (server side) the sizes of encrypted segments."""

    __slots__ = ("banners", "buf", "client", "done", "stage")

    def __init__(self, banners: SshBanners, client: bool) -> None:
        self.banners = banners
        self.client = client
        self.buf = b""
        self.done = False
        self.stage = 0  # 0 banner, 1 clear packets, 2 encrypted

    def gap(self, size: int) -> None:
        """Lost bytes: neither the banner nor the packet boundaries can be followed."""
        self.done = True
        self.buf = b""

    def feed(self, data: bytes, ts: int) -> None:
        """The next in-order bytes of this direction."""
        if self.done:
            return
        if self.stage == 2:
            self._encrypted(len(data))
            return
        self.buf += data
        if self.stage == 0:
            self._banner()
        if self.stage == 1:
            self._clear(ts)

    def _banner(self) -> None:
        pos = 0
        while True:
            end = self.buf.find(b"\n", pos)
            if end < 0:
                break
            line = self.buf[pos:end].rstrip(b"\r")
            if line.startswith(SSH_PREFIX):
                text = line[:255].decode("utf-8", "backslashreplace")
                if self.client:
                    self.banners.client = text
                else:
                    self.banners.server = text
                self.buf = self.buf[end + 1 :]
                self.stage = 1 if text.startswith("SSH-2.0") or text.startswith("SSH-1.99") else 3
                if self.stage == 3:
                    self.done = True
                return
            pos = end + 1
        if len(self.buf) > 8192:
            self.done = True
            self.buf = b""

    def _clear(self, ts: int) -> None:
        buf = self.buf
        pos = 0
        while len(buf) - pos >= 6:
            (length,) = struct.unpack_from("!I", buf, pos)
            if length < 5 or length > MAX_CLEAR_PACKET:
                self.done = True
                self.buf = b""
                return
            if len(buf) - pos < 4 + length:
                break
            msg = buf[pos + 5]
            pos += 4 + length
            if msg == MSG_NEWKEYS:
                self.stage = 2
                self.buf = b""
                if not self.client:
                    self.banners.kex_done_ts = ts
                if len(buf) > pos:
                    self._encrypted(len(buf) - pos)
                return
        self.buf = buf[pos:]

    def _encrypted(self, size: int) -> None:
        banners = self.banners
        if self.client:
            banners.client_encrypted = True
            self.done = True  # the client's sizes are not needed
            return
        banners.server_segment(size)
        if banners.decided:
            self.done = True
