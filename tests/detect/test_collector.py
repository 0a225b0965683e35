"""Detection runs with fewer cycle collections, and leaves the collector as it found it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from soc.detect.collector import DETECTION_THRESHOLD, fewer_collections
from soc.detect.compile import compile_all
from soc.detect.loader import load_text
from soc.detect.runner import run_compiled
from soc.store.local import LocalStore


@pytest.fixture
def default_thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        yield gc.get_threshold()
    finally:
        gc.set_threshold(*before)


def test_the_block_runs_with_the_higher_threshold_and_restores_it(
    default_thresholds: tuple[int, int, int],
) -> None:
    with fewer_collections():
        assert gc.get_threshold() == (DETECTION_THRESHOLD, 10, 10)
        with fewer_collections(1000):  # nested: the outer, higher setting stays
            assert gc.get_threshold()[0] == DETECTION_THRESHOLD
        assert gc.get_threshold()[0] == DETECTION_THRESHOLD
    assert gc.get_threshold() == default_thresholds


def test_the_thresholds_come_back_after_an_error(default_thresholds: tuple[int, int, int]) -> None:
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("a rule failed")
    assert gc.get_threshold() == default_thresholds


def test_a_detection_run_collects_less_and_leaves_the_collector_as_it_was(
    default_thresholds: tuple[int, int, int], tmp_path
) -> None:
    """During run_compiled the collector runs with the detection threshold (seen from inside
    the run, through the store the rules read), and afterwards the caller's thresholds are
    back."""
    seen: list[tuple[int, int, int]] = []

    class Watching(LocalStore):
        def scan_rules(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            seen.append(gc.get_threshold())
            return super().scan_rules(*args, **kwargs)

    store = Watching(tmp_path / "events.db")
    moment = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    store.write_events(
        [
            {"_id": f"e{i}", "@timestamp": (moment + timedelta(seconds=i)).isoformat(),
             "event": {"dataset": "system.auth"}, "message": f"line {i}"}
            for i in range(5)
        ]
    )  # fmt: skip
    rule = """
title: any auth line
id: 2e0f5a53-1d55-4a1d-9a7a-0cf1b8b3f0a1
logsource: {product: linux, service: auth}
detection: {selection: {message|contains: line}, condition: selection}
level: low
"""
    compiled = compile_all(load_text(rule).rules, "sqlite", cache=None)
    summary = run_compiled(store, compiled, moment, moment + timedelta(minutes=1), now=moment)
    store.close()
    assert len(summary.alerts) == 5  # one per matching event
    assert seen and all(t == (DETECTION_THRESHOLD, 10, 10) for t in seen)
    assert gc.get_threshold() == default_thresholds


def test_a_soc_command_runs_with_the_higher_threshold(tmp_path) -> None:
    """`soc` (its console entry) raises the first threshold for the whole command: outside
    detection blocks (reading files in one process, loading rules, writing alerts) a
    command collects as rarely as detection does."""
    import subprocess
    import sys

    probe = (
        "import gc, sys\n"
        "import soc.cli.main as m\n"
        "m.app = lambda: print(gc.get_threshold())\n"
        "m.main()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout
    assert out.strip() == str((DETECTION_THRESHOLD, 10, 10))
