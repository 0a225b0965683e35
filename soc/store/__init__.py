"""Stores: the embedded SQLite store and the Elasticsearch store behind one protocol."""

from __future__ import annotations

from soc.config import Settings
from soc.store.base import (
    RECORD_KINDS,
    Bucket,
    EventFailure,
    Hit,
    QueryError,
    RecordKind,
    SearchPage,
    Store,
    StoreError,
    StoreUnavailable,
    WriteResult,
)

__all__ = [
    "RECORD_KINDS",
    "Bucket",
    "EventFailure",
    "Hit",
    "QueryError",
    "RecordKind",
    "SearchPage",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "WriteResult",
    "open_store",
]

LOCAL_DB_NAME = "soc.db"


def open_store(settings: Settings) -> Store:
    """The store the settings select: Elasticsearch when a URL is configured, else the
    embedded SQLite file in the data directory. Raises StoreUnavailable with a one-line reason."""
    if settings.store_kind == "elasticsearch":
        from soc.store.elastic import ElasticStore

        return ElasticStore.from_settings(settings)
    from soc.store.local import LocalStore

    return LocalStore(settings.data_dir / LOCAL_DB_NAME)
