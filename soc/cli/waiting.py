"""Helpers shared by the long-running commands (`soc collect files|syslog|pcap`, `soc detect
schedule`): a stop event that SIGINT/SIGTERM handlers may set, and waiting with backoff for a
store that is down at the start."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import threading
from collections.abc import Callable, Iterator

import typer

from collectors.ship import RetryPolicy
from soc.cli.common import err_console, state
from soc.store.base import Store, StoreUnavailable


class SignalStop(threading.Event):
    """A stop event that a signal handler may set, for any thread to wait on.

    ``threading.Event.set()`` takes the event's lock. A handler runs in the main thread between
    two bytecodes, and when the main thread was inside ``Event.wait()`` at that moment it
    holds that lock already: the handler then waits for itself forever and the process never
    stops. Here ``set()`` takes no lock: it records the flag and writes one byte to a socket
    pair, and ``wait()`` watches the other end, so a wait in progress returns at once.
    """

    def __init__(self) -> None:
        super().__init__()
        self._stopped = False
        self._reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)
        self._reader.setblocking(False)

    def is_set(self) -> bool:
        """Whether a stop was asked for."""
        return self._stopped

    def set(self) -> None:
        """Ask for the stop; safe in a signal handler, never blocks."""
        self._stopped = True
        # OSError: the buffer is full (so already readable) or the event was closed
        with contextlib.suppress(OSError):
            self._writer.send(b"!")

    def clear(self) -> None:
        """Forget an earlier stop."""
        self._stopped = False
        try:
            while self._reader.recv(4096):
                pass
        except OSError:  # nothing left to read
            pass

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the stop is asked for or ``timeout`` seconds pass; whether it was."""
        if not self._stopped:
            select.select([self._reader], [], [], timeout)
        return self._stopped

    def close(self) -> None:
        """Release the socket pair; a later ``set()`` still records the flag."""
        self._reader.close()
        self._writer.close()


@contextlib.contextmanager
def signals_set(stop: threading.Event, on_second: bool = False) -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM set ``stop`` (the previous handlers come back
    afterwards). With ``on_second``, a signal that comes when ``stop`` is already set exits
    the process at once (130 for SIGINT, 143 for SIGTERM), saying so on stderr."""

    def handler(signum: int, frame: object) -> None:
        if on_second and stop.is_set():
            err_console.print(
                "soc: stopping now; events not yet acknowledged by the store were not checkpointed",
                markup=False,
            )
            os._exit(130 if signum == signal.SIGINT else 143)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM (restoring the previous handlers afterwards), so a
    collector can stop cleanly: finish the current batch, flush, checkpoint, exit. A second
    signal while stopping (e.g. the store is down and the last flush keeps retrying) exits
    at once: nothing unacknowledged was checkpointed, so followed files are re-read from
    their checkpoints on the next start."""
    stop = SignalStop()
    try:
        with signals_set(stop, on_second=True):
            yield stop
    finally:
        stop.close()


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
