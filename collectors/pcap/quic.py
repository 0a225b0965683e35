"""QUIC Initial packets -> the TLS ClientHello and ServerHello they carry (RFC 9000 / 9001 /
9369).

Initial packets are protected with keys anyone can derive from the packet's Destination
Connection ID (RFC 9001 section 5.2), so a sensor can read the ClientHello: derive the keys
with HKDF-SHA256 (the server's Initial keys come from the same connection ID), remove header
protection (AES-128-ECB of a sample), decrypt the payload
(AES-128-GCM; the tag is not verified, so this is AES-CTR), then collect CRYPTO frames until
the ClientHello is whole. AES-128 encryption is implemented here (FIPS-197, table-driven)
because the standard library has no block cipher; only a few blocks per connection are
needed, so speed does not matter.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass

from collectors.pcap.tls import (
    ClientHello,
    ServerHello,
    TlsError,
    parse_client_hello,
    parse_server_hello,
)

MAX_CRYPTO = 64 * 1024  # ClientHello bytes we are willing to collect per connection
MAX_PACKETS = 8  # client Initial packets looked at per connection

#: version -> (initial salt, label prefix, Initial packet type bits)
VERSIONS: dict[int, tuple[bytes, str, int]] = {
    0x00000001: (bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"), "quic ", 0),
    0x6B3343CF: (bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9"), "quicv2 ", 1),
}
for _draft in range(29, 33):
    VERSIONS[0xFF000000 + _draft] = (
        bytes.fromhex("afbfec289993d24c9e9786f19c6111e04390a899"),
        "quic ",
        0,
    )

# --- AES-128 (encryption only) -----------------------------------------------------------


def _xtime(a: int) -> int:
    a <<= 1
    return a ^ 0x11B if a & 0x100 else a


def _tables() -> tuple[list[int], list[list[int]]]:
    exp = [0] * 256
    log = [0] * 256
    x = 1
    for i in range(255):
        exp[i] = x
        log[x] = i
        x ^= _xtime(x)  # multiply by the generator 3
    sbox = [0] * 256
    for a in range(256):
        b = exp[(255 - log[a]) % 255] if a else 0
        s = b
        for shift in range(1, 5):
            s ^= ((b << shift) | (b >> (8 - shift))) & 0xFF
        sbox[a] = s ^ 0x63
    te0 = []
    for a in range(256):
        s = sbox[a]
        s2 = _xtime(s)
        te0.append((s2 << 24) | (s << 16) | (s << 8) | (s2 ^ s))
    te = [te0]
    for r in (8, 16, 24):
        te.append([((v >> r) | (v << (32 - r))) & 0xFFFFFFFF for v in te0])
    return sbox, te


SBOX, (TE0, TE1, TE2, TE3) = _tables()


class Aes128:
    """AES-128 block encryption (FIPS-197)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 16:
            raise ValueError("AES-128 needs a 16-byte key")
        w = list(struct.unpack(">4I", key))
        rcon = 1
        for i in range(4, 44):
            t = w[i - 1]
            if i % 4 == 0:
                t = ((t << 8) | (t >> 24)) & 0xFFFFFFFF
                t = (
                    (SBOX[t >> 24] << 24)
                    | (SBOX[(t >> 16) & 255] << 16)
                    | (SBOX[(t >> 8) & 255] << 8)
                    | SBOX[t & 255]
                ) ^ (rcon << 24)
                rcon = _xtime(rcon)
            w.append(w[i - 4] ^ t)
        self.w = w

    def encrypt_block(self, block: bytes) -> bytes:
        """One 16-byte block, encrypted."""
        w = self.w
        s0, s1, s2, s3 = struct.unpack(">4I", block)
        s0 ^= w[0]
        s1 ^= w[1]
        s2 ^= w[2]
        s3 ^= w[3]
        for r in range(1, 10):
            k = 4 * r
            t0 = TE0[s0 >> 24] ^ TE1[(s1 >> 16) & 255] ^ TE2[(s2 >> 8) & 255] ^ TE3[s3 & 255]
            t1 = TE0[s1 >> 24] ^ TE1[(s2 >> 16) & 255] ^ TE2[(s3 >> 8) & 255] ^ TE3[s0 & 255]
            t2 = TE0[s2 >> 24] ^ TE1[(s3 >> 16) & 255] ^ TE2[(s0 >> 8) & 255] ^ TE3[s1 & 255]
            t3 = TE0[s3 >> 24] ^ TE1[(s0 >> 16) & 255] ^ TE2[(s1 >> 8) & 255] ^ TE3[s2 & 255]
            s0, s1, s2, s3 = t0 ^ w[k], t1 ^ w[k + 1], t2 ^ w[k + 2], t3 ^ w[k + 3]
        out = []
        for a, b, c, d, k in ((s0, s1, s2, s3, 40), (s1, s2, s3, s0, 41), (s2, s3, s0, s1, 42),
                              (s3, s0, s1, s2, 43)):  # fmt: skip
            out.append(
                (
                    (SBOX[a >> 24] << 24)
                    | (SBOX[(b >> 16) & 255] << 16)
                    | (SBOX[(c >> 8) & 255] << 8)
                    | SBOX[d & 255]
                )
                ^ w[k]
            )
        return struct.pack(">4I", *out)


def aes_ctr(key: bytes, nonce: bytes, data: bytes, first_counter: int = 2) -> bytes:
    """``data`` XOR the AES-CTR keystream of a 12-byte nonce (GCM's payload counter starts
    at 2), i.e. GCM decryption without checking the tag."""
    aes = Aes128(key)
    out = bytearray(len(data))
    for i in range(0, len(data), 16):
        block = aes.encrypt_block(nonce + struct.pack(">I", first_counter + i // 16))
        chunk = data[i : i + 16]
        for j, byte in enumerate(chunk):
            out[i + j] = byte ^ block[j]
    return bytes(out)


# --- keys --------------------------------------------------------------------------------


def hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    """HKDF-Extract with SHA-256 (RFC 5869)."""
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def hkdf_expand_label(secret: bytes, label: str, length: int) -> bytes:
    """TLS 1.3 HKDF-Expand-Label with an empty context (RFC 8446 section 7.1)."""
    full = b"tls13 " + label.encode()
    info = struct.pack("!HB", length, len(full)) + full + b"\x00"
    out = b""
    block = b""
    counter = 1
    while len(out) < length:
        block = hmac.new(secret, block + info + bytes((counter,)), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


@dataclass(frozen=True)
class InitialKeys:
    """Packet protection keys of one direction of the Initial space."""

    key: bytes
    iv: bytes
    hp: bytes


def client_initial_keys(dcid: bytes, version: int = 1, side: str = "client") -> InitialKeys:
    """The Initial keys of the client (or, with ``side="server"``, of the server) for the
    Destination Connection ID of the client's Initial (RFC 9001 section 5.2)."""
    salt, prefix, _type = VERSIONS[version]
    initial = hkdf_extract(salt, dcid)
    secret = hkdf_expand_label(initial, f"{side} in", 32)
    return InitialKeys(
        key=hkdf_expand_label(secret, prefix + "key", 16),
        iv=hkdf_expand_label(secret, prefix + "iv", 12),
        hp=hkdf_expand_label(secret, prefix + "hp", 16),
    )


# --- packets and frames -------------------------------------------------------------------


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise ValueError("varint past the end")
    first = data[pos]
    size = 1 << (first >> 6)
    if pos + size > len(data):
        raise ValueError("varint cut short")
    value = first & 0x3F
    for i in range(1, size):
        value = (value << 8) | data[pos + i]
    return value, pos + size


def is_initial(payload: bytes) -> bool:
    """True when a UDP payload starts with a QUIC long-header Initial of a known version."""
    if len(payload) < 7 or payload[0] & 0xC0 != 0xC0:
        return False
    version = int.from_bytes(payload[1:5], "big")
    known = VERSIONS.get(version)
    return known is not None and (payload[0] >> 4) & 3 == known[2]


def initial_dcid(datagram: bytes) -> bytes:
    """The Destination Connection ID of the (Initial) long-header packet a datagram starts
    with."""
    return datagram[6 : 6 + datagram[5]] if len(datagram) > 6 else b""


def initial_frames(
    datagram: bytes, server_keys_from: bytes | None = None
) -> list[tuple[int, bytes]]:
    """The CRYPTO frames (offset, data) of every Initial packet in a UDP datagram. Client
    packets are opened with keys from their own DCID; server packets (``server_keys_from``:
    the DCID of the client's Initial) with the server's keys."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    for _ in range(4):  # coalesced packets
        if not is_initial(datagram[pos:]):
            break
        packet_end, frames = _one_initial(datagram, pos, server_keys_from)
        out.extend(frames)
        pos = packet_end
    return out


def _one_initial(
    data: bytes, start: int, server_keys_from: bytes | None = None
) -> tuple[int, list[tuple[int, bytes]]]:
    version = int.from_bytes(data[start + 1 : start + 5], "big")
    pos = start + 5
    dcid_len = data[pos]
    dcid = data[pos + 1 : pos + 1 + dcid_len]
    pos += 1 + dcid_len
    if pos >= len(data):
        raise ValueError("header cut short")
    pos += 1 + data[pos]  # source connection id
    token_len, pos = _varint(data, pos)
    pos += token_len
    length, pos = _varint(data, pos)
    pn_offset = pos
    end = pn_offset + length
    if end > len(data) or pn_offset + 20 > len(data):
        raise ValueError("packet cut short")
    if server_keys_from is None:
        keys = client_initial_keys(dcid, version)
    else:
        keys = client_initial_keys(server_keys_from, version, side="server")
    mask = Aes128(keys.hp).encrypt_block(data[pn_offset + 4 : pn_offset + 20])
    first = data[start] ^ (mask[0] & 0x0F)
    pn_len = (first & 3) + 1
    protected = data[pn_offset : pn_offset + pn_len]
    pn = int.from_bytes(bytes(a ^ b for a, b in zip(protected, mask[1 : 1 + pn_len], strict=True)))
    nonce = bytes(a ^ b for a, b in zip(keys.iv, pn.to_bytes(12, "big"), strict=True))
    ciphertext = data[pn_offset + pn_len : end - 16]
    plain = aes_ctr(keys.key, nonce, ciphertext)
    return end, _crypto_frames(plain)


def _crypto_frames(plain: bytes) -> list[tuple[int, bytes]]:
    out = []
    pos = 0
    size = len(plain)
    while pos < size:
        kind = plain[pos]
        if kind == 0x00 or kind == 0x01:  # PADDING, PING
            pos += 1
        elif kind == 0x06:  # CRYPTO
            offset, pos = _varint(plain, pos + 1)
            length, pos = _varint(plain, pos)
            out.append((offset, plain[pos : pos + length]))
            pos += length
        elif kind in (0x02, 0x03):  # ACK
            _largest, pos = _varint(plain, pos + 1)
            _delay, pos = _varint(plain, pos)
            count, pos = _varint(plain, pos)
            _first, pos = _varint(plain, pos)
            for _ in range(min(count, 256) * 2 + (3 if kind == 0x03 else 0)):
                _value, pos = _varint(plain, pos)
        else:
            break  # a frame an Initial should not carry: the rest is unreadable
    return out


class _Crypto:
    """CRYPTO frame data of one side, reassembled by offset (bounded)."""

    def __init__(self) -> None:
        self.parts: dict[int, bytes] = {}

    def add(self, frames: list[tuple[int, bytes]]) -> None:
        for offset, data in frames:
            if offset + len(data) <= MAX_CRYPTO:
                self.parts[offset] = data

    def message(self, kind: int) -> bytes | None:
        """The body of the first handshake message when it is whole and of type ``kind``."""
        out = bytearray()
        for offset in sorted(self.parts):
            data = self.parts[offset]
            if offset > len(out):
                break
            out += data[len(out) - offset :]
        if len(out) >= 4 and out[0] == kind:
            length = int.from_bytes(out[1:4], "big")
            if len(out) >= 4 + length:
                return bytes(out[4 : 4 + length])
        return None


@dataclass
class QuicClient:
    """One QUIC connection's Initial exchange: the client's ClientHello and the server's
    ServerHello, as far as they can be read."""

    packets: int = 0
    server_packets: int = 0
    hello: ClientHello | None = None
    server_hello: ServerHello | None = None
    ts: int | None = None
    failed: bool = False
    server_failed: bool = False
    dcid: bytes = b""
    emitted: bool = False

    def __post_init__(self) -> None:
        self.client_crypto = _Crypto()
        self.server_crypto = _Crypto()

    @property
    def complete(self) -> bool:
        """Nothing more to learn: both hellos read, or a side that will never be read."""
        client_done = self.hello is not None or self.failed
        return client_done and (self.server_hello is not None or self.server_failed)

    def datagram(self, payload: bytes, ts: int) -> bool:
        """A client datagram; True once the ClientHello is known (or never will be)."""
        if self.hello is not None or self.failed:
            return True
        self.packets += 1
        if self.packets > MAX_PACKETS:
            self.failed = True
            return True
        try:
            frames = initial_frames(payload)
        except (ValueError, IndexError, struct.error):
            return False
        if frames:
            self.dcid = initial_dcid(payload)
            if self.ts is None:
                self.ts = ts
        self.client_crypto.add(frames)
        body = self.client_crypto.message(1)
        if body is None:
            return False
        try:
            self.hello = parse_client_hello(body)
        except (TlsError, IndexError, struct.error):
            self.failed = True
        return True

    def server_datagram(self, payload: bytes) -> bool:
        """A server datagram; True once the ServerHello is known (or never will be)."""
        if self.server_hello is not None or self.server_failed:
            return True
        if not self.dcid:
            return False  # the keys come from the client's Initial
        self.server_packets += 1
        if self.server_packets > MAX_PACKETS:
            self.server_failed = True
            return True
        try:
            frames = initial_frames(payload, server_keys_from=self.dcid)
        except (ValueError, IndexError, struct.error):
            return False
        self.server_crypto.add(frames)
        body = self.server_crypto.message(2)
        if body is None:
            return False
        try:
            self.server_hello = parse_server_hello(body)
        except (TlsError, IndexError, struct.error):
            self.server_failed = True
        return True
