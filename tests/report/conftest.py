"""Fixtures of the report tests: a populated local store (see report_fixtures)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from report_fixtures import Populated, populate

from soc.store.local import LocalStore


@pytest.fixture
def populated(tmp_path: Path) -> Iterator[Populated]:
    """A LocalStore on a temporary file holding the report test data."""
    store = LocalStore(tmp_path / "store" / "soc.db")
    try:
        yield populate(store)
    finally:
        store.close()
