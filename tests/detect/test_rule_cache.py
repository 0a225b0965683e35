"""The compiled-rule cache: a rule converted once is not converted again, and a changed
rule, pipeline or package version is converted afresh."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from soc.detect import compile as compile_module
from soc.detect.compile import CompiledRule, compile_all, compile_rule
from soc.detect.loader import LoadedRule, load_text
from soc.detect.rule_cache import (
    CACHE_FILE,
    RuleCache,
    compute_fingerprint,
    default_cache_dir,
    fingerprint,
)

RULES = """
title: whoami run
id: 6f1c0c4a-0000-4000-8000-000000000001
logsource: {product: windows, category: process_creation}
detection:
  selection: {Image|endswith: '\\\\whoami.exe'}
  condition: selection
---
title: failed ssh login
id: 6f1c0c4a-0000-4000-8000-000000000002
name: ssh_failed
logsource: {product: linux, service: sshd}
detection:
  selection: {event.outcome: failure}
  condition: selection
---
title: ssh brute force
id: 6f1c0c4a-0000-4000-8000-000000000003
correlation:
  type: event_count
  rules: [ssh_failed]
  group-by: [source.ip]
  timespan: 5m
  condition: {gte: 10}
---
title: unknown source
id: 6f1c0c4a-0000-4000-8000-000000000004
logsource: {product: nowhere}
detection:
  selection: {a: b}
  condition: selection
"""


def rules(text: str = RULES) -> list[LoadedRule]:
    ruleset = load_text(text)
    assert not ruleset.errors
    return ruleset.rules


def shape(compiled: list[CompiledRule]) -> list[tuple]:
    return [
        (c.id, c.status, c.query, c.error, c.note, c.variants, [(b.query, b.note) for b in c.bases])
        for c in compiled
    ]


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the rules pySigma converts, in order (the real conversion still runs)."""
    seen: list[str] = []
    real = compile_module._convert_single

    def counting(loaded: LoadedRule, target: compile_module.Target) -> CompiledRule:
        seen.append(loaded.id)
        return real(loaded, target)

    monkeypatch.setattr(compile_module, "_convert_single", counting)
    return seen


def test_warm_run_converts_nothing_and_gives_the_same_rules(
    tmp_path: Path, conversions: list[str]
) -> None:
    cold = compile_all(rules(), "sqlite", cache=tmp_path)
    assert len(conversions) == 3  # two single rules and the correlation's base rule
    conversions.clear()
    warm = compile_all(rules(), "sqlite", cache=tmp_path)
    assert conversions == []
    assert shape(warm) == shape(cold) == shape([compile_rule(r, "sqlite") for r in rules()])
    assert warm[2].runnable and warm[2].bases[0].query


def test_a_changed_rule_is_converted_again_and_only_it(
    tmp_path: Path, conversions: list[str]
) -> None:
    compile_all(rules(), "sqlite", cache=tmp_path)
    conversions.clear()
    edited = RULES.replace("whoami.exe", "net.exe")
    result = compile_all(rules(edited), "sqlite", cache=tmp_path)
    assert conversions == ["6f1c0c4a-0000-4000-8000-000000000001"]
    assert "net.exe" in (result[0].query or "") and "whoami" not in (result[0].query or "")


def test_each_target_has_its_own_entries(tmp_path: Path, conversions: list[str]) -> None:
    compile_all(rules(), "sqlite", cache=tmp_path)
    conversions.clear()
    lucene = compile_all(rules(), "lucene", cache=tmp_path)
    assert len(conversions) == 3
    assert "whoami.exe" in (lucene[0].query or "") and "`" not in (lucene[0].query or "")


def test_another_fingerprint_sees_none_of_the_entries(tmp_path: Path) -> None:
    compile_all(rules(), "sqlite", cache=tmp_path)
    other = RuleCache(tmp_path, stamp="pysigma upgraded")
    try:
        compile_all(rules(), "sqlite", cache=other)
        assert other.hits == 0 and other.misses == 3
    finally:
        other.close()
    same = RuleCache(tmp_path)
    try:
        compile_all(rules(), "sqlite", cache=same)
        assert same.hits == 3 and same.misses == 0
    finally:
        same.close()


def test_fingerprint_follows_package_versions_and_pipeline_sources() -> None:
    base = compute_fingerprint({"pysigma": "1.0", "citysoc": "0.1"}, [b"pipelines v1"])
    assert base == compute_fingerprint({"citysoc": "0.1", "pysigma": "1.0"}, [b"pipelines v1"])
    assert base != compute_fingerprint({"pysigma": "1.1", "citysoc": "0.1"}, [b"pipelines v1"])
    assert base != compute_fingerprint({"pysigma": "1.0", "citysoc": "0.1"}, [b"pipelines v2"])
    pipelines = Path(compile_module.__file__).with_name("pipelines.py").read_bytes()
    assert len(fingerprint()) == 32
    assert fingerprint() != compute_fingerprint({}, [pipelines])


def test_the_fingerprint_is_remembered_for_the_signature_of_its_inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warm run reads the fingerprint from the cache file instead of the package
    metadata, as long as nothing it is computed from changed: a package installed in a
    folder on sys.path, or a shaping module edited, makes it computed again."""
    import soc.detect.rule_cache as rule_cache

    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.setattr(sys, "path", [*sys.path, str(site)])
    computed: list[str] = []

    def counting() -> str:
        computed.append("x")
        return fingerprint()

    monkeypatch.setattr(rule_cache, "fingerprint", counting)
    _, newest = rule_cache.fingerprint_inputs()
    later = newest + rule_cache.INPUTS_RACY_NS + 1

    first = RuleCache(tmp_path / "cache")
    assert first.remembered_fingerprint(now_ns=later) == fingerprint()
    assert len(computed) == 1
    second = RuleCache(tmp_path / "cache")
    assert second.remembered_fingerprint(now_ns=later) == fingerprint()
    assert second.stamp == fingerprint() and len(computed) == 1  # read, not computed
    # a package installed: a new entry in a folder on sys.path
    (site / "newpkg-1.0.dist-info").mkdir()
    _, newest = rule_cache.fingerprint_inputs()
    third = RuleCache(tmp_path / "cache")
    assert third.remembered_fingerprint(now_ns=newest + rule_cache.INPUTS_RACY_NS + 1)
    assert len(computed) == 2
    # ... and remembered for that signature from then on
    assert RuleCache(tmp_path / "cache").stamp == fingerprint() and len(computed) == 2
    # an input changed within the racy window is computed and not remembered
    (site / "another-2.0.dist-info").mkdir()
    _, newest = rule_cache.fingerprint_inputs()
    for _ in range(2):
        RuleCache(tmp_path / "cache").remembered_fingerprint(now_ns=newest + 1)
    assert len(computed) == 4
    for cache in (first, second, third):
        cache.close()


def test_the_fingerprint_covers_the_tables_the_log_source_mapping_reads() -> None:
    # A table moved out of soc/detect/logsources.py still shapes every query: editing it must
    # make the cached entries miss, as editing the mapping itself does.
    import ast

    from soc.detect import logsources
    from soc.detect.rule_cache import _SHAPING_MODULES

    tree = ast.parse(Path(logsources.__file__).read_text(encoding="utf-8"))
    imported = {
        node.module
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("soc.")
    }
    assert "soc.detect.logsource_tables" in imported
    assert imported <= set(_SHAPING_MODULES)


def test_a_damaged_cache_file_is_ignored(tmp_path: Path) -> None:
    (tmp_path / CACHE_FILE).write_bytes(b"this is not a database" * 100)
    result = compile_all(rules(), "sqlite", cache=tmp_path)
    assert shape(result) == shape([compile_rule(r, "sqlite") for r in rules()])


def test_cache_directory_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOC_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    compile_all(rules(), "sqlite")
    assert (tmp_path / "c" / CACHE_FILE).is_file()
    monkeypatch.setenv("SOC_RULE_CACHE", "off")
    assert default_cache_dir() is None


WORKER = """
import sys
from pathlib import Path
from soc.detect.compile import compile_all
from soc.detect.loader import load_text
text = Path(sys.argv[1]).read_text()
out = compile_all(load_text(text).rules, "sqlite", cache=Path(sys.argv[2]))
print(sum(1 for c in out if c.runnable))
"""


def test_processes_filling_one_cache_at_once_all_succeed(tmp_path: Path) -> None:
    text = "\n---\n".join(
        f"title: r{i}\nid: 6f1c0c4a-0000-4000-8000-{i:012d}\n"
        f"logsource: {{product: linux, service: sshd}}\n"
        f"detection: {{selection: {{user.name: u{i}}}, condition: selection}}"
        for i in range(40)
    )
    (tmp_path / "rules.yml").write_text(text)
    cache = tmp_path / "cache"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path / "rules.yml"), str(cache)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [w.communicate(timeout=120)[0].strip() for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0]
    assert outputs == ["40", "40", "40"]
    warm = RuleCache(cache)
    try:
        compile_all(load_text(text).rules, "sqlite", cache=warm)
        assert warm.hits == 40
    finally:
        warm.close()
