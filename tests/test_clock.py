"""The product clock: every "now" of citysoc follows SOC_CLOCK when it is set."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from soc import clock


def test_unset_means_the_system_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(clock.ENV, raising=False)
    before = datetime.now(UTC)
    now = clock.now()
    assert before <= now <= datetime.now(UTC)
    assert now.tzinfo is not None


def test_a_moment_alone_freezes_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(clock.ENV, "2027-01-01T00:20:00+07:00")
    assert clock.now() == datetime(2026, 12, 31, 17, 20, tzinfo=UTC)
    # the city's date is already 1 January while UTC is still in 2026
    assert clock.today("Asia/Ho_Chi_Minh") == date(2027, 1, 1)
    assert clock.today("UTC") == date(2026, 12, 31)


def test_a_running_setting_advances_with_the_system_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    anchor = time.time() - 90.0  # the setting was made 90 s ago
    monkeypatch.setenv(clock.ENV, f"2028-02-29T03:00:00Z@{anchor}")
    elapsed = (clock.now() - datetime(2028, 2, 29, 3, 0, tzinfo=UTC)).total_seconds()
    assert 90.0 <= elapsed < 90.0 + 60.0


def test_running_setting_starts_at_the_moment_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(clock.ENV, clock.running_setting("2028-02-29T23:59:00+07:00"))
    first = clock.now()
    assert datetime(2028, 2, 29, 16, 59, tzinfo=UTC) <= first
    assert (first - datetime(2028, 2, 29, 16, 59, tzinfo=UTC)).total_seconds() < 60
    assert clock.now() >= first


def test_a_bad_setting_is_one_line_and_exit_2(data_dir: Path) -> None:
    exe = Path(sys.executable).with_name("soc")
    env = {**os.environ, clock.ENV: "next tuesday"}
    result = subprocess.run(
        [str(exe), "alerts", "list"], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "SOC_CLOCK='next tuesday'" in lines[0] and "ISO 8601" in lines[0]
    assert "Traceback" not in result.stderr


def test_soc_commands_read_the_clock_they_are_given(data_dir: Path, clock_at) -> None:
    """A syslog line carries no year: `soc ingest` takes it from the product clock, so a
    29 February line read on 1 March 2028 (city time) is stored on that leap day, in UTC."""
    clock_at("2028-03-01T10:00:00+07:00")
    log = data_dir.parent / "auth.log"
    log.write_text(
        "Feb 29 09:00:00 web01 sshd[4242]: Failed password for root from 203.0.113.5 "
        "port 52100 ssh2\n"
    )
    exe = Path(sys.executable).with_name("soc")
    result = subprocess.run(
        [str(exe), "ingest", "logs", str(log), "--json"],
        capture_output=True, text=True, env=dict(os.environ), timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    from soc.store.local import LocalStore

    store = LocalStore(data_dir / "soc.db")
    try:
        hits = store.search(size=10).hits
    finally:
        store.close()
    assert [h.source["@timestamp"] for h in hits] == ["2028-02-29T02:00:00.000000Z"]
