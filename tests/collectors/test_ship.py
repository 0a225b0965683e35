"""The shipper on the real local store: batches, duplicates, dead letters, retries and
checkpoints that advance only after the store acknowledged."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from collectors.checkpoint import CheckpointRegistry
from collectors.ship import (
    DEAD_LETTER_ORIGINAL_LIMIT,
    DeadLetterFile,
    Position,
    RetryPolicy,
    Shipper,
)
from soc.ecs import event_id
from soc.store.base import StoreUnavailable
from soc.store.local import LocalStore


def make_event(i: int, source: str = "test") -> dict:
    return {
        "_id": event_id(source, i),
        "@timestamp": f"2026-11-21T01:00:{i % 60:02d}.000000Z",
        "event": {"kind": "event", "dataset": "system.auth", "original": f"line {i}"},
        "message": f"line {i}",
    }


class UnreachableAtFirst(LocalStore):
    """A real local store whose first ``failures`` writes fail as an unreachable
    Elasticsearch would (StoreUnavailable), to exercise the retry path."""

    def __init__(self, path: Path, failures: int) -> None:
        super().__init__(path)
        self.failures = failures
        self.attempts = 0

    def write_event_groups(self, groups):
        # what the shipper calls on a local store (write_events goes through it too)
        self.attempts += 1
        if self.failures > 0:
            self.failures -= 1
            raise StoreUnavailable("connection refused")
        return super().write_event_groups(groups)


@pytest.fixture
def store(tmp_path: Path):
    s = LocalStore(tmp_path / "soc.db")
    yield s
    s.close()


def test_batches_by_count_and_every_event_stored(tmp_path, store):
    seen: list[int] = []
    shipper = Shipper(
        store,
        dead_letters=DeadLetterFile(tmp_path / "dl"),
        batch_events=10,
        max_wait=None,
        on_batch=lambda stats: seen.append(stats.stored),
    )
    for i in range(35):
        shipper.send(make_event(i), source="a")
        assert shipper.pending == (i + 1) % 10
    shipper.close()
    assert seen == [10, 20, 30, 35]
    assert store.count() == 35
    stats = shipper.stats.as_dict()
    assert {k: stats[k] for k in ("read", "parsed", "stored", "duplicates", "dead_lettered")} == {
        "read": 35,
        "parsed": 35,
        "stored": 35,
        "duplicates": 0,
        "dead_lettered": 0,
    }
    assert stats["sources"]["a"]["stored"] == 35


def test_batches_by_bytes(tmp_path, store):
    shipper = Shipper(
        store, dead_letters=DeadLetterFile(tmp_path / "dl"), batch_bytes=3000, max_wait=None
    )
    for i in range(30):
        event = make_event(i)
        event["event"]["original"] = "x" * 1000
        shipper.send(event, source="a")
        assert shipper.pending <= 2
    shipper.close()
    assert store.count() == 30


def test_same_ids_twice_are_duplicates_not_new_documents(tmp_path, store):
    for _ in range(2):
        shipper = Shipper(store, dead_letters=DeadLetterFile(tmp_path / "dl"))
        for i in range(5):
            shipper.send(make_event(i), source="a")
        shipper.close()
    assert shipper.stats.duplicates == 5 and shipper.stats.stored == 0
    assert store.count() == 5


def test_store_refusals_and_rejects_become_dead_letters(tmp_path, store):
    shipper = Shipper(store, dead_letters=DeadLetterFile(tmp_path / "dl"))
    bad = make_event(1)
    del bad["@timestamp"]
    shipper.send(bad, source="a")
    shipper.send(make_event(2), source="a")
    shipper.reject("b", "garbage \x00 line", "no syslog header", position_text=120)
    shipper.reject("b", "z" * 10_000, "line longer than 5000 bytes", length=10_000)
    shipper.close()
    stats = shipper.stats
    assert (stats.read, stats.parsed, stats.stored, stats.dead_lettered) == (4, 2, 1, 3)
    assert stats.read == stats.stored + stats.duplicates + stats.dead_lettered
    letters = _letters(tmp_path / "dl")
    by_reason = {d["reason"]: d for d in letters}
    refused = next(d for d in letters if d["reason"].startswith("store refused"))
    assert "@timestamp" in refused["reason"] and refused["original"] == "line 1"
    assert refused["id"] == bad["_id"]
    assert by_reason["no syslog header"]["position"] == 120
    assert by_reason["no syslog header"]["source"] == "b"
    long = by_reason["line longer than 5000 bytes"]
    assert len(long["original"]) == DEAD_LETTER_ORIGINAL_LIMIT
    assert long["original_bytes"] == 10_000 and long["original_truncated"] is True
    assert all({"time", "source", "position", "reason", "original"} <= set(d) for d in letters)


def _letters(directory: Path) -> list[dict]:
    out = []
    for path in directory.glob("*.ndjson"):
        out.extend(json.loads(line) for line in path.read_text().splitlines())
    return out


def test_unavailable_store_is_retried_with_backoff(tmp_path):
    store = UnreachableAtFirst(tmp_path / "soc.db", failures=3)
    waits: list[float] = []
    shipper = Shipper(
        store,
        dead_letters=DeadLetterFile(tmp_path / "dl"),
        retry=RetryPolicy(attempts=5, initial=0.1, multiplier=2, jitter=False),
        sleep=waits.append,
    )
    for i in range(3):
        shipper.send(make_event(i), source="a")
    shipper.close()
    assert waits == [0.1, 0.2, 0.4]
    assert shipper.stats.retries == 3 and shipper.stats.stored == 3
    assert store.count() == 3
    store.close()


def test_jittered_delays_stay_within_the_exponential_bound():
    policy = RetryPolicy(attempts=6, initial=1.0, maximum=5.0, multiplier=2.0, jitter=True)
    delays = list(policy.delays())
    assert len(delays) == 5
    for n, delay in enumerate(delays):
        assert 0 <= delay <= min(5.0, 2.0**n)


def test_checkpoint_advances_only_after_the_store_acknowledged(tmp_path):
    store = UnreachableAtFirst(tmp_path / "soc.db", failures=2)
    registry = CheckpointRegistry(tmp_path / "checkpoints.json")
    shipper = Shipper(
        store,
        dead_letters=DeadLetterFile(tmp_path / "dl"),
        checkpoints=registry,
        batch_events=100,
        max_wait=None,
        retry=RetryPolicy(attempts=2, jitter=False, initial=0),
        sleep=lambda s: None,
    )
    for i in range(4):
        shipper.send(make_event(i), source="a", position=Position("file:x", {"offset": i + 1}))
    assert CheckpointRegistry(tmp_path / "checkpoints.json").get("file:x") is None
    with pytest.raises(StoreUnavailable):
        shipper.flush()
    # Nothing acknowledged: the checkpoint did not move and the batch is still queued.
    assert CheckpointRegistry(tmp_path / "checkpoints.json").get("file:x") is None
    assert shipper.pending == 4
    shipper.flush()  # the store is back
    assert CheckpointRegistry(tmp_path / "checkpoints.json").get("file:x")["offset"] == 4
    assert store.count() == 4
    store.close()


def test_registry_writes_atomically_and_reloads(tmp_path):
    path = tmp_path / "state" / "checkpoints.json"
    registry = CheckpointRegistry(path)
    registry.set("file:a", {"offset": 10, "fp": "aa"})
    registry.merge("file:a", {"offset": 20})
    registry.save()
    assert [p.name for p in path.parent.iterdir()] == ["checkpoints.json"]
    again = CheckpointRegistry(path)
    assert again.get("file:a")["offset"] == 20 and again.get("file:a")["fp"] == "aa"
    path.write_text("{not json")
    with pytest.raises(Exception, match="not a checkpoint registry"):
        CheckpointRegistry(path)


def test_registry_forgets_old_entries_of_files_that_are_gone(tmp_path):
    registry = CheckpointRegistry(tmp_path / "checkpoints.json")
    registry.set("file:gone", {"path": str(tmp_path / "gone.log")})
    registry.set("file:here", {"path": str(tmp_path)})
    registry.set("file:recent", {"path": str(tmp_path / "gone.log")})
    registry._entries["file:gone"]["updated"] = 0
    registry._entries["file:here"]["updated"] = 0
    dropped = registry.prune(3600, lambda entry: Path(entry["path"]).exists())
    assert dropped == 1 and "file:gone" not in registry
    assert "file:here" in registry and "file:recent" in registry


def test_temporaries_of_a_killed_checkpoint_writer_are_removed_at_start(tmp_path):
    import subprocess
    import sys

    from collectors.checkpoint import CheckpointRegistry

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = tmp_path / f".checkpoints.json.{dead.stdout.strip()}.tmp"
    stale.write_text("{")
    mine = tmp_path / f".checkpoints.json.{os.getpid()}.tmp"  # a live writer's: kept
    mine.write_text("{")
    registry = CheckpointRegistry(tmp_path / "checkpoints.json")
    assert not stale.exists() and mine.exists() and len(registry) == 0
