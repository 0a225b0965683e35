"""Community ID v1: the values of the spec's own traces, by hand and against tshark."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from collectors.pcap.community_id import community_id, flow_community_id, icmp_ports
from collectors.pcap.engine import Engine, EngineConfig
from collectors.pcap.reader import ReadStats, iter_records


def ip(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)


# (protocol, source, source port, destination, destination port, Community ID) of the
# traces published with the Community ID spec (corelight/community-id-spec, as imported in
# zeek-traces/communityid/), and the values those traces give.
VECTORS = [
    (6, "128.232.110.120", 34855, "66.35.250.204", 80, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="),
    (17, "192.168.1.52", 54585, "8.8.8.8", 53, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="),
    (132, "192.168.170.8", 7, "192.168.170.56", 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="),
    (
        6,
        "2001:470:e5bf:dead:4957:2174:e82c:4887",
        63943,
        "2607:f8b0:400c:c03::1a",
        25,
        "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=",
    ),
]


@pytest.mark.parametrize(("proto", "src", "sport", "dst", "dport", "expected"), VECTORS)
def test_published_vectors_both_directions(
    proto: int, src: str, sport: int, dst: str, dport: int, expected: str
) -> None:
    assert community_id(proto, ip(src), ip(dst), sport, dport) == expected
    assert community_id(proto, ip(dst), ip(src), dport, sport) == expected


def test_icmp_request_and_reply_share_an_id_and_one_way_types_do_not_reorder() -> None:
    a, b = ip("192.168.0.89"), ip("192.168.0.1")
    request = flow_community_id(1, a, b, 0, 0, icmp_type=8, icmp_code=0)
    reply = flow_community_id(1, b, a, 0, 0, icmp_type=0, icmp_code=0)
    assert request == reply == "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="
    v6_reply = flow_community_id(
        58, ip("3ffe:501:0:1001::2"), ip("3ffe:507:0:1:200:86ff:fe05:80da"), 0, 0, 129, 0
    )
    assert v6_reply == "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg="
    assert icmp_ports(1, 3, 3) == (3, 3, True)  # destination unreachable: one way
    assert icmp_ports(58, 135, 0) == (135, 136, False)  # neighbour solicitation/advert


def test_seed_changes_the_hash() -> None:
    a, b = ip("10.0.0.1"), ip("10.0.0.2")
    assert community_id(6, a, b, 1, 2, seed=1) != community_id(6, a, b, 1, 2, seed=0)


@pytest.mark.conformance
def test_spec_traces_agree_with_tshark(corpus_dir: Path) -> None:
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark is not installed; Community ID conformance skipped")
    folder = corpus_dir / "pcap" / "zeek-traces" / "communityid"
    if not folder.is_dir():
        pytest.skip("no communityid traces in the corpus")
    checked = 0
    for trace in sorted(folder.glob("*.pcap")):
        out = subprocess.run(
            [tshark, "-n", "--enable-protocol", "communityid", "-r", str(trace),
             "-T", "fields", "-e", "communityid"],
            capture_output=True, text=True, timeout=120, check=False,
        ).stdout  # fmt: skip
        theirs = {line.strip() for line in out.splitlines() if line.strip()}
        engine = Engine(EngineConfig(host_name="t"))
        for record in iter_records(trace, ReadStats()):
            engine.packet(*record)
        engine.finish()
        ours = {
            e["network"]["community_id"]
            for e in engine.take_events()
            if e["event"]["dataset"] == "pcap.flow"
        }
        assert ours == theirs, trace.name
        checked += len(theirs)
    assert checked >= 7
