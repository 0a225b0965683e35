"""Run the test events of rules (`soc rules test`, and the pytest suite).

A rule names a folder of test events with ``regression_tests_path:`` (as SigmaHQ does; the
path is relative to the rule file), holding ``positive/*.json`` and ``negative/*.json``, one
case per file (a JSON list of events, or one event). A rule may instead carry a top-level
``tests:`` mapping with ``positive:`` and ``negative:`` lists.
Each item is a *case*: one event (a mapping of ECS fields, dotted keys allowed) or
``{events: [...]}`` (for correlations). A positive case must make the rule fire at least once
with its events alone in the store; a negative case must not.

All cases share one store: every case's events carry ``labels.ruletest = <case key>`` and the
rule runs with that exact-match filter, which isolates the case exactly as a fresh store
would, on either store kind. Events without ``_id`` get a deterministic one; events without
``@timestamp`` get DEFAULT_TIME plus one millisecond per position in the case (so order is
kept).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from soc import ecs
from soc.detect.compile import CompiledRule, compile_rule
from soc.detect.loader import LoadedRule, RuleSet
from soc.detect.rule_cache import Target
from soc.detect.runner import DetectionSummary, run_rule
from soc.store.base import Store

DEFAULT_TIME = datetime.fromisoformat("2026-11-20T03:00:00+00:00")
SCOPE_FIELD = "labels.ruletest"


@dataclass
class TestCase:
    """One positive or negative case of a rule."""

    rule_id: str
    kind: str  # "positive" or "negative"
    index: int
    events: list[dict[str, Any]]

    @property
    def key(self) -> str:
        """The case's identity: rule id / positive|negative / index."""
        return f"{self.rule_id}/{self.kind}/{self.index}"


@dataclass
class CaseResult:
    """What one case gave: passed or not, how many times the rule fired, and why not."""

    rule_id: str
    title: str
    case: str
    kind: str
    passed: bool
    fired: int
    error: str | None = None


@dataclass
class TestReport:
    """All results of a rule-test run, with counts."""

    results: list[CaseResult] = field(default_factory=list)
    rules_with_tests: int = 0
    rules_without_tests: list[str] = field(default_factory=list)

    @property
    def passed(self) -> int:
        """How many cases passed."""
        return sum(1 for r in self.results if r.passed)

    @property
    def failed(self) -> list[CaseResult]:
        """The cases that failed."""
        return [r for r in self.results if not r.passed]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form printed by `soc rules test --json`."""
        return {
            "cases": len(self.results),
            "passed": self.passed,
            "failed": len(self.failed),
            "rules_with_tests": self.rules_with_tests,
            "rules_without_tests": self.rules_without_tests,
            "failures": [r.__dict__ for r in self.failed],
        }


class CaseError(ValueError):
    """A test case that is not a mapping of fields or an {events: [...]} mapping."""


def _event(raw: Any, case_key: str, position: int) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise CaseError(f"case {case_key}: event {position + 1} is not a mapping")
    flat = ecs.flatten({str(k): v for k, v in raw.items()})
    event_id = flat.pop("_id", None) or ecs.event_id(f"ruletest:{case_key}", position)
    stamp = flat.get("@timestamp")
    if stamp is None:
        moment = DEFAULT_TIME + timedelta(milliseconds=position)
    elif isinstance(stamp, datetime):
        moment = stamp
    else:
        moment = ecs.parse_timestamp(str(stamp))
    flat["@timestamp"] = ecs.format_timestamp(moment)
    flat[SCOPE_FIELD] = case_key
    doc = ecs.unflatten(flat)
    doc["_id"] = str(event_id)
    return doc


def _folder_cases(loaded: LoadedRule, where: Any) -> dict[str, list[Any]]:
    """The ``positive``/``negative`` cases of a rule's regression folder: one JSON file per
    case (a list of events, or one event), taken in file-name order."""
    if not isinstance(where, str) or not where:
        raise CaseError("regression_tests_path: must be a folder path")
    folder = (loaded.path.parent / where).resolve()
    if not folder.is_dir():
        raise CaseError(f"regression_tests_path: {where}: no such folder")
    found: dict[str, list[Any]] = {}
    for kind in ("positive", "negative"):
        items: list[Any] = []
        for path in sorted((folder / kind).glob("*.json")):
            try:
                items.append({"events": _as_list(json.loads(path.read_text(encoding="utf-8")))})
            except (OSError, ValueError) as exc:
                raise CaseError(f"{path.name}: not a JSON event list ({exc})") from None
        found[kind] = items
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def cases_of(loaded: LoadedRule) -> list[TestCase]:
    """The test cases of a rule: from its regression folder (``regression_tests_path:``,
    relative to the rule file: ``positive/*.json`` and ``negative/*.json``, one case per
    file) or from a ``tests:`` mapping embedded in the rule; none when it has neither.
    CaseError when either is malformed."""
    tests = loaded.raw.get("tests")
    if "regression_tests_path" in loaded.raw:
        tests = _folder_cases(loaded, loaded.raw["regression_tests_path"])
    if tests is None:
        return []
    if not isinstance(tests, Mapping):
        raise CaseError("tests: must be a mapping with positive: and negative: lists")
    found: list[TestCase] = []
    for kind in ("positive", "negative"):
        items = tests.get(kind) or []
        if not isinstance(items, list):
            raise CaseError(f"tests.{kind}: must be a list of cases")
        for index, item in enumerate(items):
            key = f"{loaded.id}/{kind}/{index}"
            if isinstance(item, Mapping) and isinstance(item.get("events"), list):
                raws = item["events"]
            else:
                raws = [item]
            events = [_event(raw, key, i) for i, raw in enumerate(raws)]
            found.append(TestCase(loaded.id, kind, index, events))
    return found


def run_rule_tests(store: Store, ruleset: RuleSet, target: Target | None = None) -> TestReport:
    """Write every case's events into ``store`` and check each rule against its cases.
    Invalid or unconvertible rules that carry tests fail all their cases with the reason."""
    target = target or ("lucene" if store.kind == "elasticsearch" else "sqlite")
    report = TestReport()
    planned: list[tuple[LoadedRule, CompiledRule | None, list[TestCase], str | None]] = []
    batch: list[dict[str, Any]] = []
    for loaded in ruleset.rules:
        try:
            cases = cases_of(loaded)
        except CaseError as exc:
            report.rules_with_tests += 1
            report.results.append(
                CaseResult(loaded.id, loaded.title, "tests", "positive", False, 0, str(exc))
            )
            continue
        if not cases:
            report.rules_without_tests.append(loaded.id)
            continue
        report.rules_with_tests += 1
        compiled = compile_rule(loaded, target)
        error = None if compiled.runnable else f"rule {compiled.status}: {compiled.error}"
        planned.append((loaded, compiled, cases, error))
        for case in cases:
            batch.extend(case.events)
    if batch:
        result = store.write_events(batch)
        if result.failures:
            first = result.failures[0]
            raise ValueError(f"the store refused test event {first.id}: {first.reason}")
        store.refresh()
    for loaded, compiled, cases, error in planned:
        for case in cases:
            if error is not None or compiled is None:
                report.results.append(
                    CaseResult(loaded.id, loaded.title, case.key, case.kind, False, 0, error)
                )
                continue
            summary = DetectionSummary(since=None, until=None)
            outcome = run_rule(
                store,
                compiled,
                None,
                None,
                summary,
                scope={SCOPE_FIELD: case.key},
                store_alerts=False,
            )
            fired = outcome.matches
            if outcome.error:
                passed, why = False, outcome.error
            elif case.kind == "positive":
                passed, why = fired > 0, None if fired > 0 else "rule did not fire"
            else:
                passed, why = fired == 0, None if fired == 0 else f"rule fired {fired} time(s)"
            report.results.append(
                CaseResult(loaded.id, loaded.title, case.key, case.kind, passed, fired, why)
            )
    return report


def summarize(results: Sequence[CaseResult]) -> str:
    """One line: how many cases passed."""
    passed = sum(1 for r in results if r.passed)
    return f"{passed}/{len(results)} rule test cases pass"
