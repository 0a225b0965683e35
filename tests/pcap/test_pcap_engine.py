"""The pcap engine on crafted frames: link layers, flows, fragments, DNS, HTTP, TLS, SSH."""

from __future__ import annotations

import hashlib
import struct

from pcap_helpers import SECOND, T0, client_hello, of, run_frames
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6, fragment6
from scapy.layers.inet6 import IPv6ExtHdrFragment as Frag6
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Ether
from scapy.packet import Raw

from collectors.pcap.engine import EngineConfig

CLIENT, SERVER = "10.1.2.3", "192.0.2.10"


def E(**fields: object) -> Ether:
    """An Ethernet header with fixed addresses (no ARP lookups by scapy)."""
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", **fields)


def udp_dns_pair() -> list[tuple[int, object]]:
    query = (
        IP(src=CLIENT, dst=SERVER)
        / UDP(sport=40000, dport=53)
        / DNS(id=0x1234, rd=1, qd=DNSQR(qname="example.org", qtype="A"))
    )
    answer = (
        IP(src=SERVER, dst=CLIENT)
        / UDP(sport=53, dport=40000)
        / DNS(
            id=0x1234,
            qr=1,
            rd=1,
            ra=1,
            qd=DNSQR(qname="example.org", qtype="A"),
            an=DNSRR(rrname="example.org", type="A", ttl=300, rdata="93.184.216.34"),
        )
    )
    return [(T0, query), (T0 + 20_000_000, answer)]


def only_flow(events: list[dict]) -> dict:
    flows = of(events, "pcap.flow")
    assert len(flows) == 1, flows
    return flows[0]


# --- link layers ----------------------------------------------------------------------------


def test_ethernet_flow_has_both_directions_and_ecs_fields() -> None:
    frames = [(ts, E() / pkt) for ts, pkt in udp_dns_pair()]
    events, engine = run_frames(frames)
    flow = only_flow(events)
    assert flow["source"] == {"ip": CLIENT, "port": 40000, "bytes": len(frames[0][1]), "packets": 1}
    assert flow["destination"]["ip"] == SERVER and flow["destination"]["port"] == 53
    assert flow["destination"]["packets"] == 1
    assert flow["network"]["transport"] == "udp" and flow["network"]["type"] == "ipv4"
    assert flow["network"]["packets"] == 2
    assert flow["network"]["bytes"] == sum(len(f) for _, f in frames)
    assert flow["network"]["community_id"].startswith("1:")
    assert flow["event"]["duration"] == 20_000_000
    assert flow["@timestamp"] == "2023-11-14T22:13:20.000000Z"
    assert flow["event"]["module"] == "network" and flow["host"]["name"] == "sensor-1"
    assert flow["network"]["connection"]["state"] == "SF"
    assert engine.stats.packets == 2 and engine.stats.malformed == 0


def test_linux_cooked_v1_and_v2_and_raw_ip_give_the_same_flow() -> None:
    pair = udp_dns_pair()
    sll = [(ts, CookedLinux(pkttype=0, lladdrtype=1, proto=0x0800) / p) for ts, p in pair]
    sll2 = [(ts, CookedLinuxV2(proto=0x0800, ifindex=2) / p) for ts, p in pair]
    raw = list(pair)
    results = []
    for frames, linktype in ((sll, 113), (sll2, 276), (raw, 101), (raw, 228)):
        events, _ = run_frames(frames, linktype=linktype)
        flow = only_flow(events)
        results.append(
            (
                flow["source"]["ip"],
                flow["destination"]["port"],
                flow["network"]["packets"],
                flow["network"]["community_id"],
            )
        )
        assert len(of(events, "pcap.dns")) == 1
    assert len(set(results)) == 1, results


def test_vlan_and_qinq_ids_are_kept() -> None:
    pair = udp_dns_pair()
    events, _ = run_frames([(ts, E() / Dot1Q(vlan=42) / p) for ts, p in pair])
    assert only_flow(events)["network"]["vlan"] == {"id": "42"}
    events, _ = run_frames([(ts, E() / Dot1AD(vlan=100) / Dot1Q(vlan=7) / p) for ts, p in pair])
    flow = only_flow(events)
    assert flow["network"]["vlan"] == {"id": "100"}
    assert flow["network"]["inner"] == {"vlan": {"id": "7"}}
    assert len(of(events, "pcap.dns")) == 1


def test_unknown_link_type_is_counted_not_fatal() -> None:
    events, engine = run_frames([(T0, b"\x00" * 40)], linktype=147)
    assert events == []
    assert engine.stats.skipped_link_type == 1 and engine.stats.unknown_link_types == {147}


# --- IP ------------------------------------------------------------------------------------


def test_ipv6_fragments_are_reassembled_into_one_dns_query() -> None:
    big = "a" * 60 + ".example.org"
    query = (
        IPv6(src="2001:db8::1", dst="2001:db8::53")
        / Frag6()
        / UDP(sport=5555, dport=53)
        / DNS(
            id=7,
            qd=DNSQR(qname=big, qtype="TXT"),
            ar=DNSRR(rrname="x", type="TXT", rdata="b" * 900),
        )
    )
    fragments = fragment6(query, 400)
    assert len(fragments) >= 3
    frames = [(T0 + i, E() / f) for i, f in enumerate(reversed(fragments))]  # out of order
    events, engine = run_frames(frames)
    assert engine.stats.reassembled == 1
    dns = of(events, "pcap.dns")
    assert [d["dns"]["question"]["name"] for d in dns] == [big]
    assert dns[0]["dns"]["question"]["type"] == "TXT"
    flow = only_flow(events)
    assert flow["network"]["type"] == "ipv6"
    assert flow["source"]["packets"] == len(fragments)
    assert flow["source"]["bytes"] == sum(len(f) for _, f in frames)


def test_ipv4_fragments_are_reassembled() -> None:
    payload = (
        IP(src=CLIENT, dst=SERVER, id=99)
        / UDP(sport=1234, dport=53)
        / DNS(
            id=1, qd=DNSQR(qname="frag.example", qtype="A"), ar=DNSRR(rrname="p", rdata="1.2.3.4")
        )
        / Raw(b"x" * 600)
    )
    from scapy.layers.inet import fragment

    parts = fragment(payload, fragsize=200)
    events, engine = run_frames([(T0 + i, E() / p) for i, p in enumerate(parts)])
    assert engine.stats.reassembled == 1
    assert [d["dns"]["question"]["name"] for d in of(events, "pcap.dns")] == ["frag.example"]


def test_truncated_and_garbage_frames_are_counted_as_malformed() -> None:
    good = udp_dns_pair()[0][1]
    frames = [
        (T0, bytes(E() / good)[:20]),  # IPv4 header cut short
        (T0, bytes(E(type=0x0800)) + b"\x45" + b"\xff" * 5),
        (T0, b"\x01"),
        (T0, E() / good),
    ]
    events, engine = run_frames(frames)
    assert engine.stats.malformed == 3
    assert engine.stats.packets == 4
    assert len(of(events, "pcap.flow")) == 1


# --- flows ---------------------------------------------------------------------------------


def tcp_session(sport: int = 50000, dport: int = 80, t: int = T0) -> list[tuple[int, object]]:
    c, s = IP(src=CLIENT, dst=SERVER), IP(src=SERVER, dst=CLIENT)
    return [
        (t, E() / c / TCP(sport=sport, dport=dport, flags="S", seq=100)),
        (t + 1000, E() / s / TCP(sport=dport, dport=sport, flags="SA", seq=500, ack=101)),
        (t + 2000, E() / c / TCP(sport=sport, dport=dport, flags="A", seq=101, ack=501)),
        (t + 3000, E() / c / TCP(sport=sport, dport=dport, flags="FA", seq=101, ack=501)),
        (t + 4000, E() / s / TCP(sport=dport, dport=sport, flags="FA", seq=501, ack=102)),
        (t + 5000, E() / c / TCP(sport=sport, dport=dport, flags="A", seq=102, ack=502)),
    ]


def test_tcp_flow_state_flags_and_orientation() -> None:
    session = tcp_session()
    # the capture starts with the SYN-ACK: the SYN's sender is still the source
    events, _ = run_frames(session[1:])
    flow = only_flow(events)
    assert flow["source"]["ip"] == CLIENT and flow["destination"]["port"] == 80
    events, _ = run_frames(session)
    flow = only_flow(events)
    assert flow["network"]["connection"]["state"] == "SF"
    assert flow["network"]["tcp"]["flags"] == ["FIN", "SYN", "ACK"]
    assert flow["network"]["tcp"]["destination_flags"] == ["FIN", "SYN", "ACK"]
    assert flow["source"]["packets"] == 4 and flow["destination"]["packets"] == 2


def test_connection_states_rejected_and_unanswered() -> None:
    syn = tcp_session()[0]
    rst = (T0 + 10, E() / IP(src=SERVER, dst=CLIENT) / TCP(sport=80, dport=50000, flags="RA"))
    events, _ = run_frames([syn, rst])
    assert only_flow(events)["network"]["connection"]["state"] == "REJ"
    events, _ = run_frames([syn])
    assert only_flow(events)["network"]["connection"]["state"] == "S0"


def test_idle_timeout_splits_flows_and_ids_differ() -> None:
    pair = [(ts, E() / p) for ts, p in udp_dns_pair()]
    later = [(ts + 120 * SECOND, p) for ts, p in pair]
    events, _ = run_frames(pair + later, config=EngineConfig(idle_timeout=60, host_name="s"))
    flows = of(events, "pcap.flow")
    assert [f["event"]["reason"] for f in flows] == ["idle_timeout", "end_of_capture"]
    assert flows[0]["_id"] != flows[1]["_id"]
    assert flows[0]["network"]["community_id"] == flows[1]["network"]["community_id"]


def test_active_timeout_cuts_long_flows() -> None:
    c = IP(src=CLIENT, dst=SERVER) / UDP(sport=1000, dport=2000)
    frames = [(T0 + i * 10 * SECOND, E() / c) for i in range(7)]  # 60 s, a packet every 10 s
    events, _ = run_frames(frames, config=EngineConfig(active_timeout=30, host_name="s"))
    flows = of(events, "pcap.flow")
    assert [f["network"]["packets"] for f in flows] == [3, 3, 1]
    assert flows[0]["event"]["reason"] == "active_timeout"


def test_flow_table_is_bounded_and_evictions_counted() -> None:
    frames = [
        (T0 + i, E() / IP(src=CLIENT, dst=SERVER) / UDP(sport=10000 + i, dport=9999))
        for i in range(10)
    ]
    events, engine = run_frames(frames, config=EngineConfig(max_flows=4, host_name="s"))
    flows = of(events, "pcap.flow")
    assert len(flows) == 10
    assert engine.stats.evicted == 6
    assert [f["event"]["reason"] for f in flows].count("evicted") == 6
    assert len(engine.flows) == 0


def test_icmp_request_and_reply_are_one_flow_with_type_and_code() -> None:
    frames = [
        (T0, E() / IP(src=CLIENT, dst=SERVER) / ICMP(type=8, code=0, id=1, seq=1)),
        (T0 + 5, E() / IP(src=SERVER, dst=CLIENT) / ICMP(type=0, code=0, id=1, seq=1)),
    ]
    events, _ = run_frames(frames)
    flow = only_flow(events)
    assert flow["icmp"] == {"type": "8", "code": "0"}
    assert flow["network"]["transport"] == "icmp"
    assert flow["network"]["packets"] == 2
    assert "port" not in flow["source"]
    # the published Community ID of this exchange (community-id-spec icmp.pcap)
    frames = [
        (T0, E() / IP(src="192.168.0.89", dst="192.168.0.1") / ICMP(type=8)),
        (T0 + 5, E() / IP(src="192.168.0.1", dst="192.168.0.89") / ICMP(type=0)),
    ]
    events, _ = run_frames(frames)
    assert only_flow(events)["network"]["community_id"] == "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="


# --- DNS -----------------------------------------------------------------------------------


def test_dns_over_udp_one_event_per_transaction() -> None:
    events, _ = run_frames([(ts, E() / p) for ts, p in udp_dns_pair()])
    (dns,) = of(events, "pcap.dns")
    assert dns["dns"]["id"] == str(0x1234)
    assert dns["dns"]["question"] == {
        "name": "example.org",
        "type": "A",
        "class": "IN",
        "name_length": 11,
        "max_label_length": 7,
        "binary": False,
        "entropy": 3.278,
    }
    assert dns["dns"]["response_code"] == "NOERROR"
    assert dns["dns"]["answers"] == [
        {"name": "example.org", "type": "A", "class": "IN", "ttl": 300, "data": "93.184.216.34"}
    ]
    assert dns["dns"]["resolved_ip"] == ["93.184.216.34"]
    assert set(dns["dns"]["header_flags"]) == {"RD", "RA"}
    assert dns["source"] == {"ip": CLIENT, "port": 40000}
    assert dns["event"]["duration"] == 20_000_000


def test_unanswered_dns_query_is_emitted_at_the_end() -> None:
    events, _ = run_frames([(ts, E() / p) for ts, p in udp_dns_pair()[:1]])
    (dns,) = of(events, "pcap.dns")
    assert dns["dns"]["type"] == "query" and "response_code" not in dns["dns"]


def test_dns_over_tcp_with_length_prefix_split_across_segments() -> None:
    msg = bytes(DNS(id=77, rd=1, qd=DNSQR(qname="tcp.example.net", qtype="AAAA")))
    resp = bytes(
        DNS(
            id=77,
            qr=1,
            qd=DNSQR(qname="tcp.example.net", qtype="AAAA"),
            an=DNSRR(rrname="tcp.example.net", type="AAAA", rdata="2001:db8::5"),
        )
    )
    wire = struct.pack("!H", len(msg)) + msg
    rwire = struct.pack("!H", len(resp)) + resp
    c, s = IP(src=CLIENT, dst=SERVER), IP(src=SERVER, dst=CLIENT)
    frames = [
        *tcp_session(dport=53)[:3],
        (T0 + 2100, E() / c / TCP(sport=50000, dport=53, flags="PA", seq=101) / wire[:5]),
        (T0 + 2200, E() / c / TCP(sport=50000, dport=53, flags="PA", seq=106) / wire[5:]),
        (T0 + 2300, E() / s / TCP(sport=53, dport=50000, flags="PA", seq=501) / rwire),
    ]
    events, _ = run_frames(frames)
    (dns,) = of(events, "pcap.dns")
    assert dns["dns"]["question"]["name"] == "tcp.example.net"
    assert dns["dns"]["answers"][0]["data"] == "2001:db8::5"
    assert dns["network"]["transport"] == "tcp"


# --- HTTP ----------------------------------------------------------------------------------


def test_http_request_head_across_segments_out_of_order_matched_with_response() -> None:
    request = (
        b"GET /search%20me?q=a%2Fb HTTP/1.1\r\nHost: Www.Example.com:8080\r\n"
        b"User-Agent: curl/8.0\r\nReferer: http://ref.example/\r\n\r\n"
    )
    body = b"<html>hello</html>"
    response = (
        b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html; charset=utf-8\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    c, s = IP(src=CLIENT, dst=SERVER), IP(src=SERVER, dst=CLIENT)
    one, two, three = request[:20], request[20:50], request[50:]
    frames = [
        *tcp_session()[:3],
        (T0 + 2100, E() / c / TCP(sport=50000, dport=80, flags="PA", seq=101) / one),
        # the third piece overtakes the second, and the second is sent twice
        (T0 + 2200, E() / c / TCP(sport=50000, dport=80, flags="PA", seq=151) / three),
        (T0 + 2250, E() / c / TCP(sport=50000, dport=80, flags="PA", seq=121) / two),
        (T0 + 2260, E() / c / TCP(sport=50000, dport=80, flags="PA", seq=121) / two),
        (T0 + 2300, E() / s / TCP(sport=80, dport=50000, flags="PA", seq=501) / response),
    ]
    events, _ = run_frames(frames)
    (http,) = of(events, "pcap.http")
    assert http["http"]["request"]["method"] == "GET"
    assert http["url"]["domain"] == "www.example.com" and http["url"]["port"] == 8080
    assert http["url"]["original"] == "/search%20me?q=a%2Fb"
    assert http["url"]["path"] == "/search me" and http["url"]["query"] == "q=a/b"
    assert http["user_agent"]["original"] == "curl/8.0"
    assert http["http"]["request"]["referrer"] == "http://ref.example/"
    assert http["http"]["response"] == {
        "status_code": 404,
        "mime_type": "text/html",
        "body": {"bytes": len(body)},
    }
    assert http["event"]["outcome"] == "failure"
    assert only_flow(events)["network"]["protocol"] == "http"


def test_http_pipelined_requests_with_bodies() -> None:
    post = b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
    get = b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n"
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    chunked = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    c, s = IP(src=CLIENT, dst=SERVER), IP(src=SERVER, dst=CLIENT)
    frames = [
        *tcp_session()[:3],
        (T0 + 2100, E() / c / TCP(sport=50000, dport=80, flags="PA", seq=101) / (post + get)),
        (T0 + 2300, E() / s / TCP(sport=80, dport=50000, flags="PA", seq=501) / (ok + chunked)),
    ]
    events, _ = run_frames(frames)
    http = of(events, "pcap.http")
    assert [
        (h["http"]["request"]["method"], h["url"]["path"], h["http"]["response"]["status_code"])
        for h in http
    ] == [("POST", "/a", 200), ("GET", "/b", 201)]


# --- TLS -----------------------------------------------------------------------------------


def test_tls_client_hello_sni_ja3_ja4_split_across_segments() -> None:
    record = client_hello("secure.example.vn")
    c = IP(src=CLIENT, dst=SERVER)
    frames = [
        *tcp_session(dport=443)[:3],
        (T0 + 2100, E() / c / TCP(sport=50000, dport=443, flags="A", seq=101) / record[:50]),
        (T0 + 2200, E() / c / TCP(sport=50000, dport=443, flags="PA", seq=151) / record[50:]),
    ]
    events, _ = run_frames(frames)
    (tls,) = of(events, "pcap.tls")
    client = tls["tls"]["client"]
    assert client["server_name"] == "secure.example.vn"
    ja3 = "771,4865-4866-49195,0-10-11-13-16-43,29-23,0"  # GREASE values left out
    assert client["ja3_string"] == ja3
    assert client["ja3"] == hashlib.md5(ja3.encode()).hexdigest()
    b = hashlib.sha256(b"1301,1302,c02b").hexdigest()[:12]
    cpart = hashlib.sha256(b"000a,000b,000d,002b_0403,0804").hexdigest()[:12]
    assert client["ja4"] == f"t13d0306h2_{b}_{cpart}"
    assert client["supported_versions"] == ["1.3", "1.2"]
    assert client["supported_ciphers"][:2] == ["0x0A0A", "TLS_AES_128_GCM_SHA256"]


# --- SSH -----------------------------------------------------------------------------------


def test_ssh_banners_of_both_sides() -> None:
    c, s = IP(src=CLIENT, dst=SERVER), IP(src=SERVER, dst=CLIENT)
    frames = [
        *tcp_session(dport=22)[:3],
        (
            T0 + 2100,
            E()
            / s
            / TCP(sport=22, dport=50000, flags="PA", seq=501)
            / b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3\r\n",
        ),
        (
            T0 + 2200,
            E()
            / c
            / TCP(sport=50000, dport=22, flags="PA", seq=101)
            / b"SSH-2.0-PuTTY_Release_0.80\r\n",
        ),
    ]
    events, _ = run_frames(frames)
    (ssh,) = of(events, "pcap.ssh")
    assert ssh["ssh"] == {
        "client": {"banner": "SSH-2.0-PuTTY_Release_0.80"},
        "server": {"banner": "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3"},
    }
    assert ssh["source"]["ip"] == CLIENT


# --- ids -----------------------------------------------------------------------------------


def test_event_ids_are_deterministic() -> None:
    frames = [(ts, E() / p) for ts, p in udp_dns_pair()]
    first, _ = run_frames(frames)
    again, _ = run_frames(frames)
    assert [e["_id"] for e in first] == [e["_id"] for e in again]
    assert len({e["_id"] for e in first}) == len(first)


def test_fragment_flood_is_bounded_and_counted() -> None:
    frames = [
        (T0 + i, E() / IP(src=CLIENT, dst=SERVER, id=7, flags="MF", frag=i, proto=17) / (b"x" * 8))
        for i in range(600)
    ]
    events, engine = run_frames(frames)
    assert engine.stats.fragments == 600
    assert engine.stats.fragments_dropped == 600 and engine.stats.reassembled == 0
    assert engine.fragments.held == 0 and not engine.fragments.datagrams
    # the first datagram's 512 fragments are still seen, as one flow from its first fragment;
    # the rest (no first fragment) cannot be placed in a flow
    (flow,) = of(events, "pcap.flow")
    assert flow["network"]["packets"] == 512


def test_incomplete_fragmented_datagram_still_makes_its_flow() -> None:
    datagram = IP(src=CLIENT, dst=SERVER, id=5) / UDP(sport=4444, dport=5555) / (b"z" * 1000)
    from scapy.layers.inet import fragment

    parts = fragment(datagram, fragsize=400)
    events, engine = run_frames([(T0 + i, E() / p) for i, p in enumerate(parts[:-1])])
    assert engine.stats.fragments_dropped == len(parts) - 1 and engine.stats.reassembled == 0
    flow = only_flow(events)
    assert flow["source"]["port"] == 4444 and flow["destination"]["port"] == 5555
    assert flow["source"]["packets"] == len(parts) - 1


def test_fragment_timeout_does_not_change_the_packet_count_of_the_frame_being_read() -> None:
    # the sweep that gives up on the datagram runs while the later packet is being read
    datagram = IP(src=CLIENT, dst=SERVER, id=6) / UDP(sport=4444, dport=5555) / (b"z" * 1000)
    from scapy.layers.inet import fragment

    parts = fragment(datagram, fragsize=400)
    assert len(parts) == 3
    held = [(T0, E() / parts[0]), (T0 + 1, E() / parts[1])]  # first fragment there, no last
    later = (T0 + 31 * SECOND, E() / IP(src=CLIENT, dst=SERVER) / UDP(sport=6000, dport=7000))
    events, engine = run_frames([*held, later])
    assert engine.stats.fragments_dropped == 2 and engine.stats.reassembled == 0
    flows = {f["source"]["port"]: f for f in of(events, "pcap.flow")}
    assert sorted(flows) == [4444, 6000]
    assert flows[4444]["network"]["packets"] == 2
    assert flows[4444]["source"]["bytes"] == sum(len(f) for _, f in held)
    assert flows[6000]["network"]["packets"] == 1
    assert flows[6000]["source"]["packets"] == 1


def test_mutated_application_payloads_never_raise() -> None:
    import random

    rng = random.Random(7)
    c, s = IP(src=CLIENT, dst=SERVER), IP(src=SERVER, dst=CLIENT)
    base = [
        *[(ts, E() / p) for ts, p in udp_dns_pair()],
        *tcp_session(dport=443)[:3],
        (T0 + 2100, E() / c / TCP(sport=50000, dport=443, flags="PA", seq=101)
         / client_hello("x.example")),
        (T0 + 2200, E() / c / TCP(sport=50001, dport=80, flags="PA", seq=1)
         / b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"),
        (T0 + 2300, E() / s / TCP(sport=80, dport=50001, flags="PA", seq=1)
         / b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        (T0 + 2400, E() / c / TCP(sport=50002, dport=22, flags="PA", seq=1) / b"SSH-2.0-x\r\n"),
    ]  # fmt: skip
    frames = [bytes(f) for _, f in base]
    for round_ in range(300):
        mutated = []
        for i, frame in enumerate(frames):
            data = bytearray(frame)
            for _ in range(rng.randrange(0, 4)):
                pos = rng.randrange(34, len(data))  # keep Ethernet and most of IP intact
                data[pos] = rng.randrange(256)
            if rng.random() < 0.2:
                data = data[: rng.randrange(14, len(data))]
            mutated.append((T0 + round_ * SECOND + i, bytes(data)))
        events, engine = run_frames(mutated)
        assert engine.stats.packets == len(frames)
        assert all("_id" in e and e["event"]["dataset"].startswith("pcap.") for e in events)


def test_closed_tcp_flow_ends_after_the_closed_timeout() -> None:
    first = tcp_session()
    again = tcp_session(t=T0 + 10 * SECOND)  # the same ports, ten seconds later
    events, engine = run_frames(first + again, config=EngineConfig(host_name="s"))
    flows = of(events, "pcap.flow")
    assert [f["event"]["reason"] for f in flows] == ["closed", "end_of_capture"]
    assert [f["network"]["connection"]["state"] for f in flows] == ["SF", "SF"]
    assert [f["network"]["packets"] for f in flows] == [6, 6]
    assert not engine.closing
