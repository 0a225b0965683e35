"""TLS handshakes on a reassembled TCP stream: ClientHello, ServerHello, first certificate.

Only the plaintext handshake is read: records of type 22 are unwrapped, handshake messages
reassembled across records (bounded to MAX_HANDSHAKE bytes per direction), and the direction
stops being read at the first ChangeCipherSpec, alert or application-data record. From the
ClientHello come the SNI, offered versions (including the supported_versions extension),
cipher suites, JA3 (string and MD5) and JA4; from the ServerHello the chosen version and
cipher (and JA3S); from the Certificate message (TLS <= 1.2) the subject, issuer, validity
and serial number of the server's certificate (collectors.pcap.x509).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

from collectors.pcap.x509 import Certificate, parse_certificate

MAX_HANDSHAKE = 64 * 1024
#: The random of a HelloRetryRequest: SHA-256 of "HelloRetryRequest" (RFC 8446 4.1.3).
HRR = hashlib.sha256(b"HelloRetryRequest").digest()

VERSIONS = {
    0x0200: ("ssl", "2.0"),
    0x0300: ("ssl", "3.0"),
    0x0301: ("tls", "1.0"),
    0x0302: ("tls", "1.1"),
    0x0303: ("tls", "1.2"),
    0x0304: ("tls", "1.3"),
}
JA4_VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3", 0x0200: "s2"}

#: IANA names of the cipher suites seen in practice; others are shown as 0xNNNN.
CIPHERS = {
    0x0004: "TLS_RSA_WITH_RC4_128_MD5",
    0x0005: "TLS_RSA_WITH_RC4_128_SHA",
    0x000A: "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA",
    0x0033: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
    0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
    0x0039: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
    0x003C: "TLS_RSA_WITH_AES_128_CBC_SHA256",
    0x003D: "TLS_RSA_WITH_AES_256_CBC_SHA256",
    0x0067: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
    0x006B: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
    0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256",
    0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384",
    0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    0x009F: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    0x00FF: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
    0x1301: "TLS_AES_128_GCM_SHA256",
    0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0x1304: "TLS_AES_128_CCM_SHA256",
    0x5600: "TLS_FALLBACK_SCSV",
    0xC007: "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    0xC011: "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    0xC012: "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    0xC024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCAA: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
}


def is_grease(value: int) -> bool:
    """GREASE values (RFC 8701) are 0x?A?A with equal bytes; fingerprints leave them out."""
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


def version_of(value: int) -> tuple[str, str] | None:
    """(protocol, version) of a TLS version number; TLS 1.3 drafts count as 1.3."""
    if value in VERSIONS:
        return VERSIONS[value]
    if value >> 8 == 0x7F:
        return ("tls", "1.3")
    return None


def cipher_name(value: int) -> str:
    """IANA name of a cipher suite, or its number as 0xNNNN."""
    return CIPHERS.get(value) or f"0x{value:04X}"


class TlsError(ValueError):
    """A handshake message that cannot be parsed."""


@dataclass
class ClientHello:
    """What a ClientHello offers."""

    version: int
    ciphers: list[int]
    extensions: list[int]
    groups: list[int] = field(default_factory=list)
    point_formats: list[int] = field(default_factory=list)
    sig_algs: list[int] = field(default_factory=list)
    alpn: list[str] = field(default_factory=list)
    supported_versions: list[int] = field(default_factory=list)
    server_name: str | None = None

    def ja3_string(self) -> str:
        """The JA3 string: version,ciphers,extensions,groups,point formats (GREASE left out)."""
        parts = [
            str(self.version),
            "-".join(str(c) for c in self.ciphers if not is_grease(c)),
            "-".join(str(e) for e in self.extensions if not is_grease(e)),
            "-".join(str(g) for g in self.groups if not is_grease(g)),
            "-".join(str(p) for p in self.point_formats),
        ]
        return ",".join(parts)

    def ja3(self) -> str:
        """MD5 (hex) of the JA3 string."""
        return hashlib.md5(self.ja3_string().encode(), usedforsecurity=False).hexdigest()

    def ja4(self, transport: str = "t") -> str:
        """The JA4 fingerprint (FoxIO spec): a_b_c with sorted, hashed cipher and extension
        lists; the ALPN part uses the first and last character of the first ALPN value."""
        versions = [v for v in self.supported_versions if not is_grease(v)]
        best = max(versions) if versions else self.version
        version = JA4_VERSIONS.get(best, "00")
        sni = "d" if self.server_name else "i"
        ciphers = [c for c in self.ciphers if not is_grease(c)]
        exts = [e for e in self.extensions if not is_grease(e)]
        alpn = "00"
        if self.alpn and self.alpn[0]:
            first = self.alpn[0]
            if first[0].isalnum() and first[-1].isalnum() and first.isascii():
                alpn = first[0] + first[-1]
            else:
                raw = first.encode("latin-1", "replace")
                alpn = raw[:1].hex()[0] + raw[-1:].hex()[-1]
        part_a = (
            f"{transport}{version}{sni}{min(len(ciphers), 99):02d}{min(len(exts), 99):02d}{alpn}"
        )
        part_b = _ja4_hash(",".join(f"{c:04x}" for c in sorted(ciphers))) if ciphers else "0" * 12
        ext_sorted = sorted(e for e in exts if e not in (0x0000, 0x0010))
        text = ",".join(f"{e:04x}" for e in ext_sorted)
        sigs = [s for s in self.sig_algs if not is_grease(s)]
        if sigs:
            text += "_" + ",".join(f"{s:04x}" for s in sigs)
        part_c = _ja4_hash(text) if exts else "0" * 12
        return f"{part_a}_{part_b}_{part_c}"


def _ja4_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass
class ServerHello:
    """What the server chose."""

    version: int
    cipher: int
    extensions: list[int]
    selected_version: int | None = None
    alpn: str | None = None
    retry: bool = False  # a HelloRetryRequest (RFC 8446 4.1.3)

    def ja3s_string(self) -> str:
        """The JA3S string: version,cipher,extensions."""
        exts = "-".join(str(e) for e in self.extensions if not is_grease(e))
        return f"{self.version},{self.cipher},{exts}"


def _u16_list(data: bytes, pos: int, nbytes: int) -> list[int]:
    end = min(pos + nbytes, len(data))
    return [struct.unpack_from("!H", data, p)[0] for p in range(pos, end - 1, 2)]


def parse_client_hello(body: bytes) -> ClientHello:
    """Parse the body of a ClientHello handshake message."""
    try:
        (version,) = struct.unpack_from("!H", body, 0)
        pos = 34
        pos += 1 + body[pos]
        (n,) = struct.unpack_from("!H", body, pos)
        ciphers = _u16_list(body, pos + 2, n)
        pos += 2 + n
        pos += 1 + body[pos]
    except (IndexError, struct.error):
        raise TlsError("ClientHello cut short") from None
    hello = ClientHello(version=version, ciphers=ciphers, extensions=[])
    if pos + 2 > len(body):
        return hello
    (total,) = struct.unpack_from("!H", body, pos)
    pos += 2
    end = min(pos + total, len(body))
    while pos + 4 <= end:
        etype, elen = struct.unpack_from("!HH", body, pos)
        data = body[pos + 4 : pos + 4 + elen]
        pos += 4 + elen
        hello.extensions.append(etype)
        try:
            if etype == 0 and len(data) >= 5:
                (nlen,) = struct.unpack_from("!H", data, 3)
                if data[2] == 0:
                    hello.server_name = data[5 : 5 + nlen].decode("ascii", "backslashreplace")
            elif etype == 10 and len(data) >= 2:
                hello.groups = _u16_list(data, 2, struct.unpack_from("!H", data, 0)[0])
            elif etype == 11 and data:
                hello.point_formats = list(data[1 : 1 + data[0]])
            elif etype == 13 and len(data) >= 2:
                hello.sig_algs = _u16_list(data, 2, struct.unpack_from("!H", data, 0)[0])
            elif etype == 16 and len(data) >= 2:
                p = 2
                while p < len(data):
                    n = data[p]
                    hello.alpn.append(data[p + 1 : p + 1 + n].decode("latin-1"))
                    p += 1 + n
            elif etype == 43 and data:
                hello.supported_versions = _u16_list(data, 1, data[0])
        except (IndexError, struct.error):
            continue
    return hello


def parse_server_hello(body: bytes) -> ServerHello:
    """Parse the body of a ServerHello handshake message."""
    try:
        (version,) = struct.unpack_from("!H", body, 0)
        pos = 34
        pos += 1 + body[pos]
        (cipher,) = struct.unpack_from("!H", body, pos)
        pos += 3
    except (IndexError, struct.error):
        raise TlsError("ServerHello cut short") from None
    hello = ServerHello(version=version, cipher=cipher, extensions=[], retry=body[2:34] == HRR)
    if pos + 2 > len(body):
        return hello
    (total,) = struct.unpack_from("!H", body, pos)
    pos += 2
    end = min(pos + total, len(body))
    while pos + 4 <= end:
        etype, elen = struct.unpack_from("!HH", body, pos)
        data = body[pos + 4 : pos + 4 + elen]
        pos += 4 + elen
        hello.extensions.append(etype)
        if etype == 43 and len(data) >= 2:
            (hello.selected_version,) = struct.unpack_from("!H", data, 0)
        elif etype == 16 and len(data) >= 3:
            hello.alpn = data[3 : 3 + data[2]].decode("latin-1")
    return hello


# --- minimal DER -----------------------------------------------------------------------------


# --- the stream side -------------------------------------------------------------------------


class TlsDirection:
    """Records of one direction of a TLS connection, until the handshake turns encrypted."""

    def __init__(self, session: TlsSession, client: bool) -> None:
        self.session = session
        self.client = client
        self.records = b""
        self.handshake = b""
        self.done = False

    def gap(self, size: int) -> None:
        """Lost bytes: the handshake of this direction can no longer be followed."""
        self.done = True
        self.records = self.handshake = b""

    def feed(self, data: bytes, ts: int) -> None:
        """The next in-order bytes of this direction."""
        if self.done:
            return
        buf = self.records + data if self.records else data
        pos = 0
        size = len(buf)
        while pos + 5 <= size:
            ctype = buf[pos]
            major = buf[pos + 1]
            (length,) = struct.unpack_from("!H", buf, pos + 3)
            if major != 3 or length > 18432 or ctype not in (20, 21, 22, 23, 24):
                self.done = True
                return
            if pos + 5 + length > size:
                break
            if ctype == 20 and self.client and self.session.waiting_retry:
                pos += 5 + length  # the client's CCS before its second ClientHello (RFC 8446 4.1.4)
                continue
            if ctype != 22:
                self.done = True  # change cipher spec, alert, application data: stop here
                self.session._direction_done(self.client, ts)
                return
            self.handshake += buf[pos + 5 : pos + 5 + length]
            pos += 5 + length
            if len(self.handshake) > MAX_HANDSHAKE:
                self.done = True
                return
            self._messages(ts)
            if self.done:
                return
        self.records = buf[pos:]
        if len(self.records) > MAX_HANDSHAKE:
            self.done = True
            self.records = b""

    def _messages(self, ts: int) -> None:
        hs = self.handshake
        pos = 0
        while pos + 4 <= len(hs):
            mtype = hs[pos]
            length = int.from_bytes(hs[pos + 1 : pos + 4], "big")
            if pos + 4 + length > len(hs):
                break
            body = hs[pos + 4 : pos + 4 + length]
            pos += 4 + length
            try:
                self.session._message(self.client, mtype, body, ts)
            except (TlsError, IndexError, struct.error, ValueError):
                self.session.errors += 1
            if mtype == 14 or (not self.client and mtype == 2 and self.session.tls13):
                self.done = True
                self.session._direction_done(self.client, ts)
                break
        self.handshake = hs[pos:]


@dataclass
class TlsSession:
    """One TLS connection's handshake as far as it could be read."""

    client_hello: ClientHello | None = None
    server_hello: ServerHello | None = None
    certificate: Certificate | None = None
    client_ts: int | None = None
    server_done: bool = False
    errors: int = 0
    hellos: int = 0
    emitted: bool = False
    second_hello: ClientHello | None = None  # sent after a HelloRetryRequest

    def __post_init__(self) -> None:
        self.client = TlsDirection(self, client=True)
        self.server = TlsDirection(self, client=False)

    @property
    def tls13(self) -> bool:
        sh = self.server_hello
        return bool(
            sh and sh.selected_version and version_of(sh.selected_version) == VERSIONS[0x0304]
        )

    @property
    def waiting_retry(self) -> bool:
        """The server asked for a new ClientHello (HelloRetryRequest) not seen yet."""
        sh = self.server_hello
        return bool(sh and sh.retry and self.second_hello is None)

    @property
    def complete(self) -> bool:
        """Both hellos seen and nothing more to learn from the server side."""
        return self.client_hello is not None and self.server_done and not self.waiting_retry

    def _message(self, client: bool, mtype: int, body: bytes, ts: int) -> None:
        if client and mtype == 1:
            hello = parse_client_hello(body)
            self.hellos += 1
            if self.client_hello is None:
                self.client_hello = hello
                self.client_ts = ts
            elif self.second_hello is None:
                self.second_hello = hello
        elif not client and mtype == 2 and self.server_hello is None:
            self.server_hello = parse_server_hello(body)
        elif not client and mtype == 11 and self.certificate is None and len(body) > 6:
            first = int.from_bytes(body[3:6], "big")
            self.certificate = parse_certificate(body[6 : 6 + first])  # DerError: a ValueError

    def _direction_done(self, client: bool, ts: int) -> None:
        if not client:
            self.server_done = True
