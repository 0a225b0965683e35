"""The narrowed pass of the local store's grouped scan reads a large subset in time slices:
the matches and their order are those of one pass, and the memory it holds does not grow
with the data."""

from __future__ import annotations

import random
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from soc.detect.compile import CompiledRule, compile_all
from soc.detect.grouped import prefilter_of
from soc.detect.loader import load_rules
from soc.ecs import event_id
from soc.store import local_scan
from soc.store.base import Hit
from soc.store.local import LocalStore

START = datetime(2026, 11, 20, tzinfo=UTC)
RULES = 8


def write_rules(folder: Path) -> list[CompiledRule]:
    """RULES sshd rules that need 'Failed password' in the message (every event has it: all
    events are candidates of every rule) and each match one user (a tenth of the events)."""
    folder.mkdir()
    for k in range(RULES):
        (folder / f"r{k}.yml").write_text(
            f"title: Failed password for victim{k}\n"
            f"id: 5e1c0000-0000-4000-8000-00000000000{k}\n"
            "logsource: {product: linux, service: sshd}\n"
            "detection:\n"
            "  selection:\n"
            "    message|contains: Failed password\n"
            f"    user.name: victim{k}\n"
            "  condition: selection\n"
            "level: low\n",
            encoding="utf-8",
        )
    rules = compile_all(load_rules([folder]).rules, "sqlite", cache=None)
    assert len(rules) == RULES and all(r.literals for r in rules)
    return rules


def failed_logins(count: int, seed: int) -> list[dict[str, Any]]:
    """Failed SSH logins, four to a second (ties across slice bounds), in shuffled order so
    that the store's row order is not time order."""
    events = []
    for i in range(count):
        user = f"victim{i % 10}"
        events.append(
            {
                "_id": event_id("slices-test", i),
                "@timestamp": (START + timedelta(seconds=i // 4)).isoformat(),
                "event": {"dataset": "system.auth", "action": "ssh_login", "outcome": "failure"},
                "process": {"name": "sshd"},
                "user": {"name": user},
                "source": {"ip": f"203.0.113.{i % 250}", "port": 1024 + i},
                "message": f"Failed password for {user} from 203.0.113.{i % 250} port {1024 + i}",
            }
        )
    random.Random(seed).shuffle(events)
    return events


def scan(store: LocalStore, rules: list[CompiledRule]) -> Iterator[tuple[Hit, list[int]]]:
    """The grouped scan of ``rules``, with their literals."""
    return store.scan_rules(
        [r.query for r in rules],
        prefilter=prefilter_of(rules[0].variants),
        literals=[r.literals for r in rules],
    )


def matches(store: LocalStore, rules: list[CompiledRule]) -> dict[int, list[str]]:
    """Each rule's matched event ids, in the order the scan gave them."""
    found: dict[int, list[str]] = {k: [] for k in range(len(rules))}
    for hit, matched in scan(store, rules):
        for k in matched:
            found[k].append(hit.id)
    return found


def test_slices_give_the_matches_and_order_of_one_pass(
    local_store: LocalStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = write_rules(tmp_path / "rules")
    assert not local_store.write_events(failed_logins(400, seed=1)).failures
    monkeypatch.setattr(local_scan, "MIN_NARROWED", 1)
    whole = matches(local_store, rules)
    in_time_order = [h.id for h in local_store.search(None, size=1000).hits]
    for k in range(RULES):
        assert len(whole[k]) == 40
        assert whole[k] == [i for i in in_time_order if i in set(whole[k])]
    monkeypatch.setattr(local_scan, "SLICE_ROWS", 7)  # 58 slices, bounds inside ties
    assert matches(local_store, rules) == whole


def scan_peak(store: LocalStore, rules: list[CompiledRule]) -> tuple[int, int]:
    """The matches of a scan and the most memory Python held while it ran."""
    tracemalloc.start()
    try:
        count = sum(len(matched) for _, matched in scan(store, rules))
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_candidate_memory_does_not_grow_with_the_subset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = write_rules(tmp_path / "rules")
    monkeypatch.setattr(local_scan, "MIN_NARROWED", 1)
    monkeypatch.setattr(local_scan, "SLICE_ROWS", 1000)
    peaks = []
    for size in (4_000, 24_000):
        store = LocalStore(tmp_path / f"{size}.db")
        try:
            assert not store.write_events(failed_logins(size, seed=size)).failures
            scan_peak(store, rules)  # the reader opened, the columns known
            count, peak = scan_peak(store, rules)
            assert count == size // 10 * RULES
            peaks.append(peak)
        finally:
            store.close()
    # unsliced, the candidates alone (8 rules x every event x 8 bytes) grow by 1.3 MB
    assert peaks[1] < peaks[0] * 1.25 + 100_000, peaks
