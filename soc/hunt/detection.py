"""Detection in slices, so a person sees progress over thousands of rules.

The rules are handed to the engine's public ``run_compiled`` a slice at a time (whatever the
engine does inside a run, such as reading shared log sources once, still happens within each
slice) and the slices' summaries are merged into one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from soc.detect.compile import CompiledRule
from soc.detect.runner import DetectionSummary, run_compiled
from soc.store.base import Store

#: Rules per slice: small enough for a lively bar, large enough to keep shared reads shared.
SLICE = 25


def merge_into(total: DetectionSummary, part: DetectionSummary) -> None:
    """Add the counts and lists of ``part`` to ``total``."""
    total.rules_run += part.rules_run
    total.invalid.extend(part.invalid)
    total.not_convertible.extend(part.not_convertible)
    total.failed.extend(part.failed)
    total.outcomes.extend(part.outcomes)
    total.alerts.extend(part.alerts)
    total.alerts_new += part.alerts_new
    total.alerts_existing += part.alerts_existing
    total.suppressed += part.suppressed
    total.events_matched += part.events_matched
    total.round_trips += part.round_trips


def run_with_progress(
    store: Store,
    compiled: Sequence[CompiledRule],
    since: datetime | None,
    until: datetime | None,
    *,
    now: datetime | None = None,
    load_errors: Sequence[Any] = (),
    on_progress: Callable[[int, int], None] | None = None,
) -> DetectionSummary:
    """The same result as ``run_compiled`` over all ``compiled`` rules, calling
    ``on_progress(done, total)`` after each slice (rules counted whether runnable or not)."""
    started = time.perf_counter()
    total = DetectionSummary(since=since, until=until, rules_loaded=len(compiled))
    done = 0
    for offset in range(0, len(compiled), SLICE) or [0]:
        chunk = compiled[offset : offset + SLICE]
        part = run_compiled(
            store, chunk, since, until, now=now, load_errors=load_errors if offset == 0 else ()
        )
        merge_into(total, part)
        done += len(chunk)
        if on_progress is not None:
            on_progress(done, len(compiled))
    total.seconds = time.perf_counter() - started
    return total


__all__ = ["SLICE", "merge_into", "run_with_progress"]
