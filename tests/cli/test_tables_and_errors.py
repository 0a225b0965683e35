"""Listings that never mislead (whole ids and addresses, "showing N of M", local times without
microseconds, assignee) and the error/consistency cases an analyst hit."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import soc

from soc.store import LOCAL_DB_NAME
from soc.store.local import LocalStore

IP = "85.245.107.41"


def _alert(n: int, **extra) -> dict:
    return {
        "id": f"{n:02d}f3c9a1b2c4d5e6f708192a3b4c5d6e",
        "rule_id": "r-1",
        "rule_title": "SSH brute force from one address against many accounts",
        "level": ["low", "medium", "high", "critical", "high"][n % 5],
        "tags": ["attack.credential-access", "attack.t1110.001"],
        "rule_type": "event_count",
        "event_ids": [f"e{n}a", f"e{n}b"],
        "entities": {"host.name": ["portal-01"], "source.ip": [IP]},
        "first_seen": f"2026-11-2{n}T01:02:03.456789Z",
        "last_seen": f"2026-11-2{n}T01:09:03.000001Z",
        "created": "2026-11-30T00:00:00.000000Z",
        "status": "new",
        "count": 2,
        **extra,
    }


@pytest.fixture
def alerts(data_dir: Path) -> list[dict]:
    store = LocalStore(data_dir / LOCAL_DB_NAME)
    made = [_alert(n, assignee="lan.nguyen" if n == 4 else None) for n in range(5)]
    try:
        for a in made:
            store.put_record("alerts", a["id"], a)
    finally:
        store.close()
    return made


def test_alert_list_is_whole_and_honest_on_a_narrow_terminal(alerts: list[dict]) -> None:
    result = soc("alerts", "list", "--limit", "3", env={"COLUMNS": "60"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "showing 3 of 5 alerts" in out
    assert IP in out  # never split across lines
    for a in alerts[2:]:
        assert a["id"][:12] in out
    assert "2026-11-24 08:02:03+07:00" in out and ".456789" not in out
    assert "lan.nguyen" in out
    utc = soc("alerts", "list", "--utc").stdout
    assert "2026-11-24 01:02:03Z" in utc and "5 alerts" in utc


def test_alert_show_times_level_and_assignee(alerts: list[dict]) -> None:
    out = soc("alerts", "show", alerts[4]["id"][:8], env={"COLUMNS": "60"}).stdout
    assert "lan.nguyen" in out and IP in out
    assert "2026-11-24 08:09:03+07:00" in out and "000001" not in out


def test_alert_id_prefix_too_short(alerts: list[dict]) -> None:
    result = soc("alerts", "show", "0")
    assert result.returncode == 2
    assert "no alert '0': prefix too short" in result.stderr


def test_audit_accepts_the_short_id_of_the_listing(alerts: list[dict]) -> None:
    short = alerts[1]["id"][:12]
    assert soc("alerts", "assign", short, "minh.tran").returncode == 0
    records = json.loads(soc("audit", "--object", short, "--json").stdout)
    assert [r["action"] for r in records] == ["alert.assign"]
    assert records[0]["object_id"] == alerts[1]["id"]


def test_export_csv_jsonl_and_ecs(alerts: list[dict], tmp_path: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(soc("alerts", "export", "--format", "csv").stdout)))
    assert len(rows) == 5 and rows[0]["first_seen"] > rows[-1]["first_seen"]
    assert {r["source_ips"] for r in rows} == {IP}
    assert next(r for r in rows if r["id"] == alerts[4]["id"])["assignee"] == "lan.nguyen"
    out = tmp_path / "alerts.jsonl"
    done = soc("alerts", "export", "--format", "jsonl", "--level", "high", "--out", str(out))
    assert done.returncode == 0 and "3 alerts written" in done.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["level"] for r in records} == {"high", "critical"}
    ecs = [
        json.loads(x) for x in soc("alerts", "export", "--format", "ndjson-ecs").stdout.splitlines()
    ]
    doc = next(d for d in ecs if d["event"]["id"] == alerts[3]["id"])
    assert doc["event"]["kind"] == "alert" and doc["event"]["severity"] == 99
    assert doc["rule"]["id"] == "r-1" and doc["source"]["ip"] == IP
    assert doc["threat"]["technique"]["id"] == ["T1110.001"]
    assert doc["@timestamp"] == alerts[3]["first_seen"]
    bad = soc("alerts", "export", "--format", "xml")
    assert bad.returncode == 2 and "csv, jsonl or ndjson-ecs" in bad.stderr


def test_triage_names_why_a_playbook_file_is_invalid(alerts: list[dict], tmp_path: Path) -> None:
    folder = tmp_path / "pb"
    folder.mkdir()
    (folder / "bad-pb.yaml").write_text(
        "name: bad-pb\nsteps:\n  - kind: nonsense\n", encoding="utf-8"
    )
    args = ("triage", alerts[0]["id"], "--playbooks", str(folder), "--playbook")
    result = soc(*args, "bad-pb")
    assert result.returncode == 2
    assert "playbook 'bad-pb' is invalid" in result.stderr and "steps[0]" in result.stderr
    direct = soc(*args, str(folder / "bad-pb.yaml"))
    assert direct.returncode == 2 and "invalid" in direct.stderr
    unknown = soc(*args, "nope")
    assert "no playbook named 'nope'" in unknown.stderr


def test_empty_evtx_is_reported_like_an_empty_capture(data_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "Security.evtx"
    empty.write_bytes(b"")
    for args in (("ingest", "evtx", str(empty)), ("ingest", "logs", str(empty))):
        result = soc(*args, "--json")
        assert result.returncode == 1, result.stdout
        assert json.loads(result.stdout)["dead_lettered"] == 1
        assert "Security.evtx: empty file (zero bytes), not an EVTX file" in result.stderr


def test_read_only_data_directory_serves_read_only_commands(
    alerts: list[dict], data_dir: Path
) -> None:
    """The data directory on a read-only mount (as an auditor's copy would be)."""
    unshare = shutil.which("unshare")
    data = data_dir
    exe = Path(sys.executable).with_name("soc")
    script = (
        f"mount --bind '{data}' '{data}' && mount -o remount,bind,ro '{data}' && "
        f"'{exe}' alerts list --json && '{exe}' alerts assign {alerts[0]['id']} x"
    )
    if unshare is None:
        pytest.skip("unshare is not installed")
    probe = subprocess.run([unshare, "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot make a mount namespace here (needs CAP_SYS_ADMIN)")
    result = subprocess.run(
        [unshare, "-m", "sh", "-c", script], capture_output=True, text=True, timeout=120
    )
    listed, _, _rest = result.stdout.partition("\n]")
    assert len(json.loads(listed + "\n]")) == 5, result.stderr
    assert result.returncode == 2
    error = result.stderr.strip().splitlines()
    assert error == [
        f"soc: error: data directory {data} is read-only: this command needs to write to the "
        "store (use a writable --data-dir, or only read-only commands here)"
    ]
    assert "unable to open database file" not in result.stderr
    assert "OperationalError" not in result.stderr and "internal error" not in result.stderr


def test_an_older_store_on_a_read_only_mount_says_how_to_upgrade_it(data_dir: Path) -> None:
    """A store written by the previous citysoc (schema version 3) on a read-only mount cannot
    be migrated there: one line says so and what to do, instead of SQLite's complaint."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare is not installed")
    probe = subprocess.run([unshare, "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot make a mount namespace here (needs CAP_SYS_ADMIN)")
    LocalStore(data_dir / LOCAL_DB_NAME).close()
    conn = sqlite3.connect(data_dir / LOCAL_DB_NAME)
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()
    exe = Path(sys.executable).with_name("soc")
    script = (
        f"mount --bind '{data_dir}' '{data_dir}' && "
        f"mount -o remount,bind,ro '{data_dir}' && '{exe}' alerts list --json"
    )
    result = subprocess.run(
        [unshare, "-m", "sh", "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "store schema version 3 is older than this citysoc reads" in lines[0]
    assert "run `soc doctor` once where it can be written" in lines[0]
    assert "Traceback" not in result.stderr


def test_ingest_table_shows_whole_source_paths(data_dir: Path, tmp_path: Path) -> None:
    """Two files whose paths differ only past the 28th character must not look alike."""
    fixture = Path(__file__).resolve().parent.parent / "fixtures" / "parsers" / "auth.log"
    deep = tmp_path / ("x" * 40)
    for name in ("web-01", "web-02"):
        (deep / name).mkdir(parents=True)
        shutil.copy(fixture, deep / name / "auth.log")
    (deep / "web-02" / "auth.log").write_text(fixture.read_text()[:200], encoding="utf-8")
    out = soc("ingest", "logs", str(deep), env={"COLUMNS": "60"}).stdout
    for name in ("web-01", "web-02"):
        assert str(deep / name / "auth.log") in out


def test_audit_and_cases_listings_say_how_many_and_use_local_time(
    alerts: list[dict], clock_at
) -> None:
    clock_at("2026-11-30T01:00:00Z")
    assert soc("alerts", "assign", alerts[0]["id"], "an").returncode == 0
    assert soc("alerts", "assign", alerts[0]["id"], "binh").returncode == 0
    audit = soc("audit", "--limit", "1").stdout
    assert "showing 1 of 2 audit records" in audit
    assert "2026-11-30 08:00:" in audit and "T01:00" not in audit
    for n in range(2):
        assert soc("cases", "open", "--title", f"case {n}").returncode == 0
    cases = soc("cases", "list", "--limit", "1").stdout
    assert "showing 1 of 2 cases" in cases and "2026-11-30 08:00:" in cases
    assert "2026-11-30 01:00:" in soc("cases", "list", "--utc").stdout
