"""The city rule pack: every rule loads and converts for both stores, and every test case
embedded in the rules passes on both stores."""

from __future__ import annotations

from soc.detect.check import check_rules
from soc.detect.loader import load_rules
from soc.detect.testing import cases_of, run_rule_tests
from soc.resources import rules_dir
from soc.store.base import Store

pytest_plugins = ["es_fixtures"]


def test_every_pack_rule_is_valid_and_converts_for_both_backends() -> None:
    ruleset = load_rules([rules_dir()])
    assert not ruleset.errors, [str(e) for e in ruleset.errors]
    assert len(ruleset.rules) >= 40
    report = check_rules(ruleset, ("sqlite", "lucene"))
    bad = [(r.id, r.title, r.status, r.reason) for r in report.rules if r.status != "converted"]
    assert not bad


def test_every_pack_rule_test_case_passes(any_store: Store) -> None:
    ruleset = load_rules([rules_dir()])
    report = run_rule_tests(any_store, ruleset)
    print(f"\n{any_store.kind}: {report.passed}/{len(report.results)} rule test cases pass")
    failures = [f"{r.title} [{r.case}]: {r.error}" for r in report.failed]
    assert not failures, "\n".join(failures)
    assert report.passed > 0


def test_every_alerting_pack_rule_has_positive_and_negative_cases() -> None:
    """Base rules of a correlation carry no tests of their own (the correlation does)."""
    ruleset = load_rules([rules_dir()])
    missing = []
    for loaded in ruleset.rules:
        if not loaded.standalone:
            continue
        kinds = {case.kind for case in cases_of(loaded)}
        if kinds != {"positive", "negative"}:
            missing.append(f"{loaded.title} ({loaded.path.name}): has {sorted(kinds) or 'none'}")
    assert not missing, "\n".join(missing)
