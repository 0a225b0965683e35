"""The stop event of the long-running commands: a SIGTERM (a service manager stopping
`soc collect files`, `soc collect syslog`, `soc detect schedule`) always ends the wait in
progress. With a plain threading.Event, a signal that came while the main thread was inside
Event.wait() set the event from the handler, which waited for the lock its own thread held:
the collector hung silently until it was killed."""

from __future__ import annotations

import os
import select
import signal
import threading
import time

import pytest

from soc.cli import waiting
from soc.cli.waiting import SignalStop, stop_on_signals


def test_a_signal_arriving_inside_the_wait_ends_it_at_once(monkeypatch):
    # The handler runs at the worst moment: while the main thread is inside wait().
    real_select = select.select
    calls = []

    def select_interrupted(*args):
        calls.append(args)
        if len(calls) == 1:
            signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)
        return real_select(*args)

    monkeypatch.setattr(waiting.select, "select", select_interrupted)
    with stop_on_signals() as stop:
        assert stop.wait(30) is True
    assert stop.is_set()
    assert len(calls) == 1


def test_a_real_sigterm_stops_a_waiting_collector_and_restores_the_handler():
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals() as stop:
        timer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGTERM))
        timer.start()
        try:
            assert stop.wait(30) is True
        finally:
            timer.join()
    assert signal.getsignal(signal.SIGTERM) is before


def test_the_stop_event_wakes_every_waiting_thread_and_can_be_cleared():
    stop = SignalStop()
    try:
        assert stop.wait(0) is False
        woke: list[bool] = []
        waiters = [threading.Thread(target=lambda: woke.append(stop.wait(30))) for _ in range(3)]
        for thread in waiters:
            thread.start()
        stop.set()
        stop.set()  # a second set (a second signal) is harmless
        for thread in waiters:
            thread.join()
        assert woke == [True, True, True]
        stop.clear()
        assert not stop.is_set()
        assert stop.wait(0) is False
    finally:
        stop.close()
    stop.set()  # after close, set still records the stop (a late signal)
    assert stop.is_set()


def test_a_second_signal_while_stopping_exits_at_once():
    pid = os.fork()
    if pid == 0:  # the child stands in for a collector whose last flush keeps retrying
        try:
            with stop_on_signals() as stop:
                os.kill(os.getpid(), signal.SIGTERM)
                stop.wait(30)
                os.kill(os.getpid(), signal.SIGTERM)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status)
    assert os.WEXITSTATUS(status) == 143


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_both_signals_stop(signum):
    with stop_on_signals() as stop:
        os.kill(os.getpid(), signum)
        assert stop.wait(30) is True


def test_collectors_polling_their_stop_event_always_end_on_sigterm():
    # Twenty collectors stand-ins poll the event as fast as they can and get a SIGTERM at a
    # random point of the loop. With threading.Event about half of them hung.
    hung = 0
    for _ in range(20):
        ready_r, ready_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(ready_r)
                with stop_on_signals() as stop:
                    os.write(ready_w, b"!")
                    while not stop.is_set():
                        stop.wait(0)
            finally:
                os._exit(0)
        os.close(ready_w)
        os.read(ready_r, 1)
        os.close(ready_r)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while not os.waitpid(pid, os.WNOHANG)[0]:
            if time.monotonic() > deadline:
                hung += 1
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                break
            time.sleep(0.01)
    assert hung == 0
