"""Which rule files a folder holds, and in which order: the order rules load in decides which
of two rules with one id wins and the order of alerts, so it must not depend on how the
folder is walked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from soc.detect.rule_files import RULE_SUFFIXES, iter_rule_files


def _sorted_by_pathlib(root: Path) -> list[Path]:
    """The plain way: every file below ``root`` with a rule suffix, as sorted Paths."""
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in RULE_SUFFIXES and p.is_file())


def test_a_folder_gives_its_rule_files_in_path_order(tmp_path: Path) -> None:
    root = tmp_path / "rules"
    names = [
        "a/x.yml",
        "a-b/x.yml",  # "-" sorts before "/" as text, after the end of "a" as a path part
        "a/b/deep.yaml",
        "a.yml",
        "B/upper.YML",
        "b/lower.yml",
        "z.yml",
        "notes.txt",
        "a/README.md",
    ]
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("title: t\n", encoding="utf-8")
    (root / "empty").mkdir()
    files = list(iter_rule_files([root]))
    assert files == _sorted_by_pathlib(root)
    assert [f.relative_to(root).as_posix() for f in files][:3] == [
        "B/upper.YML",
        "a/b/deep.yaml",
        "a/x.yml",
    ]
    assert all(f.suffix.lower() in RULE_SUFFIXES for f in files) and len(files) == 7


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links here")
def test_links_to_files_are_read_and_links_to_folders_are_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "rules"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "outside.yml").write_text("title: t\n", encoding="utf-8")
    root.mkdir()
    (root / "own.yml").write_text("title: t\n", encoding="utf-8")
    (root / "linked.yml").symlink_to(elsewhere / "outside.yml")
    (root / "folder").symlink_to(elsewhere, target_is_directory=True)
    (root / "broken.yml").symlink_to(tmp_path / "missing.yml")
    (root / "loop").symlink_to(root, target_is_directory=True)
    files = list(iter_rule_files([root]))
    assert files == _sorted_by_pathlib(root)
    assert [f.name for f in files] == ["linked.yml", "own.yml"]


def test_files_given_directly_come_as_given(tmp_path: Path) -> None:
    one = tmp_path / "one.yml"
    other = tmp_path / "other.txt"  # named directly: read whatever its suffix
    one.write_text("title: t\n", encoding="utf-8")
    other.write_text("title: t\n", encoding="utf-8")
    assert list(iter_rule_files([other, one, tmp_path / "missing.yml"])) == [other, one]


RULE = """title: {title}
id: 5b0f5a4e-2d0c-4a55-9a7e-0d5a3f1c{suffix}
logsource:
    product: linux
    service: auth
detection:
    selection:
        message|contains: 'Failed password'
    condition: selection
level: medium
"""


def test_rules_load_from_the_bytes_read_once(tmp_path: Path) -> None:
    """A run that first asks which files the caches lack, then loads them, reads each file
    once and loads the bytes it asked about, even if the file changes in between."""
    from soc.detect.loader import load_rules
    from soc.detect.rule_files import files_to_load, read_rule_files

    folder = tmp_path / "rules"
    folder.mkdir()
    rule = folder / "brute.yml"
    rule.write_text(RULE.format(title="as first read", suffix="0001"), encoding="utf-8")
    cache = tmp_path / "cache"
    read = read_rule_files([folder])
    assert files_to_load(read, cache) == files_to_load([folder], cache) == [rule]
    rule.write_text(RULE.format(title="written after", suffix="0002"), encoding="utf-8")
    assert [r.title for r in load_rules([folder], cache=cache, files=read).rules] == [
        "as first read"
    ]
    assert [r.title for r in load_rules([folder], cache=cache).rules] == ["written after"]
    # both contents are in the load cache now, each under its own key
    assert files_to_load(read, cache) == files_to_load([folder], cache) == []
