"""Fixtures of the triage tests: a fresh local store, and a store of either kind seeded
with the demo sample ingested by the collectors and run through detection.

Seeding (four `soc ingest logs` runs and a detection run) happens once per test module and
store kind; each test then gets its own copy: a copy of the SQLite file, or a copy-on-write
clone of a seeded osmem-server (an OpenSearch-API server on 127.0.0.1).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from triage_helpers import detect, ingest_demo, open_test_store, store_env

from soc.store.base import Store
from soc.store.local import LocalStore


@pytest.fixture
def local_store(tmp_path: Path) -> Iterator[LocalStore]:
    """A fresh local store on a temporary file."""
    store = LocalStore(tmp_path / "triage.db")
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(scope="module")
def seeded_local(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory whose local store holds the demo sample and its alerts."""
    data_dir = tmp_path_factory.mktemp("seeded") / "data"
    env = store_env("local", data_dir, None)
    ingest_demo(env)
    store = open_test_store("local", data_dir, None)
    try:
        detect(store)
    finally:
        store.close()
    return data_dir


@pytest.fixture(scope="module")
def seeded_es() -> Iterator[object]:
    """An osmem-server of this module whose base holds the demo sample and its alerts."""
    from osmem_server import OsmemServer

    server = OsmemServer.start(japanese=False, addr="127.0.0.1:0")
    try:
        env = store_env("elasticsearch", Path("/nonexistent"), server.url)
        ingest_demo(env)
        store = open_test_store("elasticsearch", Path("/nonexistent"), server.url)
        try:
            detect(store)
        finally:
            store.close()
        yield server
    finally:
        server.close()


@pytest.fixture(params=["local", "elasticsearch"])
def demo_env(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Store, dict[str, str]]]:
    """(store, environment for `soc`) holding the demo sample and its alerts, on the local
    store and then on Elasticsearch, private to the test."""
    data_dir = tmp_path / "data"
    clone = None
    if request.param == "local":
        shutil.copytree(request.getfixturevalue("seeded_local"), data_dir)
        es_url = None
    else:
        clone = request.getfixturevalue("seeded_es").clone()
        es_url = clone.url
        data_dir.mkdir()
    env = store_env(request.param, data_dir, es_url)
    store = open_test_store(request.param, data_dir, es_url)
    try:
        yield store, env
    finally:
        store.close()
        if clone is not None:
            clone.close()
