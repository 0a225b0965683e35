"""Several schedulers share the rules through leases: partitioning, conditional watermarks,
and a killed scheduler's rules taken over when its lease expires (real processes on a real
osmem-server)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import pytest

from soc import clock, ecs
from soc.detect.leases import Lease, live_schedulers, merge_watermarks, owner_of
from soc.detect.runner import WATERMARKS_ID, read_watermarks
from soc.store.base import Store
from soc.store.elastic import ElasticStore
from soc.store.local import LocalStore

pytest_plugins = ["es_fixtures"]

RULES = 12


def rule_ids() -> list[str]:
    return [f"5a1e0000-0000-4000-8000-{i:012d}" for i in range(RULES)]


def write_rules(folder: Path) -> Path:
    """RULES single-event rules, each matching failed logins of its own user."""
    folder.mkdir()
    for i, rid in enumerate(rule_ids()):
        (folder / f"r{i}.yml").write_text(
            f"title: failed login of u{i}\nid: {rid}\n"
            "logsource: {product: linux, service: sshd}\n"
            "detection:\n  selection:\n    event.action: ssh_login\n"
            f"    event.outcome: failure\n    user.name: u{i}\n  condition: selection\n"
            "level: low\n"
        )
    return folder


def failures(batch: int, ago: timedelta) -> list[dict[str, Any]]:
    """One failed login per rule's user, ``ago`` before now."""
    moment = clock.now() - ago
    return [
        {
            "_id": ecs.event_id(f"sched-{batch}", i),
            "@timestamp": ecs.format_timestamp(moment + timedelta(milliseconds=i)),
            "event": {"dataset": "system.auth", "action": "ssh_login", "outcome": "failure"},
            "process": {"name": "sshd"},
            "source": {"ip": "203.0.113.7"},
            "user": {"name": f"u{i}"},
            "host": {"name": "portal-01"},
        }
        for i in range(RULES)
    ]


def wait_for(condition: Callable[[], bool], what: str, limit: float = 120.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after a generous bound."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


class Scheduler:
    """A `soc detect schedule` process whose JSON cycle lines are collected."""

    def __init__(self, name: str, es_url: str, rules: Path) -> None:
        exe = Path(sys.executable).with_name("soc")
        args = [str(exe), "--es-url", es_url, "detect", "schedule", "--every", "1s",
                "--lease", "3s", "--settle", "0s", "--lookback", "2h", "--no-pack",
                "--rules", str(rules), "--scheduler-id", name, "--json"]  # fmt: skip
        self.name = name
        self.cycles: list[dict[str, Any]] = []
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
        )
        assert self.proc.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            if line.startswith("{"):
                self.cycles.append(json.loads(line))

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        return err or ""


def test_two_schedulers_share_the_rules_and_one_takes_over_a_killed_one(
    es_url: str, tmp_path: Path
) -> None:
    rules = write_rules(tmp_path / "rules")
    store = ElasticStore(es_url)
    a = b = None
    try:
        store.write_events(failures(1, timedelta(minutes=30)))
        store.refresh()
        a = Scheduler("sched-a", es_url, rules)
        b = Scheduler("sched-b", es_url, rules)
        both = ["sched-a", "sched-b"]
        share_of_a = sum(owner_of(r, both) == "sched-a" for r in rule_ids())
        assert 0 < share_of_a < RULES
        # both live: each runs only its share
        wait_for(
            lambda: (
                any(c["rules_run"] == share_of_a for c in a.cycles)
                and any(c["rules_run"] == RULES - share_of_a for c in b.cycles)
            ),
            "a cycle of each scheduler over its own share",
        )
        b.proc.send_signal(signal.SIGKILL)  # wherever it is in its cycle
        b.proc.wait(timeout=30)
        killed_at = clock.now()
        store.write_events(failures(2, timedelta(seconds=1)))
        store.refresh()

        def taken_over() -> bool:
            store.refresh()
            marks = read_watermarks(store)
            return len(store.list_records("alerts")) == 2 * RULES and all(
                r in marks and ecs.parse_timestamp(marks[r]) > killed_at for r in rule_ids()
            )

        wait_for(taken_over, "sched-a to run sched-b's rules after its lease expired")
        assert any(c["rules_run"] == RULES for c in a.cycles)
        assert live_schedulers(store) == ["sched-a"]
        alerts = store.list_records("alerts")
        # one alert per (rule, event): none twice, none lost
        assert len({(x["rule_id"], x["event_ids"][0]) for x in alerts}) == 2 * RULES
        assert {x["rule_id"] for x in alerts} == set(rule_ids())
        err = a.stop()
        assert "Traceback" not in err
        assert live_schedulers(store) == []  # released on a clean stop
    finally:
        for s in (a, b):
            if s is not None and s.proc.poll() is None:
                s.proc.kill()
                s.proc.wait(timeout=30)
        store.close()


@pytest.fixture(params=["local", "elasticsearch"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "local":
        yield lambda: LocalStore(tmp_path / "shared.db")
    else:
        url = request.getfixturevalue("es_url")
        yield lambda: ElasticStore(url)


def test_leases_expire_and_watermarks_never_move_back(shared_store: Callable[[], Store]) -> None:
    one, two = shared_store(), shared_store()  # two connections, as two processes have
    try:
        now = clock.now()
        first = Lease(one, "first", timedelta(seconds=10))
        second = Lease(two, "second", timedelta(seconds=10))
        assert first.renew(now) == ["first"]
        assert second.renew(now) == ["first", "second"]
        assert first.renew(now + timedelta(seconds=5)) == ["first", "second"]
        # "second" stops renewing: its lease ends 10 s after its last renewal
        assert first.renew(now + timedelta(seconds=11)) == ["first"]
        items = list(range(40))
        mine = first.share(items, str, now + timedelta(seconds=12))
        assert mine == items  # alone: every rule
        # watermarks: a stale writer never moves a rule back
        early, late = ecs.format_timestamp(now), ecs.format_timestamp(now + timedelta(hours=1))
        merge_watermarks(one, WATERMARKS_ID, {"r1": late, "r2": early})
        merge_watermarks(two, WATERMARKS_ID, {"r1": early, "r2": late, "r3": early})
        assert read_watermarks(one) == {"r1": late, "r2": late, "r3": early}
    finally:
        one.close()
        two.close()


def test_a_lease_not_longer_than_the_period_is_refused_in_one_line(data_dir: Path) -> None:
    exe = Path(sys.executable).with_name("soc")
    result = subprocess.run(
        [str(exe), "detect", "schedule", "--every", "5s", "--lease", "2s", "--cycles", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "--lease 2s" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
