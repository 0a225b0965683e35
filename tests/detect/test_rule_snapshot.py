"""Rule-set snapshots: an unchanged rule set comes back exactly as load_and_compile made it,
without reading its files; any change under its paths (a file edited, added or removed, a
path appearing), a new fingerprint or no cache means no snapshot."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from soc.detect import rule_snapshot, snapshot_tree
from soc.detect.compile import CompiledRule
from soc.detect.loader import RuleSet
from soc.detect.rule_cache import RuleCache
from soc.detect.rule_files import read_rule_files, rule_paths
from soc.detect.runner import load_and_compile
from soc.resources import rules_dir

WHOAMI = """\
title: whoami run
id: 6f1c0c4a-0000-4000-8000-0000000000A1
date: 2024-05-01
level: high
tags: [attack.discovery, attack.t1033]
description: a user asks who they are
logsource: {product: windows, category: process_creation}
detection:
  selection: {Image|endswith: '\\\\whoami.exe'}
  condition: selection
"""
SECOND = WHOAMI.replace("A1", "B2").replace("whoami run", "second rule")
#: a correlation whose base rule is in another file, and one naming a rule nobody has
COUNTED = """\
title: many whoami
id: 6f1c0c4a-0000-4000-8000-0000000000C3
correlation:
  type: event_count
  rules: [6f1c0c4a-0000-4000-8000-0000000000a1]
  group-by: [host.name]
  timespan: 10m
  condition: {gte: 3}
level: high
"""
ORPHAN = (
    COUNTED.replace("C3", "D4")
    .replace("many whoami", "orphan")
    .replace("0000000000a1]", "0000000000ff]")
)
BROKEN = "title: broken\nlogsource: {product: windows}\ndetection: {condition: nothing}\n"
UNKNOWN_SOURCE = (
    WHOAMI.replace("A1", "E5")
    .replace("whoami run", "nowhere rule")
    .replace("{product: windows, category: process_creation}", "{product: nowhere}")
)


@pytest.fixture(autouse=True)
def _no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """The files of these tests were written a moment ago: trusted at once (the window
    itself is tested with explicit times)."""
    monkeypatch.setattr(rule_snapshot, "RACY_SECONDS", 0)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    (rules / "more").mkdir(parents=True)
    (rules / "whoami.yml").write_text(WHOAMI)
    (rules / "more" / "second.yml").write_text(SECOND)
    (rules / "more" / "counted.yml").write_text(COUNTED)
    (rules / "orphan.yml").write_text(ORPHAN)
    (rules / "broken.yml").write_text(BROKEN)
    (rules / "unknown.yml").write_text(UNKNOWN_SOURCE)
    (rules / "bad.yml").write_text("title: [unclosed\n")
    return rules


def shape(ruleset: RuleSet, compiled: list[CompiledRule]) -> list[tuple]:
    """Everything a run reads of a loaded and compiled rule set."""
    rules = [
        (
            str(r.loaded.path),
            r.id,
            r.loaded.facts,
            r.loaded.raw,
            r.loaded.errors,
            r.loaded.standalone,
            r.loaded.digest,
            r.status,
            r.query,
            r.variants,
            r.error,
            r.note,
            r.literals,
            [(b.id, b.query, b.status) for b in r.bases],
        )
        for r in compiled
    ]
    errors = [str(e) for e in ruleset.errors]
    return [*rules, errors, ruleset.files, [r.id for r in ruleset.rules]]


def test_an_unchanged_rule_set_comes_back_as_it_was_loaded(folder: Path) -> None:
    missing = folder.parent / "not-there"
    paths = [folder, missing]
    loaded = load_and_compile("local", paths, include_pack=True)
    everything = rule_paths(paths, include_pack=True)
    restored = rule_snapshot.restore(everything, "sqlite")
    assert restored is not None
    assert shape(*restored) == shape(*loaded)
    statuses = {r.title: r.status for r in restored[1]}
    assert statuses["many whoami"] == "converted" and statuses["broken"] == "invalid"
    assert statuses["orphan"] == "invalid" and statuses["nowhere rule"] == "not_convertible"
    assert any("not-there" in str(e) for e in restored[0].errors)
    # the second load_and_compile takes the snapshot and reads no rule file
    again = load_and_compile("local", paths, include_pack=True)
    assert shape(*again) == shape(*loaded)


def test_each_target_and_each_list_of_paths_has_its_own_snapshot(folder: Path) -> None:
    load_and_compile("local", [folder], include_pack=False)
    assert rule_snapshot.restore([folder], "sqlite") is not None
    assert rule_snapshot.restore([folder], "lucene") is None
    assert rule_snapshot.restore([folder, rules_dir()], "sqlite") is None
    assert rule_snapshot.restore([folder / "more"], "sqlite") is None


def test_a_snapshot_names_every_column_its_rules_read(folder: Path) -> None:
    """What a hunt's scratch store gives columns to (soc.hunt.run): each column a query of
    a single rule or of a correlation's base rule names, in any case."""
    loaded = load_and_compile("local", [folder], include_pack=False)
    found = rule_snapshot.find([folder], "sqlite")
    assert found is not None and found.columns is not None
    queries = [r.query for r in loaded[1] if r.query]
    queries += [b.query for r in loaded[1] for b in r.bases if b.query]
    assert any(r.bases for r in loaded[1])  # the counted correlation's base
    named = {n.strip("`").lower() for q in queries for n in re.findall(r"`[^`]+`", q)}
    assert named and named <= found.columns
    load_and_compile("elasticsearch", [folder], include_pack=False)
    lucene = rule_snapshot.find([folder], "lucene")
    assert lucene is not None and lucene.columns is None


@pytest.mark.parametrize(
    "change",
    ["edit a file", "same size, new time", "add a file", "add a folder", "remove a file", "path"],
)
def test_any_change_under_the_paths_means_no_snapshot(folder: Path, change: str) -> None:
    late = folder.parent / "late"
    paths = [folder, late]
    load_and_compile("local", paths, include_pack=False)
    assert rule_snapshot.restore(paths, "sqlite") is not None
    target = folder / "more" / "second.yml"
    stat = target.stat()
    if change == "edit a file":
        target.write_text(SECOND.replace("level: high", "level: low"))
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns - 5_000_000_000))
    elif change == "same size, new time":
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns - 7_000_000_000))
    elif change == "add a file":
        (folder / "more" / "third.yml").write_text(WHOAMI.replace("A1", "F6"))
    elif change == "add a folder":
        (folder / "more" / "deeper").mkdir()
        (folder / "more" / "deeper" / "third.yml").write_text(WHOAMI.replace("A1", "F6"))
    elif change == "remove a file":
        target.unlink()
    else:
        late.mkdir()
        (late / "third.yml").write_text(WHOAMI.replace("A1", "F6"))
    assert rule_snapshot.restore(paths, "sqlite") is None
    # the rule set is loaded again, and its new snapshot is the new rule set
    fresh = load_and_compile("local", paths, include_pack=False)
    titles = sorted(r.title for r in fresh[0].rules)
    assert ("third" in change or change in ("add a file", "add a folder", "path")) == (
        titles.count("whoami run") == 2
    )
    if change == "edit a file":
        assert next(r for r in fresh[1] if r.title == "second rule").loaded.level == "low"
    if change == "remove a file":
        assert "second rule" not in titles
    restored = rule_snapshot.restore(paths, "sqlite")
    assert restored is not None and shape(*restored) == shape(*fresh)


def test_files_changed_just_before_get_no_snapshot(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rule_snapshot, "RACY_SECONDS", 2.0)
    folders: dict = {}
    files = read_rule_files([folder], folders)
    ruleset, compiled = load_and_compile("local", [folder], include_pack=False, files=files)
    newest = max(
        max(s.st_mtime_ns, s.st_ctime_ns)
        for s in (os.stat(p) for p in [*folders, *map(str, (f.path for f in files))])
    )
    # a file or folder changed less than RACY_SECONDS ago may change again unseen
    assert not rule_snapshot.save(
        [folder], "sqlite", files, folders, ruleset, compiled, now_ns=newest + 1_000_000_000
    )
    assert rule_snapshot.restore([folder], "sqlite") is None
    assert rule_snapshot.save(
        [folder], "sqlite", files, folders, ruleset, compiled, now_ns=newest + 3_000_000_000
    )
    assert rule_snapshot.restore([folder], "sqlite") is not None


def test_a_file_changed_while_it_was_loaded_is_not_trusted(folder: Path) -> None:
    folders: dict = {}
    files = read_rule_files([folder], folders)
    ruleset, compiled = load_and_compile("local", [folder], include_pack=False, files=files)
    # edited after it was read and before the snapshot is written: the snapshot records the
    # signature taken when it was read, which no longer holds
    target = folder / "whoami.yml"
    stat = target.stat()
    target.write_text(WHOAMI.replace("level: high", "level: low"))
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns - 5_000_000_000))
    assert rule_snapshot.save([folder], "sqlite", files, folders, ruleset, compiled)
    assert rule_snapshot.restore([folder], "sqlite") is None


def test_another_fingerprint_or_no_cache_has_no_snapshot(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_and_compile("local", [folder], include_pack=False)
    cache_dir = Path(os.environ["SOC_CACHE_DIR"])
    assert rule_snapshot.restore([folder], "sqlite", RuleCache(cache_dir)) is not None
    assert rule_snapshot.restore([folder], "sqlite", RuleCache(cache_dir, "other")) is None
    # nor found at all: a hunt would otherwise write its store for the old rules' columns
    assert snapshot_tree.lookup([folder], "sqlite", RuleCache(cache_dir)) is not None
    assert snapshot_tree.lookup([folder], "sqlite", RuleCache(cache_dir, "other")) is None
    monkeypatch.setenv("SOC_RULE_CACHE", "off")
    assert rule_snapshot.restore([folder], "sqlite") is None
    assert load_and_compile("local", [folder], include_pack=False)[1]


def test_only_the_newest_snapshots_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("soc.detect.rule_cache.KEEP_SNAPSHOTS", 2)
    cache = RuleCache(tmp_path / "cache", "stamp")
    for key in ("a", "b", "c"):
        cache.put_snapshot(key, "[]", b"{}", b"")
    kept = [k for k in "abc" if cache.snapshot_tree(k) is not None]
    cache.close()
    assert len(kept) == 2
