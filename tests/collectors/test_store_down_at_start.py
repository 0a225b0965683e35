"""A collector started while the store is down waits with backoff, says so, and ships once
the store comes up (a real osmem-server started late on the port it was given)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from collector_helpers import auth_lines
from osmem_server import OsmemServer

from soc.store.elastic import ElasticStore


def test_collect_files_waits_for_a_store_that_is_down_at_start(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path / "auth.log"
    log.write_text(auth_lines(0, 50))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    env["SOC_DATA_DIR"] = str(tmp_path / "data")
    exe = str(Path(sys.executable).with_name("soc"))
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [exe, "--es-url", url, "collect", "files", "--json", "--poll", "0.1", str(log)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(raw.decode() for raw in proc.stderr), daemon=True
    )
    reader.start()
    server = None
    try:
        deadline = time.monotonic() + 60
        while not any("retrying in" in ln for ln in lines) and time.monotonic() < deadline:
            assert proc.poll() is None, "the collector exited instead of waiting"
            time.sleep(0.05)
        assert any("store unavailable" in ln and "retrying in" in ln for ln in lines), lines
        server = OsmemServer.start(japanese=False, addr=f"127.0.0.1:{port}")
        store = ElasticStore(url)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            store.refresh()
            if store.count() >= 50:
                break
            time.sleep(0.2)
        assert store.count() == 50
        store.close()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0 and json.loads(out)["stored"] == 50
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if server is not None:
            server.close()


def test_collect_syslog_queues_while_the_store_is_down_at_start(tmp_path):
    port = _free_port()
    tcp_port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    env["SOC_DATA_DIR"] = str(tmp_path / "data")
    exe = str(Path(sys.executable).with_name("soc"))
    url = f"http://127.0.0.1:{port}"
    args = ["collect", "syslog", "--json", "--tcp", f"127.0.0.1:{tcp_port}", "--stats-every", "0.2"]
    proc = subprocess.Popen(
        [exe, "--es-url", url, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    lines: list[str] = []
    threading.Thread(
        target=lambda: lines.extend(raw.decode() for raw in proc.stderr), daemon=True
    ).start()
    server = None
    try:
        _wait(lambda: any("retrying in" in ln for ln in lines), proc)
        assert any("listening on" in ln for ln in lines)  # accepting while the store is down
        payload = auth_lines(0, 100).encode()
        with socket.create_connection(("127.0.0.1", tcp_port)) as sock:
            sock.sendall(payload)
        queue = tmp_path / "data" / "syslog-queue"
        # On disk before the store is up: the segments hold every message (and more: headers).
        _wait(lambda: sum(p.stat().st_size for p in queue.glob("seg-*.q")) > len(payload), proc)
        server = OsmemServer.start(japanese=False, addr=f"127.0.0.1:{port}")
        store = ElasticStore(url)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            store.refresh()
            if store.count() >= 100:
                break
            time.sleep(0.2)
        assert store.count() == 100
        store.close()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0 and json.loads(out)["stored"] == 100
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if server is not None:
            server.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(predicate, proc, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, "the collector exited instead of waiting"
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)
