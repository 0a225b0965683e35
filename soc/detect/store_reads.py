"""Reading a rule's events from any store page by page, counting the requests made."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from soc.store.base import Hit, Store

#: Events per search page.
PAGE_SIZE = 1000


class RequestCounter:
    """How many requests (searches, statements) a rule's run made."""

    def __init__(self) -> None:
        self.calls = 0


def iter_hits(
    store: Store,
    query: str,
    start: datetime | None,
    end: datetime | None,
    counter: RequestCounter | None = None,
    scope: Mapping[str, Any] | None = None,
) -> Iterator[Hit]:
    """Every event matching ``query`` (and the exact-match ``scope`` filters) in
    ``[start, end)``, oldest first, page by page."""
    after: tuple[Any, ...] | None = None
    while True:
        page = store.search(query, filters=scope, start=start, end=end, size=PAGE_SIZE, after=after)
        if counter is not None:
            counter.calls += 1
        yield from page.hits
        if page.next_after is None or not page.hits:
            return
        after = page.next_after


__all__ = ["PAGE_SIZE", "RequestCounter", "iter_hits"]
