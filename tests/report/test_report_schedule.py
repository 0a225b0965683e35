"""Issue 16: monthly and weekly reports for cron and systemd timers (`--last-month`,
`--last-week` in the city's zone) and delivery by e-mail through ``outputs.email``, tested
against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import email
import email.header
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from report_fixtures import populate

from soc import clock
from soc.report.periods import last_month, last_week
from soc.store.local import LocalStore


def soc(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("soc")
    return subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


@pytest.fixture
def filled(data_dir: Path) -> Path:
    store = LocalStore(data_dir / "soc.db")
    try:
        populate(store)
    finally:
        store.close()
    return data_dir.parent


D = date
NAMED = [
    (D(2026, 12, 1), (D(2026, 11, 1), D(2026, 11, 30)), (D(2026, 11, 23), D(2026, 11, 29))),
    (D(2027, 1, 4), (D(2026, 12, 1), D(2026, 12, 31)), (D(2026, 12, 28), D(2027, 1, 3))),
    (D(2024, 3, 10), (D(2024, 2, 1), D(2024, 2, 29)), (D(2024, 2, 26), D(2024, 3, 3))),
]


@pytest.mark.parametrize(("today", "month", "week"), NAMED)
def test_named_periods(today: date, month: tuple[date, date], week: tuple[date, date]) -> None:
    assert last_month(today) == month
    assert last_week(today) == week
    assert week[0].weekday() == 0 and (week[1] - week[0]).days == 6


def test_last_month_is_the_city_s_month(filled: Path) -> None:
    """At 00:30 on 1 December in Ho Chi Minh City it is still 30 November in UTC: the
    report is November's, not October's."""
    at = {clock.ENV: "2026-12-01T00:30:00+07:00"}
    result = soc("report", "period", "--last-month", "--format", "md", cwd=filled, env=at)
    assert result.returncode == 0, result.stderr
    out = filled / "soc-report-2026-11-01-2026-11-30.md"
    assert result.stdout.strip() == out.name
    assert "1.166 sự kiện" in out.read_text(encoding="utf-8")
    week = soc("report", "period", "--last-week", "--format", "md", cwd=filled, env=at)
    assert week.returncode == 0, week.stderr
    assert week.stdout.strip() == "soc-report-2026-11-23-2026-11-29.md"


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--last-month", "--last-week"], "cannot be used together"),
        (["--last-month", "--from", "2026-11-01"], "replace --from and --to"),
        ([], "give --from and --to"),
    ],
)
def test_period_options_that_do_not_fit(filled: Path, args: list[str], problem: str) -> None:
    result = soc("report", "period", *args, cwd=filled)
    assert result.returncode != 0
    assert problem in result.stderr and "Traceback" not in result.stderr


class Inbox:
    """An aiosmtpd handler keeping what it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:  # a free port (aiosmtpd checks its own with a connect)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _config(folder: Path, port: int, **extra: Any) -> None:
    lines = [
        "outputs:",
        "  email:",
        "    host: 127.0.0.1",
        f"    port: {port}",
        "    starttls: false",
        "    from: soc@city.example",
        "    to: [oncall@city.example]",
    ]
    lines += [f"    {k}: {v}" for k, v in extra.items()]
    (folder / "soc.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_the_report_is_e_mailed_through_the_output_settings(
    filled: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    _config(filled, port, report_to="[lanhdao@city.example, cio@city.example]")
    result = soc(
        "report", "period", "--from", "2026-11-01", "--to", "2026-11-30", "--format", "md",
        "--email", cwd=filled,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(inbox.messages) == 1
    sender, recipients, message = inbox.messages[0]
    assert sender == "soc@city.example"
    assert recipients == ["lanhdao@city.example", "cio@city.example"]
    assert "Báo cáo tình hình an toàn thông tin" in str(
        email.header.make_header(email.header.decode_header(message["Subject"]))
    )
    attachments = [p for p in message.walk() if p.get_filename()]
    assert [p.get_filename() for p in attachments] == ["soc-report-2026-11-01-2026-11-30.md"]
    body = attachments[0].get_payload(decode=True).decode("utf-8")
    assert body == (filled / "soc-report-2026-11-01-2026-11-30.md").read_text(encoding="utf-8")


def test_e_mail_without_settings_or_server_fails_in_one_line(filled: Path) -> None:
    missing = soc("report", "period", "--last-month", "--email", cwd=filled)
    assert missing.returncode != 0
    assert "outputs.email" in missing.stderr and "Traceback" not in missing.stderr
    _config(filled, 9)  # nothing listens on the discard port
    down = soc("report", "period", "--last-month", "--email", "--format", "md", cwd=filled)
    assert down.returncode != 0
    assert "127.0.0.1:9" in down.stderr and "Traceback" not in down.stderr
