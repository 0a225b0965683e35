"""A TLS 1.2 handshake whose certificate openssl made: subject, issuer, serial and validity
as openssl itself prints them, and the ServerHello choices."""

from __future__ import annotations

import shutil
import struct
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pcap_helpers import T0, client_hello, of, run_frames
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")


def openssl(*args: str, cwd: Path) -> str:
    proc = subprocess.run(
        [OPENSSL or "openssl", *args], cwd=cwd, capture_output=True, text=True, check=True
    )
    return proc.stdout


def make_certificate(tmp: Path) -> tuple[bytes, dict[str, str]]:
    """A leaf certificate signed by a small CA, as DER, and openssl's view of its fields."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-subj", "/C=VN/O=City CA/CN=City Root CA", "-days", "30",
            "-keyout", "ca.key", "-out", "ca.pem", cwd=tmp)  # fmt: skip
    openssl("req", *ec, "-subj", "/C=VN/ST=Ho Chi Minh/O=HCMC ISC/CN=portal.hcmc.example",
            "-keyout", "leaf.key", "-out", "leaf.csr", cwd=tmp)  # fmt: skip
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-set_serial", "0x9A3F00C1D2", "-days", "7", "-outform", "DER", "-out", "leaf.der",
            cwd=tmp)  # fmt: skip
    text = openssl("x509", "-inform", "DER", "-in", "leaf.der", "-noout", "-subject", "-issuer",
                   "-serial", "-startdate", "-enddate", "-nameopt", "RFC2253", cwd=tmp)  # fmt: skip
    fields = dict(line.split("=", 1) for line in text.strip().splitlines())
    return (tmp / "leaf.der").read_bytes(), fields


def handshake(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def record(payload: bytes) -> bytes:
    return b"\x16\x03\x03" + struct.pack("!H", len(payload)) + payload


def iso(openssl_date: str) -> str:
    moment = datetime.strptime(openssl_date, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def tls_event_of_server_flight(der: bytes) -> dict:
    """The pcap.tls event of a TLS 1.2 connection whose server sends certificate ``der``."""
    server_hello = (
        struct.pack("!H", 0x0303) + b"\x22" * 32 + b"\x00"  # version, random, no session id
        + struct.pack("!HB", 0xC02F, 0)  # cipher, no compression
        + struct.pack("!H", 4) + struct.pack("!HH", 0xFF01, 0)  # extensions: renegotiation_info
    )  # fmt: skip
    chain = len(der).to_bytes(3, "big") + der
    certificate = len(chain).to_bytes(3, "big") + chain
    flight = record(handshake(2, server_hello) + handshake(11, certificate) + handshake(14, b""))
    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    c, s = IP(src="10.0.0.9", dst="10.0.0.43"), IP(src="10.0.0.43", dst="10.0.0.9")
    hello = client_hello("portal.hcmc.example")
    frames = [
        (T0, eth / c / TCP(sport=40001, dport=443, flags="S", seq=0)),
        (T0 + 10, eth / s / TCP(sport=443, dport=40001, flags="SA", seq=0, ack=1)),
        (T0 + 20, eth / c / TCP(sport=40001, dport=443, flags="PA", seq=1, ack=1) / hello),
        # the server's flight in two segments
        (T0 + 30, eth / s / TCP(sport=443, dport=40001, flags="A", seq=1) / flight[:300]),
        (T0 + 40, eth / s / TCP(sport=443, dport=40001, flags="PA", seq=301) / flight[300:]),
    ]
    events, _ = run_frames(frames)
    (tls,) = of(events, "pcap.tls")
    return tls


def test_certificate_fields_match_openssl(tmp_path: Path) -> None:
    der, expected = make_certificate(tmp_path)
    tls = tls_event_of_server_flight(der)
    server = tls["tls"]["server"]
    assert server["subject"] == expected["subject"]
    assert server["issuer"] == expected["issuer"]
    assert server["x509"]["subject"]["common_name"] == ["portal.hcmc.example"]
    assert server["x509"]["issuer"]["common_name"] == ["City Root CA"]
    assert server["x509"]["serial_number"] == expected["serial"].upper()
    assert server["not_before"] == iso(expected["notBefore"])
    assert server["not_after"] == iso(expected["notAfter"])
    assert tls["tls"]["version"] == "1.2" and tls["tls"]["version_protocol"] == "tls"
    assert tls["tls"]["cipher"] == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
    assert tls["tls"]["client"]["server_name"] == "portal.hcmc.example"
    assert len(server["ja3s"]) == 32


def test_a_malformed_certificate_leaves_the_rest_of_the_handshake(tmp_path: Path) -> None:
    der, _ = make_certificate(tmp_path)
    broken = der[:60]  # the outer SEQUENCE claims more than the message holds
    tls = tls_event_of_server_flight(broken)
    assert "subject" not in tls["tls"].get("server", {})
    assert tls["tls"]["cipher"] == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
    assert tls["tls"]["client"]["server_name"] == "portal.hcmc.example"
