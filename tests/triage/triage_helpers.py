"""Helpers of the triage tests: run the real `soc` command, ingest the demo sample with the
collectors, detect with the city rule pack, and open the store a test runs against."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from soc.detect.runner import run_detection
from soc.resources import demo_data_dir
from soc.store.base import Store

#: "SSH Brute Force From One Address" of the city rule pack (rules/correlation/).
BRUTEFORCE_RULE_ID = "4557d854-8e1c-41e9-bc6b-1236ee0ca851"
ATTACKER = "185.220.101.47"
DEMO = demo_data_dir()
INVENTORY = DEMO / "inventory.yaml"
IOC_LISTS = (DEMO / "ioc-ips.txt", DEMO / "ioc-domains.csv")
#: The demo files and their departments (as soc/demo_data/README.md lists them).
DEMO_FILES = {
    "tc-app01-auth.log": "Sở Tài chính",
    "dvc-portal-access.log": "Sở Thông tin và Truyền thông",
    "fortigate.log": "Sở Thông tin và Truyền thông",
    "bind-queries.log": "Sở Y tế",
}


def soc(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None, timeout: int = 180
) -> subprocess.CompletedProcess[str]:
    """Run the installed console script as an analyst would (no colour, wide lines)."""
    exe = Path(sys.executable).with_name("soc")
    return subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        input=stdin if stdin is not None else "",
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "250", **(env or {})},
        timeout=timeout,
    )


def ingest(path: Path, env: dict[str, str], department: str | None = None) -> None:
    """Ingest one log file with `soc ingest logs`; fail the test if anything is lost."""
    args = ["ingest", "logs", "--json", str(path)]
    if department:
        args += ["--department", department]
    result = soc(*args, env=env)
    assert result.returncode == 0, result.stderr


def ingest_demo(env: dict[str, str]) -> None:
    """Ingest the bundled demo sample, each file with its department."""
    for name, department in DEMO_FILES.items():
        ingest(DEMO / name, env, department)


def detect(store: Store) -> None:
    """Run the city rule pack over everything stored."""
    store.refresh()
    summary = run_detection(store, [], None, None)
    assert not summary.failed, summary.failed
    store.refresh()


def bruteforce_alert(store: Store, source_ip: str = ATTACKER) -> dict[str, Any]:
    """The rule pack's SSH brute-force alert for ``source_ip``."""
    found = [
        a
        for a in store.list_records("alerts", filters={"rule_id": BRUTEFORCE_RULE_ID})
        if source_ip in (a.get("entities") or {}).get("source.ip", [])
    ]
    assert len(found) == 1, found
    return found[0]


def store_env(kind: str, data_dir: Path, es_url: str | None) -> dict[str, str]:
    """Environment that points `soc` at the store of this test."""
    env = {"SOC_DATA_DIR": str(data_dir), "SOC_ANALYST": "tester"}
    if kind == "elasticsearch":
        assert es_url
        env["SOC_ELASTICSEARCH_URL"] = es_url
    return env


def open_test_store(kind: str, data_dir: Path, es_url: str | None) -> Store:
    """The store the `soc` commands of this test write to."""
    if kind == "elasticsearch":
        from soc.store.elastic import ElasticStore

        assert es_url
        return ElasticStore(es_url)
    from soc.store.local import LocalStore

    return LocalStore(data_dir / "soc.db")
