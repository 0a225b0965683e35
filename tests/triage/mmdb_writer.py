"""A tiny writer of MaxMind DB files (format 2.0, IPv4, 24-bit records) for tests: enough to
give the GeoIP enricher a real .mmdb to read, built from the published format description."""

from __future__ import annotations

import ipaddress
import struct
import time
from pathlib import Path
from typing import Any

_METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"


def _control(type_id: int, size: int) -> bytes:
    extended = type_id > 7
    first = (0 if extended else type_id) << 5
    if size < 29:
        head = bytes([first | size])
    elif size < 29 + 256:
        head = bytes([first | 29, size - 29])
    else:
        head = bytes([first | 30]) + struct.pack(">H", size - 285)
    if extended:
        head = head[:1] + bytes([type_id - 7]) + head[1:]
    return head


class Uint:
    """An unsigned integer of an explicit MMDB type (5 uint16, 6 uint32, 9 uint64)."""

    def __init__(self, value: int, type_id: int) -> None:
        self.value, self.type_id = value, type_id


def encode(value: Any) -> bytes:
    """One value in the MMDB data-section encoding."""
    if isinstance(value, Uint):
        raw = value.value.to_bytes(8, "big").lstrip(b"\0")
        return _control(value.type_id, len(raw)) + raw
    if isinstance(value, str):
        raw = value.encode()
        return _control(2, len(raw)) + raw
    if isinstance(value, bool):
        return _control(14, int(value))
    if isinstance(value, int):
        raw = value.to_bytes(8, "big").lstrip(b"\0")
        kind = 5 if value < 2**16 else 6 if value < 2**32 else 9
        return _control(kind, len(raw)) + raw
    if isinstance(value, dict):
        body = b"".join(encode(str(k)) + encode(v) for k, v in value.items())
        return _control(7, len(value)) + body
    if isinstance(value, list):
        return _control(11, len(value)) + b"".join(encode(v) for v in value)
    raise TypeError(type(value))


def write_mmdb(path: Path, networks: dict[str, dict[str, Any]]) -> None:
    """Write an IPv4 database mapping each network to its record."""
    nodes: list[list[Any]] = [[None, None]]
    data = b""
    for cidr, record in networks.items():
        network = ipaddress.ip_network(cidr)
        offset = len(data)
        data += encode(record)
        bits = int(network.network_address)
        node = 0
        for depth in range(network.prefixlen):
            bit = (bits >> (31 - depth)) & 1
            if depth == network.prefixlen - 1:
                nodes[node][bit] = ("data", offset)
            else:
                child = nodes[node][bit]
                if not isinstance(child, int):
                    nodes.append([None, None])
                    child = len(nodes) - 1
                    nodes[node][bit] = child
                node = child
    count = len(nodes)
    tree = b""
    for left, right in nodes:
        for record in (left, right):
            if record is None:
                value = count
            elif isinstance(record, tuple):
                value = count + 16 + record[1]
            else:
                value = record
            tree += value.to_bytes(3, "big")
    metadata = {
        "node_count": Uint(count, 6),
        "record_size": Uint(24, 5),
        "ip_version": Uint(4, 5),
        "database_type": "citysoc-test-City",
        "languages": ["en"],
        "binary_format_major_version": Uint(2, 5),
        "binary_format_minor_version": Uint(0, 5),
        "build_epoch": Uint(int(time.time()), 9),
        "description": {"en": "test database"},
    }
    path.write_bytes(tree + b"\0" * 16 + data + _METADATA_MARKER + encode(metadata))
