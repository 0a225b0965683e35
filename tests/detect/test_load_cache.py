"""The load cache: an unchanged rule file is loaded without YAML parsing or pySigma, with
the same rules, facts and errors; a changed file is read again, and only it."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from rule_pack_events import pack_events

from soc.detect import raw_codec
from soc.detect.compile import compile_all
from soc.detect.loader import LoadedRule, RuleSet, load_rules
from soc.detect.runner import run_compiled
from soc.resources import rules_dir
from soc.store.local import LocalStore

NOW = datetime(2026, 11, 21, tzinfo=UTC)

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
BROKEN = "title: broken\nlogsource: {product: windows}\ndetection: {condition: nothing}\n"


def facts_of(ruleset: RuleSet) -> list[tuple]:
    return [
        (r.id, r.title, r.level, r.tags, r.description, r.is_correlation, r.standalone, r.errors)
        for r in ruleset.rules
    ]


def test_a_warm_load_gives_the_same_rules_without_building_them(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "whoami.yml").write_text(WHOAMI)
    (folder / "broken.yml").write_text(BROKEN)
    (folder / "bad.yml").write_text("title: [unclosed\n")
    cache = tmp_path / "cache"
    cold = load_rules([folder, rules_dir()], cache=cache)
    warm = load_rules([folder, rules_dir()], cache=cache)
    plain = load_rules([folder, rules_dir()], cache=None)
    assert facts_of(warm) == facts_of(cold) == facts_of(plain)
    assert [str(e) for e in warm.errors] == [str(e) for e in plain.errors] != []
    assert [r.raw for r in warm.rules] == [r.raw for r in plain.rules]
    whoami = next(r for r in warm.rules if r.title == "whoami run")
    assert whoami.raw["date"] == date(2024, 5, 1)  # YAML's types come back
    assert whoami.id == "6f1c0c4a-0000-4000-8000-0000000000a1"  # as pySigma writes it
    # only correlations and their base rules were built; the rest wait until asked
    built = [r for r in warm.rules if r.built]
    assert all(r.is_correlation or not r.standalone for r in built)
    assert 0 < len(built) < len(warm.rules) / 2
    assert whoami.rule.title == "whoami run" and whoami.built


def test_warm_load_and_compile_detect_the_same_as_a_plain_run(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    load_rules([rules_dir()], cache=cache)
    runs = []
    for ruleset in (load_rules([rules_dir()], cache=cache), load_rules([rules_dir()], cache=None)):
        store = LocalStore(tmp_path / f"run{len(runs)}.db")
        store.write_events(pack_events())
        compiled = compile_all(ruleset.rules, "sqlite", cache=tmp_path / f"compiled{len(runs)}")
        summary = run_compiled(store, compiled, None, None, now=NOW)
        runs.append(sorted((a["rule_id"], a["id"]) for a in store.list_records("alerts")))
        assert not summary.failed
        store.close()
    assert runs[0] == runs[1] and len(runs[0]) > 10


def test_a_changed_file_is_read_again_and_only_it(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "a.yml").write_text(WHOAMI)
    (folder / "b.yml").write_text(WHOAMI.replace("A1", "B2").replace("whoami run", "second"))
    cache = tmp_path / "cache"
    load_rules([folder], cache=cache)
    parsed: list[str] = []
    original = LoadedRule.__init__

    def counting(self: LoadedRule, rule=None, **kwargs) -> None:  # type: ignore[no-untyped-def]
        if rule is not None:
            parsed.append(str(kwargs.get("path")))
        original(self, rule, **kwargs)

    monkeypatch.setattr(LoadedRule, "__init__", counting)
    (folder / "a.yml").write_text(WHOAMI.replace("level: high", "level: critical"))
    again = load_rules([folder], cache=cache)
    assert parsed == [str(folder / "a.yml")]
    assert [r.level for r in again.rules] == ["critical", "high"]


def test_documents_the_cache_cannot_keep_exactly_are_not_kept() -> None:
    assert raw_codec.encode({1: "a"}) is None  # a key that is not text
    assert raw_codec.encode({"a": b"x"}) is None  # binary data
    assert raw_codec.encode({"a": {"$citysoc-date": "2024-01-02"}}) is None  # looks tagged


def test_dates_come_back_as_dates_wherever_they_are() -> None:
    doc = {
        "date": date(2024, 1, 2),
        "at": datetime(2024, 1, 2, 3, 4),
        "x": [1, 2.5, None, {"deep": [date(2023, 5, 6)]}],
        "text": "2024-01-02",
    }
    encoded = raw_codec.encode(doc)
    assert encoded is not None and len(encoded.dates) == 3
    back = raw_codec.revive(json.loads(json.dumps(encoded.data)), encoded.dates)
    assert back == doc
    assert type(back["at"]) is datetime and type(back["x"][3]["deep"][0]) is date
    assert type(back["text"]) is str  # text that reads as a date stays text
    whole = raw_codec.encode(date(2024, 1, 2))
    assert whole is not None
    assert raw_codec.revive(json.loads(json.dumps(whole.data)), whole.dates) == date(2024, 1, 2)


def test_an_entry_whose_dates_are_not_where_it_says_is_refused() -> None:
    encoded = raw_codec.encode({"date": date(2024, 1, 2), "title": "t"})
    assert encoded is not None
    with pytest.raises(raw_codec.MisplacedDate):
        raw_codec.revive(json.loads(json.dumps(encoded.data)), [["title"]])
    with pytest.raises(raw_codec.MisplacedDate):
        raw_codec.revive(json.loads(json.dumps(encoded.data)), [["nowhere", 0]])


def test_an_entry_without_the_places_of_its_dates_is_read_again(tmp_path: Path) -> None:
    """An entry that does not say where its dates are (as written before they were listed)
    is not used with its tagged dates left in: the file is parsed again."""
    from soc.detect.rule_cache import RuleCache
    from soc.detect.rule_files import content_key

    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "whoami.yml").write_text(WHOAMI)
    cache = RuleCache(tmp_path / "cache")
    load_rules([folder], cache=cache)
    key = content_key((folder / "whoami.yml").read_bytes())
    entry = cache.get_many([key])[key]
    for document in entry["documents"]:
        del document["dates"]
    cache.put_many({key: entry})
    again = load_rules([folder], cache=cache)
    assert again.rules[0].raw["date"] == date(2024, 5, 1)
    assert "dates" in cache.get_many([key])[key]["documents"][0]  # and kept anew
