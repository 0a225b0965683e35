"""Syslog headers (RFC 3164 / 5424), zones and year inference."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from parser_helpers import ctx, parse_all

from collectors.parsers import ParseError, get_parser


def test_zone_less_time_is_read_in_ho_chi_minh_and_stored_in_utc() -> None:
    doc = get_parser("syslog").parse("Nov 21 08:00:00 web01 nginx[321]: started", ctx())
    assert doc["@timestamp"] == "2026-11-21T01:00:00.000000Z"
    assert doc["host"]["name"] == "web01"
    assert doc["process"] == {"name": "nginx", "pid": 321}
    assert doc["message"] == "started"
    assert doc["event"]["dataset"] == "system.syslog"
    assert doc["event"]["module"] == "system"


def test_other_zone_from_the_context() -> None:
    c = ctx(timezone=ZoneInfo("Europe/Paris"))
    doc = get_parser("syslog").parse("Jul  1 12:00:00 h app: x", c)
    assert doc["@timestamp"] == "2026-07-01T10:00:00.000000Z"  # CEST, UTC+2


def test_daylight_saving_change_uses_the_offset_of_each_hour() -> None:
    c = ctx(timezone=ZoneInfo("Europe/Paris"), reference_time=datetime(2026, 4, 1, tzinfo=UTC))
    parser = get_parser("syslog")
    before = parser.parse("Mar 29 01:30:00 h app: x", c)["@timestamp"]
    after = parser.parse("Mar 29 03:30:00 h app: x", c)["@timestamp"]
    assert (before, after) == ("2026-03-29T00:30:00.000000Z", "2026-03-29T01:30:00.000000Z")


def test_fixture_lines_rfc3164_and_rfc5424() -> None:
    docs = parse_all("syslog", "syslog.log")
    plain, pri, r5424, r5424_utc, iso, single_digit_day = docs
    assert plain["log.syslog.appname"] == "nginx"
    assert pri["log.syslog.priority"] == 34
    assert pri["log.syslog.facility.name"] == "auth"
    assert pri["log.syslog.severity.name"] == "critical"
    assert pri["process.name"] == "su" and "process.pid" not in pri
    assert r5424["@timestamp"] == "2026-11-21T01:00:00.003000Z"
    assert r5424["host.name"] == "mymachine.example.com"
    assert r5424["log.syslog.msgid"] == "ID47"
    assert r5424["log.syslog.structured_data.exampleSDID@32473.eventID"] == "1011"
    assert r5424["message"] == "An application event"
    assert r5424_utc["process.pid"] == 77 and r5424_utc["message"] == "plain message"
    assert iso["@timestamp"] == "2026-11-21T01:00:00.123456Z"
    assert iso["process.name"] == "systemd"
    assert single_digit_day["@timestamp"] == "2026-11-03T01:00:00.000000Z"
    assert single_digit_day["message"] == "[ 12.345] eth0: link up"


def test_department_host_default_and_original() -> None:
    c = ctx(department="So Tai chinh", host_name="fallback")
    doc = get_parser("syslog").parse("<13>1 2026-11-21T01:00:00Z - app - - - hi", c)
    assert doc["labels"]["department"] == "So Tai chinh"
    assert doc["host"]["name"] == "fallback"
    assert doc["event"]["original"] == "<13>1 2026-11-21T01:00:00Z - app - - - hi"
    doc = get_parser("syslog").parse("Nov 21 08:00:00 h a: x", ctx(keep_original=False))
    assert "original" not in doc["event"]
    assert "_id" not in doc


def test_new_year_does_not_jump_back_a_year() -> None:
    parser = get_parser("syslog")  # one parser = one source's year tracker
    c = ctx(reference_time=datetime(2027, 1, 2, 3, 0, tzinfo=UTC))
    stamps = [
        parser.parse(f"{d} h app: x", c)["@timestamp"]
        for d in ("Dec 31 23:59:58", "Dec 31 23:59:59", "Jan  1 00:00:00", "Jan  1 00:00:01")
    ]
    assert stamps == [
        "2026-12-31T16:59:58.000000Z",
        "2026-12-31T16:59:59.000000Z",
        "2026-12-31T17:00:00.000000Z",
        "2026-12-31T17:00:01.000000Z",
    ]


def test_never_far_in_the_future() -> None:
    # Dec 31 lines read on Jan 2 belong to the year before.
    c = ctx(reference_time=datetime(2027, 1, 2, 0, 0, tzinfo=UTC))
    doc = get_parser("syslog").parse("Dec 31 10:00:00 h app: x", c)
    assert doc["@timestamp"].startswith("2026-12-31")
    # A line of today stays in this year.
    doc = get_parser("syslog").parse("Jan  2 06:00:00 h app: x", c)
    assert doc["@timestamp"].startswith("2027-01-01T23")


def test_each_parser_instance_has_its_own_year() -> None:
    c = ctx(reference_time=datetime(2027, 6, 1, 0, 0, tzinfo=UTC))
    a, b = get_parser("syslog"), get_parser("syslog")
    # a reads a July line first: July 2027 would be in the future, so it is July 2026, and
    # its March line that follows stays in 2026.
    assert a.parse("Jul  1 10:00:00 h app: x", c)["@timestamp"].startswith("2026-07-01")
    assert a.parse("Mar  1 10:00:00 h app: x", c)["@timestamp"].startswith("2026-03-01")
    # b never saw July: its March line is this year's.
    assert b.parse("Mar  1 10:00:00 h app: x", c)["@timestamp"].startswith("2027-03-01")


def test_feb_29_in_a_non_leap_year_is_a_parse_error() -> None:
    c = ctx(reference_time=datetime(2027, 3, 1, tzinfo=UTC))
    with pytest.raises(ParseError, match="invalid date"):
        get_parser("syslog").parse("Feb 29 10:00:00 h app: x", c)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("hello world", "no syslog header"),
        ("<999>Nov 21 08:00:00 h a: x", "priority"),
        ("<13>1 - h app - - - no time", "without a timestamp"),
        ("<13>1 2026-11-21T01:00:00Z h app - - [broken x", "structured data"),
        ("", "empty"),
    ],
)
def test_bad_lines_name_the_problem(line: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        get_parser("syslog").parse(line, ctx())


def test_reference_time_naive_means_utc() -> None:
    c = ctx(reference_time=datetime(2026, 6, 1))
    assert (
        get_parser("syslog")
        .parse("May 31 10:00:00 h a: x", c)["@timestamp"]
        .startswith("2026-05-31")
    )


def test_netfilter_lines_in_a_syslog_file_become_firewall_events() -> None:
    parser = get_parser("syslog")
    ufw = (
        "Nov 21 08:00:00 gw kernel: [UFW BLOCK] IN=eth0 OUT= SRC=203.0.113.5 DST=10.0.0.1"
        " PROTO=UDP SPT=5 DPT=53"
    )
    doc = parser.parse(ufw, ctx())
    assert doc["event"]["dataset"] == "iptables.log"
    assert doc["source"]["ip"] == "203.0.113.5" and doc["event"]["action"] == "block"
    other = parser.parse("Nov 21 08:00:00 gw kernel: SRC=nothing here", ctx())
    assert other["event"]["dataset"] == "system.syslog"
