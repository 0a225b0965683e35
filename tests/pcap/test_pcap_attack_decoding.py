"""Decoders and flow orientation on the scapy-built attack captures, checked against tshark
where tshark decodes the protocol."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import attack_captures as cap
import pytest
from pcap_helpers import of, run_frames

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")


def _tshark(path: Path, display_filter: str, *fields: str) -> list[list[str]]:
    args = ["tshark", "-n", "-r", str(path), "-Y", display_filter, "-T", "fields"]
    for name in fields:
        args += ["-e", name]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=120).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def test_ftp_brute_force_one_failed_login_event_per_attempt() -> None:
    events, _ = run_frames(cap.ftp_brute_force())
    logins = of(events, "pcap.ftp")
    assert len(logins) == 20
    assert {e["event"]["outcome"] for e in logins} == {"failure"}
    first = logins[0]
    assert first["source"]["ip"] == cap.ATTACKER and first["destination"]["port"] == 21
    assert first["event"]["category"] == ["network", "authentication"]
    assert first["event"]["action"] == "ftp_login" and first["user"]["name"] == "admin"
    assert first["ftp"] == {"command": "PASS", "reply": "530 Login incorrect."}


def test_ftp_success_and_multi_line_greeting() -> None:
    events, _ = run_frames(cap.ftp_good_login())
    (login,) = of(events, "pcap.ftp")
    assert login["event"]["outcome"] == "success" and login["user"]["name"] == "backup"


@needs_tshark
def test_ftp_logins_agree_with_tshark(tmp_path: Path) -> None:
    path = cap.write_pcap(tmp_path / "ftp.pcap", cap.ftp_brute_force())
    users = [r[0] for r in _tshark(path, 'ftp.request.command == "USER"', "ftp.request.arg")]
    replies = _tshark(path, "ftp.response.code == 530", "ftp.response.code")
    events, _ = run_frames(cap.ftp_brute_force())
    logins = of(events, "pcap.ftp")
    assert [e["user"]["name"] for e in logins] == users
    assert len(replies) == len([e for e in logins if e["event"]["outcome"] == "failure"])


def test_mail_auth_outcomes_and_users() -> None:
    events, _ = run_frames(cap.mail_logins())
    seen = [
        (e["event"]["dataset"], e["event"]["outcome"], e["user"]["name"])
        for e in events
        if e["event"]["dataset"] != "pcap.flow"
    ]
    assert seen == [
        ("pcap.smtp", "failure", "info@city.example"),
        ("pcap.smtp", "success", "info@city.example"),
        ("pcap.pop3", "failure", "mayor"),
        ("pcap.imap", "failure", "clerk"),
    ]


@needs_tshark
def test_smtp_auth_replies_agree_with_tshark(tmp_path: Path) -> None:
    path = cap.write_pcap(tmp_path / "mail.pcap", cap.mail_logins())
    wanted = "smtp.response.code == 235 or smtp.response.code == 535"
    codes = [r[0] for r in _tshark(path, wanted, "smtp.response.code")]
    assert codes == ["535", "235"]


def test_ssh_failed_sessions_from_packet_sizes() -> None:
    events, _ = run_frames(cap.ssh_brute_force(sessions=10))
    ssh = of(events, "pcap.ssh")
    sessions = [e for e in ssh if e["event"]["action"] == "ssh_session"]
    more = [e for e in ssh if e["event"]["action"] == "ssh_auth_failure"]
    assert len(sessions) == 10
    # three failed passwords per session: the session event and one per further attempt
    assert len(more) == 20 and {e["event"]["outcome"] for e in more} == {"failure"}
    assert {e["source"]["ip"] for e in more} == {cap.ATTACKER}
    assert len({e["_id"] for e in ssh}) == 30
    for s in sessions:
        assert s["event"]["outcome"] == "failure" and s["event"]["action"] == "ssh_session"
        assert s["ssh"]["auth"] == {"attempts": 3, "success": False}
        assert s["source"]["ip"] == cap.ATTACKER and s["destination"]["port"] == 22


def test_ssh_successful_login_is_recognised() -> None:
    events, _ = run_frames(cap.ssh_admin_login())
    (session,) = of(events, "pcap.ssh")
    assert session["event"]["outcome"] == "success"
    assert session["ssh"]["auth"]["success"] is True


@needs_tshark
def test_ssh_banners_and_newkeys_agree_with_tshark(tmp_path: Path) -> None:
    path = cap.write_pcap(tmp_path / "ssh.pcap", cap.ssh_brute_force(sessions=2))
    clients = _tshark(path, "ssh.protocol and tcp.dstport == 22", "ssh.protocol")
    assert {r[0] for r in clients} == {"SSH-2.0-libssh_0.9.6"}
    newkeys = _tshark(path, "ssh.message_code == 21", "tcp.srcport")
    assert len(newkeys) == 4  # both sides of both sessions: where the heuristic starts


def test_dns_binary_labels_stay_matchable_and_null_is_named() -> None:
    events, _ = run_frames(cap.iodine_tunnel(queries=5))
    dns = of(events, "pcap.dns")
    q = dns[0]["dns"]["question"]
    assert q["type"] == "NULL" and q["binary"] is True
    assert "\\x" not in q["name"]  # 8-bit bytes are one character each, not escapes
    first_data_label = q["name"].split(".")[1]
    assert len(first_data_label) == 57 == q["max_label_length"]
    assert q["name_length"] == len(q["name"])
    assert q["entropy"] > 4.5
    assert dns[0]["source"]["ip"] == "10.20.5.40"


@needs_tshark
def test_dns_null_queries_agree_with_tshark(tmp_path: Path) -> None:
    frames = cap.iodine_tunnel(queries=5)
    path = cap.write_pcap(tmp_path / "iodine.pcap", frames)
    rows = _tshark(path, "dns.flags.response == 0", "dns.qry.type", "dns.qry.name.len")
    events, _ = run_frames(frames)
    questions = [e["dns"]["question"] for e in of(events, "pcap.dns")]
    assert [r[0] for r in rows] == ["10"] * 5
    assert [int(r[1]) for r in rows] == [q["name_length"] for q in questions]


def test_control_bytes_in_labels_are_escaped() -> None:
    from collectors.pcap.dns import label_text

    assert label_text(b"ab\x00c.d\\") == "ab\\x00c\\x2ed\\x5c"
    assert label_text(b"\xe9t\xe9") == "\xe9t\xe9"
    assert label_text(b"plain-label_1") == "plain-label_1"


def test_synack_reflection_victim_is_the_initiator_of_unsolicited_flows() -> None:
    events, _ = run_frames(cap.synack_reflection())
    flows = of(events, "pcap.flow")
    assert len(flows) == 40
    for f in flows:
        assert f["source"]["ip"] == cap.VICTIM  # the one the replies were aimed at
        assert f["network"]["connection"]["unsolicited"] is True


def test_dns_amplification_replies_are_unsolicited_udp() -> None:
    events, _ = run_frames(cap.dns_amplification())
    flows = of(events, "pcap.flow")
    assert {f["source"]["ip"] for f in flows} == {cap.VICTIM}
    assert {f["network"]["connection"]["state"] for f in flows} == {"SHR"}
    assert all(f["network"]["connection"]["unsolicited"] for f in flows)


def test_answered_traffic_is_not_unsolicited() -> None:
    for frames in (cap.ping_pair(), cap.ftp_good_login(), cap.syn_flood(count=5)):
        events, _ = run_frames(frames)
        for f in of(events, "pcap.flow"):
            assert "unsolicited" not in f["network"]["connection"]


def test_echo_reply_first_is_oriented_to_its_receiver() -> None:
    (_request, reply) = cap.ping_pair()
    events, _ = run_frames([reply])
    (flow,) = of(events, "pcap.flow")
    assert flow["source"]["ip"] == "10.20.5.40"
    assert flow["network"]["connection"] == {"state": "SHR", "unsolicited": True}


def test_syn_flood_spoofed_sources_are_half_open() -> None:
    events, _ = run_frames(cap.syn_flood(count=50))
    flows = of(events, "pcap.flow")
    assert len({f["source"]["ip"] for f in flows}) == 50
    assert {f["destination"]["ip"] for f in flows} == {cap.VICTIM}
    assert {f["source"]["packets"] for f in flows} == {1}


def test_ssh_session_that_ends_right_after_the_first_refusal_is_a_failure() -> None:
    frames: list = []
    cap.ssh_session(frames, cap.T0, 40000, failures=0, success=False)
    events, _ = run_frames(frames)
    (session,) = of(events, "pcap.ssh")
    assert session["event"]["outcome"] == "failure"  # by the session-length rule
    assert session["ssh"]["auth"] == {"attempts": 0, "success": False}


@needs_tshark
def test_pop3_and_imap_logins_agree_with_tshark(tmp_path: Path) -> None:
    frames = cap.mail_logins()
    path = cap.write_pcap(tmp_path / "mail.pcap", frames)
    pop_user = _tshark(path, 'pop.request.command == "USER"', "pop.request.parameter")
    pop_err = _tshark(path, 'pop.response.indicator == "-ERR"', "pop.response.indicator")
    imap_user = _tshark(path, "imap.request.username", "imap.request.username")
    imap_status = _tshark(path, "imap.response.status", "imap.response.status")
    events, _ = run_frames(frames)
    (pop,) = of(events, "pcap.pop3")
    (imap,) = of(events, "pcap.imap")
    assert [r[0] for r in pop_user] == [pop["user"]["name"]]
    assert len(pop_err) == 1 and pop["event"]["outcome"] == "failure"
    assert [r[0].strip('"') for r in imap_user] == [imap["user"]["name"]]
    assert [r[0] for r in imap_status][-1].upper() == "NO" and imap["event"]["outcome"] == "failure"


def test_ssh_ext_info_before_service_accept_still_ends_in_failure() -> None:
    """OpenSSH servers send EXT_INFO after NEWKEYS; when it comes after the client's first
    encrypted bytes the size heuristic is misled, and the session-length rule decides."""
    frames: list = []
    conv = cap.Conversation(frames, cap.ATTACKER, 40100, cap.SERVER, 22)
    ts = conv.open(cap.T0)
    ts = conv.send(ts, False, b"SSH-2.0-OpenSSH_9.6\r\n")
    ts = conv.send(ts, True, b"SSH-2.0-Go\r\n")
    ts = conv.send(ts, False, cap._ssh_packet(21, 0))
    ts = conv.send(ts, True, cap._ssh_packet(21, 0) + b"\xa5" * 52)  # NEWKEYS + request
    for size in (276, 52, 68, 68, 68):  # EXT_INFO, ACCEPT, none, two passwords refused
        ts = conv.send(ts + 200 * cap.MS, False, b"\x5a" * size)
        ts = conv.send(ts, True, b"\xa5" * 100)
    conv.close(ts)
    events, _ = run_frames(frames)
    (session,) = of(events, "pcap.ssh")
    assert session["event"]["outcome"] == "failure"


def test_starttls_hands_the_connection_to_the_tls_decoder() -> None:
    from pcap_helpers import client_hello

    frames: list = []
    cap.dialogue(
        frames,
        cap.T0,
        43100,
        25,
        [
            (b"220 mail.city.example ESMTP\r\n", False),
            (b"EHLO x\r\n", True),
            (b"250-mail.city.example\r\n250 STARTTLS\r\n", False),
            (b"STARTTLS\r\n", True),
            (b"220 2.0.0 Ready to start TLS\r\n", False),
            (client_hello("mail.city.example"), True),
        ],
    )
    events, _ = run_frames(frames)
    (tls,) = of(events, "pcap.tls")
    assert tls["tls"]["client"]["server_name"] == "mail.city.example"
    assert tls["source"]["ip"] == cap.ATTACKER
    assert of(events, "pcap.smtp") == []  # no login was attempted in clear
