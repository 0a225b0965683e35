"""Shared fixtures: the corpus beside the checkout, a fresh data directory per test, and the
product clock.

The product reads every "now" from soc.clock, which follows SOC_CLOCK. The suite runs on the
system clock unless SOC_TEST_CLOCK names another moment (`make test-calendar` runs the suite
at several such dates): the clock then starts at that moment for the whole session, every
xdist worker and every `soc` subprocess inheriting it. A test that needs a particular "today"
sets it with the `clock_at` fixture.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from soc import clock

# Elasticsearch fixtures (es_server, es_url): a real osmem-server process on 127.0.0.1.
pytest_plugins = ["es_fixtures"]

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("SOC_CORPUS", REPO.parent / "shared" / "corpus"))


def pytest_configure(config: pytest.Config) -> None:
    """Start the product clock at SOC_TEST_CLOCK, once, before any xdist worker starts."""
    moment = os.environ.get("SOC_TEST_CLOCK")
    if moment and not os.environ.get(clock.ENV):
        os.environ[clock.ENV] = clock.running_setting(moment)


def pytest_report_header(config: pytest.Config) -> str:
    """Say which clock the product reads in this run."""
    setting = os.environ.get(clock.ENV) or "unset: system clock"
    return f"product clock: {clock.now().isoformat()} ({clock.ENV}={setting})"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the tests marked slow first (stable order otherwise): with xdist, a long test that
    started last would keep one core busy while the other sits idle."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def clock_at(monkeypatch: pytest.MonkeyPatch):
    """Set the product clock, for this test and the `soc` commands it runs, to start at a
    moment (ISO 8601) and run on from there; returns that moment as an aware datetime."""

    def set_clock(moment: str):
        setting = clock.running_setting(moment)
        monkeypatch.setenv(clock.ENV, setting)
        return clock.now()

    return set_clock


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
