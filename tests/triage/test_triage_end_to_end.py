"""`soc triage` of the demo's SSH brute-force alert, end to end on both stores: the demo logs
ingested by the collectors, alerts raised by detection, then the ssh-bruteforce playbook run
unattended (--answers), interactively through a pseudo-terminal, and from piped stdin; each
leaves the expected alert status, case and audit records."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from triage_helpers import ATTACKER, INVENTORY, IOC_LISTS, bruteforce_alert, soc

from soc.store.base import Store
from soc.triage.audit import list_audit

#: The styling (bold, dim) that rich adds on a terminal.
SGR = re.compile(r"\x1b\[[0-9;]*m")

ENRICH = ["--inventory", str(INVENTORY), *[a for p in IOC_LISTS for a in ("--ioc", str(p))]]


def assert_triaged(store: Store, alert_id: str, answers: dict[str, str]) -> dict[str, Any]:
    """What the ssh-bruteforce playbook must leave behind for the demo attack (a login
    succeeded after the brute force): escalated, critical, a case with recommendations and
    a timeline, and an audit trail of every change."""
    store.refresh()
    alert = store.get_record("alerts", alert_id)
    assert alert is not None
    assert alert["status"] == "escalated"
    assert alert["assignee"] == "tester"
    assert alert["verdict"] == "true_positive"
    assert alert["severity"] == "critical"
    case = store.get_record("cases", alert["case_id"])
    assert case is not None and case["status"] == "open"
    assert case["alert_ids"] == [alert_id]
    assert case["severity"] == "critical" and case["verdict"] == "true_positive"
    assert "Sở Tài chính" in case["departments"]
    assert "tc-app01" in case["assets"]
    recs = {(r["kind"], r["target"]) for r in case["recommendations"]}
    assert recs == {("block_ip", ATTACKER), ("disable_account", "deploy")}
    kinds = [e["kind"] for e in case["timeline"]]
    for kind in ("alert", "pivot", "stats", "enrich", "answer", "action"):
        assert kind in kinds, kind
    pivots = [e for e in case["timeline"] if e["kind"] == "pivot"]
    assert pivots[0]["detail"]["count"] == 24  # the demo's failed passwords from the attacker
    answered = {
        e["detail"]["question"]: e["detail"]["answer"]
        for e in case["timeline"]
        if e["kind"] == "answer"
    }
    assert answered == answers
    trail = list_audit(store, object_id=alert_id)
    actions = [r["action"] for r in trail]
    assert {r["analyst"] for r in trail} == {"tester"}
    statuses = [
        (r["before"]["status"], r["after"]["status"])
        for r in trail
        if r["action"] == "alert.status"
    ]
    assert statuses == [("new", "in_progress"), ("in_progress", "escalated")]
    for action in ("alert.assign", "alert.verdict", "alert.case", "alert.triage"):
        assert action in actions, action
    case_actions = [r["action"] for r in list_audit(store, object_id=case["id"])]
    for action in ("case.open", "case.attach", "case.recommend", "case.timeline"):
        assert action in case_actions, action
    return case


def test_unattended_triage_with_answers_file(
    demo_env: tuple[Store, dict[str, str]], tmp_path: Path
) -> None:
    store, env = demo_env
    alert = bruteforce_alert(store)
    answers = tmp_path / "answers.yaml"
    answers.write_text("known_source: 'no'\nlogin_confirmed: 'no'\n")
    result = soc("triage", alert["id"], "--answers", str(answers), *ENRICH, env=env)
    assert result.returncode == 0, result.stderr
    assert "playbook ssh-bruteforce" in result.stdout
    assert "24 events" in result.stdout  # failed logins pivot
    assert "IOC: ioc-ips (185.220.101.47)" in result.stdout
    assert "user.name=deploy" in result.stdout  # the successful login after the attack
    assert "recommendation (not executed): Block 185.220.101.47" in result.stdout
    case = assert_triaged(store, alert["id"], {"known_source": "no", "login_confirmed": "no"})

    shown = soc("cases", "show", case["id"], env=env)
    assert shown.returncode == 0, shown.stderr
    assert "Failed SSH logins from the source address: 24 events" in shown.stdout
    assert "[block_ip] Block 185.220.101.47" in shown.stdout
    listed = soc("audit", "--object", alert["id"], "--json", env=env)
    assert listed.returncode == 0
    assert '"alert.triage"' in listed.stdout

    # Closing the case closes its alert with the same resolution, audited.
    closed = soc("cases", "close", case["id"], "--verdict", "true_positive", env=env)
    assert closed.returncode == 0, closed.stderr
    store.refresh()
    after = store.get_record("alerts", alert["id"])
    assert after["status"] == "closed" and after["resolution"] == "true_positive"
    assert after["closed_at"]
    assert store.get_record("cases", case["id"])["status"] == "closed"


def test_unattended_triage_json_output(
    demo_env: tuple[Store, dict[str, str]], tmp_path: Path
) -> None:
    import json

    store, env = demo_env
    alert = bruteforce_alert(store)
    answers = tmp_path / "answers.yaml"
    answers.write_text("known_source: 'yes'\n")  # the source is an authorised pentest
    result = soc("triage", alert["id"], "--answers", str(answers), "--json", env=env)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["playbook"] == "ssh-bruteforce"
    assert outcome["verdict"] == "benign" and outcome["status"] == "closed"
    assert outcome["case_id"] is None
    assert outcome["answers"] == {"known_source": "yes", "login_confirmed": "no"}
    store.refresh()
    closed = store.get_record("alerts", alert["id"])
    assert closed["status"] == "closed" and closed["resolution"] == "benign"


def _drive_pty(
    args: list[str], env: dict[str, str], replies: list[tuple[str, str]]
) -> tuple[int, str]:
    """Run `soc` on a pseudo-terminal, answering each prompt (text to wait for, reply)."""
    exe = str(Path(sys.executable).with_name("soc"))
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [exe, *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        close_fds=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "250", "TERM": "xterm", **env},
    )
    os.close(slave)
    output = b""
    pending = list(replies)
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
                text = output.decode("utf-8", "replace")
                while pending and pending[0][0] in text:
                    wait_for, reply = pending.pop(0)
                    text = text.replace(wait_for, "", 1)
                    output = text.encode()
                    os.write(master, (reply + "\n").encode())
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=60)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    text = SGR.sub("", output.decode("utf-8", "replace"))
    assert not pending, f"prompts never shown: {pending}\n{text}"
    return code, text


def test_interactive_triage_through_a_pseudo_terminal(
    demo_env: tuple[Store, dict[str, str]],
) -> None:
    store, env = demo_env
    alert = bruteforce_alert(store)
    code, output = _drive_pty(
        ["triage", alert["id"], *ENRICH],
        env,
        [
            ("authorised scanner, pentest or admin address?", "maybe"),  # not a choice: asked again
            ("please answer one of: no, yes, unsure", "1"),  # choice by number: "no"
            ("Has the account owner confirmed it was them?", "NO"),
        ],
    )
    assert code == 0, output
    assert "verdict: true_positive" in output
    assert_triaged(store, alert["id"], {"known_source": "no", "login_confirmed": "no"})


def test_interactive_triage_from_piped_stdin(demo_env: tuple[Store, dict[str, str]]) -> None:
    store, env = demo_env
    alert = bruteforce_alert(store)
    result = soc("triage", alert["id"], *ENRICH, env=env, stdin="no\nno\n")
    assert result.returncode == 0, result.stderr
    assert "? Is 185.220.101.47 an authorised scanner" in result.stdout
    assert_triaged(store, alert["id"], {"known_source": "no", "login_confirmed": "no"})


def test_end_of_input_takes_the_declared_defaults(demo_env: tuple[Store, dict[str, str]]) -> None:
    store, env = demo_env
    alert = bruteforce_alert(store)
    result = soc("triage", alert["id"], *ENRICH, env=env, stdin="")
    assert result.returncode == 0, result.stderr
    assert "no input: using the default unsure" in result.stdout
    store.refresh()
    triaged = store.get_record("alerts", alert["id"])
    # unsure + a successful login that nobody confirmed ("no" by default) -> compromise
    assert triaged["verdict"] == "true_positive" and triaged["status"] == "escalated"


def test_triage_unattended_for_soc_demo(demo_env: tuple[Store, dict[str, str]]) -> None:
    """What `soc demo` calls: the best playbook, answers given, defaults for the rest."""
    from soc.triage import TriageResult, demo_enricher, top_alert, triage_unattended
    from soc.triage.console import SilentOutput

    store, _ = demo_env
    top = top_alert(store)
    assert top is not None and top["level"] == "critical"
    levels = {a["level"] for a in store.list_records("alerts")}
    assert "critical" in levels
    alert = bruteforce_alert(store)
    output = SilentOutput()
    result = triage_unattended(
        store,
        alert["id"],
        {"known_source": "no"},
        "tester",
        enricher=demo_enricher(),
        output=output,
    )
    assert isinstance(result, TriageResult)
    assert (result.playbook, result.verdict, result.severity) == (
        "ssh-bruteforce",
        "true_positive",
        "critical",
    )
    assert result.answers == {"known_source": "no", "login_confirmed": "no"}
    assert result.status == "escalated" and result.case_id
    assert not result.failed_steps
    assert any("IOC: ioc-ips" in line for line in output.lines)
    assert_triaged(store, alert["id"], {"known_source": "no", "login_confirmed": "no"})
