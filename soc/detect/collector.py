"""Fewer runs of Python's cycle collector while detection streams events.

Detection makes and drops millions of small containers (a window per group, a tuple per
row, a dict per projected event); reference counting frees them as soon as they are done
with. The cycle collector still runs a young collection each time 700 more containers
exist than before, and each one walks every container made since the last. On 1M generated
auth events that was 5.5 of 32 s of the correlations, and a larger share the larger the run
(0.36 of 2.9 s at 100k): the young generation grows with what is in flight, not with the
garbage, which was about 1,700 objects in the whole run.

``fewer_collections`` raises the first threshold for a block and puts the old thresholds
back after it, whatever happens: cyclic garbage made meanwhile (little) waits longer, and
nothing else changes. ``tune_for_commands`` raises it for the whole of a `soc` command
(soc.cli.main), so that reading files, loading rules and writing alerts outside those
blocks run with it too.

As Python shuts down it runs one more full collection over every object still alive: for a
hunt of the corpus EVTX with the SigmaHQ Windows rules (the loaded and compiled rules, the
alerts) that took 0.15-0.2 s after the command had finished. ``skip_final_collection``,
called by soc.cli.main when the command is done, moves the objects alive then out of the
collector's reach (``gc.freeze``): they are still freed one by one as the modules are
cleared, with their finalizers, and only cycles among them are left for the operating system
to reclaim with the process.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: Containers made (net) between two young collections during detection; Python's default
#: is 700.
DETECTION_THRESHOLD = 50_000


@contextmanager
def fewer_collections(threshold: int = DETECTION_THRESHOLD) -> Iterator[None]:
    """Run the block with the collector's first threshold at least ``threshold``; the
    thresholds of before are restored on the way out (also on an exception). Nested uses
    keep the outer setting."""
    before = gc.get_threshold()
    gc.set_threshold(max(threshold, before[0]), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def tune_for_commands() -> None:
    """Raise the collector's first threshold to DETECTION_THRESHOLD for the rest of this
    process (worker processes forked later inherit it); the older generations' thresholds
    stay as they were."""
    gc.set_threshold(max(DETECTION_THRESHOLD, gc.get_threshold()[0]), *gc.get_threshold()[1:])


def skip_final_collection() -> None:
    """Leave every object alive now out of the full collection Python runs at shutdown (see
    above): for the end of a process whose work is done."""
    gc.freeze()
