"""`soc alerts list/show` print log values literally: no markup, no terminal escapes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HOSTILE_AGENT = "[bold red]pwn[/] \x1b[31mred\x1b[0m \x1b]52;c;ZWNobyBwd24=\x07"
LINE = (
    '203.0.113.9 - - [20/Nov/2026:14:12:00 +0700] "GET /search?q=%3Cscript%3Ealert(1)%3C/script%3E'
    f' HTTP/1.1" 200 512 "-" "{HOSTILE_AGENT}"\n'
)


def soc(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("soc")
    env = {**os.environ, "SOC_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    env.pop("SOC_ELASTICSEARCH_URL", None)
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, timeout=300)


def test_alert_listing_and_detail_show_hostile_values_literally(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(LINE, encoding="utf-8")
    data = tmp_path / "data"
    assert soc("ingest", "logs", str(log), "--json", data_dir=data).returncode == 0
    run = soc("detect", "run", "--since", "2026-11-20", "--until", "2026-11-21", data_dir=data)
    assert run.returncode == 0, run.stderr
    alerts = json.loads(soc("alerts", "list", "--json", data_dir=data).stdout)
    xss = next(a for a in alerts if "Cross-Site Scripting" in a["rule_title"])
    for args in (["alerts", "list"], ["alerts", "show", xss["id"]]):
        out = soc(*args, data_dir=data)
        assert out.returncode == 0, out.stderr
        assert "\x1b" not in out.stdout and "\x07" not in out.stdout
    shown = soc("alerts", "show", xss["id"], data_dir=data).stdout
    assert "[bold red]pwn[/]" in shown
    assert "\\x1b[31mred" in shown
