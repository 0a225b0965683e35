"""Store-independent helpers for alert lists and reports: use a store's server-side query
methods when it has them (the Elasticsearch store: list_records_between, get_events), else
the Store protocol's methods with the same result."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from soc.store.base import RecordKind, Store


def records_between(
    store: Store,
    kind: RecordKind,
    *,
    field: str,
    start: str | None = None,
    end: str | None = None,
    filters: Mapping[str, Any] | None = None,
    descending: bool = True,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Records whose top-level ``field`` (a formatted timestamp) is in ``[start, end)`` and
    whose fields equal ``filters``, ordered by ``field`` (ties by id), at most ``limit``.
    On a store with list_records_between the server does the filtering and the limit."""
    method = getattr(store, "list_records_between", None)
    if callable(method):
        result: list[dict[str, Any]] = method(
            kind,
            field=field,
            start=start,
            end=end,
            filters=filters,
            descending=descending,
            limit=limit,
        )
        return result
    records = store.list_records(kind, filters=filters, order_by=field, descending=descending)
    if start is not None or end is not None:
        records = [
            r
            for r in records
            if field in r
            and (start is None or str(r[field]) >= start)
            and (end is None or str(r[field]) < end)
        ]
    return records if limit is None else records[: max(0, limit)]


def count_records_between(
    store: Store,
    kind: RecordKind,
    *,
    field: str,
    start: str | None = None,
    end: str | None = None,
    filters: Mapping[str, Any] | None = None,
) -> int:
    """How many records records_between would return with no limit (on Elasticsearch, one
    ``_count`` request)."""
    method = getattr(store, "count_records_between", None)
    if callable(method):
        return int(method(kind, field=field, start=start, end=end, filters=filters))
    return len(records_between(store, kind, field=field, start=start, end=end, filters=filters))


def events_by_id(store: Store, event_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The stored events among ``event_ids`` (id -> document); one request per page on a
    store with get_events, else one get_event per id."""
    method = getattr(store, "get_events", None)
    if callable(method):
        found: dict[str, dict[str, Any]] = method(event_ids)
        return found
    events: dict[str, dict[str, Any]] = {}
    for event_id in dict.fromkeys(event_ids):
        event = store.get_event(event_id)
        if event is not None:
            events[event_id] = event
    return events
