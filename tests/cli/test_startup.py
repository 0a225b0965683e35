"""Start-up: `soc --help` and `soc alerts list` import only what they need, and every command
of the lazily loaded table exists and answers --help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from soc.cli.lazy import COMMANDS

HEAVY = ("sigma", "collectors", "soc.detect.compile", "soc.report", "soc.triage.runner", "jinja2")

PROBE = """
import sys
sys.argv = {argv!r}
from soc.cli.main import main
try:
    main()
except SystemExit:
    pass
heavy = sorted(m for m in sys.modules if m.startswith({heavy!r}))
sys.stderr.write("HEAVY=" + ",".join(heavy) + "\\n")
"""


def loaded_heavy(argv: list[str], data_dir: Path) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = next(x for x in result.stderr.splitlines() if x.startswith("HEAVY="))
    return [m for m in line[6:].split(",") if m]


def test_help_imports_no_command_module(data_dir: Path) -> None:
    assert loaded_heavy(["soc", "--help"], data_dir) == []


def test_alerts_list_imports_no_detection_engine(data_dir: Path) -> None:
    assert loaded_heavy(["soc", "alerts", "list"], data_dir) == []


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_listed_command_loads(name: str, data_dir: Path) -> None:
    exe = Path(sys.executable).with_name("soc")
    result = subprocess.run([str(exe), name, "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"soc {name}" in result.stdout
