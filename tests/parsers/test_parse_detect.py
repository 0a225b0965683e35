"""Format detection, the registry, and garbage input."""

from __future__ import annotations

import random

import pytest
from parser_helpers import ctx, lines

from collectors.parsers import (
    FORMATS,
    MAX_LINE_BYTES,
    LineParser,
    ParseError,
    detect_format,
    get_parser,
)


@pytest.mark.parametrize(
    ("fixture", "filename", "expected"),
    [
        ("auth.log", None, "auth"),
        ("auth.log", "/var/log/auth.log", "auth"),
        ("syslog.log", "/var/log/syslog", "syslog"),
        ("access.log", "/var/log/apache2/access.log", "apache_access"),
        ("access.log", "/var/log/nginx/access.log", "nginx_access"),
        ("apache_error.log", "error.log", "apache_error"),
        ("nginx_error.log", "/var/log/nginx/error.log", "nginx_error"),
        ("audit.log", "audit.log", "auditd"),
        ("fortigate.log", None, "fortigate"),
        ("ufw.log", "/var/log/ufw.log", "iptables"),
        ("bind.log", None, "bind"),
        ("cisco.log", None, "cisco_ios"),
        ("events.jsonl", None, "json"),
    ],
)
def test_detects_each_format(fixture: str, filename: str | None, expected: str) -> None:
    assert detect_format(lines(fixture), filename) == expected


def test_syslog_file_with_a_few_sshd_lines_is_syslog() -> None:
    sample = lines("syslog.log") + lines("auth.log")[:2]
    assert detect_format(sample, "messages") == "syslog"
    assert detect_format(sample, "oauth-proxy.log") == "syslog"
    assert detect_format(sample, "secure-20261121") == "auth"
    assert detect_format(sample, "web01-auth.log.1") == "auth"


def test_an_auth_log_of_openssh_9_8_or_later_is_auth() -> None:
    # sshd-session writes the login lines there; the file is auth even under a plain name
    sample = [
        line.replace("sshd[", "sshd-session[") for line in lines("auth.log") if "sshd[" in line
    ]
    assert len(sample) >= 5
    assert detect_format(sample, "host-7.log") == "auth"


def test_unknown_content_detects_nothing() -> None:
    assert detect_format(["hello", "world"]) is None
    assert detect_format([]) is None
    assert detect_format(["\x00\x01\x02" * 10]) is None


def test_registry_gives_fresh_parsers_and_clear_errors() -> None:
    for name in FORMATS:
        parser = get_parser(name)
        assert isinstance(parser, LineParser)
        assert parser.name == name
        assert get_parser(name) is not parser
    assert get_parser("UFW").name == "iptables"
    with pytest.raises(ValueError, match=r"unknown format 'cef' \(known: syslog, auth"):
        get_parser("cef")


@pytest.mark.parametrize("fmt", FORMATS)
def test_overlong_lines_are_refused_fast(fmt: str) -> None:
    huge = "Nov 21 08:00:00 h sshd[1]: " + "A" * (10 << 20)
    with pytest.raises(ParseError, match=f"line longer than {MAX_LINE_BYTES} bytes"):
        get_parser(fmt).parse(huge, ctx())
    # multi-byte characters count by their UTF-8 size
    wide = "\u20ac" * (MAX_LINE_BYTES // 3 + 10)
    with pytest.raises(ParseError, match="line longer"):
        get_parser(fmt).parse(wide, ctx())


@pytest.mark.parametrize("fmt", FORMATS)
def test_garbage_never_crashes(fmt: str) -> None:
    """Mutated fixture lines, random bytes and control characters: an event or ParseError."""
    names = ("auth.log", "access.log", "audit.log", "fortigate.log", "ufw.log", "bind.log",
             "events.jsonl", "syslog.log", "apache_error.log", "nginx_error.log",
             "cisco.log")  # fmt: skip
    seeds = [ln for name in names for ln in lines(name)]
    rnd = random.Random(f"garbage-{fmt}")
    parser = get_parser(fmt)
    c = ctx()
    for i in range(800):
        seed = rnd.choice(seeds)
        if i % 3 == 0:
            raw = bytearray(seed.encode())
            for _ in range(rnd.randint(1, 6)):
                raw[rnd.randrange(len(raw))] = rnd.randrange(256)
            line = raw.decode("utf-8", errors="replace")
        elif i % 3 == 1:
            line = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 200))).decode(
                "utf-8", errors="replace"
            )
        else:
            cut = rnd.randrange(len(seed))
            junk = rnd.choice(['"', "\\", "[", "]", "\x00", "\ufffd", "=", "%", "{", "\x1d"])
            line = seed[:cut] + junk * rnd.randint(1, 40) + seed[cut:]
        try:
            doc = parser.parse(line, c)
        except ParseError as err:
            assert str(err)
        else:
            assert doc["@timestamp"].endswith("Z") and doc["event"]["dataset"]
