"""Durations and times as analysts type them, shared by detection, triage and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from soc.timespec import parse_duration, parse_moment

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("24H", timedelta(hours=24)),
        ("1.5h", timedelta(minutes=90)),
        ("2w", timedelta(days=14)),
        (300, timedelta(minutes=5)),  # a plain number in playbook YAML means seconds
    ],
)
def test_durations(text: str | int, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "5 minutes", "-5m", -1, True, "m5"])
def test_bad_durations_name_the_text(text: object) -> None:
    with pytest.raises(ValueError, match=repr(text) if isinstance(text, str) else "duration"):
        parse_duration(text)  # type: ignore[arg-type]


def test_moments_count_back_from_now_or_read_iso_times() -> None:
    assert parse_moment("24h", NOW) == NOW - timedelta(hours=24)
    assert parse_moment("2026-11-20T10:00:00+07:00", NOW) == datetime(2026, 11, 20, 3, tzinfo=UTC)
    with pytest.raises(ValueError, match="yesterday"):
        parse_moment("yesterday", NOW)
