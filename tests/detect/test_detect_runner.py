"""The runner's promises: bad rules are reported and skipped, a query the store rejects is
reported with the store's message, temporal correlations, and run_detection for callers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from soc import ecs
from soc.detect.compile import compile_all
from soc.detect.loader import load_text
from soc.detect.rule_cache import target_for
from soc.detect.runner import run_compiled, run_detection
from soc.store.base import Store

pytest_plugins = ["es_fixtures"]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "detect"
T = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def event(n: int, seconds: int, **fields: object) -> dict:
    doc: dict = {
        "_id": ecs.event_id("runner-test", n),
        "@timestamp": ecs.format_timestamp(T + timedelta(seconds=seconds)),
        "event": {"dataset": "system.auth"},
        "process": {"name": "sshd"},
        "host": {"name": "h1"},
    }
    for path, value in fields.items():
        ecs.set_field(doc, path.replace("__", "."), value)
    return doc


def test_a_query_the_store_rejects_is_reported_with_its_message(any_store: Store) -> None:
    any_store.write_events([event(1, 0, event__action="ssh_login")])
    any_store.refresh()
    rules = compile_all(
        load_text(
            "title: fine\nlogsource: {product: linux, service: sshd}\n"
            "detection: {s: {event.action: ssh_login}, condition: s}\n"
            "---\ntitle: broken\nid: 2f0c2d0a-5a8b-4d43-9a41-6f0f6b7d1e01\n"
            "logsource: {product: linux, service: sshd}\n"
            "detection: {s: {event.action: x}, condition: s}\n"
        ).rules,
        target_for(any_store.kind),
    )
    broken = replace(rules[1], query="((( this is not a query")
    summary = run_compiled(any_store, [rules[0], broken], None, None)
    assert summary.alerts_new == 1  # the good rule still ran
    assert [f["title"] for f in summary.failed] == ["broken"]
    assert "rejected" in summary.failed[0]["error"] or "pars" in summary.failed[0]["error"]


def test_temporal_needs_every_rule_in_the_window_in_any_order(any_store: Store) -> None:
    text = """
title: a
name: t_a
logsource: {product: linux, service: sshd}
detection: {s: {event.action: ssh_invalid_user}, condition: s}
---
title: b
name: t_b
logsource: {product: linux, service: sshd}
detection: {s: {event.action: ssh_max_auth_attempts}, condition: s}
---
title: both within a minute
id: 2f0c2d0a-5a8b-4d43-9a41-6f0f6b7d1e02
correlation: {type: temporal, rules: [t_a, t_b], group-by: [source.ip], timespan: 1m}
"""
    any_store.write_events(
        [
            event(1, 0, event__action="ssh_max_auth_attempts", source__ip="192.0.2.1"),
            event(2, 30, event__action="ssh_invalid_user", source__ip="192.0.2.1"),
            event(3, 0, event__action="ssh_invalid_user", source__ip="192.0.2.2"),
            event(4, 90, event__action="ssh_max_auth_attempts", source__ip="192.0.2.2"),
        ]
    )
    any_store.refresh()
    summary = run_compiled(
        any_store, compile_all(load_text(text).rules, target_for(any_store.kind)), None, None
    )
    assert [a["group"] for a in summary.alerts] == [{"source.ip": "192.0.2.1"}]
    assert summary.alerts[0]["rule_type"] == "temporal"


def test_run_detection_skips_bad_rules_and_reports_them(any_store: Store) -> None:
    any_store.write_events(
        [
            event(
                1,
                0,
                event__action="ssh_login",
                event__outcome="success",
                user__name="root",
                source__ip="203.0.113.8",
            )
        ]
    )
    any_store.refresh()
    summary = run_detection(
        any_store,
        [FIXTURES],
        T - timedelta(hours=1),
        T + timedelta(hours=1),
        include_pack=False,
    )
    assert summary.alerts_new == 1
    assert summary.alerts[0]["rule_title"] == "Root logged in over SSH (fixture)"
    bad = {Path(row["path"]).name for row in summary.invalid}
    assert {"not_yaml.yml", "executes.yml", "bad_condition.yml"} <= bad
    assert not summary.failed


def test_extended_correlation_conditions_are_reported_not_misread() -> None:
    text = """
title: a
name: x_a
logsource: {product: linux, service: sshd}
detection: {s: {event.action: a}, condition: s}
---
title: b
name: x_b
logsource: {product: linux, service: sshd}
detection: {s: {event.action: b}, condition: s}
---
title: a without b
correlation: {type: temporal, condition: x_a and not x_b, group-by: [source.ip], timespan: 1m}
"""
    compiled = compile_all(load_text(text).rules, "sqlite")
    assert compiled[2].status == "not_convertible"
    assert "extended correlation conditions" in (compiled[2].error or "")
