"""The wheel carries the rule pack, the playbooks and the demo data, and finds them installed."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return next(out.glob("citysoc-*.whl"))


def test_wheel_ships_rules_playbooks_and_demo_data(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tracked = subprocess.run(
        ["git", "ls-files", "rules", "playbooks", "soc/demo_data", "soc/units"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert tracked, "nothing to ship"
    for path in tracked:
        shipped = path if path.startswith("soc/") else f"soc/_bundled/{path}"
        assert shipped in names, f"{path} missing from the wheel"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "soc = soc.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_installed_package_finds_its_data_outside_the_source_tree(
    wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    probe = (
        "from soc import resources;"
        "print(resources.rules_dir());print(resources.playbooks_dir());"
        "print(resources.demo_data_dir())"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        check=True,
    )
    paths = [Path(p) for p in result.stdout.split()]
    for path in paths:
        assert path.is_dir()
        assert site in path.parents, f"{path} is not inside the installed package"
