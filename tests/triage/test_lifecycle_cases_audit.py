"""Alert lifecycle (new -> in_progress -> escalated -> closed with a resolution), cases
(sequential ids, attach, notes, recommendations, close) and the audit trail of every change,
through the modules and through the `soc` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from triage_helpers import soc

from soc.store.local import LocalStore
from soc.triage import cases, lifecycle
from soc.triage.audit import list_audit
from soc.triage.lifecycle import LifecycleError


def add_alert(store: LocalStore, alert_id: str, ip: str = "203.0.113.5", **extra: object) -> None:
    """An alert as the detection engine stores it."""
    store.put_record(
        "alerts",
        alert_id,
        {
            "id": alert_id,
            "rule_id": "rule-1",
            "rule_title": "SSH Brute Force",
            "level": "high",
            "tags": ["attack.t1110.001"],
            "rule_type": "event_count",
            "event_ids": [],
            "entities": {"source.ip": [ip], "host.name": ["tc-app01"]},
            "first_seen": "2026-11-20T03:04:30.000000Z",
            "last_seen": "2026-11-20T03:06:25.000000Z",
            "created": "2026-11-20T03:10:00.000000Z",
            "status": "new",
            "count": 24,
            **extra,
        },
    )


def test_lifecycle_moves_and_refusals_are_audited(local_store: LocalStore) -> None:
    add_alert(local_store, "a1")
    lifecycle.set_status(local_store, "a1", "in_progress", analyst="lan")
    with pytest.raises(LifecycleError, match="cannot move an alert from in_progress to new"):
        lifecycle.set_status(local_store, "a1", "new", analyst="lan")
    with pytest.raises(LifecycleError, match="closing needs a resolution"):
        lifecycle.set_status(local_store, "a1", "closed", analyst="lan")
    with pytest.raises(LifecycleError, match="unknown resolution 'guilty'"):
        lifecycle.set_status(local_store, "a1", "closed", resolution="guilty", analyst="lan")
    with pytest.raises(LifecycleError, match="only given when closing"):
        lifecycle.set_status(local_store, "a1", "escalated", resolution="benign", analyst="lan")
    lifecycle.set_status(local_store, "a1", "escalated", analyst="lan")
    with pytest.raises(LifecycleError, match="from escalated to in_progress"):
        lifecycle.set_status(local_store, "a1", "in_progress", analyst="lan")
    closed = lifecycle.set_status(
        local_store, "a1", "closed", resolution="false_positive", analyst="hoa"
    )
    assert closed["resolution"] == "false_positive" and closed["closed_at"]
    with pytest.raises(LifecycleError, match="closed; reopen it"):
        lifecycle.assign(local_store, "a1", "minh", analyst="hoa")
    reopened = lifecycle.set_status(local_store, "a1", "in_progress", analyst="hoa")
    assert reopened["resolution"] is None and reopened["closed_at"] is None
    lifecycle.assign(local_store, "a1", "minh", analyst="hoa")

    trail = list_audit(local_store, object_id="a1")
    assert [(r["action"], r["analyst"]) for r in trail] == [
        ("alert.status", "lan"),
        ("alert.status", "lan"),
        ("alert.status", "hoa"),
        ("alert.status", "hoa"),
        ("alert.assign", "hoa"),
    ]
    assert [(r["before"]["status"], r["after"]["status"]) for r in trail[:4]] == [
        ("new", "in_progress"),
        ("in_progress", "escalated"),
        ("escalated", "closed"),
        ("closed", "in_progress"),
    ]
    assert trail[2]["after"]["resolution"] == "false_positive"
    assert (trail[4]["before"], trail[4]["after"]) == (None, "minh")
    assert all(r["at"] and r["object_kind"] == "alerts" for r in trail)
    with pytest.raises(LifecycleError, match="no alert 'nope'"):
        lifecycle.set_status(local_store, "nope", "in_progress", analyst="x")


def test_cases_ids_timeline_notes_recommendations_and_close(local_store: LocalStore) -> None:
    add_alert(local_store, "a1")
    add_alert(local_store, "a2", ip="203.0.113.5")
    add_alert(local_store, "a3", ip="198.51.100.9")
    first = cases.open_case(
        local_store, title="Brute force", analyst="lan", alert_ids=["a1"], severity="high"
    )
    second = cases.open_case(local_store, title="Other", analyst="lan")
    day = first["id"].split("-")[1]
    assert first["id"] == f"CASE-{day}-0001" and second["id"] == f"CASE-{day}-0002"
    assert local_store.get_record("alerts", "a1")["case_id"] == first["id"]
    # a2 shares the source address with a1: the open case is found for it
    assert (
        cases.find_case_for(local_store, local_store.get_record("alerts", "a2"))["id"]
        == (first["id"])
    )
    assert cases.find_case_for(local_store, local_store.get_record("alerts", "a3")) is None
    cases.attach_alert(local_store, first["id"], "a2", analyst="hoa")
    with pytest.raises(LifecycleError, match="already belongs to case"):
        cases.attach_alert(local_store, second["id"], "a2", analyst="hoa")
    cases.add_note(local_store, first["id"], "called the finance IT team", analyst="hoa")
    cases.recommend(
        local_store,
        first["id"],
        kind="block_ip",
        target="203.0.113.5",
        text="Block it",
        analyst="hoa",
    )
    with pytest.raises(LifecycleError, match="unknown recommendation"):
        cases.recommend(local_store, first["id"], kind="nuke", target=None, text="x", analyst="hoa")
    lifecycle.set_status(local_store, "a2", "in_progress", analyst="hoa")
    closed = cases.close_case(
        local_store,
        first["id"],
        verdict="true_positive",
        analyst="hoa",
        note="blocked at the firewall",
    )
    assert closed["status"] == "closed" and closed["verdict"] == "true_positive"
    for alert_id in ("a1", "a2"):
        alert = local_store.get_record("alerts", alert_id)
        assert alert["status"] == "closed" and alert["resolution"] == "true_positive"
    with pytest.raises(LifecycleError, match="already closed"):
        cases.close_case(local_store, first["id"], verdict="benign", analyst="hoa")
    with pytest.raises(LifecycleError, match="is closed"):
        cases.attach_alert(local_store, first["id"], "a3", analyst="hoa")
    kinds = [e["kind"] for e in closed["timeline"]]
    assert kinds == ["status", "alert", "alert", "note", "action", "note", "status"]
    assert [n["text"] for n in closed["notes"]] == [
        "called the finance IT team",
        "blocked at the firewall",
    ]
    actions = [r["action"] for r in list_audit(local_store, object_kind="cases")]
    assert actions.count("case.open") == 2
    assert {"case.attach", "case.note", "case.recommend", "case.close"} <= set(actions)
    assert [r["object_id"] for r in list_audit(local_store, action="alert.status")] == [
        "a2",
        "a1",
        "a2",
    ]
    assert len(list_audit(local_store, action="case.", limit=2)) == 2


def test_case_and_audit_commands(data_dir: Path) -> None:
    store = LocalStore(data_dir / "soc.db")
    add_alert(store, "a1b2c3d4e5")
    store.close()
    env = {"SOC_ANALYST": "lan"}
    opened = soc(
        "cases",
        "open",
        "--title",
        "Brute force",
        "--alert",
        "a1b2c3d4e5",
        "--severity",
        "high",
        "--json",
        env=env,
    )
    assert opened.returncode == 0, opened.stderr
    case_id = json.loads(opened.stdout)["id"]
    assert soc("cases", "note", case_id, "looked at it", env=env).returncode == 0
    listed = soc("cases", "list", "--json", env=env)
    assert [c["id"] for c in json.loads(listed.stdout)] == [case_id]
    shown = soc("cases", "show", case_id, env=env)
    assert "looked at it" in shown.stdout and "SSH Brute Force" in shown.stdout
    bad = soc("cases", "close", case_id, "--verdict", "maybe", env=env)
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "soc: error: unknown verdict 'maybe' (expected true_positive, false_positive, benign)"
    )
    missing = soc("cases", "show", "CASE-19990101-0001", env=env)
    assert missing.returncode == 2 and "no case 'CASE-19990101-0001'" in missing.stderr
    assert soc("cases", "close", case_id, "--verdict", "benign", env=env).returncode == 0
    closed = json.loads(soc("cases", "list", "--status", "closed", "--json", env=env).stdout)
    assert closed[0]["verdict"] == "benign"

    audit = json.loads(soc("audit", "--json", env=env).stdout)
    assert {r["analyst"] for r in audit} == {"lan"}
    assert "case.close" in [r["action"] for r in audit]
    text = soc("audit", "--object", "a1b2c3d4e5", env=env).stdout
    assert "alert.status" in text and "status=new -> status=closed, resolution=benign" in text
    only = json.loads(soc("audit", "--action", "case.note", "--json", env=env).stdout)
    assert [r["after"] for r in only] == ["looked at it"]
    assert soc("audit", "--since", "yesterday", env=env).returncode == 2
    assert json.loads(soc("audit", "--since", "1h", "--kind", "cases", "--json", env=env).stdout)


def test_alert_lifecycle_commands(data_dir: Path) -> None:
    from typer.testing import CliRunner

    from soc.cli import alert_actions, alerts
    from soc.cli.main import app

    alert_actions.register(alerts.app)  # as soc/cli/alerts.py does
    store = LocalStore(data_dir / "soc.db")
    add_alert(store, "f00dfeed01")
    store.close()
    runner = CliRunner()
    env = {"SOC_ANALYST": "minh"}
    result = runner.invoke(app, ["alerts", "assign", "f00dfeed01", "hoa"], env=env)
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["alerts", "status", "f00dfe", "in_progress"], env=env)
    assert result.exit_code == 0 and "f00dfeed01: in_progress" in result.output
    result = runner.invoke(app, ["alerts", "status", "f00dfeed01", "new"], env=env)
    assert result.exit_code == 2
    assert "cannot move an alert from in_progress to new" in result.output
    result = runner.invoke(
        app,
        ["alerts", "status", "f00dfeed01", "closed", "--resolution", "benign", "--json"],
        env=env,
    )
    assert result.exit_code == 0
    assert json.loads(result.output)["resolution"] == "benign"
    store = LocalStore(data_dir / "soc.db")
    trail = list_audit(store, object_id="f00dfeed01")
    store.close()
    assert [r["action"] for r in trail] == ["alert.assign", "alert.status", "alert.status"]
    assert {r["analyst"] for r in trail} == {"minh"}
