"""The `soc` command tree, settings display, doctor, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

GROUPS = ["ingest", "collect", "detect", "alerts", "rules", "triage", "cases", "audit", "report"]


def soc(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    """Run the installed console script as an analyst would."""
    exe = Path(sys.executable).with_name("soc")
    return subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=120,
    )


def test_help_lists_the_whole_command_tree() -> None:
    result = soc("--help")
    assert result.returncode == 0
    for name in [*GROUPS, "config", "doctor", "demo"]:
        assert name in result.stdout


def test_config_show_json_masks_secrets(data_dir: Path) -> None:
    result = soc(
        "config",
        "show",
        "--json",
        env={"SOC_ELASTICSEARCH_PASSWORD": "s3cret", "SOC_TIMEZONE": "UTC"},
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["settings"]["elasticsearch.password"] == "****"
    assert shown["settings"]["timezone"] == "UTC"
    assert shown["origins"]["timezone"] == "SOC_TIMEZONE"
    assert "s3cret" not in result.stdout


def test_doctor_reports_the_local_store(data_dir: Path) -> None:
    result = soc("--data-dir", str(data_dir / "d"), "doctor", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["store"] == "local"
    assert info["events"] == 0
    assert Path(info["path"]).parent == data_dir / "d"


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("yaml", "soc.yaml: line 2"),
        ("corrupt", "cannot open the local store"),
        ("unwritable", "cannot create data directory"),
    ],
)
def test_bad_settings_and_stores_give_one_line_and_exit_2(
    data_dir: Path, tmp_path: Path, setup: str, expected: str
) -> None:
    env: dict[str, str] = {}
    if setup == "yaml":
        (tmp_path / "soc.yaml").write_text("timezone: UTC\n  bad: indent: here\n")
    elif setup == "corrupt":
        (data_dir / "soc.db").write_bytes(os.urandom(8192))
    else:
        (tmp_path / "blocker").write_text("x")
        env["SOC_DATA_DIR"] = str(tmp_path / "blocker" / "data")
    result = soc("doctor", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
