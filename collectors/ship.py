"""Shipping: batches of ECS events into a Store, with retries, dead letters and statistics.

Public API (used by every collector: files, stdin, syslog, EVTX and pcap)::

    from collectors.ship import DeadLetterFile, Position, RetryPolicy, Shipper

    shipper = Shipper(store, dead_letters=DeadLetterFile.in_data_dir(data_dir))
    shipper.send(event, source="auth.log")                 # event carries its "_id"
    shipper.reject("auth.log", raw_line, "not an sshd line", position_text="offset 120")
    shipper.close()                                        # = flush(); then read shipper.stats

Counting rules (``shipper.stats``, a ShipStats): every record a source hands over is *read*
exactly once, either through ``send`` (it parsed: *parsed*) or through ``reject`` (it did not:
*dead_lettered*). After ``flush`` every parsed record is *stored*, a *duplicate* (its id was
already in the store) or *dead_lettered* (the store refused it). So, once flushed::

    read == stored + duplicates + dead_lettered

Durability: ``flush`` writes the queued events (one ``write_events`` call per source in the
batch), writes and fsyncs the dead letters, and only THEN advances the checkpoints of the
positions given with the records of that batch (``Position``, kept in a CheckpointRegistry).
A crash therefore re-sends at most the unacknowledged batch, and deterministic ids make the
re-send a no-op.

Retries: ``StoreUnavailable`` (connection errors, HTTP 429 and 5xx) is retried with exponential
backoff and full jitter (RetryPolicy); other StoreErrors propagate at once. Per-document
refusals (``WriteResult.failures``) become dead letters.

Dead letters: NDJSON under ``<data_dir>/deadletter/<UTC date>.ndjson``, one object per record
with ``time``, ``source``, ``position``, ``reason``, ``original`` (at most
``DEAD_LETTER_ORIGINAL_LIMIT`` characters; ``original_bytes`` gives the full length and
``original_truncated`` says when it was cut) and, for store refusals, ``id``.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from collectors.checkpoint import CheckpointRegistry
from soc import clock, ecs
from soc.store.base import ID_FIELD, Store, StoreUnavailable, WriteResult

_T = TypeVar("_T")

#: How much of a dead record's original text a dead letter keeps.
DEAD_LETTER_ORIGINAL_LIMIT = 4096
DEAD_LETTER_DIR = "deadletter"


@dataclass(frozen=True, slots=True)
class Position:
    """Where a record came from, for checkpointing: the registry key of its source and the
    state to merge into that key once the record is durable (e.g. ``{"offset": 1234}``: the
    byte offset just after the record)."""

    key: str
    state: Mapping[str, Any]


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter for a store that is unavailable.

    ``attempts`` counts tries in total (None: retry forever, for long-running collectors);
    the n-th delay is uniform in [0, min(maximum, initial * multiplier**n)] when ``jitter``,
    else exactly that bound.
    """

    attempts: int | None = 8
    initial: float = 0.5
    maximum: float = 30.0
    multiplier: float = 2.0
    jitter: bool = True

    def delays(self) -> Iterator[float]:
        """The waits between tries: one fewer than ``attempts`` (endless when None)."""
        n = 0
        while self.attempts is None or n < self.attempts - 1:
            bound = min(self.maximum, self.initial * self.multiplier**n)
            yield random.uniform(0, bound) if self.jitter else bound
            n += 1


@dataclass
class SourceStats:
    """Counters of one source (file, stdin, listener...)."""

    read: int = 0
    parsed: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    format: str | None = None


@dataclass
class ShipStats:
    """Counters of one run; ``as_dict`` gives the ``--json`` object of `soc ingest`."""

    read: int = 0
    parsed: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    batches: int = 0
    retries: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    sources: dict[str, SourceStats] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        end = self.finished if self.finished is not None else time.monotonic()
        return max(0.0, end - self.started)

    @property
    def events_per_second(self) -> float:
        secs = self.seconds
        return (self.stored + self.duplicates) / secs if secs > 0 else 0.0

    def source(self, name: str) -> SourceStats:
        """The counters of source ``name`` (created on first use)."""
        found = self.sources.get(name)
        if found is None:
            found = self.sources[name] = SourceStats()
        return found

    def as_dict(self) -> dict[str, Any]:
        """read, parsed, stored, duplicates, dead_lettered, seconds, and per-source detail."""
        return {
            "read": self.read,
            "parsed": self.parsed,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "dead_lettered": self.dead_lettered,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.events_per_second, 1),
            "sources": {
                name: {k: v for k, v in asdict(s).items() if v is not None}
                for name, s in self.sources.items()
            },
        }


class DeadLetterError(Exception):
    """Dead letters cannot be written (disk full, permissions); one line naming the file.
    Nothing is checkpointed past records whose dead letters were not written."""


class DeadLetterFile:
    """Appends dead letters as NDJSON to ``<directory>/<UTC date>.ndjson`` (one file per day)."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self._handle: IO[str] | None = None
        self._day: str | None = None
        self.written = 0

    @classmethod
    def in_data_dir(cls, data_dir: Path | str) -> DeadLetterFile:
        """Dead letters kept under ``data_dir/deadletter/``."""
        return cls(Path(data_dir) / DEAD_LETTER_DIR)

    @property
    def current_path(self) -> Path:
        """The file today's dead letters go to."""
        return self.directory / f"{clock.now().strftime('%Y-%m-%d')}.ndjson"

    def write(
        self,
        source: str,
        original: str | bytes,
        reason: str,
        *,
        position: str | int | None = None,
        event_id: str | None = None,
        length: int | None = None,
    ) -> None:
        """Append one dead letter; ``length`` is the full size of the original when only a
        prefix was kept by the caller."""
        if isinstance(original, bytes):
            full = len(original) if length is None else length
            text = original[:DEAD_LETTER_ORIGINAL_LIMIT].decode("utf-8", errors="replace")
        else:
            full = len(original.encode("utf-8", errors="replace")) if length is None else length
            text = original[:DEAD_LETTER_ORIGINAL_LIMIT]
        now = clock.now()
        record: dict[str, Any] = {
            "time": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "source": source,
            "position": position,
            "reason": reason,
            "original": text,
            "original_bytes": full,
        }
        if full > len(text.encode("utf-8", errors="replace")):
            record["original_truncated"] = True
        if event_id is not None:
            record["id"] = event_id
        handle = self._open(now.strftime("%Y-%m-%d"))
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.written += 1

    def _open(self, day: str) -> IO[str]:
        if self._handle is None or day != self._day:
            self.close()
            path = self.directory / f"{day}.ndjson"
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                self._handle = open(  # noqa: SIM115 - kept open across writes, closed in close()
                    path, "a", encoding="utf-8"
                )
            except OSError as exc:
                raise DeadLetterError(
                    f"{path}: cannot write dead letters: {exc.strerror or exc}"
                ) from None
            self._day = day
        return self._handle

    def flush(self) -> None:
        """Make every dead letter written so far durable (flush + fsync)."""
        if self._handle is not None:
            try:
                self._handle.flush()
                os.fsync(self._handle.fileno())
            except OSError as exc:
                raise DeadLetterError(
                    f"{self.directory}: cannot write dead letters: {exc.strerror or exc}"
                ) from None

    def close(self) -> None:
        """Flush and close the current file."""
        if self._handle is not None:
            self.flush()
            self._handle.close()
            self._handle = None


@dataclass(slots=True)
class _Queued:
    event: dict[str, Any]
    source: str


class Shipper:
    """Queues events, writes them to the store in batches, and keeps the books.

    - ``send(event, source=..., position=...)`` queues an event (it must carry ``"_id"``);
      the batch is written when it holds ``batch_events`` events or about ``batch_bytes``
      bytes (estimated cheaply: twice ``event.original`` plus 256, or 1 KiB without an
      original), or when ``max_wait`` seconds passed since its first event (checked by
      ``send`` every 64 events and by ``tick``: call ``tick()`` when a source is idle).
    - ``reject(source, original, reason, ...)`` dead-letters a record that could not be
      parsed (or a whole input that cannot be read) and counts it.
    - ``mark(position)`` records a checkpoint position that carries no event (e.g. blank
      lines at the end of a file); it advances with the next flush.
    - ``flush()`` writes the batch, then dead letters, then checkpoints (in that order).
    - ``close()`` flushes and closes the dead-letter file; ``stats`` has the counters.

    ``on_batch(stats)`` is called after each flush that wrote something (progress display).
    ``checkpoints``: the registry where positions are merged; None ignores positions.
    ``sleep`` is the function used to wait between retries (tests pass a fake).
    """

    def __init__(
        self,
        store: Store,
        *,
        dead_letters: DeadLetterFile,
        checkpoints: CheckpointRegistry | None = None,
        batch_events: int = 2000,
        batch_bytes: int = 8_000_000,
        max_wait: float | None = 1.0,
        retry: RetryPolicy | None = None,
        on_batch: Callable[[ShipStats], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.dead_letters = dead_letters
        self.checkpoints = checkpoints
        self.batch_events = max(1, batch_events)
        self.batch_bytes = max(1, batch_bytes)
        self.max_wait = max_wait
        self.retry = retry or RetryPolicy()
        self.on_batch = on_batch
        self._sleep = sleep
        self.stats = ShipStats()
        self._queue: list[_Queued] = []
        self._bytes = 0
        self._first_at = 0.0
        self._positions: dict[str, Mapping[str, Any]] = {}
        self._pending_dead = False

    # --- intake -----------------------------------------------------------------------------
    def send(self, event: dict[str, Any], *, source: str, position: Position | None = None) -> None:
        """Queue one parsed event of ``source``; may flush (and so block on the store).

        A batch is written when full; the ``max_wait`` timer is checked here every 64 events
        and by ``tick()``, which long-running collectors call when idle."""
        stats = self.stats
        per = stats.sources.get(source) or stats.source(source)
        stats.read += 1
        stats.parsed += 1
        per.read += 1
        per.parsed += 1
        queue = self._queue
        if not queue:
            self._first_at = time.monotonic()
        queue.append(_Queued(event, source))
        ev = event.get("event")
        original = ev.get("original") if isinstance(ev, dict) else None
        self._bytes += 2 * len(original) + 256 if isinstance(original, str) else 1024
        if position is not None:
            self._positions[position.key] = position.state
        n = len(queue)
        if (
            n >= self.batch_events
            or self._bytes >= self.batch_bytes
            or (
                not n & 63
                and self.max_wait is not None
                and time.monotonic() - self._first_at >= self.max_wait
            )
        ):
            self.flush()

    def reject(
        self,
        source: str,
        original: str | bytes,
        reason: str,
        *,
        position: Position | None = None,
        position_text: str | int | None = None,
        length: int | None = None,
    ) -> None:
        """Dead-letter one record of ``source`` that could not become an event, with a short
        ``reason``; counted as read and dead_lettered. ``position_text`` is what the dead
        letter shows as its position (e.g. a byte offset); ``position`` advances the
        checkpoint with the next flush."""
        stats = self.stats
        per = stats.source(source)
        stats.read += 1
        stats.dead_lettered += 1
        per.read += 1
        per.dead_lettered += 1
        self.dead_letters.write(source, original, reason, position=position_text, length=length)
        self._pending_dead = True
        if position is not None:
            self._positions[position.key] = position.state
            if not self._queue:
                self._first_at = time.monotonic()

    def mark(self, position: Position) -> None:
        """Advance the checkpoint of ``position.key`` with the next flush, without an event."""
        self._positions[position.key] = position.state

    def set_format(self, source: str, fmt: str | None) -> None:
        """Record which format a source was read as (shown in per-source detail)."""
        self.stats.source(source).format = fmt

    @property
    def pending(self) -> int:
        """Events queued and not yet written."""
        return len(self._queue)

    def tick(self) -> None:
        """Flush when the oldest queued event (or position) waited ``max_wait`` seconds."""
        if not self._queue and not self._positions and not self._pending_dead:
            return
        if self.max_wait is None or time.monotonic() - self._first_at >= self.max_wait:
            self.flush()

    # --- output -----------------------------------------------------------------------------
    def flush(self) -> None:
        """Write the queued events (retrying while the store is unavailable), dead-letter the
        store's refusals, fsync the dead letters, then advance the checkpoints. Raises
        StoreUnavailable when the retries are exhausted (nothing of the batch is then
        checkpointed) and StoreError for other store failures."""
        queue, self._queue = self._queue, []
        self._bytes = 0
        wrote = bool(queue)
        if queue:
            # event.ingested: when the event reached the SOC (ECS), for every collector; a
            # collector's own value (e.g. from a forwarder) is kept. Reports measure MTTD from it.
            ingested = ecs.format_timestamp(clock.now())
            groups: dict[str, list[dict[str, Any]]] = {}
            for item in queue:
                meta = item.event.setdefault("event", {})
                if isinstance(meta, dict):
                    meta.setdefault("ingested", ingested)
                groups.setdefault(item.source, []).append(item.event)
            written: set[str] = set()
            try:
                if hasattr(self.store, "write_event_groups"):
                    # one transaction for every source of the batch (the local store)
                    lists = list(groups.values())
                    results = self._write_with_retry(
                        lambda: self.store.write_event_groups(lists)  # type: ignore[attr-defined]
                    )
                    for source, result in zip(groups, results, strict=True):
                        written.add(source)
                        self._account(source, result)
                else:
                    for source, events in groups.items():
                        result = self._write_with_retry(
                            lambda events=events: self.store.write_events(events)
                        )
                        written.add(source)
                        self._account(source, result)
            except BaseException:
                # Keep what was not written queued, so a later flush retries it; the
                # positions stay pending too, so no checkpoint moves past unwritten events.
                self._queue = [q for q in queue if q.source not in written] + self._queue
                raise
            self.stats.batches += 1
        if self._pending_dead or wrote:
            self.dead_letters.flush()
            self._pending_dead = False
        if self._positions:
            if self.checkpoints is not None:
                for key, state in self._positions.items():
                    self.checkpoints.merge(key, state)
                self.checkpoints.save()
            self._positions = {}
        if wrote and self.on_batch is not None:
            self.on_batch(self.stats)

    def _write_with_retry(self, write: Callable[[], _T]) -> _T:
        """``write()`` (a store write), retried while the store is unavailable."""
        delays = self.retry.delays()
        while True:
            try:
                return write()
            except StoreUnavailable:
                delay = next(delays, None)
                if delay is None:
                    raise
                self.stats.retries += 1
                self._sleep(delay)

    def _account(self, source: str, result: WriteResult) -> None:
        stats = self.stats
        per = stats.source(source)
        stats.stored += result.stored
        stats.duplicates += result.duplicates
        per.stored += result.stored
        per.duplicates += result.duplicates
        for failure in result.failures:
            stats.dead_lettered += 1
            per.dead_lettered += 1
            event = failure.event
            original = _original_of(event)
            self.dead_letters.write(
                source,
                original,
                f"store refused the event: {failure.reason}",
                position=_position_of(event),
                event_id=failure.id,
            )
            self._pending_dead = True

    def close(self) -> None:
        """Flush everything, close the dead-letter file and stop the clock of ``stats``."""
        try:
            self.flush()
        finally:
            self.dead_letters.close()
            self.stats.finished = time.monotonic()


def _original_of(event: Mapping[str, Any]) -> str:
    ev = event.get("event")
    original = ev.get("original") if isinstance(ev, Mapping) else None
    if isinstance(original, str):
        return original
    try:
        return json.dumps(
            {k: v for k, v in event.items() if k != ID_FIELD}, ensure_ascii=False, default=str
        )
    except (TypeError, ValueError):
        return repr(event)


def _position_of(event: Mapping[str, Any]) -> str | int | None:
    log = event.get("log")
    if isinstance(log, Mapping):
        file = log.get("file")
        if isinstance(file, Mapping) and "offset" in file:
            return file["offset"]
    return None
