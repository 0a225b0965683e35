"""Every shipped playbook runs to the end on both stores: its pivots compile for SQLite and
for Lucene and the stores accept them, its templates find their values, its actions pass the
lifecycle."""

from __future__ import annotations

from pathlib import Path

from soc.resources import playbooks_dir
from soc.store.base import Store
from soc.store.local import LocalStore
from soc.triage.console import MappingAnswers, SilentOutput
from soc.triage.playbook import load_library
from soc.triage.runner import run_playbook

pytest_plugins = ["es_fixtures"]


def events() -> list[dict]:
    base = {
        "host": {"name": "ws-01"},
        "user": {"name": "lan.nguyen"},
        "source": {"ip": "10.20.2.35", "port": 50000},
        "destination": {"ip": "198.51.100.7", "port": 443},
    }
    docs = []
    for i, (dataset, extra) in enumerate(
        [
            (
                "system.auth",
                {
                    "event": {
                        "action": "ssh_login",
                        "outcome": "failure",
                        "category": ["authentication"],
                    }
                },
            ),
            (
                "system.auth",
                {
                    "event": {
                        "action": "ssh_login",
                        "outcome": "success",
                        "category": ["authentication"],
                    }
                },
            ),
            (
                "apache.access",
                {
                    "http": {"request": {"method": "POST"}, "response": {"status_code": 200}},
                    "url": {"original": "/upload/x.php?cmd=id"},
                },
            ),
            ("bind.query", {"dns": {"question": {"name": "a1b2.example.xyz", "type": "TXT"}}}),
            (
                "fortinet.firewall",
                {"event": {"outcome": "success"}, "network": {"protocol": "https"}},
            ),
            (
                "windows.eventlog",
                {
                    "winlog": {"channel": "Microsoft-Windows-Sysmon/Operational", "event_id": 1},
                    "process": {
                        "executable": "C:\\\\Windows\\\\powershell.exe",
                        "command_line": "powershell -enc AAAA",
                        "parent": {"executable": "C:\\\\winword.exe"},
                    },
                },
            ),
        ]
    ):
        doc = {"_id": f"e{i}", "@timestamp": f"2026-11-20T03:00:0{i}.000000Z", **base, **extra}
        doc.setdefault("event", {})["dataset"] = dataset
        docs.append(doc)
    return docs


def run_all(store: Store) -> dict[str, list[tuple[str, str, str]]]:
    """Run every shipped playbook on its own alert; the outcome of each step, by playbook."""
    result = store.write_events(events())
    assert result.failed == 0, result.failures
    store.refresh()
    library = load_library([playbooks_dir()])
    assert len(library.playbooks) == 9
    outcomes = {}
    for name, playbook in sorted(library.playbooks.items()):
        alert_id = f"alert-{name}"
        store.put_record(
            "alerts",
            alert_id,
            {
                "id": alert_id,
                "rule_id": "r",
                "rule_title": f"Test {name}",
                "level": "high",
                "tags": [],
                "status": "new",
                "event_ids": ["e0"],
                "entities": {
                    "host.name": ["ws-01"],
                    "source.ip": ["10.20.2.35"],
                    "user.name": ["lan.nguyen"],
                },
                "first_seen": "2026-11-20T03:00:00.000000Z",
                "last_seen": "2026-11-20T03:00:05.000000Z",
                "count": 6,
            },
        )
        outcome = run_playbook(
            store,
            alert_id,
            playbook,
            analyst="tester",
            answerer=MappingAnswers({}),
            output=SilentOutput(),
        )
        outcomes[name] = [(s.id, s.status, s.summary) for s in outcome.steps]
        store.refresh()
        assert store.get_record("alerts", alert_id)["status"] in (
            "in_progress",
            "escalated",
            "closed",
        ), name
    return outcomes


def test_every_shipped_playbook_runs_alike_on_both_stores(tmp_path: Path, es_url: str) -> None:
    from soc.store.elastic import ElasticStore

    local, elastic = LocalStore(tmp_path / "s.db"), ElasticStore(es_url)
    try:
        on_local, on_elastic = run_all(local), run_all(elastic)
    finally:
        local.close()
        elastic.close()
    for name, steps in on_local.items():
        problems = [
            s
            for s in steps
            if s[1] == "failed" or (s[1] == "skipped" and s[2] != "condition not met")
        ]
        assert problems == [], (name, problems)
        pivots = [s for s in steps if s[0] and "events" in s[2]]
        assert pivots, name
    assert on_local == on_elastic
    # the pivots found the test events (Sigma values match case-insensitively on both)
    assert ("processes", "done", "1 events") in on_local["suspicious-windows-process"]
    assert ("host_events", "done", "6 events") in on_local["credential-access"]
