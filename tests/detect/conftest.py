"""Fixtures of the detection tests: a fresh store of each kind (SQLite file, osmem-server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from soc.store.base import Store
from soc.store.local import LocalStore


@pytest.fixture(params=["local", "elasticsearch"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh, empty store: the local SQLite store, then the Elasticsearch store on its own
    osmem-server clone (the test module must load the es_fixtures plugin)."""
    if request.param == "local":
        store: Store = LocalStore(tmp_path / "events.db")
    else:
        from soc.store.elastic import ElasticStore

        store = ElasticStore(request.getfixturevalue("es_url"))
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def local_store(tmp_path: Path) -> Iterator[LocalStore]:
    """A fresh local store on a temporary file."""
    store = LocalStore(tmp_path / "events.db")
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(autouse=True)
def _rule_cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Compiled rules are cached in a directory of the test session, never the user's."""
    monkeypatch.setenv("SOC_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "rule-cache"))
