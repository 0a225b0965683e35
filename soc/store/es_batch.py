"""Batched and conditional operations of the Elasticsearch store (mixed into ElasticStore).

Each method costs a fixed, small number of requests whatever the batch size:
- get_records: one ``_mget``;
- create_records: one ``_bulk`` of ``create`` (cut only past the store's bulk size limit);
- get_record_versioned / put_record_if: one GET / one conditional write (``if_seq_no`` +
  ``if_primary_term``, or ``op_type=create``);
- search_many / search_each: one ``_msearch`` per :data:`MSEARCH_MAX` requests;
- group_counts: one composite aggregation request per ``es_search.COMPOSITE_PAGE`` groups.
None of them refreshes an index.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from elasticsearch import ApiError, ConflictError, NotFoundError

from soc.store.base import (
    Bucket,
    Conflict,
    Hit,
    QueryError,
    RecordKind,
    RecordVersion,
    SearchPage,
    SearchRequest,
    SearchResult,
    StoreError,
)
from soc.store.es_util import error_reason, sort_value

if TYPE_CHECKING:
    from soc.store.elastic import ElasticStore

#: Searches per ``_msearch`` request.
MSEARCH_MAX = 100
#: Buckets per level of group_counts' nested terms request; past it the first field is
#: split into hash partitions (``include.partition``), each number tried in turn, and past
#: the last a composite aggregation pages through every group.
TREE_SIZE = 10_000
PARTITIONS = (16, 256)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class BatchOps:
    """get_records, create_records, get_record_versioned, put_record_if, search_many and
    group_counts for ElasticStore (see soc.store.base for the contract)."""

    # --- records in batches ---------------------------------------------------------------
    def get_records(
        self: ElasticStore, kind: RecordKind, record_ids: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """The records that exist among ``record_ids``, read with one ``_mget`` (real-time:
        no refresh needed, none made); missing ids (or a missing index) are absent."""
        index = self._record_index(kind)
        wanted = list(dict.fromkeys(str(i) for i in record_ids))
        if not wanted:
            return {}
        try:
            response = self._call(
                f"reading {kind} records", lambda: self._client.mget(index=index, ids=wanted)
            ).body
        except NotFoundError:
            return {}
        except ApiError as exc:
            raise self._record_error(kind, f"{len(wanted)} ids", exc) from None
        found: dict[str, dict[str, Any]] = {}
        for doc in response.get("docs", []):
            if doc.get("found") and "error" not in doc:
                found[str(doc["_id"])] = self._record_source(doc.get("_source") or {})
            elif "error" in doc and "index_not_found" not in _dumps(doc["error"]):
                raise StoreError(
                    f"Elasticsearch at {self.display_url}: {kind} record {doc.get('_id')!r}: "
                    f"{error_reason(doc['error'])}"
                )
        return found

    def create_records(
        self: ElasticStore, kind: RecordKind, records: Mapping[str, Mapping[str, Any]]
    ) -> set[str]:
        """Create many records with one ``_bulk`` of ``create`` (more only past the store's
        bulk size limits); an existing id is left unchanged and not returned. Raises
        StoreError naming the first record the server refused for another reason."""
        if not records:
            return set()
        index = self._ensure_record_index(kind)
        created: set[str] = set()
        chunk: list[tuple[str, str]] = []
        size = 0
        for record_id, record in records.items():
            line = (
                _dumps({"create": {"_index": index, "_id": record_id}})
                + "\n"
                + _dumps(self._record_body(record_id, record))
                + "\n"
            )
            if chunk and (len(chunk) >= self.bulk_events or size + len(line) > self.bulk_bytes):
                created |= self._create_chunk(kind, chunk)
                chunk, size = [], 0
            chunk.append((record_id, line))
            size += len(line)
        if chunk:
            created |= self._create_chunk(kind, chunk)
        self._unrefreshed.add(index)
        return created

    def _create_chunk(
        self: ElasticStore, kind: RecordKind, chunk: list[tuple[str, str]]
    ) -> set[str]:
        body = "".join(line for _, line in chunk)
        attempts = 0

        def send() -> Any:
            nonlocal attempts
            attempts += 1
            return self._client.bulk(operations=body)

        response = self._request(f"creating {kind} records", send).body
        items = response.get("items") or []
        created: set[str] = set()
        landed_before: list[str] = []
        for (record_id, _), item in zip(chunk, items, strict=False):
            outcome = next(iter(item.values()), {}) if isinstance(item, Mapping) else {}
            status = int(outcome.get("status", 0))
            if 200 <= status < 300:
                created.add(record_id)
            elif status == 409:
                landed_before.append(record_id)
            else:
                raise StoreError(
                    f"Elasticsearch at {self.display_url}: {kind} record {record_id!r}: "
                    f"{error_reason(outcome.get('error'), f'HTTP {status}')}"
                )
        if attempts > 1 and landed_before:
            # the bulk was sent again after a timeout: ids whose stored copy is the one we
            # sent were created by our first try, not found existing
            sent = {record_id: line for record_id, line in chunk}
            stored = self.get_records(kind, landed_before)
            for record_id, record in stored.items():
                mine = json.loads(sent[record_id].split("\n", 2)[1])
                if self._record_body(record_id, record) == mine:
                    created.add(record_id)
        return created

    # --- optimistic concurrency -------------------------------------------------------------
    def get_record_versioned(
        self: ElasticStore, kind: RecordKind, record_id: str
    ) -> tuple[dict[str, Any], RecordVersion] | None:
        """A record and its (seq_no, primary_term), or None; one real-time GET."""
        raw = self._get_record_raw(kind, record_id)
        if raw is None or not raw.get("found", True):
            return None
        version = RecordVersion(int(raw["_seq_no"]), int(raw["_primary_term"]))
        return self._record_source(raw.get("_source") or {}), version

    def put_record_if(
        self: ElasticStore,
        kind: RecordKind,
        record_id: str,
        record: Mapping[str, Any],
        version: RecordVersion | None,
    ) -> RecordVersion:
        """Write ``record`` only if it is still at ``version`` (None: only if absent), with
        ``if_seq_no``/``if_primary_term`` (or ``op_type=create``); returns the new version,
        raises Conflict when another writer got there first. When the request had to be sent
        again (timeout, connection loss) and the server then reports a conflict, the stored
        record is read back: if it is exactly what this call wrote, the first try landed and
        its version is returned instead of a false Conflict."""
        index = self._ensure_record_index(kind)
        body = self._record_body(record_id, record)
        attempts = 0

        def send() -> Any:
            nonlocal attempts
            attempts += 1
            if version is None:
                return self._client.create(index=index, id=record_id, document=body)
            return self._client.index(
                index=index,
                id=record_id,
                document=body,
                if_seq_no=version.seq_no,
                if_primary_term=version.primary_term,
            )

        try:
            response = self._call(f"writing {kind} record", send).body
        except ConflictError:
            if attempts > 1:
                current = self.get_record_versioned(kind, record_id)
                sent = json.loads(_dumps(body))  # as the server keeps it (tuples -> lists)
                if current is not None and self._record_body(record_id, current[0]) == sent:
                    self._unrefreshed.add(index)
                    return current[1]
            raise Conflict(
                f"{kind} record {record_id!r} "
                + ("already exists" if version is None else "changed since it was read")
            ) from None
        except ApiError as exc:
            raise self._record_error(kind, record_id, exc) from None
        self._unrefreshed.add(index)
        return RecordVersion(int(response["_seq_no"]), int(response["_primary_term"]))

    # --- many searches at once ------------------------------------------------------------
    def _search_body(self: ElasticStore, request: SearchRequest) -> dict[str, Any]:
        size = max(0, min(int(request.size), 10_000))
        body: dict[str, Any] = {
            "query": self._query(request.query, request.filters, request.start, request.end),
            "size": size,
            "track_total_hits": True,
        }
        if size:
            body["sort"] = [
                {"@timestamp": {"order": "asc", "unmapped_type": "date_nanos"}},
                {"event.id": {"order": "asc", "unmapped_type": "keyword"}},
            ]
            if request.fields is not None:
                body["_source"] = {"includes": list(request.fields)} if request.fields else False
            if request.after is not None:
                body["search_after"] = list(request.after)
        return body

    def search_many(self: ElasticStore, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        """One result per request, in order: one ``_msearch`` per 100 requests, hits
        ordered by (@timestamp, id) with ``_source`` cut to ``fields``, exact totals, and
        ``size`` 0 for a count. A query the server refuses raises QueryError naming its
        position in the batch."""
        results: list[SearchResult] = []
        for answer in self.search_each(requests):
            if isinstance(answer, QueryError):
                raise answer
            results.append(answer)
        return results

    def search_each(
        self: ElasticStore, requests: Sequence[SearchRequest]
    ) -> list[SearchResult | QueryError]:
        """As search_many, in the same requests, but a query the server refuses takes its
        place in the answers as a QueryError (naming its position) while the others are
        answered: one bad rule costs no search of the batch again. Other failures raise."""
        results: list[SearchResult | QueryError] = []
        header = {
            "index": self.events_alias,
            "ignore_unavailable": True,
            "allow_no_indices": True,
        }
        for first in range(0, len(requests), MSEARCH_MAX):
            batch = requests[first : first + MSEARCH_MAX]
            lines = "".join(
                _dumps(header) + "\n" + _dumps(self._search_body(r)) + "\n" for r in batch
            )
            try:
                response = self._call(
                    "multi-search",
                    # up to 100 searches over a whole window: as heavy as a bulk, and allowed
                    # as long (at 100k events one took over 30 s on the test server)
                    lambda lines=lines: self._client.options(
                        request_timeout=self.bulk_timeout
                    ).msearch(searches=lines),
                ).body
            except ApiError as exc:
                if exc.meta.status == 400:
                    raise QueryError(
                        f"Elasticsearch rejected a multi-search: {error_reason(exc.body)}"
                    ) from None
                raise self._record_error("events", "multi-search", exc) from None
            answers = response.get("responses") or []
            if len(answers) != len(batch):
                raise StoreError(
                    f"Elasticsearch at {self.display_url}: multi-search answered "
                    f"{len(answers)} of {len(batch)} searches"
                )
            for offset, (request, answer) in enumerate(zip(batch, answers, strict=True)):
                if "error" in answer:
                    reason = error_reason(answer["error"], "bad query")
                    if int(answer.get("status", 400)) == 400:
                        results.append(
                            QueryError(
                                f"Elasticsearch rejected query {first + offset} of the batch: "
                                f"{reason}"
                            )
                        )
                        continue
                    raise StoreError(
                        f"Elasticsearch at {self.display_url}: search {first + offset} of the "
                        f"batch: {reason}"
                    )
                results.append(self._search_result(request, answer))
        return results

    def _search_result(
        self: ElasticStore, request: SearchRequest, answer: Mapping[str, Any]
    ) -> SearchResult:
        hits_section = answer.get("hits") or {}
        total = hits_section.get("total", 0)
        count = int(total.get("value", 0)) if isinstance(total, Mapping) else int(total)
        hits = [
            Hit(id=str(h["_id"]), source=self._source(h), sort=tuple(h.get("sort") or ()))
            for h in hits_section.get("hits", [])
        ]
        size = max(0, min(int(request.size), 10_000))
        next_after = hits[-1].sort if size and hits and len(hits) == size else None
        return SearchResult(page=SearchPage(hits=hits, next_after=next_after), total=count)

    # --- correlation candidates -------------------------------------------------------------
    def group_counts(
        self: ElasticStore,
        query: str | None,
        group_by: Sequence[str],
        *,
        start: datetime | None,
        end: datetime | None,
        distinct_field: str | None = None,
        min_count: int = 1,
    ) -> list[Bucket]:
        """Every group of ``group_by`` values (events lacking one of the fields belong to no
        group) whose event count, or distinct count of ``distinct_field``, is at least
        ``min_count``, ordered by key. First one request of nested ``terms`` aggregations
        with ``min_doc_count`` (the server drops the groups below the threshold, so the
        answer does not grow with them), used only when it is provably complete (no
        ``sum_other_doc_count`` at any level); otherwise a composite aggregation paged
        with ``after_key``;
        the distinct count is exact: the composite's last source is ``distinct_field``, so
        each (group, value) pair comes back once and the pairs are counted here (no
        cardinality estimate, which is approximate). Keyword values come back as the
        server's normalised (lower-case) form, as terms() returns them."""
        if not group_by:
            raise ValueError("group_counts() needs at least one group-by field")
        names = [f"g{i}" for i in range(len(group_by))]
        sources = [
            {name: {"terms": {"field": field}}} for name, field in zip(names, group_by, strict=True)
        ]
        if distinct_field is not None:
            sources.append({"d": {"terms": {"field": distinct_field}}})
        body = self._query(query, None, start, end)
        tree = self._group_tree(body, list(group_by), distinct_field, min_count)
        for partitions in PARTITIONS if tree is None else ():
            tree = self._group_tree_parts(
                body, list(group_by), distinct_field, min_count, partitions
            )
            if tree is not None:
                break
        if tree is not None:
            counts = tree
        else:
            counts = defaultdict(int)
            for key, doc_count in self._composite(sources, body, "group counts"):
                group = tuple(key[n] for n in names)
                counts[group] += 1 if distinct_field is not None else doc_count
        buckets = [Bucket(key=k, count=c) for k, c in counts.items() if c >= min_count]
        buckets.sort(key=lambda b: tuple(sort_value(v) for v in b.key))
        return buckets

    def _group_tree_parts(
        self: ElasticStore,
        body: dict[str, Any],
        group_by: list[str],
        distinct_field: str | None,
        min_count: int,
        partitions: int,
    ) -> dict[tuple[Any, ...], int] | None:
        """_group_tree over ``partitions`` hash partitions of the first group-by field (one
        request each), or None as soon as one partition is not provably complete."""
        counts: dict[tuple[Any, ...], int] = {}
        for partition in range(partitions):
            part = self._group_tree(
                body, group_by, distinct_field, min_count, (partition, partitions)
            )
            if part is None:
                return None
            counts.update(part)
        return counts

    def _group_tree(
        self: ElasticStore,
        body: dict[str, Any],
        group_by: list[str],
        distinct_field: str | None,
        min_count: int,
        partition: tuple[int, int] | None = None,
    ) -> dict[tuple[Any, ...], int] | None:
        """Group counts from one request of nested terms aggregations (each level at most
        TREE_SIZE buckets, ``min_doc_count`` = ``min_count``: a group, and each of its
        prefixes, needs at least that many events to reach the threshold, distinct values
        included); None when the server left buckets out (or refused the request), so
        that the caller pages a composite aggregation instead."""
        levels = [*group_by, distinct_field] if distinct_field is not None else list(group_by)
        aggs: dict[str, Any] = {}
        for depth in reversed(range(len(levels))):
            is_distinct = distinct_field is not None and depth == len(levels) - 1
            terms: dict[str, Any] = {
                "field": levels[depth],
                "size": TREE_SIZE,
                "min_doc_count": 1 if is_distinct else max(1, min_count),
            }
            if depth == 0 and partition is not None:
                terms["include"] = {"partition": partition[0], "num_partitions": partition[1]}
            node: dict[str, Any] = {"terms": terms}
            if aggs:
                node["aggs"] = aggs
            aggs = {f"l{depth}": node}
        try:
            response = self._search("group counts", query=body, size=0, aggs=aggs)
        except StoreError:
            return None
        counts: dict[tuple[Any, ...], int] = {}

        def complete(section: Mapping[str, Any]) -> bool:
            """Every bucket of the level came back: fewer than asked for, and no shard cut
            its list short (a zero error bound)."""
            buckets = section.get("buckets") or []
            return len(buckets) < TREE_SIZE and not int(
                section.get("doc_count_error_upper_bound") or 0
            )

        def key_of(bucket: Mapping[str, Any]) -> Any:
            if bucket.get("key_as_string") in ("true", "false"):
                return bucket["key_as_string"] == "true"
            return bucket["key"]

        def walk(section: Mapping[str, Any], depth: int, prefix: tuple[Any, ...]) -> bool:
            if not complete(section):
                return False
            for bucket in section.get("buckets") or []:
                group = (*prefix, key_of(bucket))
                inner = bucket.get(f"l{depth + 1}") or {}
                if depth < len(group_by) - 1:
                    if not walk(inner, depth + 1, group):
                        return False
                elif distinct_field is None:
                    counts[group] = int(bucket["doc_count"])
                elif complete(inner):
                    counts[group] = len(inner.get("buckets") or [])
                else:
                    return False
            return True

        top = (response.get("aggregations") or {}).get("l0") or {}
        return counts if walk(top, 0, ()) else None
