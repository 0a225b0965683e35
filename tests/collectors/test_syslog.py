"""The syslog server with real sockets on 127.0.0.1: UDP, TCP with newline and octet-counting
framing, `logger` as the sending peer, the flush timer, and the CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_follow import wait_until

from collectors.ship import DeadLetterFile, Shipper
from collectors.sources.logs import IngestOptions
from collectors.sources.syslog import SyslogServer, parse_address
from soc.store.local import LocalStore

SSHD_3164 = (
    "<38>Nov 21 08:00:01 web1 sshd[4242]: Failed password for root from 203.0.113.9 port 5555 ssh2"
)
SUDO_5424 = (
    "<86>1 2026-11-21T01:00:02.000000Z web2 sudo - - - "
    "  alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id"
)
APP_5424 = "<14>1 2026-11-21T01:00:03.5Z web3 myapp 77 ID1 - application started"


class Server:
    def __init__(self, tmp_path: Path) -> None:
        self.store = LocalStore(tmp_path / "soc.db")
        self.shipper = Shipper(
            self.store, dead_letters=DeadLetterFile(tmp_path / "dl"), max_wait=0.2
        )
        self.server = SyslogServer(
            self.shipper, IngestOptions(), udp=[("127.0.0.1", 0)], tcp=[("127.0.0.1", 0)]
        )
        self.server.start()
        ports = {proto: port for proto, _, port in self.server.bound}
        self.udp_port, self.tcp_port = ports["udp"], ports["tcp"]
        self.thread = threading.Thread(target=self.server.run)
        self.thread.start()

    def events(self) -> list[dict]:
        return [h.source for h in self.store.search(size=1000).hits]

    def close(self) -> None:
        self.server.stop.set()
        self.thread.join(10)
        self.shipper.close()
        self.store.close()


@pytest.fixture
def server(tmp_path: Path):
    s = Server(tmp_path)
    yield s
    if s.thread.is_alive():
        s.close()


def by_host(events: list[dict]) -> dict[str, dict]:
    return {e["host"]["name"]: e for e in events}


def test_udp_datagrams_are_parsed_by_program_and_flushed_on_the_timer(server):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sender = sock.getsockname()
        for message in (SSHD_3164, SUDO_5424, APP_5424):
            sock.sendto(message.encode(), ("127.0.0.1", server.udp_port))
        # No stop, no full batch: the timer flushes.
        wait_until(lambda: server.store.count() == 3, timeout=10)
    events = by_host(server.events())
    sshd = events["web1"]
    assert sshd["event"]["dataset"] == "system.auth"
    assert sshd["event"]["action"] == "ssh_login" and sshd["event"]["outcome"] == "failure"
    assert sshd["source"]["ip"] == "203.0.113.9" and sshd["user"]["name"] == "root"
    assert sshd["log"]["source"]["address"] == f"127.0.0.1:{sender[1]}"
    assert events["web2"]["event"]["action"] == "sudo_command"
    assert events["web3"]["event"]["dataset"] == "system.syslog"
    assert events["web3"]["@timestamp"] == "2026-11-21T01:00:03.500000Z"


def test_logins_of_recent_openssh_and_account_tools_are_parsed_as_auth(server):
    # OpenSSH 9.8 and later log failed logins from sshd-session, not sshd; an account tool's
    # message is an auth event too; systemd's messages stay syslog.
    messages = (
        "<38>Dec  1 08:00:01 web4 sshd-session[4243]: Failed password for invalid user admin "
        "from 198.51.100.7 port 40022 ssh2",
        "<86>Dec  1 08:00:02 web5 groupadd[811]: new group: name=backdoor, GID=1005",
        "<30>Dec  1 08:00:03 web6 systemd[1]: Started session-5.scope - Session 5 of User root.",
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for message in messages:
            sock.sendto(message.encode(), ("127.0.0.1", server.udp_port))
        wait_until(lambda: server.store.count() == 3, timeout=10)
    events = by_host(server.events())
    ssh = events["web4"]
    assert ssh["event"]["dataset"] == "system.auth"
    assert (ssh["event"]["action"], ssh["event"]["outcome"]) == ("ssh_login", "failure")
    assert ssh["source"]["ip"] == "198.51.100.7" and ssh["user"]["name"] == "admin"
    assert events["web5"]["event"]["dataset"] == "system.auth"
    assert events["web5"]["group"]["name"] == "backdoor"
    assert events["web6"]["event"]["dataset"] == "system.syslog"


def test_tcp_newline_framing_split_across_packets(server):
    payload = f"{SSHD_3164}\n{SUDO_5424}\r\n{APP_5424}".encode()
    with socket.create_connection(("127.0.0.1", server.tcp_port)) as sock:
        for i in range(0, len(payload), 17):
            sock.sendall(payload[i : i + 17])
            time.sleep(0.002)
    # The last message has no newline: it is taken when the peer closes.
    wait_until(lambda: server.store.count() == 3, timeout=10)
    assert set(by_host(server.events())) == {"web1", "web2", "web3"}


def test_tcp_octet_counting_framing(server):
    frames = b"".join(
        f"{len(m.encode())} ".encode() + m.encode() for m in (SSHD_3164, SUDO_5424, APP_5424)
    )
    with socket.create_connection(("127.0.0.1", server.tcp_port)) as sock:
        sock.sendall(frames[:50])
        time.sleep(0.05)
        sock.sendall(frames[50:])
        wait_until(lambda: server.store.count() == 3, timeout=10)
    assert by_host(server.events())["web2"]["event"]["action"] == "sudo_command"


def test_garbage_is_dead_lettered_and_counted(server, tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"\x00\x01\x02 not syslog at all \xff", ("127.0.0.1", server.udp_port))
        sock.sendto(SSHD_3164.encode(), ("127.0.0.1", server.udp_port))
    wait_until(lambda: server.store.count() == 1, timeout=10)
    server.close()
    stats = server.shipper.stats
    assert stats.read == 2 and stats.stored == 1 and stats.dead_lettered == 1
    letters = [json.loads(x) for p in (tmp_path / "dl").glob("*.ndjson") for x in p.open()]
    assert len(letters) == 1 and "not syslog at all" in letters[0]["original"]


def test_resent_identical_datagram_is_a_new_event(server):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _ in range(2):
            sock.sendto(SSHD_3164.encode(), ("127.0.0.1", server.udp_port))
            time.sleep(0.01)
    wait_until(lambda: server.store.count() == 2, timeout=10)


@pytest.mark.skipif(shutil.which("logger") is None, reason="logger (bsdutils) not installed")
@pytest.mark.parametrize(
    ("flags", "dataset"),
    [
        (["--udp", "--rfc3164"], "system.auth"),
        (["--tcp", "--rfc5424"], "system.auth"),
        (["--tcp", "--octet-count", "--rfc5424"], "system.auth"),
        (["--udp", "--rfc5424"], "system.auth"),
    ],
)
def test_logger_as_the_sending_peer(server, flags, dataset):
    port = server.udp_port if "--udp" in flags else server.tcp_port
    subprocess.run(
        [
            "logger",
            "--server",
            "127.0.0.1",
            "--port",
            str(port),
            *flags,
            "-t",
            "sshd",
            "-i",
            "--",
            "Failed password for invalid user mallory from 192.0.2.44 port 6000 ssh2",
        ],
        check=True,
        timeout=10,
    )
    wait_until(lambda: server.store.count() == 1, timeout=10)
    (event,) = server.events()
    assert event["event"]["dataset"] == dataset
    assert event["source"]["ip"] == "192.0.2.44" and event["user"]["name"] == "mallory"
    assert event["log"]["source"]["address"].startswith("127.0.0.1:")


def test_parse_address():
    assert parse_address("127.0.0.1:5514") == ("127.0.0.1", 5514)
    assert parse_address(":514") == ("127.0.0.1", 514)
    assert parse_address("[::1]:6514") == ("::1", 6514)
    with pytest.raises(ValueError):
        parse_address("localhost:http")


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_cli_receives_until_sigterm_and_prints_counts(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    env["SOC_DATA_DIR"] = str(tmp_path / "data")
    soc = str(Path(sys.executable).with_name("soc"))
    port = free_port(socket.SOCK_DGRAM)
    proc = subprocess.Popen(
        [soc, "collect", "syslog", "--json", "--udp", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        ready = proc.stderr.readline().decode()  # "listening on udp 127.0.0.1:PORT; ..."
        assert f"udp 127.0.0.1:{port}" in ready, ready
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for _ in range(5):
                sock.sendto(SSHD_3164.encode(), ("127.0.0.1", port))
        time.sleep(1.5)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()
    result = json.loads(out)
    assert result["read"] == 5 and result["stored"] == 5


def test_cli_bad_address_is_a_usage_error(tmp_path):
    from collector_helpers import soc

    proc = soc("collect", "syslog", "--udp", "127.0.0.1:notaport", data_dir=tmp_path / "d")
    assert proc.returncode == 2 and "notaport" in proc.stderr.decode()
