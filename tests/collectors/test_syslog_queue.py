"""The syslog server's disk queue: a SIGKILL with a backlog loses nothing accepted, the
restart ships it once; the queue's counters are printed and in --json; a full queue holds
TCP senders back and counts dropped UDP datagrams."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from test_syslog import free_port

from collectors.ship import DeadLetterFile, Shipper
from collectors.sources.logs import IngestOptions
from collectors.sources.spool import DiskQueue, Message, QueueBusy
from collectors.sources.syslog import SyslogServer
from soc.store.local import LocalStore

TOTAL = 20_000
STATS = ("--stats-every", "0.2")


def message(seq: int) -> bytes:
    return (
        f"<38>Nov 21 08:{seq // 60 % 60:02d}:{seq % 60:02d} web1 sshd[{seq % 30000 + 2}]: "
        f"Failed password for root from 10.0.0.{seq % 250 + 1} port 22 ssh2 seq={seq}\n"
    ).encode()


class Collector:
    """`soc collect syslog --tcp` as a real process; its stderr lines are collected."""

    def __init__(self, data: Path, port: int, *extra: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
        env["SOC_DATA_DIR"] = str(data)
        exe = str(Path(sys.executable).with_name("soc"))
        self.proc = subprocess.Popen(
            [exe, "collect", "syslog", "--json", "--tcp", f"127.0.0.1:{port}", *STATS, *extra],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for raw in self.proc.stderr:
            self.lines.append(raw.decode(errors="replace"))

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for text in reversed(self.lines):
                found = re.search(pattern, text)
                if found:
                    return found
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} in {self.lines[-3:]}")

    def received(self) -> int:
        found = [re.search(r"received ([\d,]+)", t) for t in self.lines]
        counts = [int(m.group(1).replace(",", "")) for m in found if m]
        return max(counts, default=0)


def stored(data: Path) -> Counter:
    store = LocalStore(data / "soc.db")
    try:
        rows = store._conn.execute("SELECT _doc FROM events").fetchall()
    finally:
        store.close()
    return Counter(int(re.search(r"seq=(\d+)", doc).group(1)) for (doc,) in rows)


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
def test_stop_with_a_backlog_then_restart_stores_every_accepted_message_once(tmp_path, stop):
    # SIGKILL: nothing accepted is lost. SIGTERM: the stop does not drain the backlog (it
    # takes about one batch); what is left is shipped after the restart.
    data = tmp_path / "data"
    port = free_port(socket.SOCK_STREAM)
    # Tiny batches keep the shipper far behind the network, so the kill finds a backlog.
    first = Collector(data, port, "--batch-size", "5")
    try:
        first.wait_for("listening on")
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"".join(message(i) for i in range(TOTAL)))
        deadline = time.monotonic() + 60
        while first.received() < TOTAL and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.received() == TOTAL  # every message accepted (on disk) ...
        first.proc.send_signal(stop)  # ... then stopped with a backlog
        out, _ = first.proc.communicate(timeout=60)
        if stop == signal.SIGTERM:
            left = json.loads(out)["queue"]
            assert left["received"] == TOTAL and left["shipped"] < TOTAL
    finally:
        if first.proc.poll() is None:
            first.proc.kill()
    before = stored(data)
    assert sum(before.values()) < TOTAL, "no backlog at the kill: the test proves nothing"
    second = Collector(data, port)
    try:
        second.wait_for("listening on")
        deadline = time.monotonic() + 120
        while sum(stored(data).values()) < TOTAL and time.monotonic() < deadline:
            time.sleep(0.2)
        second.proc.send_signal(signal.SIGTERM)
        out, _ = second.proc.communicate(timeout=30)
    finally:
        if second.proc.poll() is None:
            second.proc.kill()
    seen = stored(data)
    assert sorted(seen) == list(range(TOTAL)) and set(seen.values()) == {1}
    result = json.loads(out)
    assert result["queue"]["received"] == 0 and result["queue"]["shipped"] > 0
    assert any("syslog queue: received" in line for line in second.lines)


def test_a_full_queue_counts_udp_drops_and_keeps_tcp_data_already_read(tmp_path):
    spool = DiskQueue(tmp_path / "q", max_bytes=1000)
    item = Message("udp://127.0.0.1:514", "10.0.0.1:5000", 1, b"x" * 200)
    accepted = 0
    while spool.put(item):
        accepted += 1
    assert spool.full and accepted == 4  # 4 records of 256 bytes reach the 1000-byte cap
    store = LocalStore(tmp_path / "soc.db")
    shipper = Shipper(store, dead_letters=DeadLetterFile(tmp_path / "dl"))
    server = SyslogServer(shipper, IngestOptions(), udp=[("127.0.0.1", 0)], queue=spool)
    server._put(item, udp=True)  # a datagram while full: dropped and counted
    server._put(item)  # TCP data already taken off the socket: kept
    assert server.counters()["udp_dropped"] == 1 and spool.received == accepted + 1
    try:
        DiskQueue(tmp_path / "q")
    except QueueBusy as exc:
        assert "in use" in str(exc)
    else:
        raise AssertionError("a second process could open the same queue")
    got = []
    while (nxt := spool.get()) is not None:
        got.append(nxt)
    assert len(got) == accepted + 1 and got[0][0] == item
    spool.close()
    store.close()


def test_a_record_cut_short_by_a_crash_is_skipped_and_counted(tmp_path):
    spool = DiskQueue(tmp_path / "q")
    for i in range(3):
        spool.put(Message("l", "p", i, b"m%d" % i))
    spool.close()
    (segment,) = sorted((tmp_path / "q").glob("seg-*.q"))
    with open(segment, "ab") as handle:
        handle.write(b"\x00\x00\x01\x00partial")  # a torn write at the end
    again = DiskQueue(tmp_path / "q")
    got = []
    while (nxt := again.get()) is not None:
        got.append(nxt[0].data)
    assert got == [b"m0", b"m1", b"m2"] and again.corrupt == 1
    again.close()
