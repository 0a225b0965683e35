"""QUIC Initial packets: published crypto vectors, then a ClientHello split over two packets."""

from __future__ import annotations

from pcap_helpers import T0, client_hello, of, run_frames
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from collectors.pcap.quic import Aes128, aes_ctr, client_initial_keys


def test_aes128_fips197_vector() -> None:
    aes = Aes128(bytes(range(16)))
    block = aes.encrypt_block(bytes.fromhex("00112233445566778899aabbccddeeff"))
    assert block.hex() == "69c4e0d86a7b0430d8cdb78070b4c55a"


def test_rfc9001_client_initial_keys() -> None:
    keys = client_initial_keys(bytes.fromhex("8394c8f03e515708"))
    assert keys.key.hex() == "1f369613dd76d5467730efcbe3b1a22d"
    assert keys.iv.hex() == "fa044b2f42a3fd3b46fb255c"
    assert keys.hp.hex() == "9f50449e04a0e810283a1e9933adedd2"


def varint2(value: int) -> bytes:
    return (0x4000 | value).to_bytes(2, "big")


def crypto_frame(offset: int, data: bytes) -> bytes:
    return b"\x06" + varint2(offset) + varint2(len(data)) + data


def initial_packet(dcid: bytes, pn: int, frames: bytes, server: bool = False) -> bytes:
    """A protected Initial (QUIC v1), as RFC 9001 section 5 builds it. A server's packet
    carries the client's connection id here for simplicity; its keys come from it too."""
    keys = client_initial_keys(dcid, side="server" if server else "client")
    payload = frames + b"\x00" * max(0, 1100 - len(frames))  # PADDING
    first = 0xC0 | 0x01  # long header, Initial, 2-byte packet number
    pn_bytes = pn.to_bytes(2, "big")
    length = len(pn_bytes) + len(payload) + 16
    header = bytes([first]) + (1).to_bytes(4, "big") + bytes([len(dcid)]) + dcid + b"\x00"
    header += b"\x00" + varint2(length)  # no token
    nonce = bytes(a ^ b for a, b in zip(keys.iv, pn.to_bytes(12, "big"), strict=True))
    sealed = aes_ctr(keys.key, nonce, payload) + b"\x00" * 16  # the tag is not checked
    mask = Aes128(keys.hp).encrypt_block(sealed[2:18])  # sample: 4 bytes after the pn start
    first ^= mask[0] & 0x0F
    pn_bytes = bytes(a ^ b for a, b in zip(pn_bytes, mask[1:3], strict=True))
    return bytes([first]) + header[1:] + pn_bytes + sealed


def test_quic_client_hello_across_two_initials_out_of_order() -> None:
    record = client_hello("video.example.vn")
    hello = record[5:]  # the handshake message, without the TLS record header
    dcid = bytes.fromhex("0011223344556677")
    half = len(hello) // 2
    second = initial_packet(dcid, 1, b"\x01" + crypto_frame(half, hello[half:]))  # PING too
    first = initial_packet(dcid, 0, crypto_frame(0, hello[:half]))
    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    c = IP(src="10.9.8.7", dst="203.0.113.5") / UDP(sport=55000, dport=443)
    server_hello = (
        bytes.fromhex("0303") + b"\x33" * 32 + b"\x00" + bytes.fromhex("130200")
        + bytes.fromhex("0006") + bytes.fromhex("002b00020304")  # supported_versions: 1.3
    )  # fmt: skip
    message = b"\x02" + len(server_hello).to_bytes(3, "big") + server_hello
    reply = initial_packet(dcid, 0, crypto_frame(0, message), server=True)
    s = IP(src="203.0.113.5", dst="10.9.8.7") / UDP(sport=443, dport=55000)
    events, _ = run_frames(
        [(T0, eth / c / second), (T0 + 1000, eth / c / first), (T0 + 2000, eth / s / reply)]
    )
    (tls,) = of(events, "pcap.tls")
    assert tls["tls"]["version"] == "1.3"
    assert tls["tls"]["cipher"] == "TLS_AES_256_GCM_SHA384"
    assert tls["network"]["protocol"] == "quic"
    assert tls["network"]["transport"] == "udp"
    assert tls["tls"]["client"]["server_name"] == "video.example.vn"
    assert tls["tls"]["client"]["ja4"].startswith("q13d0306h2_")
    assert tls["source"] == {"ip": "10.9.8.7", "port": 55000}
