"""Event ingest of the Elasticsearch store (mixed into ElasticStore).

Events go to the index of the *ingest* day, ``<prefix>-events-YYYY.MM.DD`` (UTC day of
``soc.clock.now()`` when written), so the number of indices follows time and volume, not the
spread of event timestamps (10k EVTX events from five years make one index, not 142). Reads
go through the alias ``<prefix>-events``, which also covers indices written by earlier
versions (named by event day), so an old store keeps working. With ``elasticsearch.rollover``
on a server that rolls over, bulks go through the write alias instead (soc.store.es_rollover).

Deduplication by ``_id``: a bulk ``create`` refuses an id already in the same index (a
duplicate); ids already stored in *other* event indices (an event shipped again on a later
day) are found first with one ``ids`` search per bulk over the alias, made only when the alias
has other indices than today's.

Several bulks are in flight at once (``bulk_concurrency``), each cut at ``bulk_events`` events
or ``bulk_bytes`` bytes and allowed ``bulk_timeout`` seconds. Every bulk carries a random
token in the private field ``soc_bulk`` (stored, not indexed, removed from documents handed
back): when a bulk is sent again after a timeout or a lost connection and the server answers
"exists" for an event, the stored copy's token tells whether it is this bulk's own first try
(counted as stored) or an earlier write (a duplicate). When the store gives up on a bulk
that got no answer, it keeps that bulk's token per id, so that the caller's retry of the same
events recognises them the same way.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from soc import ecs
from soc.store.base import ID_FIELD, EventFailure, StoreError, WriteResult
from soc.store.es_rollover import write_target
from soc.store.es_search import BULK_TOKEN_FIELD
from soc.store.es_util import error_reason
from soc.store.es_wildcard import COPY_ROOT, copies

if TYPE_CHECKING:
    from soc.store.elastic import ElasticStore


#: (id, event as given, the document to store)
Prepared = tuple[str, Mapping[str, Any], dict[str, Any]]


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class EventWriter:
    """write_events and its bulk helper for ElasticStore."""

    def write_events(self: ElasticStore, events: Sequence[Mapping[str, Any]]) -> WriteResult:
        """Store events by ``_id`` in today's ingest index with bulk ``create``, several
        bulks in flight; an id stored before (in any event index) is a duplicate and left
        unchanged; per-event refusals are returned. Events are searchable after refresh()."""
        result = WriteResult()
        prepared: list[Prepared] = []
        for event in events:
            item = self._prepare(event, result)
            if item is not None:
                prepared.append(item)
        if not prepared:
            return result
        self.ensure_template()
        index, target = write_target(self)
        chunks: list[list[Prepared]] = []
        chunk: list[Prepared] = []
        size = 0
        for item in prepared:
            length = len(_dumps(item[2])) + 64
            if chunk and (len(chunk) >= self.bulk_events or size + length > self.bulk_bytes):
                chunks.append(chunk)
                chunk, size = [], 0
            chunk.append(item)
            size += length
        if chunk:
            chunks.append(chunk)
        if self.dedup_across_days:
            self._event_indices()  # read once here, not by each bulk thread
        self._known_indices.add(index)
        if self.bulk_concurrency == 1 or len(chunks) == 1:
            parts = [self._write_chunk(index, c, target) for c in chunks]
        else:
            with ThreadPoolExecutor(max_workers=self.bulk_concurrency) as pool:
                parts = list(pool.map(lambda c: self._write_chunk(index, c, target), chunks))
        for part in parts:
            result.stored += part.stored
            result.duplicates += part.duplicates
            result.failures.extend(part.failures)
        return result

    def _prepare(
        self: ElasticStore, event: Mapping[str, Any], result: WriteResult
    ) -> Prepared | None:
        """(id, event, document) for one event, or None after noting a failure."""
        event_id = event.get(ID_FIELD)
        if not event_id or not isinstance(event_id, str):
            result.failures.append(EventFailure(str(event_id), "event has no _id", event))
            return None
        doc = {k: v for k, v in event.items() if k != ID_FIELD}
        stamp = ecs.get_field(doc, "@timestamp")
        if not isinstance(stamp, str):
            result.failures.append(EventFailure(event_id, "event has no @timestamp", event))
            return None
        try:
            ecs.parse_timestamp(stamp)
        except ValueError:
            result.failures.append(
                EventFailure(event_id, f"@timestamp is not a date: {stamp!r}", event)
            )
            return None
        if self.layout.wildcard_copies:
            lowered = copies(doc)
            if lowered:
                doc[COPY_ROOT] = lowered
        section = doc.get("event")
        doc["event"] = (
            {**section, "id": event_id} if isinstance(section, Mapping) else {"id": event_id}
        )
        try:
            _dumps(doc)
        except (TypeError, ValueError) as exc:
            result.failures.append(EventFailure(event_id, f"not JSON: {exc}", event))
            return None
        return event_id, event, doc

    def _stored_elsewhere(self: ElasticStore, index: str, ids: list[str]) -> set[str]:
        """Ids among ``ids`` already stored in an event index other than ``index`` (none
        looked for when ``dedup_across_days`` is off)."""
        if not self.dedup_across_days:
            return set()
        others = [name for name in self._event_indices() if name != index]
        if not others:
            return set()
        response = self._search(
            "duplicate check",
            query={"ids": {"values": ids}},
            size=len(ids),
            _source=False,
            track_total_hits=False,
        )
        return {
            str(h["_id"])
            for h in response.get("hits", {}).get("hits", [])
            if h.get("_index") != index
        }

    def _write_chunk(
        self: ElasticStore, index: str, chunk: list[Prepared], target: str | None = None
    ) -> WriteResult:
        """Send one bulk of ``create`` to ``target`` (the write alias of the rollover layout)
        or ``index`` (items refused with 429 are sent again, with backoff)."""
        result = WriteResult()
        elsewhere = self._stored_elsewhere(index, [item[0] for item in chunk])
        pending = [item for item in chunk if item[0] not in elsewhere]
        result.duplicates += len(chunk) - len(pending)
        token = uuid.uuid4().hex
        for attempt in range(1, self.retry_attempts + 1):
            if not pending:
                return result
            body = "".join(
                _dumps({"create": {"_index": target or index, "_id": event_id}})
                + "\n"
                + _dumps({**doc, BULK_TOKEN_FIELD: token})
                + "\n"
                for event_id, _, doc in pending
            )
            sends = 0

            def send(body: str = body) -> Any:
                nonlocal sends
                sends += 1
                client = self._client.options(request_timeout=self.bulk_timeout)
                return client.bulk(operations=body)

            try:
                items = self._request("bulk write", send).body.get("items") or []
            except StoreError:
                # no answer: the bulk may have landed; remember its token so that the next
                # write of these ids (the shipper's retry) can tell its own events apart
                with self._uncertain_lock:
                    for event_id, _, _ in pending:
                        self._uncertain.setdefault(event_id, set()).add(token)
                raise
            again: list[Prepared] = []
            exists: list[Prepared] = []
            for position, item in enumerate(pending):
                event_id, event, _ = item
                if position >= len(items) or not isinstance(items[position], Mapping):
                    reason = "the server's bulk answer has no item for this event"
                    result.failures.append(EventFailure(event_id, reason, event))
                    continue
                outcome = next(iter(items[position].values()), {})
                status = int(outcome.get("status", 0))
                if 200 <= status < 300:
                    result.stored += 1
                elif status == 409:
                    exists.append(item)
                elif status == 429 and attempt < self.retry_attempts:
                    again.append(item)
                else:
                    reason = error_reason(outcome.get("error"), f"HTTP {status}")
                    result.failures.append(EventFailure(event_id, reason, event))
            # "exists" after a resend, or for ids of an earlier bulk that got no answer, may
            # be our own write: the stored token tells
            with self._uncertain_lock:
                earlier = {
                    i[0]: self._uncertain.pop(i[0]) for i in pending if i[0] in self._uncertain
                }
            ours = {
                event_id: {token, *earlier.get(event_id, ())}
                for event_id, _, _ in exists
                if sends > 1 or event_id in earlier
            }
            mine = self._written_by(index, ours) if ours else set()
            result.stored += len(mine)
            result.duplicates += len(exists) - len(mine)
            pending = again
            if pending:
                self._backoff(attempt)
        return result

    def _written_by(self: ElasticStore, index: str, tokens: dict[str, set[str]]) -> set[str]:
        """Ids whose stored copy in ``index`` carries one of their ``tokens`` (one _mget)."""
        ids = list(tokens)
        response = self._request(
            "bulk check",
            lambda: self._client.mget(index=index, ids=ids, source_includes=[BULK_TOKEN_FIELD]),
        ).body
        return {
            str(doc["_id"])
            for doc in response.get("docs", [])
            if doc.get("found")
            and (doc.get("_source") or {}).get(BULK_TOKEN_FIELD) in tokens.get(str(doc["_id"]), ())
        }
