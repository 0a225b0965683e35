"""What comes back from a hunt's worker processes (soc.hunt.workers): task results in order
with bounded work in hand, a lost worker raised as WorkerLost, and the handles of work
handed out and not yet waited for (rule files being warmed, files being read, with their
dead letters appended in input order).
"""

from __future__ import annotations

import os
import shutil
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from soc.hunt.reading import FileOutcome


class WorkerLost(RuntimeError):
    """A worker process stopped before it finished a task (killed, out of memory, a crash):
    the hunt stops with this error instead of waiting for it."""

    def __init__(self) -> None:
        super().__init__(
            "a worker process stopped before finishing its work (killed or crashed); "
            "SOC_WORKERS=1 runs everything in one process"
        )


def ordered_window(
    pool: ProcessPoolExecutor,
    function: Any,
    tasks: Iterable[Any],
    ahead: int,
    *,
    held_rows: int | None = None,
    rows: Callable[[Any], int] = lambda result: 1,
) -> Iterator[Any]:
    """``function(task)`` for each task on the pool, results in order. At most ``ahead``
    tasks are handed out and unfinished at any time; finished ones wait for their turn
    while the workers go on with the next tasks (a long task at the head does not stop
    them), unless the waiting results hold more than ``held_rows`` (``rows(result)``
    each): then no task is handed out until the head's turn frees some. None: no limit."""
    waiting: deque[Future[Any]] = deque()
    upcoming = iter(tasks)
    more = True
    while True:
        running = [f for f in waiting if not f.done()]
        held = sum(_weight(f, rows) for f in waiting if f.done())
        while more and len(running) < ahead and (held_rows is None or held <= held_rows):
            task = next(upcoming, _NO_TASK)
            if task is _NO_TASK:
                more = False
                break
            future = pool.submit(function, task)
            waiting.append(future)
            running.append(future)
        if not waiting:
            return
        if waiting[0].done():
            yield waiting.popleft().result()
        else:
            wait(running, return_when=FIRST_COMPLETED)


_NO_TASK = object()


def _weight(future: Future[Any], rows: Callable[[Any], int]) -> int:
    """``rows`` of a finished task's result (0 when it raised: that is raised in its turn)."""
    if future.cancelled() or future.exception() is not None:
        return 0
    return rows(future.result())


def in_order(results: Iterable[Any]) -> Iterator[Any]:
    """The results of a pool's map, a lost worker raised as WorkerLost."""
    try:
        yield from results
    except BrokenProcessPool:
        raise WorkerLost() from None


def map_in_order(pool: ProcessPoolExecutor, function: Any, items: Sequence[Any]) -> Iterator[Any]:
    """``function(item)`` for each item on the pool, in order; a worker lost before or
    during the tasks raised as WorkerLost."""
    try:
        yield from pool.map(function, items)
    except BrokenProcessPool:
        raise WorkerLost() from None


def _result(future: Future[Any]) -> Any:
    """The future's result (or what its task raised), a lost worker raised as WorkerLost."""
    try:
        return future.result()
    except BrokenProcessPool:
        raise WorkerLost() from None


class PendingWarm:
    """Rule files being loaded and converted by the workers (HuntWorkers.start_warming)."""

    def __init__(self, pending: list[Future[Any]], files: int) -> None:
        self._pending = pending
        self.files = files

    def wait(self) -> int:
        """Wait until the caches hold every file; how many files the workers loaded. Raises
        WorkerLost when a worker was lost."""
        for pending in self._pending:
            _result(pending)
        return self.files


class PendingReads:
    """The files being read by the workers."""

    def __init__(
        self, pending: list[Future[Any]], count: int, dead_dir: Path, parts_dir: Path
    ) -> None:
        self._pending = pending
        self._count = count
        self._dead_dir = dead_dir
        self._parts_dir = parts_dir
        #: The slices not handed out yet, and how to hand them out (see read_files).
        self.held: tuple[Callable[[list[Any]], list[Future[Any]]], list[Any]] | None = None

    def hand_out_rest(self) -> None:
        """Hand the slices held back by ``read_files(first=...)`` to the workers."""
        if self.held is not None:
            hand_out, rest = self.held
            self.held = None
            self._pending.extend(hand_out(rest))

    def wait(self) -> tuple[list[FileOutcome], int]:
        """Every file's outcome in input order and the events read; the workers' dead
        letters are then in the hunt's dead-letter folder, in input order. Raises what a
        worker raised (e.g. StoreUnavailable), as reading in one process would."""
        self.hand_out_rest()
        outcomes: list[FileOutcome | None] = [None] * self._count
        events = 0
        for pending in self._pending:
            start, read_outcomes, read = _result(pending)
            outcomes[start : start + len(read_outcomes)] = read_outcomes
            events += read
        _append_parts(self._parts_dir, self._count, self._dead_dir)
        return [o for o in outcomes if o is not None], events


def _append_parts(parts_dir: Path, count: int, dead_dir: Path) -> None:
    """Append each slice's dead-letter part (a folder named by the index of its first input)
    to the dead-letter folder, in input order, then remove the parts."""
    if not parts_dir.is_dir():
        return
    for index in range(count):
        part = parts_dir / str(index)
        if not part.is_dir():
            continue
        for day_file in sorted(part.glob("*.ndjson")):
            dead_dir.mkdir(parents=True, exist_ok=True)
            with open(day_file, "rb") as source, open(dead_dir / day_file.name, "ab") as target:
                shutil.copyfileobj(source, target)
                target.flush()
                os.fsync(target.fileno())
    shutil.rmtree(parts_dir, ignore_errors=True)


__all__ = [
    "PendingReads",
    "PendingWarm",
    "WorkerLost",
    "in_order",
    "map_in_order",
    "ordered_window",
]
