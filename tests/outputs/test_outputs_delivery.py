"""Alert outputs against real servers on 127.0.0.1: each alert delivered exactly once per
output, across restarts (separate `soc` processes), failures retried."""

from __future__ import annotations

import email
import json
import time
from pathlib import Path

import pytest
import yaml
from cli_runner import soc
from output_servers import SmtpServer, SyslogListener, WebhookServer

from soc.store import LOCAL_DB_NAME
from soc.store.local import LocalStore

NOW = "2026-11-25T03:00:00Z"
AUTH = Path(__file__).resolve().parent.parent / "fixtures" / "parsers" / "auth.log"


def add_alerts(data_dir: Path, *numbers: int, level: str = "high") -> list[str]:
    store = LocalStore(data_dir / LOCAL_DB_NAME)
    ids = []
    try:
        for n in numbers:
            alert_id = f"{n:04d}" + "ab" * 14
            store.put_record(
                "alerts",
                alert_id,
                {
                    "id": alert_id,
                    "rule_id": "rule-brute",
                    "rule_title": f"SSH brute force #{n}",
                    "level": level,
                    "tags": ["attack.t1110"],
                    "rule_type": "event_count",
                    "event_ids": ["e1"],
                    "entities": {"source.ip": ["203.0.113.5"], "host.name": ["web01"]},
                    "first_seen": "2026-11-25T02:00:00.000000Z",
                    "last_seen": "2026-11-25T02:05:00.000000Z",
                    "created": "2026-11-25T02:10:00.000000Z",
                    "status": "new",
                    "count": 12,
                },
            )
            ids.append(alert_id)
    finally:
        store.close()
    return ids


def configure(tmp_path: Path, outputs: dict) -> None:
    (tmp_path / "soc.yaml").write_text(yaml.safe_dump({"outputs": outputs}), encoding="utf-8")


@pytest.fixture
def webhook():
    server = WebhookServer()
    yield server
    server.close()


def test_webhook_exactly_once_across_restarts_with_secret(
    data_dir: Path, tmp_path: Path, clock_at, webhook: WebhookServer
) -> None:
    clock_at(NOW)
    configure(
        tmp_path,
        {"webhook": {"url": webhook.url, "secret_header": "X-Soc-Token", "secret": "tok-1",
                     "min_level": "high", "retry_pause": 0.05}},
    )  # fmt: skip
    first_ids = add_alerts(data_dir, 1, 2)
    add_alerts(data_dir, 3, level="low")  # below min_level: never sent
    assert soc("outputs", "send").returncode == 0
    assert soc("outputs", "send").returncode == 0  # a restart: nothing twice
    got = [p["json"]["alert"]["id"] for p in webhook.posts]
    assert sorted(got) == sorted(first_ids)
    assert all(p["headers"]["X-Soc-Token"] == "tok-1" for p in webhook.posts)
    assert webhook.posts[0]["json"]["ecs"]["event"]["kind"] == "alert"
    new = add_alerts(data_dir, 4)
    assert soc("outputs", "send").returncode == 0
    assert [p["json"]["alert"]["id"] for p in webhook.posts][2:] == new
    status = json.loads(soc("outputs", "status", "--json").stdout)
    assert status["webhook"]["sent"] == 3 and status["webhook"]["failed"] == 0


def test_webhook_failure_is_reported_and_retried_later(
    data_dir: Path, tmp_path: Path, clock_at, webhook: WebhookServer
) -> None:
    clock_at(NOW)
    configure(tmp_path, {"webhook": {"url": webhook.url, "retries": 2, "retry_pause": 0.05}})
    ids = add_alerts(data_dir, 7)
    webhook.failing = True
    failed = soc("outputs", "send")
    assert failed.returncode == 1
    assert "1 failed (will retry)" in failed.stdout and "HTTP 500" in failed.stdout
    assert webhook.attempts == 3  # the first try and two retries
    assert "HTTP 500" in soc("outputs", "status").stdout
    webhook.failing = False
    assert soc("outputs", "send").returncode == 0
    assert soc("outputs", "send").returncode == 0
    assert [p["json"]["alert"]["id"] for p in webhook.posts] == ids


def test_detect_run_delivers_its_alerts(
    data_dir: Path, tmp_path: Path, clock_at, webhook: WebhookServer
) -> None:
    clock_at("2026-11-21T02:00:00Z")  # the fixture's lines are 08:00 +07:00 that day
    configure(tmp_path, {"webhook": {"url": webhook.url, "min_level": "medium"}})
    assert soc("ingest", "logs", str(AUTH), "--json").returncode == 0
    run = soc("detect", "run", "--since", "2h", "--json")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["alerts_new"] >= 3
    assert f"output webhook: {len(webhook.posts)} sent" in run.stderr
    levels = {p["json"]["alert"]["level"] for p in webhook.posts}
    assert levels and levels <= {"medium", "high", "critical"}
    before = len(webhook.posts)
    assert soc("detect", "run", "--since", "2h", "--json").returncode == 0
    assert len(webhook.posts) == before


def test_email_with_starttls_and_auth_exactly_once(
    data_dir: Path, tmp_path: Path, clock_at
) -> None:
    clock_at(NOW)
    server = SmtpServer(tmp_path)
    try:
        configure(
            tmp_path,
            {"email": {"host": "127.0.0.1", "port": server.port, "starttls": True,
                       "username": "soc", "password": "s3cret", "ca_file": str(server.ca_file),
                       "from": "soc@city.example", "to": ["oncall@city.example"]}},
        )  # fmt: skip
        ids = add_alerts(data_dir, 5)
        assert soc("outputs", "send").returncode == 0
        assert soc("outputs", "send").returncode == 0
        assert len(server.messages) == 1 and server.logins == ["soc"]
        message = email.message_from_bytes(server.messages[0].content)
        assert message["Subject"] == "[citysoc HIGH] SSH brute force #5"
        assert ids[0] in message.get_payload()
        assert server.messages[0].rcpt_tos == ["oncall@city.example"]
        shown = soc("config", "show", "--json").stdout
        assert "s3cret" not in shown
    finally:
        server.close()


def test_email_bad_password_is_a_reported_failure(data_dir: Path, tmp_path: Path, clock_at) -> None:
    clock_at(NOW)
    server = SmtpServer(tmp_path)
    try:
        configure(
            tmp_path,
            {"email": {"host": "127.0.0.1", "port": server.port, "username": "soc",
                       "password": "wrong", "ca_file": str(server.ca_file),
                       "from": "soc@city.example", "to": "oncall@city.example"}},
        )  # fmt: skip
        add_alerts(data_dir, 6)
        result = soc("outputs", "send")
        assert result.returncode == 1 and "email: 127.0.0.1" in result.stdout
        assert server.messages == []
    finally:
        server.close()


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
def test_syslog_cef_exactly_once(data_dir: Path, tmp_path: Path, clock_at, protocol: str) -> None:
    clock_at(NOW)
    listener = SyslogListener()
    try:
        port = listener.udp_port if protocol == "udp" else listener.tcp_port
        configure(
            tmp_path,
            {"syslog": {"host": "127.0.0.1", "port": port, "protocol": protocol,
                        "min_level": "medium"}},
        )  # fmt: skip
        ids = add_alerts(data_dir, 8)
        assert soc("outputs", "send").returncode == 0
        assert soc("outputs", "send").returncode == 0
        lines = listener.udp_lines if protocol == "udp" else listener.tcp_lines
        for _ in range(50):
            if lines:
                break
            time.sleep(0.05)
        time.sleep(0.2)
        assert len(lines) == 1
        line = lines[0]
        assert line.startswith("<107>1 ")  # facility 13 (log audit), severity 3 (high)
        assert "CEF:0|citysoc|soc|1|rule-brute|SSH brute force #8|7|" in line
        assert f"externalId={ids[0]}" in line and "src=203.0.113.5" in line
    finally:
        listener.close()


def test_bad_outputs_setting_is_one_line(data_dir: Path, tmp_path: Path) -> None:
    configure(tmp_path, {"pager": {"url": "x"}})
    result = soc("outputs", "send")
    assert result.returncode == 2 and "outputs.pager: unknown output" in result.stderr


def test_detect_schedule_delivers_beside_detection(
    data_dir: Path, tmp_path: Path, clock_at, webhook: WebhookServer
) -> None:
    clock_at("2026-11-21T02:00:00Z")
    configure(tmp_path, {"webhook": {"url": webhook.url, "min_level": "medium"}})
    assert soc("ingest", "logs", str(AUTH), "--json").returncode == 0
    args = ("detect", "schedule", "--cycles", "2", "--every", "0s", "--lookback", "2h")
    result = soc(*args)
    assert result.returncode == 0, result.stderr
    assert "output webhook: " in result.stderr
    ids = [p["json"]["alert"]["id"] for p in webhook.posts]
    assert ids and len(ids) == len(set(ids))
    assert soc(*args).returncode == 0  # a restart sends nothing again
    assert len(webhook.posts) == len(ids)
