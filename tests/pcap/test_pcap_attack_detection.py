"""Each attack capture, decoded and stored, raises the right pack alert naming the right
entity, on the local store and on Elasticsearch (osmem-server)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attack_captures as cap
import pytest
from pcap_helpers import run_frames

from soc.detect.runner import run_detection
from soc.store.base import Store
from soc.store.elastic import ElasticStore
from soc.store.local import LocalStore

pytest_plugins = ["es_fixtures"]


@pytest.fixture(params=["local", "elasticsearch"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh store of each kind."""
    if request.param == "local":
        s: Store = LocalStore(tmp_path / "store.db")
    else:
        s = ElasticStore(request.getfixturevalue("es_url"))
    try:
        yield s
    finally:
        s.close()


def _alerts(store: Store, frames: list[tuple[int, Any]]) -> list[dict[str, Any]]:
    events, _ = run_frames(frames)
    result = store.write_events(events)
    assert not result.failures
    store.refresh()
    return run_detection(store).alerts


CASES: list[tuple[str, Callable[[], list], str, str, str]] = [
    # capture, rule title, group field naming the entity, its value
    ("ssh", cap.ssh_brute_force, "SSH Brute Force From One Address", "source.ip", cap.ATTACKER),
    ("ftp", cap.ftp_brute_force, "FTP Or Mail Password Guessing From One Address", "source.ip",
     cap.ATTACKER),
    ("syn_flood", cap.syn_flood, "Flood Of Connection Attempts From Many Sources To One Service",
     "destination.ip", cap.VICTIM),
    ("syn_flood_half_open", cap.syn_flood, "Flood Of Half-Open Connections To One Service",
     "destination.ip", cap.VICTIM),
    ("synack_reflection", cap.synack_reflection, "Reflected Or Amplified Traffic Flooding One Host",
     "source.ip", cap.VICTIM),
    ("dns_amplification", cap.dns_amplification,
     "Reflected Or Amplified Traffic Flooding One Host", "source.ip", cap.VICTIM),
    ("nmap_web", cap.nmap_web_scan, "Service Scan Of A Web Port With Scanner Fingerprints",
     "source.ip", cap.ATTACKER),
    ("iodine", cap.iodine_tunnel,
     "DNS Tunnelling - NULL/TXT Records Or Binary Labels From One Client", "source.ip",
     "10.20.5.40"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "make", "title", "field", "value"), CASES, ids=[c[0] for c in CASES]
)
def test_attack_capture_raises_its_alert_with_the_right_entity(
    store: Store, name: str, make: Callable[[], list], title: str, field: str, value: str
) -> None:
    alerts = _alerts(store, make())
    mine = [a for a in alerts if a["rule_title"] == title]
    assert mine, f"{name}: no '{title}' among {sorted({a['rule_title'] for a in alerts})}"
    assert {a["group"][field] for a in mine} == {value}
    # the alert's entity is the attacker, or the target of a flood, never its spoofed sources
    for alert in mine:
        assert alert["entities"][field] == [value]
        if field == "destination.ip":
            assert "source.ip" not in alert["entities"]
    # the victim of a reflection is never called a scanner
    if name in ("synack_reflection", "dns_amplification"):
        assert not [a for a in alerts if "Sweep" in a["rule_title"] or "Scan" in a["rule_title"]]


def test_scanner_user_agent_alert_from_capture_names_the_scanner(store: Store) -> None:
    alerts = _alerts(store, cap.nmap_web_scan())
    (ua,) = [a for a in alerts if a["rule_title"] == "Web Vulnerability Scanner User Agent"]
    assert ua["entities"]["source.ip"] == [cap.ATTACKER]


def test_benign_captures_raise_nothing(store: Store) -> None:
    frames = cap.ssh_admin_login() + cap.ftp_good_login() + cap.ping_pair()
    assert _alerts(store, sorted(frames, key=lambda f: f[0])) == []
