"""SSH identification lines (RFC 4253 section 4.2): the banners of client and server."""

from __future__ import annotations

SSH_PREFIX = b"SSH-"


class SshBanners:
    """The identification lines (RFC 4253 4.2) of both sides of an SSH connection."""

    __slots__ = ("client", "emitted", "server")

    def __init__(self) -> None:
        self.client: str | None = None
        self.server: str | None = None
        self.emitted = False


class SshSide:
    """Sink that looks for the ``SSH-`` line in the first bytes of one direction."""

    __slots__ = ("banners", "buf", "client", "done")

    def __init__(self, banners: SshBanners, client: bool) -> None:
        self.banners = banners
        self.client = client
        self.buf = b""
        self.done = False

    def gap(self, size: int) -> None:
        """Lost bytes: the banner can no longer be found in order."""
        self.done = True

    def feed(self, data: bytes, ts: int) -> None:
        """The next in-order bytes; the first line starting ``SSH-`` (within 8 KiB) wins."""
        if self.done:
            return
        self.buf += data
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
                self.done = True
                self.buf = b""
                return
            pos = end + 1
        if len(self.buf) > 8192:
            self.done = True
            self.buf = b""
