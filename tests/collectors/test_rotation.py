"""Rotation while a follower runs: rename and copytruncate, with the follower caught up and
60k lines behind, 5 rotations each, appends at about 2,000 lines/s: every line is stored
exactly once. Also a truncation in the middle of a read and a file truncated and regrown
past the old offset, with the same first bytes, before the next poll.

The pace and the follower's read budget only shape the race; the assertions (0 lost, 0
doubled) hold whatever the machine's speed, and every wait is bounded."""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from collectors.checkpoint import CheckpointRegistry
from collectors.ship import DeadLetterFile, Shipper
from collectors.sources.logs import IngestOptions
from collectors.sources.tail import FileFollower
from soc.store.local import LocalStore

ROTATIONS = 5
PER_ROTATION = 1000
BEHIND = 60_000
PACE = 2000  # lines per second
_SEQ = re.compile(r"seq=(\d+)")


def line(seq: int) -> bytes:
    return (
        f"Nov 21 08:{seq // 60 % 60:02d}:{seq % 60:02d} web1 sshd[{seq % 30000 + 100}]: "
        f"Failed password for root from 10.0.{seq // 250 % 250}.{seq % 250 + 1} port 22 ssh2 "
        f"seq={seq}\n"
    ).encode()


def stored_seqs(store: LocalStore) -> Counter:
    """How many times each numbered line is stored (header lines are not numbered)."""
    rows = store._conn.execute("SELECT _doc FROM events").fetchall()
    return Counter(int(m.group(1)) for (doc,) in rows if (m := _SEQ.search(doc)))


# Every generation of the log starts with the same 2+ KiB banner, as IIS/W3C logs do: the
# first bytes alone never tell two generations apart.
HEADER = b"".join(line(s) for s in range(-30, 0)).replace(b"seq=-", b"hdr=")


class Follow:
    """A follower thread over ``pattern`` with a small read budget (so it can fall behind)."""

    def __init__(self, tmp_path: Path, pattern: str, store: LocalStore) -> None:
        self.registry = CheckpointRegistry(tmp_path / "data" / "checkpoints.json")
        self.shipper = Shipper(
            store,
            dead_letters=DeadLetterFile(tmp_path / "data" / "deadletter"),
            checkpoints=self.registry,
            batch_events=2000,
            max_wait=0.1,
        )
        self.stop = threading.Event()
        self.follower = FileFollower(
            [pattern],
            self.shipper,
            self.registry,
            IngestOptions(format="auth"),
            poll=0.05,
            linger=0.5,
            stop=self.stop,
        )
        self.follower.read_budget = 256 << 10
        self.thread = threading.Thread(target=self.follower.run)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)
        self.shipper.close()


def write_paced(handle, start: int, count: int) -> int:
    """Append ``count`` lines at about PACE lines/s; returns the next sequence number."""
    step = PACE // 20
    for first in range(start, start + count, step):
        handle.write(b"".join(line(s) for s in range(first, min(first + step, start + count))))
        handle.flush()
        time.sleep(0.05)
    return start + count


def shift(log: Path) -> None:
    for k in range(ROTATIONS, 0, -1):
        older = log.with_name(f"{log.name}.{k}")
        if older.exists():
            older.rename(log.with_name(f"{log.name}.{k + 1}"))


@pytest.mark.parametrize("behind", [False, True], ids=["caught-up", "60k-behind"])
@pytest.mark.parametrize("mode", ["rename", "copytruncate"])
def test_rotations_lose_and_double_nothing(tmp_path, mode, behind):
    log = tmp_path / "app.log"
    store = LocalStore(tmp_path / "data" / "soc.db")
    handle = open(log, "ab")  # noqa: SIM115 - the writer keeps it open, as daemons do
    handle.write(HEADER)
    run = Follow(tmp_path, str(tmp_path / "app.log*"), store)
    seq = 0
    try:
        for rotation in range(ROTATIONS):
            if behind and rotation == 0:
                handle.write(b"".join(line(s) for s in range(seq, seq + BEHIND)))
                handle.flush()
                seq += BEHIND
            else:
                seq = write_paced(handle, seq, PER_ROTATION)
            shift(log)
            if mode == "rename":
                log.rename(log.with_name("app.log.1"))
                handle.close()
                handle = open(log, "ab")  # noqa: SIM115
                handle.write(HEADER)
            else:
                shutil.copyfile(log, log.with_name("app.log.1"))
                os.truncate(log, 0)  # the writer's O_APPEND handle goes on at the new end
                handle.write(HEADER)
        seq = write_paced(handle, seq, PER_ROTATION)
        deadline = time.monotonic() + 120
        while store.count() < seq and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # linger of rotated files: anything doubled would show up by now
    finally:
        handle.close()
        run.close()
    seen = stored_seqs(store)
    store.close()
    lost = [s for s in range(seq) if s not in seen]
    doubled = [s for s, n in seen.items() if n > 1]
    assert (len(lost), len(doubled)) == (0, 0), (lost[:5], doubled[:5])
    assert sum(seen.values()) == seq


def manual(tmp_path: Path, log: Path, store: LocalStore, **kw) -> tuple[FileFollower, Shipper]:
    registry = CheckpointRegistry(tmp_path / "checkpoints.json")
    shipper = Shipper(store, dead_letters=DeadLetterFile(tmp_path / "dl"), checkpoints=registry)
    pattern = str(log) + "*"
    return FileFollower([pattern], shipper, registry, IngestOptions(format="auth"), **kw), shipper


def test_truncated_and_regrown_past_the_offset_with_the_same_start(tmp_path):
    # The new content starts with the same 2+ KiB as the old (a banner): only the bytes at
    # the read position tell it apart.
    log = tmp_path / "app.log"
    log.write_bytes(HEADER + b"".join(line(s) for s in range(0, 50)))
    store = LocalStore(tmp_path / "soc.db")
    follower, shipper = manual(tmp_path, log, store)
    follower.poll_once()
    shipper.flush()
    shutil.copyfile(log, tmp_path / "app.log.1")
    log.write_bytes(HEADER + b"".join(line(s) for s in range(1000, 1200)))  # truncate + regrow
    for _ in range(3):
        follower.poll_once()
    shipper.flush()
    follower.close()
    shipper.close()
    seen = stored_seqs(store)
    store.close()
    assert sorted(seen) == [*range(0, 50), *range(1000, 1200)]
    assert all(n == 1 for n in seen.values())


def test_truncation_in_the_middle_of_a_read(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(HEADER + b"".join(line(s) for s in range(0, 20_000)))
    store = LocalStore(tmp_path / "soc.db")
    state = {"done": False}

    def truncate_once(_n: int) -> None:
        # Runs right after the follower's first read of a chunk: the writer's copytruncate
        # happens while the follower is reading, and the file is regrown at once.
        if not state["done"]:
            state["done"] = True
            shutil.copyfile(log, tmp_path / "app.log.1")
            log.write_bytes(HEADER + b"".join(line(s) for s in range(50_000, 75_000)))

    follower, shipper = manual(tmp_path, log, store, on_bytes=truncate_once)
    follower.read_budget = 64 << 10
    for _ in range(200):
        follower.poll_once()
        shipper.flush()
    follower.close()
    shipper.close()
    seen = stored_seqs(store)
    store.close()
    assert sorted(seen) == [*range(0, 20_000), *range(50_000, 75_000)]
    assert all(n == 1 for n in seen.values())
