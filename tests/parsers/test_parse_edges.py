"""Hostile edges of the parsers: numbers JSON cannot hold, clocks no device has."""

from __future__ import annotations

import json

import pytest
from parser_helpers import ctx

from collectors.parsers import ParseError, get_parser


def test_an_overflowing_json_number_is_kept_as_text_never_infinity() -> None:
    doc = get_parser("json").parse('{"message": "x", "size": 1e999, "ok": 2.5}', ctx())
    stored = json.dumps(doc, allow_nan=False)  # raises on Infinity/NaN
    assert '"1e999"' in stored and "2.5" in stored


def test_json_infinity_and_nan_literals_are_not_json() -> None:
    with pytest.raises(ParseError):
        get_parser("json").parse('{"a": Infinity}', ctx())


def test_fortigate_eventtime_of_80_digits_falls_back_to_date_and_time() -> None:
    line = (
        'date=2026-11-21 time=08:00:01 devname="fw1" eventtime=' + "9" * 80 + ' tz="+0700" '
        'type="traffic" subtype="forward" srcip=10.0.0.1 dstip=10.0.0.2 action="deny"'
    )
    doc = get_parser("fortigate").parse(line, ctx())
    assert doc["@timestamp"].startswith("2026-11-21T01:00:01")
