"""The worker processes of a hunt (and of `soc detect run`): files read on every core at
once, rules converted and rule groups scanned beside them.

A hunt on a local store forks its workers first, before it opens the store or starts a
progress display, so that no SQLite connection and no thread is copied into them. Three
kinds of task go to them, and each gives the same result as the one-process way:

- reading a slice of the inputs (consecutive files of about equal total size, a few per
  worker): a worker reads them into the store through its own connection, a batch of
  events (of any number of files) per transaction (SQLite in WAL mode lets writers take
  turns), and writes their dead letters to a part folder of its own; the parent appends
  the parts to the hunt's dead-letter folder in input order.
  Events are stored by id, so which file stores a shared event first changes no count
  (the stored copy names, in ``log.file.path``, the file that was read first);
- loading and converting the rule files that the caches do not hold (warm_rules: each task
  loads 24 files and converts their single-event rules, filling the load and compiled-rule
  caches, which this process then reads), or, with the cache off, converting the rule
  documents this process loaded (convert, soc.detect.compile's convert_documents);
- scanning a rule group (soc.detect.group_scan.scan_request): the matched rows come back and
  the parent raises the alerts, group after group, in the usual order. A group with more
  than SCAN_ROWS_LIMIT rows is scanned again in the parent, streaming. At most SCAN_AHEAD
  scans per worker are handed out at once, and the workers go on with the next groups
  while the parent waits for a long one, until the results waiting for their turn hold
  SCAN_HELD_ROWS rows: memory stays bounded (a few groups' rows).

``SOC_WORKERS`` sets how many workers (1: none, everything in the one process); by default
one per CPU this process may use, at most MAX_WORKERS. What comes back from the workers
(results in order, a lost worker as WorkerLost, the PendingReads and PendingWarm handles)
is soc.hunt.pool_results'.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from soc.detect.collector import fewer_collections
from soc.detect.group_scan import ScanRequest, ScanResult, scan_request
from soc.detect.rule_cache import DEFAULT_CACHE, RuleCache, open_cache
from soc.detect.rule_files import RuleFile, files_to_load
from soc.hunt.pool_results import (
    PendingReads,
    PendingWarm,
    WorkerLost,
    in_order,
    map_in_order,
    ordered_window,
)

# The rule compiler and loader (pySigma) are imported where a task needs them, not here: a
# hunt forks its workers before it imports pySigma, so that they start reading at once.
if TYPE_CHECKING:  # reading files is a hunt's, imported by it before the workers fork
    from collectors.sources.logs import IngestOptions
    from soc.detect.rule_cache import Target
    from soc.hunt.inputs import InputFile
    from soc.hunt.reading import FileOutcome, HuntProgress

#: The most workers a hunt starts by default (SQLite takes one writer at a time, so more
#: readers than this mostly wait), and the most SOC_WORKERS may ask for.
MAX_WORKERS = 8
MAX_SETTING = 64

#: Rows a worker carries back for one rule group; a group with more is scanned in the parent.
SCAN_ROWS_LIMIT = 5_000
#: Group scans handed out and not finished, per worker (one running, one queued).
SCAN_AHEAD = 2
#: Rows of finished scans waiting for their turn beyond which no further scan is handed
#: out: with SCAN_AHEAD and SCAN_ROWS_LIMIT, this bounds what waits in memory.
SCAN_HELD_ROWS = 10_000

#: Rule documents per conversion task.
CONVERT_SLICE = 24

#: Slices of the inputs per worker: each slice is read by one worker with one shipper
#: (a transaction per batch of events, not per file), and a few per worker even out
#: the load.
SLICES_PER_WORKER = 4


class WorkerSettingError(ValueError):
    """SOC_WORKERS is not a whole number from 1 to MAX_SETTING."""


def worker_count() -> int:
    """How many worker processes a hunt uses: SOC_WORKERS when set (1 means none), else the
    CPUs this process may run on, at most MAX_WORKERS. Raises WorkerSettingError for a
    SOC_WORKERS that is not a whole number from 1 to MAX_SETTING."""
    setting = os.environ.get("SOC_WORKERS", "").strip()
    if setting:
        if not setting.isdigit() or not 1 <= int(setting) <= MAX_SETTING:
            raise WorkerSettingError(
                f"SOC_WORKERS={setting!r}: give a whole number of worker processes from 1 "
                f"(none) to {MAX_SETTING}"
            )
        return int(setting)
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_WORKERS))


# --- inside a worker ------------------------------------------------------------------------

_STORES: dict[tuple[str, frozenset[str] | None], Any] = {}


def _store(path: str, durable: bool = True, columns: frozenset[str] | None = None) -> Any:
    """This worker's own connection to the store file, for writes giving columns to
    ``columns`` only (None: every field; see LocalStore's column_fields), opened once per
    worker and setting, as durable as the caller's."""
    store = _STORES.get((path, columns))
    if store is None:
        from soc.store.local import LocalStore

        store = LocalStore(path, durable=durable, column_fields=columns)
        _STORES[(path, columns)] = store
    return store


@dataclass(frozen=True)
class _ReadTask:
    start: int  # index of the first input of the slice
    items: list[InputFile]
    store_path: str
    options: IngestOptions
    dead_dir: str
    department: str | None
    durable: bool = True
    #: The fields that get a column (None: all; see LocalStore's column_fields).
    columns: frozenset[str] | None = None


def _read_slice(task: _ReadTask) -> tuple[int, list[FileOutcome], int]:
    from soc.hunt.reading import ingest

    with fewer_collections():  # events are made and dropped by the thousand (see there)
        outcomes, shipper = ingest(
            _store(task.store_path, task.durable, task.columns),
            task.items,
            options=task.options,
            dead_dir=Path(task.dead_dir),
            department=task.department,
        )
    return task.start, outcomes, shipper.stats.stored + shipper.stats.duplicates


def slices_of(sizes: Sequence[int], count: int) -> list[tuple[int, int]]:
    """``sizes`` cut into at most ``count`` runs of consecutive items of about equal total
    size, as (start, end) index pairs covering every item in order."""
    if not sizes:
        return []
    count = max(1, min(count, len(sizes)))
    total = sum(max(1, size) for size in sizes)
    runs: list[tuple[int, int]] = []
    start, done = 0, 0
    for index, size in enumerate(sizes):
        done += max(1, size)
        if done * count >= total * (len(runs) + 1) and len(runs) < count - 1:
            runs.append((start, index + 1))
            start = index + 1
    if start < len(sizes):
        runs.append((start, len(sizes)))
    return runs


def _convert_slice(args: tuple[list[tuple[dict[str, Any], str]], Target]) -> list[dict[str, Any]]:
    from soc.detect.compile import convert_documents

    items, target = args
    return convert_documents(items, target)


_CACHES: dict[str, RuleCache | None] = {}


def _rule_cache() -> RuleCache | None:
    """This worker's own connection to the rule cache, opened once per worker (a connection
    per task cost more than a tenth of the conversion's time), or None when it is off."""
    if DEFAULT_CACHE not in _CACHES:
        _CACHES[DEFAULT_CACHE] = open_cache(DEFAULT_CACHE)
    return _CACHES[DEFAULT_CACHE]


def _warm_slice(args: tuple[list[Path], Target]) -> int:
    from soc.detect.compile import compile_all
    from soc.detect.loader import load_rules

    files, target = args
    cache = _rule_cache()
    ruleset = load_rules(files, cache=cache)  # fills the load cache
    singles = [r for r in ruleset.rules if not r.is_correlation and not r.errors]
    compile_all(singles, target, cache=cache)  # fills the compiled-rule cache
    return len(singles)


def _scan_one(args: tuple[str, ScanRequest]) -> ScanResult | None:
    store_path, request = args
    with fewer_collections():  # as detection in the parent (soc.detect.collector)
        return scan_request(_store(store_path), request, SCAN_ROWS_LIMIT)


# --- in the parent --------------------------------------------------------------------------


def _ready() -> int:
    return os.getpid()


def _start_worker(parent: int, finish_on_stop: bool) -> None:
    """Set up a worker as it starts. On Linux it is killed when the parent dies (even by
    SIGKILL), so that no worker outlives its command. With ``finish_on_stop`` (a
    long-running command) it ignores SIGINT, which Ctrl-C sends to the whole foreground
    process group: the parent finishes the work in hand, then closes the pool. SIGTERM keeps
    its default: the pool itself stops its workers with it when one of them is lost."""
    if finish_on_stop:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


#: prctl option: the signal a process receives when its parent dies (linux/prctl.h).
_PR_SET_PDEATHSIG = 1


class HuntWorkers:
    """A pool of forked worker processes for one hunt, or none (``workers`` 1, or a system
    that cannot fork): then every method does its work in this process. Use it as a
    context manager, entered before the store is opened. A worker that dies raises
    WorkerLost where its result was awaited."""

    def __init__(self, workers: int, *, finish_on_stop: bool = False) -> None:
        """Fork ``workers`` processes now (none when 1), from this thread: on Linux a worker
        is killed when the thread that forked it ends, so create the pool on the thread that
        outlives it (the main one). With ``finish_on_stop`` they ignore SIGINT (Ctrl-C): the
        parent, which stops after the work in hand, closes them."""
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
            pool = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("fork"),
                initializer=_start_worker,
                initargs=(os.getpid(), finish_on_stop),
            )
            # With fork, the pool starts all its processes at its first task: now, before a
            # store connection or a thread exists in this process.
            pool.submit(_ready).result()
            self._pool = pool

    def __enter__(self) -> HuntWorkers:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        self.close(wait=kind is None)

    def close(self, *, wait: bool = True) -> None:
        """Stop the workers (after their tasks when ``wait``, else dropping what waits)."""
        if self._pool is None:
            return
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
        self._pool = None

    @property
    def active(self) -> bool:
        """True when tasks go to worker processes."""
        return self._pool is not None

    def read_files(
        self,
        store_path: Path,
        inputs: Sequence[InputFile],
        *,
        options: IngestOptions,
        dead_dir: Path,
        parts_dir: Path,
        department: str | None,
        progress: HuntProgress,
        first: int | None = None,
        durable: bool = True,
        columns: frozenset[str] | None = None,
    ) -> PendingReads:
        """Start reading every input into the store at ``store_path``, largest first; the
        returned PendingReads gives the outcomes in input order. Progress is told each file
        as it is done. With ``first``, only that many slices are handed out now, the others
        by ``PendingReads.hand_out_rest`` (or ``wait``): tasks given in between run before
        them. ``durable``: as the caller's store (LocalStore), for the workers' connections;
        ``columns``: the fields their writes give a column to (LocalStore's column_fields;
        None: all)."""
        assert self._pool is not None, "read_files needs worker processes"
        runs = slices_of([item.size for item in inputs], self.workers * SLICES_PER_WORKER)
        tasks = [
            _ReadTask(
                start,
                list(inputs[start:end]),
                str(store_path),
                options,
                str(parts_dir / str(start)),
                department,
                durable,
                columns,
            )
            for start, end in runs
        ]

        def done(future: Future[tuple[int, list[FileOutcome], int]]) -> None:
            if future.cancelled() or future.exception() is not None:
                return
            start, outcomes, _ = future.result()
            for item in inputs[start : start + len(outcomes)]:
                if progress.on_file:
                    progress.on_file(item.display, item.size)
                if progress.on_bytes:
                    progress.on_bytes(item.size)

        pool = self._pool

        def hand_out(chosen: list[_ReadTask]) -> list[Future[Any]]:
            try:
                futures = [pool.submit(_read_slice, t) for t in chosen]
            except BrokenProcessPool:  # a worker was lost before these tasks
                raise WorkerLost() from None
            for future in futures:
                future.add_done_callback(done)
            return futures

        now = len(tasks) if first is None else max(0, first)
        reads = PendingReads(hand_out(tasks[:now]), len(inputs), dead_dir, parts_dir)
        reads.held = (hand_out, tasks[now:])
        return reads

    def warm_rules(self, paths: Sequence[Path], target: Target) -> int:
        """Load and convert, on the workers, the rule files under ``paths`` that the load
        cache does not hold (24 files to a task), so that loading them here afterwards
        reads the caches only; how many files that was. Nothing to do without workers,
        with the rule cache off, or for fewer than BULK_MINIMUM files."""
        return self.start_warming(paths, target).wait()

    def start_warming(
        self, paths: Sequence[Path] | Sequence[RuleFile], target: Target
    ) -> PendingWarm:
        """As warm_rules, but only hands the tasks to the workers: tasks given after these
        (e.g. reading files) run once they are taken, and ``wait()`` on the result waits
        for the conversions alone."""
        if self._pool is None or open_cache(DEFAULT_CACHE) is None:
            return PendingWarm([], 0)
        files = files_to_load(paths, DEFAULT_CACHE)
        if not files:  # all cached: pySigma (the compiler) need not be imported here
            return PendingWarm([], 0)
        from soc.detect.compile import BULK_MINIMUM

        if len(files) < BULK_MINIMUM:
            return PendingWarm([], 0)
        slices = [
            (files[i : i + CONVERT_SLICE], target) for i in range(0, len(files), CONVERT_SLICE)
        ]
        try:
            pending = [self._pool.submit(_warm_slice, part) for part in slices]
        except BrokenProcessPool:  # a worker was lost before these tasks
            raise WorkerLost() from None
        return PendingWarm(pending, len(files))

    def convert(
        self, items: list[tuple[dict[str, Any], str]], target: Target
    ) -> list[dict[str, Any]]:
        """Cache entries for rule documents (a soc.detect.compile BulkConverter), converted
        in slices on the workers."""
        from soc.detect.compile import convert_documents

        if self._pool is None:
            return convert_documents(items, target)
        slices = [
            (items[i : i + CONVERT_SLICE], target) for i in range(0, len(items), CONVERT_SLICE)
        ]
        entries: list[dict[str, Any]] = []
        for part in map_in_order(self._pool, _convert_slice, slices):
            entries.extend(part)
        return entries

    def scanner(self, store_path: Path) -> _PoolScanner | None:
        """A soc.detect.group_scan GroupScanner scanning rule groups of the store at
        ``store_path`` on the workers; None without workers."""
        if self._pool is None:
            return None
        return _PoolScanner(self._pool, str(store_path), self.workers)


class _PoolScanner:
    def __init__(self, pool: ProcessPoolExecutor, store_path: str, workers: int) -> None:
        self._pool = pool
        self._path = store_path
        self._workers = workers

    def scan_groups(self, requests: Iterable[ScanRequest]) -> Iterator[ScanResult | None]:
        """Each request's result in order, scanned on the workers several at once; a
        request is taken from ``requests`` when it is handed out."""
        tasks = ((self._path, r) for r in requests)
        ahead = max(1, self._workers * SCAN_AHEAD)
        window = ordered_window(
            self._pool, _scan_one, tasks, ahead, held_rows=SCAN_HELD_ROWS, rows=_rows_of
        )
        return in_order(window)


def _rows_of(result: ScanResult | None) -> int:
    return len(result.rows) if result is not None else 0


#: The ordered window under the name it had when it lived here.
_ordered_window = ordered_window


__all__ = [
    "HuntWorkers",
    "PendingReads",
    "PendingWarm",
    "WorkerLost",
    "WorkerSettingError",
    "worker_count",
]
