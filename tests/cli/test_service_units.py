"""The systemd units shipped with citysoc: each passes `systemd-analyze verify` as a system
and as a user unit; `soc service show/install` give them with this installation's `soc`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cli_runner import soc

from soc.cli.service import render, unit_names

ANALYZE = shutil.which("systemd-analyze")


def test_units_are_shipped() -> None:
    names = unit_names()
    for expected in ("syslog.service", "files.service", "scheduler.service", "detect.timer",
                     "report.timer"):  # fmt: skip
        assert f"citysoc-{expected}" in names


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed (Debian: systemd)")
@pytest.mark.parametrize("user", [False, True], ids=["system", "user"])
def test_every_unit_passes_systemd_analyze_verify(tmp_path: Path, user: bool) -> None:
    folder = tmp_path / "units"
    folder.mkdir()
    for name in unit_names():
        (folder / name).write_text(render(name, user=user), encoding="utf-8")
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    args = [str(ANALYZE), *(["--user"] if user else []), "verify", "--man=no"]
    for name in unit_names():
        result = subprocess.run(
            [*args, str(folder / name)], capture_output=True, text=True, env=env, timeout=60
        )
        assert result.returncode == 0 and not result.stderr.strip(), (name, result.stderr)


def test_service_show_and_install(data_dir: Path, tmp_path: Path) -> None:
    shown = soc("service", "show", "syslog")
    assert shown.returncode == 0, shown.stderr
    assert "DynamicUser=yes" in shown.stdout and "StateDirectory=citysoc" in shown.stdout
    exec_line = next(x for x in shown.stdout.splitlines() if x.startswith("ExecStart="))
    assert Path(exec_line.split()[0].removeprefix("ExecStart=")).is_file()
    user = soc("service", "show", "citysoc-syslog.service", "--user").stdout
    assert "DynamicUser" not in user and "WantedBy=default.target" in user
    assert soc("service", "show", "nope").returncode == 2

    target = tmp_path / "user-units"
    done = soc("service", "install", "--user", "--dir", str(target))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in target.iterdir()) == unit_names()
    assert "systemctl --user daemon-reload" in done.stdout
    edited = target / "citysoc-files.service"
    edited.write_text(edited.read_text() + "# local change\n")
    again = soc("service", "install", "--user", "--dir", str(target))
    assert again.returncode == 1 and "kept" in again.stderr
    assert edited.read_text().endswith("# local change\n")
    assert soc("service", "install", "--user", "--dir", str(target), "--force").returncode == 0
    assert not edited.read_text().endswith("# local change\n")
