"""Named report periods for cron jobs and systemd timers: the last calendar month and the
last ISO week (Monday to Sunday), as calendar days in the city's zone, from soc.clock."""

from __future__ import annotations

from datetime import date, timedelta

from soc import clock

#: Periods a report can be asked for by name (CLI flags --last-month, --last-week).
NAMED_PERIODS = ("last-month", "last-week")


def last_month(today: date) -> tuple[date, date]:
    """First and last day of the calendar month before the one ``today`` is in."""
    first_of_this = today.replace(day=1)
    last = first_of_this - timedelta(days=1)
    return last.replace(day=1), last


def last_week(today: date) -> tuple[date, date]:
    """Monday and Sunday of the ISO week before the one ``today`` is in."""
    monday = today - timedelta(days=today.weekday())
    return monday - timedelta(days=7), monday - timedelta(days=1)


def named_period(name: str, zone: str) -> tuple[date, date]:
    """The days of a named period (see NAMED_PERIODS) as of today in ``zone`` (the product
    clock, so SOC_CLOCK replays a day); ValueError for another name."""
    today = clock.today(zone)
    if name == "last-month":
        return last_month(today)
    if name == "last-week":
        return last_week(today)
    raise ValueError(f"unknown period {name!r} (expected {', '.join(NAMED_PERIODS)})")
