"""The one clock of citysoc: every "now" the product asks for comes from here.

Reports ("this month"), the demo, detection windows, case and audit timestamps, scheduler
watermarks and leases, and the year of syslog lines that carry none all read `now()`.

By default it is the system clock. ``SOC_CLOCK`` sets it to another moment, for tests and for
replaying a day ("write the report as if it were 1 January"):

- ``SOC_CLOCK=2027-01-01T00:20:00+07:00`` freezes the clock at that moment;
- ``SOC_CLOCK=2027-01-01T00:20:00+07:00@1796000000.5`` makes it run: it read that moment at
  the given Unix time and has advanced with the system clock since. Every process that
  inherits the value agrees on the time, so a case opened by one `soc` command is never
  closed "before" it by the next. `running_setting()` writes such a value.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

#: The environment variable that sets the clock.
ENV = "SOC_CLOCK"


class ClockError(ValueError):
    """SOC_CLOCK holds something that is not a moment."""


@lru_cache(maxsize=8)
def _parse(setting: str) -> tuple[datetime, float | None]:
    moment_text, _, anchor_text = setting.strip().partition("@")
    text = moment_text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
        anchor = float(anchor_text) if anchor_text else None
    except ValueError as exc:
        raise ClockError(
            f"{ENV}={setting!r} is not an ISO 8601 moment (optionally followed by @unix-time)"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC), anchor


def now() -> datetime:
    """The current moment, aware, in UTC: the system clock unless ``SOC_CLOCK`` sets it."""
    setting = os.environ.get(ENV)
    if not setting:
        return datetime.now(UTC)
    moment, anchor = _parse(setting)
    if anchor is None:
        return moment
    return moment + timedelta(seconds=time.time() - anchor)


def today(zone: str | ZoneInfo) -> date:
    """Today's date in a time zone (a name such as ``Asia/Ho_Chi_Minh`` or a ZoneInfo)."""
    tz = ZoneInfo(zone) if isinstance(zone, str) else zone
    return now().astimezone(tz).date()


def running_setting(moment: datetime | str) -> str:
    """A ``SOC_CLOCK`` value for a clock that reads ``moment`` now and then runs on."""
    if isinstance(moment, str):
        moment, _ = _parse(moment)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"{moment.astimezone(UTC).isoformat()}@{time.time():.6f}"
