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

from soc.config import load_settings
from soc.outputs.config import parse_outputs
from soc.outputs.deliver import DeliveryReport, deliver_pending, delivery_status, state_id
from soc.outputs.senders import SENDERS
from soc.store import open_store

NOW = "2026-11-25T03:00:00Z"
AUTH = Path(__file__).resolve().parent.parent / "fixtures" / "parsers" / "auth.log"


@pytest.fixture(params=["local", "elasticsearch"])
def store_kind(
    request: pytest.FixtureRequest, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Run the test on the local store and on Elasticsearch (an osmem-server of its own),
    selected for the `soc` processes and add_alerts alike through the environment."""
    if request.param == "elasticsearch":
        monkeypatch.setenv("SOC_ELASTICSEARCH_URL", request.getfixturevalue("es_url"))
    return request.param


def add_alerts(data_dir: Path, *numbers: int, level: str = "high") -> list[str]:
    """Store alerts as detection would (in another process, made visible to searches), in
    the store the environment selects."""
    store = open_store(load_settings())
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
        store.refresh()
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
    data_dir: Path, tmp_path: Path, clock_at, webhook: WebhookServer, store_kind: str
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
    data_dir: Path, tmp_path: Path, clock_at, webhook: WebhookServer, store_kind: str
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
    data_dir: Path, tmp_path: Path, clock_at, store_kind: str
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
def test_syslog_cef_exactly_once(
    data_dir: Path, tmp_path: Path, clock_at, protocol: str, store_kind: str
) -> None:
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


def test_two_deliverers_at_once_send_each_alert_once(
    data_dir: Path, clock_at, webhook: WebhookServer, store_kind: str
) -> None:
    """A cron `soc outputs send` running while the scheduler is mid-round: the alerts the
    first deliverer claimed are never sent by the second (each store is its own client)."""
    clock_at(NOW)
    ids = add_alerts(data_dir, 9, 10)
    outputs = parse_outputs({"webhook": {"url": webhook.url, "retry_pause": 0.05}})
    first, second = open_store(load_settings()), open_store(load_settings())
    inner: list[DeliveryReport] = []

    def send_with_a_second_deliverer(alert: dict, options: dict) -> None:
        if not inner:  # mid-send of the first alert, a whole second round runs
            inner.append(deliver_pending(second, outputs))
        SENDERS["webhook"](alert, options)

    try:
        report = deliver_pending(first, outputs, senders={"webhook": send_with_a_second_deliverer})
    finally:
        first.close()
        second.close()
    assert report.sent == {"webhook": 2} and report.ok
    assert inner[0].sent == {"webhook": 0}
    assert sorted(p["json"]["alert"]["id"] for p in webhook.posts) == sorted(ids)


def test_a_claim_left_by_a_crash_is_taken_up_after_the_lease(
    data_dir: Path, clock_at, webhook: WebhookServer, store_kind: str
) -> None:
    """A deliverer that died mid-send leaves a "sending" claim: a live claim is left alone,
    one older than the lease is sent again; `outputs status` counts the live one."""
    clock_at(NOW)
    live, dead = add_alerts(data_dir, 11, 12)
    store = open_store(load_settings())
    try:
        for alert_id, at in ((live, "2026-11-25T02:59:00.000000Z"), (dead, "2026-11-25T02:40:00Z")):
            store.put_record(
                "state",
                state_id("webhook", alert_id),
                {"kind": "delivery", "output": "webhook", "alert_id": alert_id,
                 "attempts": 0, "status": "sending", "at": at},
            )  # fmt: skip
        store.refresh()
        outputs = parse_outputs({"webhook": {"url": webhook.url, "retry_pause": 0.05}})
        report = deliver_pending(store, outputs)
        assert report.sent == {"webhook": 1}
        assert [p["json"]["alert"]["id"] for p in webhook.posts] == [dead]
        status = delivery_status(store, outputs)["webhook"]
        assert status["sent"] == 1 and status["sending"] == 1
    finally:
        store.close()
