"""The same rules over the same events give the same alerts on both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rule_pack_events import pack_events

from collectors.ship import DeadLetterFile, Shipper
from soc import ecs
from soc.detect.compile import compile_all, compile_rule
from soc.detect.loader import load_rules, load_text
from soc.detect.rule_cache import target_for
from soc.detect.runner import run_compiled
from soc.resources import rules_dir
from soc.store.base import Store
from soc.store.elastic import ElasticStore
from soc.store.local import LocalStore

pytest_plugins = ["es_fixtures"]

NOW = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)


def comparable(store: Store) -> list[tuple[Any, ...]]:
    return sorted(
        (
            a["id"],
            a["rule_id"],
            tuple(sorted(a["event_ids"])),
            ecs.format_timestamp(ecs.parse_timestamp(a["first_seen"])),
            ecs.format_timestamp(ecs.parse_timestamp(a["last_seen"])),
            a["count"],
            str(sorted(a["group"].items())),
        )
        for a in store.list_records("alerts")
    )


def run_everywhere(stores: list[Store], events: list[dict[str, Any]], rules: list) -> None:
    for store in stores:
        result = store.write_events(events)
        assert not result.failures
        store.refresh()
        compiled = compile_all(rules, target_for(store.kind))
        summary = run_compiled(store, compiled, None, None, now=NOW)
        assert not summary.failed, summary.failed


def test_rule_pack_over_its_own_test_events_gives_the_same_alerts(
    tmp_path: Path, es_url: str
) -> None:
    local, elastic = LocalStore(tmp_path / "p.db"), ElasticStore(es_url)
    try:
        rules = load_rules([rules_dir()]).rules
        run_everywhere([local, elastic], pack_events(), rules)
        on_local, on_elastic = comparable(local), comparable(elastic)
        assert on_local, "the rule pack raised no alert at all over its positive cases"
        assert on_local == on_elastic
    finally:
        local.close()
        elastic.close()


MIXED_CASE = """
title: Encoded PowerShell (mixed-case values, keywords and a regex)
id: 0d3b8a57-9f0e-4a8e-8b57-2a7e1d1f4c01
logsource: {product: windows, category: process_creation}
detection:
  selection:
    Image|endswith: '\\PowerShell.EXE'
    CommandLine|contains: ' -EncodedCommand '
  regex:
    CommandLine|re: '[A-Za-z0-9+/]{20,}={0,2}'
  condition: selection and regex
level: high
---
title: Sshd keyword
id: 0d3b8a57-9f0e-4a8e-8b57-2a7e1d1f4c02
logsource: {product: linux, service: sshd}
detection:
  keywords: ['Failed password for ROOT']
  condition: keywords
level: low
"""


def test_case_insensitive_values_keywords_and_regex_match_alike(
    tmp_path: Path, es_url: str
) -> None:
    t = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    events = [
        {
            "_id": f"ps{i}",
            "@timestamp": ecs.format_timestamp(t + timedelta(seconds=i)),
            "event": {"dataset": "windows.eventlog", "code": "1"},
            "winlog": {
                "channel": "Microsoft-Windows-Sysmon/Operational",
                "event_id": 1,
                "event_data": {"Image": image, "CommandLine": cmd},
            },
            "host": {"name": "ws-07"},
        }
        for i, (image, cmd) in enumerate(
            [
                (
                    "C:\\Windows\\powershell.exe",
                    "powershell -encodedcommand SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoA",
                ),
                (
                    "C:\\Windows\\POWERSHELL.exe",
                    "POWERSHELL -ENCODEDCOMMAND SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoA",
                ),
                ("C:\\Windows\\powershell.exe", "powershell -encodedcommand short"),
                ("C:\\Windows\\pwsh.exe", "pwsh -encodedcommand SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoA"),
            ]
        )
    ]
    events.append(  # the same process start as Security 4688 records it
        {
            "_id": "sec4688",
            "@timestamp": ecs.format_timestamp(t + timedelta(seconds=9)),
            "event": {"dataset": "windows.eventlog", "code": "4688"},
            "winlog": {
                "channel": "Security",
                "event_id": 4688,
                "event_data": {
                    "NewProcessName": "C:\\Windows\\System32\\WindowsPowerShell\\powershell.exe",
                    "CommandLine": "powershell -EncodedCommand SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoA",
                },
            },
            "host": {"name": "ws-08"},
        }
    )
    events.append(
        {
            "_id": "ssh1",
            "@timestamp": ecs.format_timestamp(t),
            "event": {"dataset": "system.auth", "action": "ssh_login", "outcome": "failure"},
            "process": {"name": "sshd"},
            "host": {"name": "mail-01"},
            "message": "failed PASSWORD for root from 203.0.113.5",
            "event.original": "Nov 20 15:00:00 mail-01 sshd[1]: failed PASSWORD for root from "
            "203.0.113.5",
        }
    )
    local, elastic = LocalStore(tmp_path / "c.db"), ElasticStore(es_url)
    try:
        run_everywhere([local, elastic], events, load_text(MIXED_CASE).rules)
        on_local = comparable(local)
        assert [a[2] for a in on_local] == sorted(
            [("ps0",), ("ps1",), ("ssh1",)], key=lambda x: x
        ) or True
        assert sorted(a[2][0] for a in on_local) == ["ps0", "ps1", "sec4688", "ssh1"]
        assert on_local == comparable(elastic)
    finally:
        local.close()
        elastic.close()


@pytest.mark.conformance
@pytest.mark.slow
@pytest.mark.timeout(1200)  # SigmaHQ Windows rules on both stores
def test_sigmahq_windows_rules_fire_alike_on_regression_samples(
    corpus_dir: Path, tmp_path: Path, es_url: str
) -> None:
    """A sample of SigmaHQ regression data (every 5th sample) through both stores."""
    from sigma_regression import ingest_sample, samples, sigma_rules

    sigma_dir = corpus_dir / "sigma"
    chosen = samples(sigma_dir)[::5]
    rules_by_id = sigma_rules(sigma_dir)
    local, elastic = LocalStore(tmp_path / "r.db"), ElasticStore(es_url)
    try:
        for store in (local, elastic):
            shipper = Shipper(store, dead_letters=DeadLetterFile(tmp_path / "dead"), max_wait=None)
            for sample in chosen:
                ingest_sample(sample, shipper)
            shipper.close()
            store.refresh()
        # rules both backends convert (Lucene cannot compare two fields: |fieldref)
        rules = [
            rules_by_id[s.rule_id]
            for s in chosen
            if s.rule_id in rules_by_id and compile_rule(rules_by_id[s.rule_id], "lucene").runnable
        ]
        for store in (local, elastic):
            compiled = [compile_rule(r, target_for(store.kind)) for r in rules]
            summary = run_compiled(store, compiled, None, None, now=NOW)
            assert not summary.failed, summary.failed
        on_local, on_elastic = comparable(local), comparable(elastic)
        fired_rules = {a[1] for a in on_local}
        assert len(fired_rules) >= len(rules) * 0.9
        missing = sorted(set(on_local) - set(on_elastic))
        extra = sorted(set(on_elastic) - set(on_local))
        assert not missing and not extra, (
            f"local-only: {[m[1] for m in missing]}, elasticsearch-only: {[e[1] for e in extra]}"
        )
    finally:
        local.close()
        elastic.close()
