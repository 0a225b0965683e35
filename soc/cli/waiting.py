"""Helpers shared by the long-running collectors (`soc collect files|syslog|pcap`): a stop
event set by SIGINT/SIGTERM, and waiting with backoff for a store that is down at the start."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer

from collectors.ship import RetryPolicy
from soc.cli.common import err_console, state
from soc.store.base import Store, StoreUnavailable


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM (restoring the previous handlers afterwards), so a
    collector can stop cleanly: finish the current batch, flush, checkpoint, exit. A second
    signal while stopping (e.g. the store is down and the last flush keeps retrying) exits
    at once: nothing unacknowledged was checkpointed, so followed files are re-read from
    their checkpoints on the next start."""
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            err_console.print(
                "soc: stopping now; events not yet acknowledged by the store were not checkpointed",
                markup=False,
            )
            os._exit(130 if signum == signal.SIGINT else 143)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def wait_for_store(
    ctx: typer.Context, stop: threading.Event, on_retry: Callable[[], None] | None = None
) -> Store | None:
    """The configured store, waiting while it is unavailable (exponential backoff with
    jitter, up to 30 s apart, saying so on stderr each time) as a collector does when the
    store goes away mid-run; None when a stop signal came while waiting."""
    app_state = state(ctx)
    delays = RetryPolicy(attempts=None).delays()
    while True:
        try:
            return app_state.store
        except StoreUnavailable as exc:
            delay = next(delays)
            err_console.print(
                f"soc: store unavailable ({exc}); retrying in {delay:.1f} s",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            if on_retry is not None:
                on_retry()
            if stop.wait(delay):
                return None
