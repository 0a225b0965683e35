"""Several schedulers sharing one rule set, through lease records in the store.

Every scheduler holds a lease: its id and an expiry, kept in one "state" record
(LEASES_ID) that is only ever written with ``put_record_if`` (Elasticsearch: ``if_seq_no`` /
``if_primary_term``; the local store: a version column, between processes too), so two
schedulers renewing at once never lose each other's entry: the loser re-reads and tries
again. A scheduler renews its lease at the start of every cycle; the live schedulers are the
unexpired leases, and each rule belongs to exactly one of them by rendezvous hashing of the
rule id over the live scheduler ids (every scheduler computes the same owner from the same
record; when one joins or leaves, only its share of rules moves). A scheduler that dies
stops renewing: once its lease expires the others see it gone and its rules fall to them.

Watermarks are written conditionally too (``merge_watermarks``): on Conflict the record is
re-read and each rule keeps the later of the two marks, so two schedulers never move a
rule's watermark back.

While a lease is live but its holder has died, the holder's rules wait (at most the lease
duration); when a holder's cycle outlives its lease, another scheduler may run the same rules
at the same time, which raises nothing twice (deterministic alert ids). Choose a lease longer
than the cycle period plus a cycle's duration.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from soc import clock, ecs
from soc.store.base import Conflict, Store, StoreError

#: The "state" record holding every scheduler's lease (scheduler id -> expiry).
LEASES_ID = "scheduler-leases"
#: How many times a conditional write is retried after a Conflict before giving up.
MAX_TRIES = 50

T = TypeVar("T")


class LeaseLost(StoreError):
    """A conditional write kept losing to other writers (MAX_TRIES conflicts in a row)."""


def default_scheduler_id() -> str:
    """This process's scheduler id: host name and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_of(rule_id: str, schedulers: Sequence[str]) -> str | None:
    """The scheduler that runs ``rule_id`` (rendezvous hashing: the highest hash of
    (scheduler, rule) wins), or None when there is no scheduler."""
    best: tuple[bytes, str] | None = None
    for scheduler in schedulers:
        digest = hashlib.blake2b(f"{scheduler}\x1f{rule_id}".encode(), digest_size=8).digest()
        if best is None or (digest, scheduler) > best:
            best = (digest, scheduler)
    return best[1] if best is not None else None


def _holders(record: Mapping[str, Any] | None) -> dict[str, str]:
    held = (record or {}).get("holders")
    return {str(k): str(v) for k, v in held.items()} if isinstance(held, Mapping) else {}


@dataclass
class Lease:
    """One scheduler's lease on its share of the rules."""

    store: Store
    scheduler_id: str
    duration: timedelta
    requests: int = 0

    def renew(self, now: datetime | None = None) -> list[str]:
        """Write this scheduler's lease (expiring ``duration`` from now), drop expired
        leases, and return the live scheduler ids, sorted (this one included)."""
        moment = now or clock.now()
        expiry = ecs.format_timestamp(moment + self.duration)
        for _ in range(MAX_TRIES):
            current = self.store.get_record_versioned("state", LEASES_ID)
            self.requests += 1
            holders = _holders(current[0] if current else None)
            live = {
                sid: until
                for sid, until in holders.items()
                if ecs.parse_timestamp(until) > moment and sid != self.scheduler_id
            }
            live[self.scheduler_id] = expiry
            record = {"kind": "leases", "holders": live}
            try:
                self.store.put_record_if(
                    "state", LEASES_ID, record, current[1] if current else None
                )
            except Conflict:
                self.requests += 1
                continue
            self.requests += 1
            return sorted(live)
        raise LeaseLost(f"scheduler {self.scheduler_id}: the lease record kept changing")

    def release(self) -> None:
        """Give the lease up (on a clean stop), so the others take its rules at once."""
        for _ in range(MAX_TRIES):
            current = self.store.get_record_versioned("state", LEASES_ID)
            if current is None or self.scheduler_id not in _holders(current[0]):
                return
            holders = _holders(current[0])
            del holders[self.scheduler_id]
            try:
                self.store.put_record_if(
                    "state", LEASES_ID, {"kind": "leases", "holders": holders}, current[1]
                )
                return
            except Conflict:
                continue

    def share(self, items: Sequence[T], rule_id_of: Any, now: datetime | None = None) -> list[T]:
        """Renew the lease and keep the items (rules) this scheduler owns now."""
        live = self.renew(now)
        return [item for item in items if owner_of(rule_id_of(item), live) == self.scheduler_id]


def live_schedulers(store: Store, now: datetime | None = None) -> list[str]:
    """The ids of the schedulers whose lease has not expired, sorted."""
    moment = now or clock.now()
    current = store.get_record_versioned("state", LEASES_ID)
    holders = _holders(current[0] if current else None)
    return sorted(sid for sid, until in holders.items() if ecs.parse_timestamp(until) > moment)


def merge_watermarks(store: Store, record_id: str, marks: dict[str, str]) -> int:
    """Write ``marks`` (rule id -> formatted time) into the watermarks record, keeping for
    each rule the later of the stored and the given mark; conditional, re-read and merged
    again on Conflict. ``marks`` is updated with the merged result. Returns the number of
    requests made."""
    requests = 0
    for _ in range(MAX_TRIES):
        current = store.get_record_versioned("state", record_id)
        requests += 1
        stored = (current[0] if current else {}).get("rules")
        merged = {str(k): str(v) for k, v in stored.items()} if isinstance(stored, dict) else {}
        for rule_id, mark in marks.items():
            before = merged.get(rule_id)
            if before is None or ecs.parse_timestamp(mark) > ecs.parse_timestamp(before):
                merged[rule_id] = mark
        requests += 1
        try:
            store.put_record_if(
                "state",
                record_id,
                {"kind": "watermarks", "rules": merged},
                current[1] if current else None,
            )
        except Conflict:
            continue
        marks.update(merged)
        return requests
    raise LeaseLost(f"the watermarks record {record_id!r} kept changing")
