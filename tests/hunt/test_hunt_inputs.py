"""Which files `soc hunt` reads from the paths it is given, in which order and under which
names: the order decides which file's copy of a shared event is stored, and the names are
what the summary shows."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from soc.hunt.inputs import HuntInputError, expand_named


def _the_pathlib_way(root: Path) -> dict[Path, str]:
    """Every file below ``root`` outside hidden entries, as sorted Paths, named
    ``<folder>/<path inside it>``; a file reached twice kept the first time."""
    out: dict[Path, str] = {}
    seen: set[Path] = set()
    for path in sorted(root.rglob("*")):
        inside = path.relative_to(root)
        if not path.is_file() or any(part.startswith(".") for part in inside.parts):
            continue
        if path.resolve() not in seen:
            seen.add(path.resolve())
            out[path] = f"{root.name}/{inside.as_posix()}"
    return out


def _tree(root: Path) -> None:
    for name in [
        "a/x.log",
        "a-b/x.log",  # "-" sorts before "/" as text, after the end of "a" as a path part
        "a/b/deep.evtx",
        "a.log",
        "B/upper.log",
        ".hidden/secret.log",
        "a/.swap",
        "z.pcap",
    ]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x\n")
    (root / "empty").mkdir()


def test_a_folder_gives_its_files_in_path_order_without_hidden_entries(tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    _tree(root)
    found = expand_named([str(root)])
    assert found == _the_pathlib_way(root)
    assert list(found.values())[:4] == [
        "bundle/B/upper.log",
        "bundle/a/b/deep.evtx",
        "bundle/a/x.log",
        "bundle/a-b/x.log",
    ]
    assert not any(".hidden" in name or ".swap" in name for name in found.values())
    # the folder given with a trailing separator names its files the same way
    assert list(expand_named([str(root) + os.sep]).values()) == list(found.values())


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links here")
def test_links_to_files_count_once_and_links_to_folders_are_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    _tree(root)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "outside.log").write_bytes(b"x\n")
    (root / "0-linked.log").symlink_to(elsewhere / "outside.log")
    (root / "1-again.log").symlink_to(root / "z.pcap")  # the same file as z.pcap
    (root / "folder").symlink_to(elsewhere, target_is_directory=True)
    (root / "broken.log").symlink_to(tmp_path / "missing.log")
    (root / "loop").symlink_to(root, target_is_directory=True)
    found = expand_named([str(root)])
    assert found == _the_pathlib_way(root)
    names = list(found.values())
    assert "bundle/0-linked.log" in names and "bundle/1-again.log" in names
    assert "bundle/z.pcap" not in names  # reached first through its link
    assert not any(name.startswith(("bundle/folder/", "bundle/loop/")) for name in names)


def test_a_file_named_twice_is_read_once_under_its_first_name(tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    _tree(root)
    direct = root / "a" / "x.log"
    found = expand_named([str(direct), str(root), str(root)])
    assert next(iter(found)) == direct and found[direct] == str(direct)
    assert list(found.values()).count(str(direct)) == 1
    assert "bundle/a/x.log" not in found.values()
    assert len(found) == len(_the_pathlib_way(root))


def test_a_missing_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(HuntInputError, match="nothing-here: no such file or directory"):
        expand_named([str(tmp_path / "nothing-here")])
