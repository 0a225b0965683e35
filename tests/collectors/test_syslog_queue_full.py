"""A full syslog disk queue while the store does not accept: TCP readers pause (the sender is
held back by TCP flow control, nothing dropped), UDP datagrams past the cap are dropped and
counted; once the store is there, everything accepted is stored exactly once.

Real sockets on 127.0.0.1. The store is "down" the way `soc collect syslog` sees it while it
waits for the store at the start: the listeners run and queue to disk, nothing is shipped."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections import Counter
from pathlib import Path

from collectors.ship import DeadLetterFile, RetryPolicy, Shipper
from collectors.sources.logs import IngestOptions
from collectors.sources.spool import DiskQueue
from collectors.sources.syslog import SyslogServer
from soc.store.local import LocalStore

CAP = 2 << 20  # queue cap in bytes (as `--queue-max-mb 2`)
READ = 1 << 16  # the server's TCP read: the cap is exceeded by at most one read
SNDBUF = 32 << 10
PAD = "x" * 8000
UDP_BEFORE = 20  # datagrams sent while the queue has room: kept
UDP_AFTER = 30  # datagrams sent while it is full: dropped and counted


def tcp_message(seq: int) -> bytes:
    return f"<14>Nov 21 08:00:00 web1 myapp[7]: tcp={seq} pad={PAD}\n".encode()


def udp_message(seq: int) -> bytes:
    return f"<14>Nov 21 08:00:00 web2 myapp[8]: udp={seq}".encode()


def kernel_buffer_bound() -> int:
    """Most bytes the kernel can hold for a connection whose reader does not read: the
    receiver's largest auto-tuned buffer plus the sender's (fixed, doubled by the kernel)."""
    rmem_max = int(Path("/proc/sys/net/ipv4/tcp_rmem").read_text().split()[2])
    return rmem_max + 4 * SNDBUF


def wait_until(predicate, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not reached: {what}"
        time.sleep(0.02)


def stored(db: Path) -> Counter:
    store = LocalStore(db)
    try:
        rows = store._conn.execute("SELECT _doc FROM events").fetchall()
    finally:
        store.close()
    return Counter(re.search(r"(tcp|udp)=(\d+)", doc).group(0) for (doc,) in rows)


def test_full_queue_pauses_tcp_drops_udp_then_stores_every_accepted_message_once(tmp_path):
    spool = DiskQueue(tmp_path / "q", max_bytes=CAP)
    server = SyslogServer(
        None, IngestOptions(), udp=[("127.0.0.1", 0)], tcp=[("127.0.0.1", 0)], queue=spool
    )
    server.start()
    ports = {proto: port for proto, _, port in server.bound}
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SNDBUF)
    # More than the queue, one read and every kernel buffer together: a sender the server
    # stopped reading cannot have finished.
    total_tcp = (CAP + READ + kernel_buffer_bound()) // len(tcp_message(0)) + 200
    payload = b"".join(tcp_message(i) for i in range(total_tcp))
    sent = [0]
    runner: threading.Thread | None = None
    store = None
    try:
        for i in range(UDP_BEFORE):
            udp.sendto(udp_message(i), ("127.0.0.1", ports["udp"]))
        wait_until(lambda: spool.received == UDP_BEFORE, "datagrams queued")

        tcp.connect(("127.0.0.1", ports["tcp"]))

        def send_all() -> None:
            view = memoryview(payload)
            while sent[0] < len(payload):
                sent[0] += tcp.send(view[sent[0] : sent[0] + READ])

        sender = threading.Thread(target=send_all, daemon=True)
        sender.start()
        wait_until(lambda: spool.full and spool.tcp_paused >= 1, "TCP reading paused")
        for i in range(UDP_BEFORE, UDP_BEFORE + UDP_AFTER):
            udp.sendto(udp_message(i), ("127.0.0.1", ports["udp"]))
        wait_until(lambda: server.counters()["udp_dropped"] == UDP_AFTER, "datagrams dropped")
        # Paused, not reading: the queue is past its cap by at most one read, and the
        # sender is held back (it cannot have handed everything to the kernel).
        counters = server.counters()
        assert counters["backlog_bytes"] <= CAP + READ + len(tcp_message(0))
        assert counters["received"] < UDP_BEFORE + total_tcp
        assert sender.is_alive() and sent[0] < len(payload)

        # The store is there: the queue drains, TCP reading resumes, the sender finishes.
        store = LocalStore(tmp_path / "soc.db")
        server.shipper = Shipper(
            store,
            dead_letters=DeadLetterFile(tmp_path / "dl"),
            batch_events=500,
            retry=RetryPolicy(attempts=None),
        )
        runner = threading.Thread(target=server.run, daemon=True)
        runner.start()
        sender.join(120)
        assert not sender.is_alive() and sent[0] == len(payload)
        tcp.close()
        wait_until(
            lambda: spool.received == UDP_BEFORE + total_tcp, "every TCP message queued", 120
        )
        wait_until(lambda: server.shipper.stats.stored == spool.received, "all stored", 120)
    finally:
        server.stop.set()
        if runner is not None:
            runner.join(30)
        else:
            server.close()
        if server.shipper is not None:
            server.shipper.close()
        if store is not None:
            store.close()
        udp.close()
        tcp.close()
    seen = stored(tmp_path / "soc.db")
    expected = {f"tcp={i}" for i in range(total_tcp)} | {f"udp={i}" for i in range(UDP_BEFORE)}
    assert set(seen) == expected and set(seen.values()) == {1}
    assert server.counters()["udp_dropped"] == UDP_AFTER
