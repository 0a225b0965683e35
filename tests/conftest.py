"""Shared fixtures: the corpus beside the checkout, and a fresh data directory per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Elasticsearch fixtures (es_server, es_url): a real osmem-server process on 127.0.0.1.
pytest_plugins = ["es_fixtures"]

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("SOC_CORPUS", REPO.parent / "shared" / "corpus"))


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """../shared/corpus, or skip the test with a clear message when it is absent."""
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not found at {CORPUS} (set SOC_CORPUS); conformance test skipped")
    return CORPUS


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data directory, also set as SOC_DATA_DIR, with no Elasticsearch configured."""
    path = tmp_path / "data"
    path.mkdir()
    monkeypatch.setenv("SOC_DATA_DIR", str(path))
    for var in list(os.environ):
        if var.startswith("SOC_ELASTICSEARCH") or var in {"SOC_STORE", "SOC_CONFIG"}:
            monkeypatch.delenv(var)
    monkeypatch.chdir(tmp_path)
    return path
