"""`soc demo`: the whole job on the bundled sample, and the same again stores nothing new."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from soc.demo import DEMO_SOURCES
from soc.resources import demo_data_dir
from soc.store.local import LocalStore


def soc(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("soc")
    env = {**os.environ, "SOC_DATA_DIR": str(data_dir), "SOC_LANGUAGE": "vi"}
    env.pop("SOC_ELASTICSEARCH_URL", None)
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, timeout=300)


def sample_lines() -> int:
    total = 0
    for source in DEMO_SOURCES:
        text = (demo_data_dir() / source.file).read_text(encoding="utf-8")
        total += sum(1 for line in text.splitlines() if line.strip())
    return total


def test_demo_runs_the_whole_job_and_repeats_idempotently(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    first = soc("demo", "--json", data_dir=data_dir)
    assert first.returncode == 0, first.stderr
    run = json.loads(first.stdout)
    lines = sample_lines()
    assert run["ingest"]["stored"] == lines
    assert run["ingest"]["dead_lettered"] == 0
    assert run["detection"]["alerts_new"] == run["alerts"] > 0

    store = LocalStore(data_dir / "soc.db")
    try:
        assert store.count() == lines
        titles = {a["rule_title"] for a in store.list_records("alerts")}
        assert "SSH Brute Force From One Address" in titles
        triaged = store.get_record("alerts", run["triaged_alert"])
        assert triaged is not None and triaged["status"] != "new"
        case_id = run["triage"]["case_id"]
        assert case_id and store.get_record("cases", case_id) is not None
        assert store.list_records("audit", filters={"object_id": run["triaged_alert"]})
    finally:
        store.close()
    report = Path(run["report"])
    assert report.is_file()
    html = report.read_text(encoding="utf-8")
    assert "Báo cáo" in html
    assert case_id in html  # the incident the triage opened is in the period report

    again = soc("demo", "--json", data_dir=data_dir)
    assert again.returncode == 0, again.stderr
    rerun = json.loads(again.stdout)
    assert rerun["ingest"]["stored"] == 0
    assert rerun["ingest"]["duplicates"] == lines
    assert rerun["detection"]["alerts_new"] == 0
    assert rerun["alerts"] == run["alerts"]
    assert rerun["triaged_alert"] == run["triaged_alert"]
    assert rerun["triage"] is None


def test_demo_prints_each_step_for_a_person(tmp_path: Path) -> None:
    result = soc("demo", data_dir=tmp_path / "demo")
    assert result.returncode == 0, result.stderr
    for heading in ("1. Ingestion", "2. Detection", "3. Triage", "4. Report"):
        assert heading in result.stdout
    assert "SSH Brute Force" in result.stdout
    assert "period report:" in result.stdout
