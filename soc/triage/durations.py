"""Durations written the way analysts write them: ``90s``, ``30m``, ``1h``, ``2d``, ``1w``."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | int) -> timedelta:
    """A timedelta from ``<number><unit>`` (s, m, h, d, w) or a plain number of seconds;
    raises ValueError with a message naming the text otherwise."""
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"negative duration: {text}")
        return timedelta(seconds=text)
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"not a duration: {text!r} (expected e.g. 30m, 1h, 2d)")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
