"""Event identity of file lines: look-alike files (same first 4 KiB, different bodies) are
never taken for each other, on both stores, in one command or in parallel commands; a file
stored under the old (identity, offset) ids is not doubled when shipped again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from collector_helpers import _soc_exe, auth_lines, soc

from collectors.checkpoint import CheckpointRegistry
from collectors.parsers import get_parser
from collectors.ship import DeadLetterFile, Shipper
from collectors.sources.files import LEGACY_IDS, fingerprint, identity_of, line_event_id
from collectors.sources.lines import iter_lines
from collectors.sources.logs import IngestOptions, LineSink, LogIngestor
from collectors.sources.tail import _scheme_of
from soc.store.elastic import ElasticStore
from soc.store.local import LocalStore

HEADER = auth_lines(0, 50)  # identical first lines of every file (> 4 KiB)
BODY = 300


def look_alikes(tmp_path: Path) -> list[Path]:
    """Three files sharing their first 4 KiB, each with its own body of BODY lines."""
    assert len(HEADER) > 4096
    out = []
    for k, user in enumerate(("alice", "bob", "carol")):
        path = tmp_path / f"iis{k}.log"
        # Same line lengths in every body, so the old (identity, offset) ids would collide.
        path.write_text(HEADER + auth_lines(1000, BODY, user=f"{user:<5}"))
        out.append(path)
    return out


def expected_ids(paths: list[Path]) -> set[str]:
    ids = set()
    for path in paths:
        content = path.read_bytes()
        identity = identity_of(fingerprint(content))
        ids.update(
            line_event_id(identity, line.offset, line.data) for line in iter_lines([content])
        )
    return ids


def store_args(kind: str, es_url: str | None) -> list[str]:
    return ["--es-url", es_url] if kind == "es" else []


def open_store(kind: str, es_url: str | None, data: Path):
    if kind == "es":
        store = ElasticStore(es_url)
        store.refresh()
        return store
    return LocalStore(data / "soc.db")


@pytest.fixture(params=["local", "es"])
def store_kind(request):
    if request.param == "es":
        return "es", request.getfixturevalue("es_url")
    return "local", None


@pytest.mark.parametrize("parallel", [False, True], ids=["one-command", "parallel"])
def test_look_alike_files_are_each_stored_whole(tmp_path, store_kind, parallel):
    kind, es_url = store_kind
    data = tmp_path / "data"
    paths = look_alikes(tmp_path)
    if parallel:
        # Parallel commands, each with its own data directory (checkpoints), one store.
        running = [
            subprocess.Popen(
                [_soc_exe(), *store_args(kind, es_url), "ingest", "logs", "--json", str(path)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=_env(data),
            )
            for path in paths
        ]
        results = [json.loads(p.communicate(timeout=120)[0]) for p in running]
    else:
        proc = soc(
            *store_args(kind, es_url), "ingest", "logs", "--json", *map(str, paths), data_dir=data
        )
        assert proc.returncode == 0, proc.stderr.decode()
        results = [json.loads(proc.stdout)]
    header_lines = HEADER.count("\n")
    assert sum(r["dead_lettered"] for r in results) == 0
    assert sum(r["stored"] for r in results) == header_lines + 3 * BODY
    store = open_store(kind, es_url, data)
    try:
        # Every body line of every file is there once; the shared header, identical bytes
        # at identical offsets, is one record (a copy of a file is not new data either).
        assert store.count() == header_lines + 3 * BODY
        for ident in expected_ids(paths):
            assert store.get_event(ident) is not None
    finally:
        store.close()


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    env["SOC_DATA_DIR"] = str(data_dir)
    return env


def ship_legacy(store, path: Path, tmp_path: Path) -> None:
    """Ship ``path`` the way collectors did before records' bytes were in the ids."""
    content = path.read_bytes()
    shipper = Shipper(store, dead_letters=DeadLetterFile(tmp_path / "dl-legacy"))
    ingestor = LogIngestor(shipper, IngestOptions())
    sink = LineSink(
        shipper,
        source=str(path),
        identity=identity_of(fingerprint(content)),
        parser=get_parser("auth"),
        ctx=ingestor.context(str(path)),
        max_line=1 << 20,
        file_path=str(path.resolve()),
        scheme=LEGACY_IDS,
    )
    sink.handle(list(iter_lines([content])))
    shipper.close()


def test_a_file_stored_under_old_ids_is_not_doubled(tmp_path, store_kind):
    kind, es_url = store_kind
    data = tmp_path / "data"
    first, second, _ = look_alikes(tmp_path)
    store = open_store(kind, es_url, data)
    try:
        ship_legacy(store, first, tmp_path)
    finally:
        store.close()
    lines = HEADER.count("\n") + BODY
    proc = soc(*store_args(kind, es_url), "ingest", "logs", "--json", str(first), data_dir=data)
    again = json.loads(proc.stdout)
    assert (again["stored"], again["duplicates"]) == (0, lines)
    # A look-alike shipped after the change is not mistaken for the old file: all of it is
    # stored (its shared header too: the old file's copy of it is under the old ids).
    proc = soc(*store_args(kind, es_url), "ingest", "logs", "--json", str(second), data_dir=data)
    other = json.loads(proc.stdout)
    assert (other["stored"], other["duplicates"]) == (lines, 0)
    store = open_store(kind, es_url, data)
    try:
        assert store.count() == 2 * lines
    finally:
        store.close()


def test_followed_files_keep_the_scheme_their_checkpoint_records(tmp_path):
    registry = CheckpointRegistry(tmp_path / "checkpoints.json")
    registry.set("file:a", {"fp": "x", "fp_len": 1024, "offset": 5000})
    registry.set("file:b", {"fp": "y", "fp_len": 1024, "offset": 0})
    registry.set("file:c", {"fp": "z", "fp_len": 1024, "offset": 5000, "ids": 2})
    # Entries written before schemes existed that shipped something keep scheme 1 (their
    # records are in the store under it, and the follower resumes after them anyway).
    assert _scheme_of(registry.get("file:a")) == LEGACY_IDS
    assert _scheme_of(registry.get("file:b")) is None  # ask the store
    assert _scheme_of(registry.get("file:c")) == 2


@pytest.mark.parametrize("parallel", [False, True], ids=["one-follower", "parallel-followers"])
def test_look_alike_files_followed_are_each_stored_whole(tmp_path, store_kind, parallel):
    # `soc collect files` (follow mode): one follower of the three files, or three followers
    # in parallel processes, one file each; stopped with SIGTERM once the lines are in.
    kind, es_url = store_kind
    data = tmp_path / "data"
    paths = look_alikes(tmp_path)
    groups = [[path] for path in paths] if parallel else [paths]
    follow = [*store_args(kind, es_url), "collect", "files", "--json", "--poll", "0.1"]
    running = [
        subprocess.Popen(
            [_soc_exe(), *follow, *map(str, group)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(data),
        )
        for group in groups
    ]
    expected = HEADER.count("\n") + 3 * BODY
    try:
        deadline = time.monotonic() + 120
        while _count(kind, es_url, data) < expected:
            assert all(p.poll() is None for p in running), "a follower exited"
            assert time.monotonic() < deadline, "the lines did not all arrive"
            time.sleep(0.2)
        for proc in running:
            proc.send_signal(signal.SIGTERM)
        outputs = [proc.communicate(timeout=60) for proc in running]
    finally:
        for proc in running:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert all(p.returncode == 0 for p in running), [err.decode() for _, err in outputs]
    results = [json.loads(out) for out, _ in outputs]
    assert sum(r["dead_lettered"] for r in results) == 0
    assert sum(r["stored"] for r in results) == expected
    store = open_store(kind, es_url, data)
    try:
        assert store.count() == expected
        for ident in expected_ids(paths):
            assert store.get_event(ident) is not None
    finally:
        store.close()


def _count(kind: str, es_url: str | None, data: Path) -> int:
    if kind == "local" and not (data / "soc.db").exists():
        return 0
    store = open_store(kind, es_url, data)
    try:
        return store.count()
    finally:
        store.close()
