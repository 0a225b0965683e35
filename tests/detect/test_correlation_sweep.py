"""The one-sweep window computation gives exactly what evaluating every window on its own
gives, for all four correlation types, on random bursts with ties and missing values."""

from __future__ import annotations

import bisect
import random
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sigma.correlations import SigmaCorrelationRule

from soc.detect.correlation import MatchedEvent, correlate, correlate_stream
from soc.detect.loader import load_text

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)

BASES = """
title: a
name: base_a
logsource: {product: linux, service: sshd}
detection: {selection: {event.action: a}, condition: selection}
---
title: b
name: base_b
logsource: {product: linux, service: sshd}
detection: {selection: {event.action: b}, condition: selection}
---
title: c
name: base_c
logsource: {product: linux, service: sshd}
detection: {selection: {event.action: c}, condition: selection}
"""

CORRELATIONS = {
    "event_count": "type: event_count\n  rules: [base_a]\n  condition: {gte: 4}",
    "value_count": "type: value_count\n  rules: [base_a]\n  condition: {gte: 3, field: user.name}",
    "value_count_lt": (
        "type: value_count\n  rules: [base_a]\n  condition: {lt: 2, field: user.name}"
    ),
    "temporal": "type: temporal\n  rules: [base_a, base_b, base_c]",
    "temporal_ordered": "type: temporal_ordered\n  rules: [base_a, base_b, base_c]",
}


def rule_of(kind: str) -> SigmaCorrelationRule:
    text = BASES + (
        "---\ntitle: corr\nid: 0d9e0c8e-0000-4000-8000-000000000001\ncorrelation:\n  "
        + CORRELATIONS[kind]
        + "\n  group-by: [source.ip]\n  timespan: 1m\n"
    )
    ruleset = load_text(text)
    assert not ruleset.errors, ruleset.errors
    rule = ruleset.rules[-1].rule
    assert isinstance(rule, SigmaCorrelationRule)
    return rule


def events(seed: int, n_bases: int, spread: int = 600) -> list[MatchedEvent]:
    """300 events over ``spread`` seconds; a wide spread leaves gaps longer than the
    timespan, after which a group's window empties and is forgotten."""
    rng = random.Random(seed)
    out = []
    for i in range(300):
        doc: dict[str, Any] = {"source": {"ip": rng.choice(["10.0.0.1", "10.0.0.2"])}}
        if rng.random() > 0.1:
            doc["user"] = {"name": rng.choice(["u1", "u2", "u3", "u4"])}
        if spread > 600:  # bursts around a few moments, far apart
            centre = rng.randrange(0, spread, 300)
            moment = T0 + timedelta(seconds=centre + rng.randrange(0, 90, 3))
        else:
            moment = T0 + timedelta(seconds=rng.randrange(0, spread, 3))  # ties on purpose
        out.append(MatchedEvent(f"e{i:04d}", moment, doc, rng.randrange(n_bases)))
    return out


def naive(rule: SigmaCorrelationRule, members: list[MatchedEvent], kind: str) -> list[tuple]:
    """Every window evaluated alone, as the definition says (quadratic, for reference)."""
    span = timedelta(seconds=rule.timespan.seconds)
    fired = []
    groups: dict[str, list[MatchedEvent]] = {}
    for e in members:
        groups.setdefault(e.doc["source"]["ip"], []).append(e)
    for ip in sorted(groups):
        group = sorted(groups[ip], key=lambda e: e.key)
        times = [e.time for e in group]
        ok = []
        for i, anchor in enumerate(group):
            window = [e for e in group[i:] if e.time < anchor.time + span]
            if kind == "event_count":
                ok.append(len(window) >= 4)
            elif kind.startswith("value_count"):
                names = {e.doc["user"]["name"] for e in window if "user" in e.doc}
                ok.append(len(names) >= 3 if kind == "value_count" else len(names) < 2)
            elif kind == "temporal":
                ok.append(len({e.base for e in window}) == 3)
            else:
                step = 0
                for e in window:
                    if step < 3 and e.base == step:
                        step += 1
                ok.append(anchor.base == 0 and step == 3)
        for i, anchor in enumerate(group):
            earliest = bisect.bisect_right(times, anchor.time - span)
            if ok[i] and not any(ok[earliest:i]):
                fired.append((ip, anchor.id))
    return fired


@pytest.mark.parametrize("kind", sorted(CORRELATIONS))
@pytest.mark.parametrize(("seed", "spread"), [(1, 600), (2, 600), (3, 600), (4, 20_000)])
def test_sweep_matches_window_by_window_evaluation(kind: str, seed: int, spread: int) -> None:
    rule = rule_of(kind)
    members = events(seed, len(rule.referenced_rules), spread)
    got = correlate(rule, members, lambda base, name: [name])
    assert sorted((m.group["source.ip"], m.anchor.id) for m in got) == sorted(
        naive(rule, members, kind)
    )
    assert got, "the random data should fire at least once"


def test_a_stream_holds_one_window_not_the_whole_burst() -> None:
    # 100,000 events of one group, one every 100 ms, under a 1-minute value_count: what the
    # stream holds at any time is one minute of events (600), not the burst.
    rule = rule_of("value_count")

    def burst() -> Iterator[MatchedEvent]:
        for i in range(100_000):
            doc = {"source": {"ip": "10.0.0.9"}, "user": {"name": f"u{i % 7}"}}
            yield MatchedEvent(f"e{i:06d}", T0 + timedelta(milliseconds=100 * i), doc, 0)

    tracemalloc.start()
    try:
        fired = sum(1 for _ in correlate_stream(rule, burst(), lambda base, name: [name]))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert fired == 1  # one alert per burst: every later anchor is within a minute of one
    assert peak < 20_000_000  # the 100,000 events alone take about 60 MB
