"""Helpers every parser shares: line checks, fast time conversion, year inference, doc shells.

Times without a zone are wall-clock times in ``ctx.timezone``; the UTC offset is looked up
once per (zone, date, hour) and cached, so no zoneinfo conversion runs per line. Offsets are
assumed constant within an hour (true of every zone that changes on the hour or half hour
boundary except the half hour itself in Lord Howe style zones).
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from collectors.parsers.base import MAX_LINE_BYTES, ParseContext, ParseError
from soc import clock

MONTHS: dict[str, int] = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
MONTHS.update({k.upper(): v for k, v in list(MONTHS.items())})
MONTHS.update({k.lower(): v for k, v in list(MONTHS.items())})

_CACHE_LIMIT = 8192


def check_line(line: str) -> str:
    """The line without its line ending; ParseError when it is too long or empty."""
    n = len(line)
    if n > MAX_LINE_BYTES or (n * 4 > MAX_LINE_BYTES and len(line.encode()) > MAX_LINE_BYTES):
        raise ParseError(f"line longer than {MAX_LINE_BYTES} bytes")
    if line.endswith("\n"):
        line = line[:-1]
    if line.endswith("\r"):
        line = line[:-1]
    if not line.strip():
        raise ParseError("empty line")
    return line


# (zone, y, m, d, h) -> UTC offset in seconds
_OFFSETS: dict[tuple[ZoneInfo, int, int, int, int], int] = {}


def utc_offset(zone: ZoneInfo, y: int, mo: int, d: int, h: int) -> int:
    """Seconds east of UTC of ``zone`` at local wall time y-mo-d h:00 (cached)."""
    key = (zone, y, mo, d, h)
    off = _OFFSETS.get(key)
    if off is None:
        if len(_OFFSETS) > _CACHE_LIMIT:
            _OFFSETS.clear()
        delta = datetime(y, mo, d, h, tzinfo=zone).utcoffset()
        off = int(delta.total_seconds()) if delta is not None else 0
        _OFFSETS[key] = off
    return off


def format_utc(dt: datetime) -> str:
    """A naive UTC datetime as the stored "YYYY-MM-DDTHH:MM:SS.ffffffZ" form."""
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:"
        f"{dt.second:02d}.{dt.microsecond:06d}Z"
    )


def local_to_utc(
    zone: ZoneInfo, y: int, mo: int, d: int, hh: int, mm: int, ss: int, us: int = 0
) -> str:
    """The stored UTC string of a zone-less wall time read in ``zone``; ParseError if invalid."""
    try:
        naive = datetime(y, mo, d, hh, mm, min(ss, 59), us)
    except ValueError as err:
        raise ParseError(f"invalid date or time ({err})") from None
    off = utc_offset(zone, y, mo, d, hh)
    return format_utc(naive - timedelta(seconds=off))


def offset_to_utc(
    y: int, mo: int, d: int, hh: int, mm: int, ss: int, us: int, offset_seconds: int
) -> str:
    """The stored UTC string of a wall time with a known UTC offset; ParseError if invalid."""
    try:
        naive = datetime(y, mo, d, hh, mm, min(ss, 59), us)
    except ValueError as err:
        raise ParseError(f"invalid date or time ({err})") from None
    return format_utc(naive - timedelta(seconds=offset_seconds))


_PREFIXES: dict[tuple[object, ...], str] = {}


def utc_minute_prefix(
    y: int, mo: int, d: int, hh: int, mm: int, zone: ZoneInfo | None, offset: int = 0
) -> str:
    """ "YYYY-MM-DDTHH:MM:" in UTC of a local minute (in ``zone``, else at ``offset`` s), cached.

    Callers append "SS.ffffffZ": the seconds of a time never change under a UTC offset that is
    a whole number of minutes (every zone in use since 1972). ParseError for invalid dates.
    """
    key = (y, mo, d, hh, mm, zone, offset)
    prefix = _PREFIXES.get(key)
    if prefix is None:
        try:
            naive = datetime(y, mo, d, hh, mm)
        except ValueError as err:
            raise ParseError(f"invalid date or time ({err})") from None
        off = utc_offset(zone, y, mo, d, hh) if zone is not None else offset
        if off % 60:
            raise ParseError("UTC offset with seconds is not supported")
        utc = naive - timedelta(seconds=off)
        prefix = f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
        if len(_PREFIXES) > _CACHE_LIMIT:
            _PREFIXES.clear()
        _PREFIXES[key] = prefix
    return prefix


def seconds_suffix(ss: str, frac: str | None) -> str:
    """ "SS.ffffffZ" from two-digit seconds and an optional fraction; ParseError if invalid."""
    if ss > "60" or len(ss) != 2:
        raise ParseError(f"invalid seconds {ss!r}")
    if ss == "60":
        ss = "59"
    if not frac:
        return ss + ".000000Z"
    return f"{ss}.{frac[:6].ljust(6, '0')}Z"


def parse_offset(text: str) -> int:
    """Seconds east of UTC for "+0700", "+07:00", "-05", "Z" or "UTC"; ParseError otherwise."""
    t = text.strip()
    if t in ("Z", "z", "UTC", "GMT", "+0000", "-0000"):
        return 0
    if len(t) < 3 or t[0] not in "+-":
        raise ParseError(f"bad UTC offset {text!r}")
    digits = t[1:].replace(":", "")
    if not digits.isdigit() or len(digits) not in (2, 4):
        raise ParseError(f"bad UTC offset {text!r}")
    hours = int(digits[:2])
    minutes = int(digits[2:4]) if len(digits) == 4 else 0
    sign = -1 if t[0] == "-" else 1
    return sign * (hours * 3600 + minutes * 60)


def epoch_to_utc(value: float) -> str:
    """The stored UTC string of seconds since the epoch; ParseError when out of range."""
    try:
        return format_utc(datetime.fromtimestamp(value, UTC).replace(tzinfo=None))
    except (OverflowError, OSError, ValueError):
        raise ParseError(f"epoch time out of range: {value!r}") from None


def iso_to_utc(text: str, zone: ZoneInfo) -> str:
    """The stored UTC string of an ISO 8601 time; a zone-less one is read in ``zone``."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ParseError(f"bad timestamp {text[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return format_utc(moment.astimezone(UTC).replace(tzinfo=None))


class YearTracker:
    """Infers the year of "Mon DD hh:mm:ss" times of ONE source, in file order.

    The first time gets the reference year ("now" in the source's zone, or
    ctx.reference_time); after that the year follows the previous line, moving forward when
    the month drops by more than six (Dec -> Jan) and back when it jumps up by more than six
    (an out-of-order December line after January). A result more than one day after the
    reference time is placed a year earlier: "Dec 31" read on Jan 2 belongs to last year.
    """

    __slots__ = ("_last_key", "_last_year", "_month", "_now", "_year")

    def __init__(self) -> None:
        self._year: int | None = None  # year of the previous line
        self._month = 0
        self._last_key: tuple[int, int] | None = None
        self._last_year = 0
        self._now: date | None = None

    def _reference(self, ctx: ParseContext, refresh: bool = False) -> date:
        if ctx.reference_time is not None:
            ref = ctx.reference_time
            if ref.tzinfo is None:
                ref = ref.replace(tzinfo=UTC)
            return ref.astimezone(ctx.timezone).date()
        if self._now is None or refresh:
            self._now = clock.today(ctx.timezone)
        return self._now

    def year_for(self, month: int, day: int, ctx: ParseContext) -> int:
        """The year of a line dated month/day (call once per line, in file order)."""
        key = (month, day)
        if key == self._last_key:
            return self._last_year
        if self._year is None:
            year = self._reference(ctx).year
        else:
            year = self._year
            if month < self._month - 6:
                year += 1
            elif month > self._month + 6:
                year -= 1
        year = self._not_future(year, month, day, ctx)
        self._year = year
        self._month = month
        self._last_key = key
        self._last_year = year
        return year

    def _not_future(self, year: int, month: int, day: int, ctx: ParseContext) -> int:
        ref = self._reference(ctx)
        if (year, month, day) <= _plus_one_day(ref):
            return year
        ref = self._reference(ctx, refresh=True)
        while (year, month, day) > _plus_one_day(ref):
            year -= 1
        return year


def _plus_one_day(ref: date) -> tuple[int, int, int]:
    nxt = ref + timedelta(days=1)
    return (nxt.year, nxt.month, nxt.day)


# IP validation cache: text -> canonical address or "" when not an IP.
_IPS: dict[str, str] = {}


def clean_ip(text: str | None) -> str | None:
    """The canonical form of an IPv4/IPv6 address (brackets, zone ids tolerated), or None."""
    if not text:
        return None
    hit = _IPS.get(text)
    if hit is not None:
        return hit or None
    value = text
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    if value.startswith("::ffff:") and value.count(".") == 3:
        value = value[7:]
    try:
        canon = str(ipaddress.ip_address(value.split("%", 1)[0]))
    except ValueError:
        canon = ""
    if len(_IPS) > _CACHE_LIMIT * 8:
        _IPS.clear()
    _IPS[text] = canon
    return canon or None


def to_int(text: str | None) -> int | None:
    """An int from decimal text, or None for '-', empty or non-numeric text."""
    if text is None:
        return None
    t = text.strip()
    if t.isdigit():
        return int(t)
    if t.startswith("-") and t[1:].isdigit():
        return int(t)
    return None


def new_event(
    ctx: ParseContext, line: str, timestamp: str, module: str, dataset: str
) -> dict[str, Any]:
    """The shell every event starts from: @timestamp, event.*, host.name, labels, original."""
    event: dict[str, Any] = {"kind": "event", "module": module, "dataset": dataset}
    if ctx.keep_original:
        event["original"] = line
    doc: dict[str, Any] = {"@timestamp": timestamp, "event": event}
    if ctx.host_name:
        doc["host"] = {"name": ctx.host_name}
    if ctx.department:
        doc["labels"] = {"department": ctx.department}
    return doc


def add_related(doc: dict[str, Any], ips: list[str | None], users: list[str | None]) -> None:
    """Set related.ip / related.user from the non-empty values, without duplicates."""
    ip_list = [ip for ip in ips if ip]
    user_list = [u for u in users if u]
    if not ip_list and not user_list:
        return
    related: dict[str, list[str]] = {}
    if ip_list:
        related["ip"] = ip_list if len(ip_list) == 1 else list(dict.fromkeys(ip_list))
    if user_list:
        related["user"] = user_list if len(user_list) == 1 else list(dict.fromkeys(user_list))
    doc["related"] = related


def set_host(doc: dict[str, Any], name: str | None) -> None:
    """host.name from the line when it names one (overrides ctx.host_name)."""
    if name and name != "-":
        host = doc.get("host")
        if host is None:
            doc["host"] = {"name": name}
        else:
            host["name"] = name
