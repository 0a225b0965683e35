"""The detection commands as an analyst runs them: soc rules check/test/coverage, soc detect
run/schedule, soc alerts list/show."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from soc import clock, ecs
from soc.detect.runner import read_watermarks
from soc.store import LOCAL_DB_NAME
from soc.store.local import LocalStore

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "detect"


def soc(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("soc")
    return subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        cwd=cwd,
        timeout=300,
    )


def seed(data_dir: Path) -> list[dict[str, Any]]:
    """Twelve failed logins from one address and two root logins, an hour ago."""
    start = clock.now().replace(microsecond=0) - timedelta(hours=1)
    events = []
    for i in range(12):
        events.append(
            {
                "_id": ecs.event_id("cli-test", i),
                "@timestamp": ecs.format_timestamp(start + timedelta(seconds=10 * i)),
                "event": {"dataset": "system.auth", "action": "ssh_login", "outcome": "failure"},
                "process": {"name": "sshd"},
                "source": {"ip": "203.0.113.5"},
                "user": {"name": "admin"},
                "host": {"name": "portal-01"},
                "event.original": f"Failed password for admin from 203.0.113.5 port {40000 + i}",
            }
        )
    for i in range(2):
        events.append(
            {
                "_id": ecs.event_id("cli-test", 100 + i),
                "@timestamp": ecs.format_timestamp(start + timedelta(minutes=5 + i)),
                "event": {"dataset": "system.auth", "action": "ssh_login", "outcome": "success"},
                "process": {"name": "sshd"},
                "source": {"ip": "203.0.113.5"},
                "user": {"name": "root"},
                "host": {"name": "portal-01"},
            }
        )
    store = LocalStore(data_dir / LOCAL_DB_NAME)
    try:
        store.write_events(events)
    finally:
        store.close()
    return events


def test_rules_check_reports_each_problem_and_goes_on(data_dir: Path) -> None:
    result = soc("rules", "check", "--no-pack", "--rules", str(FIXTURES), "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["summary"]["converted"] == 3  # the two fixture files' three rules
    errors = {Path(e["path"]).name: e["error"] for e in report["load_errors"]}
    assert "malformed YAML" in errors["not_yaml.yml"]
    assert "executes.yml" in errors  # refused by the safe loader, never run
    assert not Path("/tmp/citysoc-pwned").exists()
    statuses = {r["title"]: (r["status"], r["reason"]) for r in report["rules"]}
    status, reason = statuses["condition names a missing selection"]
    assert status == "invalid" and "missing_selection" in reason


def test_rules_check_of_a_missing_folder_is_one_line_and_exit_2(data_dir: Path) -> None:
    result = soc("rules", "check", "--rules", str(data_dir / "nope"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "nope" in result.stderr and "Traceback" not in result.stderr


def test_rules_check_of_the_pack_converts_everything(data_dir: Path) -> None:
    result = soc("rules", "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 not convertible, 0 invalid" in result.stdout


def test_rules_test_runs_the_embedded_cases(data_dir: Path) -> None:
    result = soc(
        "rules", "test", "--no-pack", "--rules", str(FIXTURES / "root_login.yml"), "--json"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["cases"] == 2 and report["passed"] == 2


def test_detect_run_then_alerts_list_and_show(data_dir: Path) -> None:
    events = seed(data_dir)
    result = soc(
        "detect",
        "run",
        "--since",
        "3h",
        "--no-pack",
        "--rules",
        str(FIXTURES / "brute_force.yml"),
        "--rules",
        str(FIXTURES / "root_login.yml"),
        "--json",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    # one brute-force window; the second root login is suppressed (same source.ip within 1h)
    assert summary["alerts_new"] == 2 and summary["suppressed"] == 1
    again = json.loads(
        soc(
            "detect", "run", "--since", "3h", "--no-pack", "--rules", str(FIXTURES), "--json"
        ).stdout
    )
    assert again["alerts_new"] == 0

    listed = soc("alerts", "list", "--json", "--level", "high")
    alerts = json.loads(listed.stdout)
    assert [a["rule_title"] for a in alerts] == ["SSH brute force (fixture)"]
    brute = alerts[0]
    assert brute["status"] == "new" and brute["count"] == 12
    assert sorted(brute["event_ids"]) == sorted(e["_id"] for e in events[:12])
    assert brute["entities"] == {
        "host.name": ["portal-01"],
        "source.ip": ["203.0.113.5"],
        "user.name": ["admin"],
    }

    shown = soc("alerts", "show", brute["id"][:10], "--json")
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert detail["alert"]["id"] == brute["id"] and len(detail["events"]) == 5
    assert soc("alerts", "show", "0000000000").returncode == 2

    table = soc("alerts", "list", "--rule", "7c1e0f4a-1d35-4d6b-9e0c-6a3b2b9d0003")
    assert table.returncode == 0 and "1 alerts" in table.stdout and "root" in table.stdout


def test_detect_schedule_one_cycle_keeps_watermarks(data_dir: Path) -> None:
    seed(data_dir)
    args = (
        "detect",
        "schedule",
        "--cycles",
        "1",
        "--every",
        "1s",
        "--no-pack",
        "--rules",
        str(FIXTURES / "brute_force.yml"),
        "--json",
    )
    first = soc(*args)
    assert first.returncode == 0, first.stderr
    cycle = json.loads(first.stdout.strip().splitlines()[-1])
    assert cycle["alerts_new"] == 1
    store = LocalStore(data_dir / LOCAL_DB_NAME)
    try:
        marks = read_watermarks(store)
    finally:
        store.close()
    assert set(marks) >= {"7c1e0f4a-1d35-4d6b-9e0c-6a3b2b9d0002"}
    second = json.loads(soc(*args).stdout.strip().splitlines()[-1])
    assert second["alerts_new"] == 0


def test_rules_coverage_writes_a_navigator_layer(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "layer.json"
    result = soc("rules", "coverage", "--navigator", str(out))
    assert result.returncode == 0, result.stderr
    layer = json.loads(out.read_text())
    assert layer["domain"] == "enterprise-attack" and layer["versions"]["layer"].startswith("4.")
    ids = {t["techniqueID"] for t in layer["techniques"]}
    assert "T1110" in ids or any(i.startswith("T1110") for i in ids)
    assert all(t["score"] >= 1 for t in layer["techniques"])
    # The pack tags with ATT&CK v18 ids (log clearing is T1685.005 there), so the layer must
    # name v18 for Navigator to place them.
    assert "T1685.005" in ids
    assert layer["versions"]["attack"] == "18"


def test_bad_since_is_one_line(data_dir: Path) -> None:
    result = soc("detect", "run", "--since", "yesterday-ish")
    assert result.returncode == 2 and "yesterday-ish" in result.stderr


_ = (UTC, datetime)


@pytest.mark.conformance
def test_the_rule_pack_finds_the_brute_force_in_the_corpus_auth_log(
    corpus_dir: Path, data_dir: Path
) -> None:
    ingested = soc("ingest", "logs", str(corpus_dir / "logs" / "auth.log"), "--json")
    assert ingested.returncode == 0, ingested.stderr
    result = soc("detect", "run", "--since", "100000d", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    fired = {r["title"]: r["alerts_new"] for r in summary["rules"]}
    brute = [t for t, n in fired.items() if "brute force" in t.lower() and n > 0]
    assert brute, fired
    again = json.loads(soc("detect", "run", "--since", "100000d", "--json").stdout)
    assert again["alerts_new"] == 0 and again["alerts_existing"] == summary["alerts_new"]


def test_detect_schedule_stops_cleanly_on_sigterm(data_dir: Path) -> None:
    seed(data_dir)
    exe = Path(sys.executable).with_name("soc")
    args = [str(exe), "detect", "schedule", "--every", "1s", "--no-pack", "--rules",
            str(FIXTURES / "brute_force.yml"), "--json"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # one cycle done
        assert json.loads(first)["alerts_new"] == 1
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    store = LocalStore(data_dir / LOCAL_DB_NAME)
    try:
        assert "7c1e0f4a-1d35-4d6b-9e0c-6a3b2b9d0002" in read_watermarks(store)
        assert len(store.list_records("alerts")) == 1
    finally:
        store.close()


def test_detect_run_on_workers_raises_what_one_process_raises(tmp_path: Path) -> None:
    """`soc detect run` converts and scans on worker processes (SOC_WORKERS): the same
    summary and the same alerts as in one process."""
    from rule_pack_events import pack_events

    events = pack_events()
    summaries = []
    alerts = []
    for workers in ("1", "2"):
        home = tmp_path / f"data-{workers}"
        store = LocalStore(home / LOCAL_DB_NAME)
        assert not store.write_events(events).failures
        store.close()
        env = {
            **os.environ,
            "SOC_DATA_DIR": str(home),
            "SOC_WORKERS": workers,
            "SOC_CACHE_DIR": str(tmp_path / f"cache-{workers}"),
            "SOC_CLOCK": "2026-11-25T12:00:00+07:00",
        }
        exe = Path(sys.executable).with_name("soc")
        result = subprocess.run(
            [str(exe), "detect", "run", "--since", "100000d", "--until", "2100-01-01", "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert result.returncode in (0, 1), result.stderr
        summary = json.loads(result.stdout)
        summary.pop("seconds")
        for outcome in summary.get("outcomes", []):
            outcome.pop("seconds", None)
        summaries.append(summary)
        store = LocalStore(home / LOCAL_DB_NAME)
        alerts.append(sorted((a["id"], a["rule_id"]) for a in store.list_records("alerts")))
        store.close()
    assert summaries[1] == summaries[0]
    assert alerts[1] == alerts[0] and len(alerts[0]) > 10


def test_detect_schedule_on_workers_raises_what_one_process_raises(tmp_path: Path) -> None:
    """`soc detect schedule` scans each cycle's rule groups on worker processes: its cycle
    gives the same summary, alerts and watermarks as in one process."""
    from rule_pack_events import pack_events

    events = pack_events()
    results = []
    for workers in ("1", "2"):
        home = tmp_path / f"data-{workers}"
        store = LocalStore(home / LOCAL_DB_NAME)
        assert not store.write_events(events).failures
        store.close()
        env = {
            **os.environ,
            "SOC_DATA_DIR": str(home),
            "SOC_WORKERS": workers,
            "SOC_CACHE_DIR": str(tmp_path / f"cache-{workers}"),
            "SOC_CLOCK": "2026-12-25T12:00:00+07:00",
        }
        exe = Path(sys.executable).with_name("soc")
        args = ["detect", "schedule", "--cycles", "1", "--lookback", "3650d", "--json",
                "--scheduler-id", "test:1"]  # fmt: skip
        done = subprocess.run(
            [str(exe), *args], capture_output=True, text=True, env=env, timeout=300
        )
        assert done.returncode == 0, done.stderr
        cycle = json.loads(done.stdout.strip().splitlines()[-1])
        cycle.pop("seconds")
        for outcome in cycle.get("outcomes", []):
            outcome.pop("seconds", None)
        store = LocalStore(home / LOCAL_DB_NAME)
        alerts = sorted((a["id"], a["rule_id"]) for a in store.list_records("alerts"))
        results.append((cycle, alerts, read_watermarks(store)))
        store.close()
    assert results[1] == results[0]
    assert len(results[0][1]) > 10 and len(results[0][2]) > 100


def test_detect_schedule_on_workers_finishes_its_cycle_when_the_group_is_stopped(
    data_dir: Path,
) -> None:
    # SIGINT to the whole process group (as Ctrl-C sends it): the workers leave the stop to
    # the scheduler, which ends cleanly, its watermarks and alerts stored.
    seed(data_dir)
    exe = Path(sys.executable).with_name("soc")
    args = [str(exe), "detect", "schedule", "--every", "1s", "--no-pack", "--rules",
            str(FIXTURES / "brute_force.yml"), "--json"]  # fmt: skip
    env = {**os.environ, "SOC_WORKERS": "2"}
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["alerts_new"] == 1  # one cycle done
        os.killpg(proc.pid, signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "cycle failed" not in err
    assert "stop requested" in err
    store = LocalStore(data_dir / LOCAL_DB_NAME)
    try:
        assert "7c1e0f4a-1d35-4d6b-9e0c-6a3b2b9d0002" in read_watermarks(store)
        assert len(store.list_records("alerts")) == 1
    finally:
        store.close()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_detect_schedule_goes_on_in_one_process_after_losing_a_worker(data_dir: Path) -> None:
    import threading

    seed(data_dir)
    exe = Path(sys.executable).with_name("soc")
    # The pack, whose single-event rules are scanned on the workers; the overlap re-reads
    # the seeded hour every cycle, so every cycle scans.
    args = [str(exe), "detect", "schedule", "--every", "1s", "--overlap", "2h", "--json"]
    env = {**os.environ, "SOC_WORKERS": "2"}
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None and proc.stderr is not None
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.extend(proc.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    cycles_after: list[dict[str, Any]] = []  # cycles that ran to their end after the failure
    try:
        raised = json.loads(proc.stdout.readline())["alerts_new"]
        assert raised >= 2
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert len(children) == 2
        os.kill(int(children[0]), signal.SIGKILL)
        for _ in range(20):  # the failed cycle is the first to use the pool after the kill
            line = proc.stdout.readline()
            if any("cycle failed" in e for e in errors):
                cycles_after.append(json.loads(line))
                break
        proc.send_signal(signal.SIGTERM)
        watchdog = threading.Timer(60, proc.kill)  # a scheduler that does not stop fails
        watchdog.start()
        proc.stdout.read()  # drained, so that no write of the scheduler blocks its exit
        proc.wait()
        watchdog.cancel()
        reader.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = "".join(errors)
    assert proc.returncode == 0, err
    assert cycles_after, err
    assert cycles_after[0]["alerts_new"] == 0 and cycles_after[0]["alerts_existing"] == raised
    assert not cycles_after[0]["failed"]
    failures = [line for line in errors if "cycle failed" in line]
    assert len(failures) == 1 and "worker process stopped" in failures[0]
    assert "Traceback" not in err
