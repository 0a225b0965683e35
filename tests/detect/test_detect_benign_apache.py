"""The corpus's 10,000-line benign Apache access log, ingested by the real CLI and run
through the whole rule pack (the web rules now also read capture HTTP, and the payload rules
grew): not one alert."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _soc(*args: str, data_dir: Path) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    env["SOC_DATA_DIR"] = str(data_dir)
    exe = str(Path(sys.executable).with_name("soc"))
    return subprocess.run([exe, *args], capture_output=True, env=env, timeout=600, check=False)


@pytest.mark.conformance
def test_benign_apache_log_raises_no_alert(corpus_dir: Path, tmp_path: Path) -> None:
    log = corpus_dir / "logs" / "apache_access.log"
    data = tmp_path / "data"
    ingested = json.loads(_soc("ingest", "logs", "--json", str(log), data_dir=data).stdout)
    assert ingested["stored"] == 10_000
    proc = _soc("detect", "run", "--since", "1990-01-01T00:00:00Z", "--json", data_dir=data)
    result = json.loads(proc.stdout)
    assert result["rules_run"] > 100 and not result["failed"]
    assert result["alerts_new"] == 0, result["alert_ids"]
