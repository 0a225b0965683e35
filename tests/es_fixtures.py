"""Fixtures for tests of the Elasticsearch store: a real osmem-server process.

``es_server`` starts one osmem-server (an OpenSearch-API engine) per test session, bound to
127.0.0.1 on a free port; ``es_url`` gives each test its own copy-on-write clone of it on its
own port and removes the clone afterwards, so tests never see each other's indices.

Register them from tests/conftest.py with ``pytest_plugins = ["es_fixtures"]`` (or import
both names there).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from osmem_server import OsmemServer


@pytest.fixture(scope="session")
def es_server() -> Iterator[OsmemServer]:
    """One osmem-server for the whole session (stopped at the end)."""
    server = OsmemServer.start(japanese=False, addr="127.0.0.1:0")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def es_url(es_server: OsmemServer) -> Iterator[str]:
    """The URL of a fresh, empty clone of the session's server, for this test only."""
    clone = es_server.clone()
    try:
        yield clone.url
    finally:
        clone.close()
