"""Following files: rename rotation, copytruncate, a writer still appending to a rotated file,
resuming after a restart, and SIGKILL mid-file (exactly one document per line)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from collector_helpers import auth_lines

from collectors.checkpoint import CheckpointRegistry
from collectors.ship import DeadLetterFile, Shipper
from collectors.sources.files import fingerprint, identity_of, line_event_id
from collectors.sources.logs import IngestOptions
from collectors.sources.tail import FileFollower
from soc.store.local import LocalStore


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def line_ids(content: bytes, identity: str | None = None) -> list[str]:
    """The id of every line of ``content`` as the collector names it."""
    identity = identity or identity_of(fingerprint(content))
    ids, offset = [], 0
    for line in content.split(b"\n")[:-1]:
        ids.append(line_event_id(identity, offset, line.removesuffix(b"\r")))
        offset += len(line) + 1
    return ids


class Running:
    """A FileFollower on its own thread, with its shipper, on the real local store."""

    def __init__(self, tmp_path: Path, patterns: list[str], store: LocalStore) -> None:
        self.registry = CheckpointRegistry(tmp_path / "data" / "checkpoints.json")
        self.shipper = Shipper(
            store,
            dead_letters=DeadLetterFile(tmp_path / "data" / "deadletter"),
            checkpoints=self.registry,
            batch_events=50,
            max_wait=0.1,
        )
        self.stop = threading.Event()
        self.follower = FileFollower(
            patterns,
            self.shipper,
            self.registry,
            IngestOptions(),
            poll=0.05,
            linger=0.5,
            stop=self.stop,
        )
        self.thread = threading.Thread(target=self.follower.run)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        self.shipper.close()


@pytest.fixture
def store(tmp_path: Path):
    s = LocalStore(tmp_path / "data" / "soc.db")
    yield s
    s.close()


def append(path: Path, text: str) -> None:
    with open(path, "a") as handle:
        handle.write(text)


def test_rename_rotation_finishes_the_old_file_then_reads_the_new(tmp_path, store):
    log = tmp_path / "auth.log"
    log.write_text(auth_lines(0, 100))
    run = Running(tmp_path, [str(log)], store)
    try:
        wait_until(lambda: store.count() == 100)
        append(log, auth_lines(100, 50))
        log.rename(tmp_path / "auth.log.1")
        log.write_text(auth_lines(1000, 60, user="bob"))
        wait_until(lambda: store.count() == 210)
        append(log, auth_lines(2000, 5, user="carol"))
        wait_until(lambda: store.count() == 215)
    finally:
        run.close()
    old = (tmp_path / "auth.log.1").read_bytes()
    new = log.read_bytes()
    for ident in line_ids(old) + line_ids(new):
        assert store.get_event(ident) is not None
    assert run.shipper.stats.dead_lettered == 0


def test_writer_still_appending_to_the_renamed_file_is_not_lost(tmp_path, store):
    log = tmp_path / "auth.log"
    log.write_text(auth_lines(0, 30))
    run = Running(tmp_path, [str(log)], store)
    try:
        wait_until(lambda: store.count() == 30)
        time.sleep(0.6)  # longer than the linger time: the clock starts at the rotation
        with open(log, "a") as writer:  # the writer keeps its descriptor across the rename
            log.rename(tmp_path / "auth.log.1")
            log.write_text(auth_lines(500, 10, user="bob"))
            time.sleep(0.2)
            writer.write(auth_lines(30, 10))
        wait_until(lambda: store.count() == 50)
    finally:
        run.close()


def test_copytruncate_starts_over_at_zero(tmp_path, store):
    log = tmp_path / "auth.log"
    log.write_text(auth_lines(0, 40))
    run = Running(tmp_path, [str(log)], store)
    try:
        wait_until(lambda: store.count() == 40)
        (tmp_path / "auth.log.1").write_bytes(log.read_bytes())  # copy ...
        with open(log, "r+") as handle:  # ... then truncate in place
            handle.truncate(0)
        time.sleep(0.3)
        append(log, auth_lines(3000, 25, user="dave"))
        wait_until(lambda: store.count() == 65)
    finally:
        run.close()
    for ident in line_ids(log.read_bytes()):
        assert store.get_event(ident) is not None


def test_truncated_and_rewritten_past_the_old_size_between_polls(tmp_path, store):
    log = tmp_path / "auth.log"
    log.write_text(auth_lines(0, 20))
    registry = CheckpointRegistry(tmp_path / "checkpoints.json")
    shipper = Shipper(store, dead_letters=DeadLetterFile(tmp_path / "dl"), checkpoints=registry)
    follower = FileFollower([str(log)], shipper, registry, IngestOptions())
    follower.poll_once()  # polled by hand: nothing happens between two polls but this
    shipper.flush()
    assert store.count() == 20
    with open(log, "r+") as handle:
        handle.truncate(0)
        handle.write(auth_lines(5000, 60, user="erin"))  # longer than before
    follower.poll_once()
    shipper.flush()
    follower.close()
    shipper.close()
    assert store.count() == 80
    for ident in line_ids(log.read_bytes()):
        assert store.get_event(ident) is not None


def test_directory_with_an_empty_file_that_fills_later_and_a_binary_one(tmp_path, store):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "auth.log").write_text("")
    (logs / "core.bin").write_bytes(bytes(range(256)) * 300)  # 75 KiB of binary
    run = Running(tmp_path, [str(logs)], store)
    try:
        time.sleep(0.3)
        append(logs / "auth.log", auth_lines(0, 12))
        wait_until(lambda: store.count() == 12)
        time.sleep(0.3)
    finally:
        run.close()
    stats = run.shipper.stats
    assert stats.sources[str(logs / "core.bin")].dead_lettered == 1  # once, not every poll
    assert stats.sources[str(logs / "auth.log")].stored == 12


def test_restart_resumes_from_the_checkpoint(tmp_path, store):
    log = tmp_path / "auth.log"
    log.write_text(auth_lines(0, 80))
    run = Running(tmp_path, [str(log)], store)
    wait_until(lambda: store.count() == 80)
    run.close()
    append(log, auth_lines(80, 20))
    run = Running(tmp_path, [str(log)], store)
    try:
        wait_until(lambda: store.count() == 100)
        time.sleep(0.3)
    finally:
        run.close()
    assert run.shipper.stats.read == 20  # only what the file gained while stopped
    assert run.shipper.stats.duplicates == 0


def test_small_file_keeps_its_identity_as_it_grows(tmp_path, store):
    log = tmp_path / "auth.log"
    log.write_text(auth_lines(0, 2))  # well under 1 KiB
    first = log.read_bytes()
    run = Running(tmp_path, [str(log)], store)
    wait_until(lambda: store.count() == 2)
    run.close()
    append(log, auth_lines(2, 40))
    run = Running(tmp_path, [str(log)], store)
    try:
        wait_until(lambda: store.count() == 42)
    finally:
        run.close()
    pinned = identity_of(fingerprint(first))
    for ident in line_ids(log.read_bytes(), pinned):
        assert store.get_event(ident) is not None


@pytest.mark.slow
@pytest.mark.timeout(1200)  # 20,000 lines and more, SIGKILLs and a restart
def test_sigkill_mid_file_and_restart_leaves_exactly_one_document_per_line(tmp_path):
    data = tmp_path / "data"
    log = tmp_path / "auth.log"
    log.write_text(auth_lines(0, 20_000))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    env["SOC_DATA_DIR"] = str(data)
    soc = str(Path(os.sys.executable).with_name("soc"))
    command = [soc, "collect", "files", "--batch-size", "150", "--poll", "0.05", str(log)]
    rng = random.Random(7)
    written = 20_000
    kills = 0
    for round_ in range(5):
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + rng.uniform(0.8, 1.6)
        while time.monotonic() < deadline:
            append(log, auth_lines(written, 100, user=f"r{round_}"))
            written += 100
            time.sleep(0.05)
        # The kill comes while the collector reads a burst it cannot have stored yet (14
        # batches of 150 lines; a fast machine kept up with the trickle above and was
        # killed with everything acknowledged, which tests nothing).
        append(log, auth_lines(written, 2_000, user=f"b{round_}"))
        written += 2_000
        time.sleep(rng.uniform(0.0, 0.02))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        size = log.stat().st_size
        entries = list(CheckpointRegistry(data / "checkpoints.json").items())
        offset = entries[0][1].get("offset", 0) if entries else 0
        if offset < size:
            kills += 1  # killed with part of the file not yet acknowledged
    # Final run: let it catch up, then stop it cleanly.
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        store = LocalStore(data / "soc.db")
        try:
            wait_until(lambda: store.count() >= written, timeout=120)
            time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) in (0, 1)
            assert kills >= 3
            assert store.count() == written
            ids = line_ids(log.read_bytes())
            assert len(ids) == written
            missing = [i for i in ids if store.get_event(i) is None]
            assert missing == []
        finally:
            store.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_ingest_logs_follow_reads_then_keeps_following_until_sigterm(tmp_path):
    data = tmp_path / "data"
    log = tmp_path / "auth.log"
    log.write_text(auth_lines(0, 30))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    env["SOC_DATA_DIR"] = str(data)
    soc = str(Path(os.sys.executable).with_name("soc"))
    store = LocalStore(data / "soc.db")  # created before the collector opens it
    proc = subprocess.Popen(
        [soc, "ingest", "logs", "--follow", "--json", str(log)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        try:
            wait_until(lambda: store.count() == 30, timeout=30)
            append(log, auth_lines(30, 10))
            wait_until(lambda: store.count() == 40, timeout=30)
        finally:
            store.close()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()
    assert json.loads(out)["stored"] == 40
