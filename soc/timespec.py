"""Durations and times as people type them: ``30s``, ``5m``, ``24h``, ``7d``, ``2w`` or ISO 8601."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from soc import ecs

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | int) -> timedelta:
    """A duration such as ``30s``, ``5m``, ``24h``, ``7d`` or ``2w``, or a whole number of
    seconds (as YAML gives ``300``); ValueError naming the text otherwise."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"negative duration: {text}")
        return timedelta(seconds=text)
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 24h, 7d)")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2).lower()])


def parse_moment(text: str, now: datetime) -> datetime:
    """``24h``-style durations count back from ``now``; anything else is an ISO 8601 time."""
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        return ecs.parse_timestamp(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration (30s, 5m, 24h, 7d) nor an ISO 8601 time"
        ) from None
