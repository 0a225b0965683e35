"""Live capture on the loopback interface with real UDP sockets (needs root / CAP_NET_RAW)."""

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

import pytest

from collectors.pcap.engine import Engine, EngineConfig
from collectors.pcap.live import CaptureUnavailable, capture, open_interface

REPO = Path(__file__).resolve().parents[2]


def _can_capture() -> bool:
    try:
        sock, _ = open_interface("lo", "udp port 9")
    except CaptureUnavailable:
        return False
    sock.close()
    return True


pytestmark = pytest.mark.skipif(
    not _can_capture(), reason="capturing on lo needs root or CAP_NET_RAW"
)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def exchange(port: int, count: int) -> int:
    """Send ``count`` datagrams to a server on ``port`` that answers each; the client port."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", port))
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    try:
        for i in range(count):
            client.sendto(b"hello %d" % i, ("127.0.0.1", port))
            data, addr = server.recvfrom(100)
            server.sendto(b"re:" + data, addr)
            client.recvfrom(100)
        return client.getsockname()[1]
    finally:
        client.close()
        server.close()


def test_live_capture_on_loopback_makes_one_flow_per_exchange() -> None:
    port = free_udp_port()
    engine = Engine(EngineConfig(host_name="sensor-lo"))
    events: list[dict] = []
    ready = threading.Event()
    stop = threading.Event()
    worker = threading.Thread(
        target=capture,
        args=("lo", f"udp port {port}", engine, events.extend),
        kwargs={"stop": stop, "on_tick": ready.set, "duration": 30},
    )
    worker.start()
    try:
        assert ready.wait(10), "capture did not start"
        client_port = exchange(port, 3)
        time.sleep(0.5)
    finally:
        stop.set()
        worker.join(10)
    flows = [e for e in events if e["event"]["dataset"] == "pcap.flow"]
    assert len(flows) == 1, flows
    flow = flows[0]
    assert flow["source"]["ip"] == "127.0.0.1" and flow["source"]["port"] == client_port
    assert flow["destination"]["port"] == port
    # each datagram counted once, though lo shows outgoing and incoming copies
    assert flow["source"]["packets"] == 3 and flow["destination"]["packets"] == 3
    assert flow["network"]["connection"]["state"] == "SF"


def test_cli_collect_pcap_on_loopback_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_udp_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    env["SOC_DATA_DIR"] = str(tmp_path / "data")
    args = ["collect", "pcap", "--iface", "lo", "--bpf", f"udp port {port}", "--duration", "60"]
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("soc")), *args, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    try:
        assert proc.stderr is not None
        started = b""
        for _ in range(20):  # the line saying the socket is open
            started = proc.stderr.readline()
            if not started or b"capturing on lo" in started:
                break
        assert b"capturing on lo" in started, started
        exchange(port, 2)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)  # as a service manager stops it: flows still stored
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()
    report = json.loads(out)
    assert report["packets"]["read"] == 4
    assert report["stored"] == 1  # one flow


def test_unknown_interface_is_one_clear_error() -> None:
    with pytest.raises(CaptureUnavailable, match="no-such-if0"):
        open_interface("no-such-if0", None)


def test_cli_collect_pcap_waits_for_a_store_that_is_down_at_start(tmp_path: Path) -> None:
    from osmem_server import OsmemServer

    from soc.store.elastic import ElasticStore

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        es_port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{es_port}"
    port = free_udp_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    env["SOC_DATA_DIR"] = str(tmp_path / "data")
    args = ["--es-url", url, "collect", "pcap", "--iface", "lo", "--bpf", f"udp port {port}"]
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("soc")), *args, "--duration", "120", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    lines: list[str] = []
    assert proc.stderr is not None
    stderr = proc.stderr
    reader = threading.Thread(
        target=lambda: lines.extend(raw.decode() for raw in stderr), daemon=True
    )
    reader.start()
    server = None

    def wait_for(predicate, what: str) -> None:
        deadline = time.monotonic() + 60
        while not predicate():
            assert proc.poll() is None, f"the collector exited before {what}: {lines}"
            assert time.monotonic() < deadline, f"no {what}: {lines}"
            time.sleep(0.05)

    try:
        # two retries announced: it waits with backoff instead of exiting
        wait_for(lambda: sum("retrying in" in ln for ln in lines) >= 2, "second retry")
        assert all("store unavailable" in ln for ln in lines if "retrying in" in ln)
        assert not any("capturing on lo" in ln for ln in lines)
        server = OsmemServer.start(japanese=False, addr=f"127.0.0.1:{es_port}")
        wait_for(lambda: any("capturing on lo" in ln for ln in lines), "capture start")
        exchange(port, 2)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, lines
        report = json.loads(out)
        assert report["packets"]["read"] == 4 and report["stored"] == 1
        store = ElasticStore(url)
        store.refresh()
        assert store.count() == 1
        store.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if server is not None:
            server.close()
