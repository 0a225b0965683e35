"""The pieces a hunt hands to other processes give what the one-process way gives: rules
converted in bulk, the SQLite backend without its unused regular expressions, rule groups
scanned elsewhere (some sent back, one rejected) and groups cut in parts."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rule_pack_events import pack_events
from sigma.backends.sqlite import sqliteBackend
from sigma.rule import SigmaLogSource, SigmaRule

from soc.detect.compile import compile_all, convert_documents
from soc.detect.emit import DetectionSummary, Emitter
from soc.detect.group_scan import ScanRequest, ScanResult, scan_request
from soc.detect.grouped import groups_of, largest_first, run_grouped
from soc.detect.loader import load_rules
from soc.detect.logsources import logsource_mapping
from soc.detect.pipelines import variant_pipeline
from soc.detect.sqlite_backend import CitySqliteBackend
from soc.resources import rules_dir
from soc.store.local import LocalStore

NOW = datetime(2026, 11, 21, tzinfo=UTC)


def _fingerprint(compiled: Sequence[Any]) -> list[tuple[Any, ...]]:
    return [
        (c.id, c.status, c.query, c.error, c.literals, c.variants, len(c.bases)) for c in compiled
    ]


def _rule_folders(corpus: Path | None) -> list[Path]:
    folders = [rules_dir()]
    if corpus is not None:
        folders.append(corpus / "sigma" / "rules" / "windows" / "registry")
    return folders


@pytest.fixture
def corpus_or_none() -> Path | None:
    """SigmaHQ's registry rules join the city pack where the corpus is present."""
    corpus = Path(os.environ.get("SOC_CORPUS", Path(__file__).parents[3] / "shared" / "corpus"))
    return corpus if corpus.is_dir() else None


def test_bulk_conversion_compiles_as_one_by_one(corpus_or_none: Path | None) -> None:
    rules = load_rules(_rule_folders(corpus_or_none), cache=None).rules
    calls: list[int] = []

    def convert_many(items: list[tuple[dict[str, Any], str]], target: Any) -> list[dict]:
        calls.append(len(items))
        return convert_documents(list(reversed(items)), target)[::-1]

    bulk = compile_all(rules, "sqlite", cache=None, convert_many=convert_many)
    alone = compile_all(rules, "sqlite", cache=None)
    assert calls and calls[0] >= len([r for r in rules if not r.is_correlation]) - 5
    assert _fingerprint(bulk) == _fingerprint(alone)
    assert any(c.bases for c in bulk)  # correlations too, their base rules from the bulk


def test_bulk_conversion_fills_the_cache(tmp_path: Path) -> None:
    rules = load_rules([rules_dir()], cache=None).rules
    cache = tmp_path / "cache"
    sizes: list[int] = []

    def convert_many(items: list[tuple[dict[str, Any], str]], target: Any) -> list[dict]:
        sizes.append(len(items))
        return convert_documents(items, target)

    first = compile_all(rules, "sqlite", cache=cache, convert_many=convert_many)
    again = compile_all(rules, "sqlite", cache=cache, convert_many=convert_many)
    assert len(sizes) == 1  # the second time everything came from the cache
    assert _fingerprint(again) == _fingerprint(first)


def test_the_backend_without_unused_regexes_writes_the_same_sql(
    corpus_or_none: Path | None,
) -> None:
    rules = [r for r in load_rules(_rule_folders(corpus_or_none), cache=None).rules if r.valid]
    compared = 0
    for loaded in rules:
        if loaded.is_correlation:
            continue
        mapping = logsource_mapping(loaded.logsource)
        if not mapping.known:
            continue
        for variant in mapping.variants:
            pipeline = variant_pipeline(variant, "sqlite")
            outputs = []
            for backend in (sqliteBackend, CitySqliteBackend):
                rule = SigmaRule.from_dict(loaded.raw)
                try:
                    outputs.append(backend(processing_pipeline=pipeline).convert_rule(rule))
                except Exception as exc:  # the same failure both ways
                    outputs.append(type(exc).__name__)
            assert outputs[0] == outputs[1], loaded.id
            compared += 1
    assert compared > 100


#: Values of every shape: text with a ``*`` at one end, both or none (CitySqliteBackend's
#: own way), and the library's cases (inner or lone wildcards, ``?``, LIKE's own signs).
_SHAPES = [
    "plain",
    "it's",
    "50%",
    "a_b",
    "C:\\x",
    "pre*",
    "*post",
    "*in*",
    "*",
    "**",
    "?",
    "a*b",
    "*a*b",
    "a*b*",
    "*a?",
    "a?*",
    "*C:\\Windows\\*",
    "*\\*",
    "*%*",
    "\\*",
    "",
]


@pytest.mark.parametrize("modifier", ["", "|contains", "|startswith", "|endswith", "|cased"])
def test_the_backend_writes_the_librarys_sql_for_every_value_shape(modifier: str) -> None:
    rule = {
        "title": "shapes",
        "logsource": {"category": "process_creation", "product": "windows"},
        "detection": {
            **{f"s{i}": {f"CommandLine{modifier}": value} for i, value in enumerate(_SHAPES)},
            "condition": "1 of s*",
        },
    }
    for variant in logsource_mapping(SigmaLogSource("process_creation", "windows")).variants:
        pipeline = variant_pipeline(variant, "sqlite")
        library = sqliteBackend(processing_pipeline=pipeline)
        ours = CitySqliteBackend(processing_pipeline=pipeline)
        converted = [backend.convert_rule(SigmaRule.from_dict(rule)) for backend in (library, ours)]
        assert converted[0] == converted[1]
        assert ("GLOB" if modifier == "|cased" else "LIKE") in converted[1][0]


class _HereAndThere:
    """Scans in this process as a worker would, sends every third group back (None) and
    makes one group fail as a store error would."""

    def __init__(self, store: LocalStore, failing: int) -> None:
        self.store = store
        self.failing = failing
        self.asked = 0

    def scan_groups(self, requests: Iterable[ScanRequest]) -> Iterator[ScanResult | None]:
        for index, request in enumerate(requests):
            self.asked += 1
            if index == self.failing:
                yield ScanResult([], error="database disk image is malformed")
            elif index % 3 == 2:
                yield None
            else:
                yield scan_request(self.store, request, limit=10_000)


def _alerts(store: LocalStore) -> list[tuple[Any, ...]]:
    return sorted(
        (a["id"], a["rule_id"], tuple(a["event_ids"]), a["first_seen"], a["count"])
        for a in store.list_records("alerts")
    )


def test_groups_scanned_elsewhere_raise_the_same_alerts(tmp_path: Path) -> None:
    rules = [
        r
        for r in compile_all(load_rules([rules_dir()]).rules, "sqlite")
        if r.runnable and not r.bases and r.loaded.standalone
    ]
    events = pack_events()
    stores = [LocalStore(tmp_path / f"{name}.db") for name in ("here", "there")]
    try:
        results = []
        scanners = (None, _HereAndThere(stores[1], failing=1))
        for store, scanner in zip(stores, scanners, strict=True):
            assert not store.write_events(events).failures
            summary = DetectionSummary(None, None)
            outcomes = run_grouped(
                store, rules, None, None, summary, Emitter(store, summary, NOW), scanner=scanner
            )
            results.append(
                (
                    {r.id: (outcomes[id(r)].matches, outcomes[id(r)].error) for r in rules},
                    summary.alerts_new,
                    summary.events_matched,
                    _alerts(store),
                )
            )
        assert results[1] == results[0]
        assert results[0][1] > 10
    finally:
        for store in stores:
            store.close()


def test_a_group_with_too_many_rows_is_sent_back(local_store: LocalStore) -> None:
    events = pack_events()
    local_store.write_events(events)
    rules = [
        r
        for r in compile_all(load_rules([rules_dir()]).rules, "sqlite")
        if r.runnable and not r.bases and r.loaded.standalone
    ]
    busiest = max(groups_of(rules), key=len)
    request = ScanRequest(
        queries=[r.query or "0" for r in busiest],
        prefilter=None,
        start=None,
        end=None,
        literals=[r.literals for r in busiest],
    )
    whole = scan_request(local_store, request, limit=100_000)
    assert whole is not None and len(whole.rows) >= 2
    assert scan_request(local_store, request, limit=len(whole.rows) - 1) is None


def test_large_groups_are_cut_in_nearly_equal_parts() -> None:
    rules = [r for r in compile_all(load_rules([rules_dir()]).rules, "sqlite") if r.runnable]
    singles = [r for r in rules if not r.bases]
    whole = groups_of(singles, max_rules=10_000)
    cut = groups_of(singles, max_rules=3)
    assert max(len(g) for g in cut) <= 3
    assert [r.id for g in cut for r in g] == [r.id for g in whole for r in g]
    for group in whole:  # a group's parts differ in size by one at most
        parts = [g for g in cut if g[0].variants == group[0].variants]
        assert max(len(p) for p in parts) - min(len(p) for p in parts) <= 1


class _Recording:
    """Scans in this process and keeps the requests in the order they were asked for."""

    def __init__(self, store: LocalStore) -> None:
        self.store = store
        self.requests: list[ScanRequest] = []

    def scan_groups(self, requests: Iterable[ScanRequest]) -> Iterator[ScanResult | None]:
        for request in requests:
            self.requests.append(request)
            yield scan_request(self.store, request, limit=10_000)


def test_the_workers_get_the_broadest_and_largest_groups_first(local_store: LocalStore) -> None:
    """Workers start on the groups whose scans read the most: the broadest log source
    first (a dataset before one of its channels, a channel before one of its event ids),
    then the most rules, so that a long scan does not start last while the others wait;
    every rule is still scanned once and the alerts are raised."""
    rules = [
        r
        for r in compile_all(load_rules([rules_dir()]).rules, "sqlite")
        if r.runnable and not r.bases and r.loaded.standalone
    ]
    local_store.write_events(pack_events())
    scanner = _Recording(local_store)
    summary = DetectionSummary(None, None)
    run_grouped(
        local_store, rules, None, None, summary, Emitter(local_store, summary, NOW), scanner
    )
    by_rule = {r.query or "0": r for r in rules}
    order = [
        (
            min(len(v.conditions) for v in by_rule[request.queries[0]].variants),
            -len(request.queries),
        )
        for request in scanner.requests
    ]
    assert order == sorted(order)
    assert order[0][0] < order[-1][0]  # broad and narrow groups both present, broad first
    assert sum(len(r.queries) for r in scanner.requests) == len(rules)
    assert [len(g) for g in largest_first(groups_of(rules))] == [
        len(r.queries) for r in scanner.requests
    ]
    assert summary.alerts_new > 10


def test_a_group_is_handed_out_as_soon_as_it_is_known_to_hold_events(
    local_store: LocalStore,
) -> None:
    """Which groups hold events is checked as the scanner asks for the next group, not all
    before the first: the workers start scanning while the other groups are checked, and
    the groups without events in the range are still never asked for."""
    rules = [
        r
        for r in compile_all(load_rules([rules_dir()]).rules, "sqlite")
        if r.runnable and not r.bases and r.loaded.standalone
    ]
    kept = ("system.auth", "apache.access", "windows.eventlog")  # the other groups: no event
    local_store.write_events([e for e in pack_events() if e["event"]["dataset"] in kept])
    checks: list[str | None] = []
    holds_events = local_store.holds_events

    def counting(prefilter: str | None, *, start: Any, end: Any) -> bool:
        checks.append(prefilter)
        return holds_events(prefilter, start=start, end=end)

    local_store.holds_events = counting  # type: ignore[method-assign]
    checked_before: list[int] = []

    class Counting(_Recording):
        def scan_groups(self, requests: Iterable[ScanRequest]) -> Iterator[ScanResult | None]:
            for request in requests:
                checked_before.append(len(checks))
                self.requests.append(request)
                yield scan_request(self.store, request, limit=10_000)

    scanner = Counting(local_store)
    summary = DetectionSummary(None, None)
    run_grouped(
        local_store, rules, None, None, summary, Emitter(local_store, summary, NOW), scanner
    )
    groups = largest_first(groups_of(rules))
    assert len(checks) == len(groups)  # every group checked once
    assert 0 < len(scanner.requests) < len(groups)  # some hold no event: never asked for
    assert checked_before[0] < len(groups)  # the first handed out before all were checked
    assert checked_before == sorted(checked_before)
    assert summary.alerts_new > 10
