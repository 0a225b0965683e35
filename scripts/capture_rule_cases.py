"""Write the regression cases of the capture rules from the scapy attack captures.

The events are what `soc ingest pcap` makes of tests/pcap/attack_captures.py (ids dropped, so
the rule-test runner gives each case its own). Negative cases are the same traffic below the
threshold, answered, or benign. Run from the repository root:
``python scripts/capture_rule_cases.py`` (it rewrites rules/regression/... of these rules).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "pcap")]

import attack_captures as cap  # noqa: E402
from pcap_helpers import run_frames  # noqa: E402

REG = ROOT / "rules" / "regression"


def events(frames: Any, *datasets: str) -> list[dict[str, Any]]:
    """The engine's events of the given datasets, without their ids."""
    out, _ = run_frames(frames)
    picked = [e for e in out if e["event"]["dataset"] in datasets]
    for e in picked:
        e.pop("_id", None)
    return picked


def write(folder: str, positive: list[list[dict]], negative: list[list[dict]]) -> None:
    """One JSON file per case."""
    base = REG / folder
    for kind, cases in (("positive", positive), ("negative", negative)):
        target = base / kind
        target.mkdir(parents=True, exist_ok=True)
        for old in target.glob("*.json"):
            old.unlink()
        for i, case in enumerate(cases):
            lines = ",\n".join(json.dumps(e, ensure_ascii=False) for e in case)
            text = f"[\n{lines}\n]"
            (target / f"{i + 1:02d}.json").write_text(text + "\n", encoding="utf-8")


def main() -> int:
    """Write every case folder."""
    ssh_fail = events(cap.ssh_brute_force(10), "pcap.ssh")
    ssh_ok = events(cap.ssh_admin_login(), "pcap.ssh")
    write(
        "correlation/ssh_brute_force/failed_ssh_session_seen_by_the_network_sensor",
        [ssh_fail[:1]],
        [ssh_ok],
    )
    ftp = events(cap.ftp_brute_force(20), "pcap.ftp")
    mail = events(cap.mail_logins(), "pcap.smtp", "pcap.pop3", "pcap.imap")
    good = events(cap.ftp_good_login(), "pcap.ftp")
    write("correlation/capture_login_brute_force/failed_login", [ftp[:1], mail[:1]], [good])
    write("correlation/capture_login_brute_force/password_guessing", [ftp], [ftp[:9], good])
    flood = events(cap.syn_flood(600), "pcap.flow")
    answered = events(cap.nmap_web_scan(), "pcap.flow")
    write("correlation/flood/unanswered_connection", [flood[:1]], [answered[:1]])
    write("correlation/flood/many_sources", [flood[:60]], [flood[:40], answered])
    write("correlation/flood/half_open", [flood], [flood[:450]])
    synack = events(cap.synack_reflection(40), "pcap.flow")
    amp = events(cap.dns_amplification(40), "pcap.flow")
    write("correlation/reflection/unsolicited_reply", [synack[:1], amp[:1]], [answered[:1]])
    write("correlation/reflection/reflection", [synack, amp], [synack[:15], flood[:100]])
    http = events(cap.nmap_web_scan(), "pcap.http")
    write("correlation/web_service_scan/fingerprint", [http[:1], http[-2:-1]], [http[-4:-3]])
    write("correlation/web_service_scan/service_scan", [http], [http[:9]])
    tunnel = events(cap.iodine_tunnel(60), "pcap.dns")
    write("correlation/dns_tunnel/tunnel_shape", [tunnel[:1]], [_plain_dns()])
    write("correlation/dns_tunnel/tunnel_records", [tunnel], [tunnel[:15], _plain_dns()])
    write("dns/null_record_query", [tunnel[:1]], [_plain_dns()])
    print(f"cases written under {REG}")
    return 0


def _plain_dns() -> list[dict[str, Any]]:
    from scapy.layers.dns import DNS, DNSQR
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    frames = [
        (
            cap.T0 + i * cap.MS,
            Ether()
            / IP(src="10.20.5.40", dst="10.20.0.53")
            / UDP(sport=50000 + i, dport=53)
            / DNS(id=i, qd=DNSQR(qname=f"www{i}.city.example", qtype=16)),
        )
        for i in range(25)
    ]
    return events(frames, "pcap.dns")


if __name__ == "__main__":
    raise SystemExit(main())
