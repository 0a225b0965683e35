"""One rule group's scan as a self-contained request, so that another process can run it.

A worker process of a hunt runs these requests (soc.hunt.workers); it needs the store and
nothing of pySigma, so this module imports neither the rule compiler nor the pipelines. The
workers can then be forked before this process imports pySigma, and start reading files
while it does (see docs/detection.md, "Where a warm hunt's time goes").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from soc.store.base import Hit, QueryError, StoreError

if TYPE_CHECKING:  # the reader of literals is for conversion; scans take its output
    from soc.store.sql_literals import Need


class ScanningStore(Protocol):
    """A store that can evaluate many rule queries in one pass (the local store)."""

    def scan_rules(
        self,
        queries: Sequence[str],
        *,
        prefilter: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        filters: Mapping[str, Any] | None = None,
        literals: Sequence[Need] | None = None,
    ) -> Any:
        """Rows matching any query with the indexes of the queries matched; each query's
        rows oldest first."""
        ...


@dataclass(frozen=True)
class ScanRequest:
    """One group's scan (the arguments of ``scan_rules``), to run in another process."""

    queries: list[str]
    prefilter: str | None
    start: datetime | None
    end: datetime | None
    literals: list[Need]


@dataclass
class ScanResult:
    """What a group's scan gave in another process: every (event, matched rule indexes)
    row in the store's order, or the store's error. A scanner answers None instead when the
    group is better scanned here (e.g. too many rows to carry back)."""

    rows: list[tuple[Hit, list[int]]]
    error: str | None = None


class GroupScanner(Protocol):
    """Scans groups elsewhere (e.g. worker processes), answering in the order asked."""

    def scan_groups(self, requests: Iterable[ScanRequest]) -> Iterator[ScanResult | None]:
        """One result (or None) per request, in order, as they come; the requests are taken
        from ``requests`` as they are handed out (a request is checked just before)."""
        ...


def scan(store: ScanningStore, request: ScanRequest) -> Any:
    """The store's scan for ``request``: (hit, matched rule indexes) rows, streaming."""
    return store.scan_rules(
        request.queries,
        prefilter=request.prefilter,
        start=request.start,
        end=request.end,
        literals=request.literals,
    )


def scan_request(store: ScanningStore, request: ScanRequest, limit: int) -> ScanResult | None:
    """Run one ScanRequest on ``store`` (in a worker): its rows, the store's error, or None
    when it gives more than ``limit`` rows (the caller then scans it streaming)."""
    rows: list[tuple[Hit, list[int]]] = []
    try:
        for hit, matched in scan(store, request):
            rows.append((hit, list(matched)))
            if len(rows) > limit:
                return None
    except (QueryError, StoreError) as exc:
        return ScanResult([], error=str(exc))
    return ScanResult(rows)
