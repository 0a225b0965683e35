"""Apache / nginx access and error logs."""

from __future__ import annotations

import pytest
from parser_helpers import ctx, lines, parse_all

from collectors.parsers import ParseError, get_parser


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    return parse_all("apache_access", "access.log")


def test_combined_line_with_encoded_query(docs: list[dict]) -> None:
    d = docs[0]
    assert d["@timestamp"] == "2026-11-21T01:00:00.000000Z"  # +0700 in the line
    assert d["event.dataset"] == "apache.access" and d["event.module"] == "apache"
    assert d["event.category"] == ["web"] and d["event.type"] == ["access"]
    assert d["source.ip"] == "203.0.113.9"
    assert d["http.request.method"] == "GET"
    assert d["url.original"] == "/search?q=%27%20union%20select"
    assert d["url.path"] == "/search"
    assert d["url.query"] == "q=' union select"
    assert d["http.version"] == "1.1"
    assert d["http.response.status_code"] == 200
    assert d["http.response.body.bytes"] == 512
    assert "http.request.referrer" not in d  # "-" means absent
    assert d["user_agent.original"] == "sqlmap/1.7.2#stable (https://sqlmap.org)"
    assert d["event.outcome"] == "success"
    assert d["event.original"] == lines("access.log")[0]


def test_ipv6_client_user_and_missing_bytes(docs: list[dict]) -> None:
    d = docs[1]
    assert d["source.ip"] == "2001:db8::42"
    assert d["user.name"] == "alice" and d["related.user"] == ["alice"]
    assert d["http.request.method"] == "POST" and d["http.version"] == "2.0"
    assert d["http.response.status_code"] == 302
    assert "http.response.body.bytes" not in d
    assert d["http.request.referrer"] == "https://portal.example.vn/"


def test_escaped_quotes(docs: list[dict]) -> None:
    d = docs[2]
    assert d["url.original"] == '/a"b'
    assert d["user_agent.original"] == 'Evil "quoted" agent'
    assert d["event.outcome"] == "failure"


def test_common_format_and_vhost_prefix(docs: list[dict]) -> None:
    common, vhost = docs[3], docs[4]
    assert common["http.response.status_code"] == 304
    assert common["http.response.body.bytes"] == 0
    assert "user_agent.original" not in common
    assert vhost["source.ip"] == "10.1.2.3"
    assert vhost["destination.domain"] == "portal.example.vn"
    assert vhost["destination.port"] == 443
    assert vhost["url.query"] == "page=../../etc/passwd"
    assert vhost["event.outcome"] == "failure"


def test_junk_requests_keep_the_raw_text(docs: list[dict]) -> None:
    tls, dash, proxy = docs[5], docs[6], docs[7]
    assert "http.request.method" not in tls
    assert tls["url.original"] == "\\x16\\x03\\x01\\x00\\xa5\\x01"
    assert "url.original" not in dash and dash["http.response.status_code"] == 408
    assert proxy["url.domain"] == "proxy.test" and proxy["url.port"] == 8080
    assert proxy["url.path"] == "/x/y" and proxy["url.original"].endswith("%2Fy?z=1")
    assert proxy["user_agent.original"] == "() { :; }; /bin/bash -c 'id'"


def test_nginx_dataset_by_format_and_by_hint() -> None:
    line = lines("access.log")[0]
    assert get_parser("nginx_access").parse(line, ctx())["event"]["dataset"] == "nginx.access"
    doc = get_parser("access").parse(line, ctx(dataset_hint="nginx"))
    assert doc["event"]["module"] == "nginx"


def test_zone_less_access_time_is_read_in_context_zone() -> None:
    line = '1.2.3.4 - - [21/Nov/2026:08:00:00] "GET / HTTP/1.1" 200 1'
    assert get_parser("access").parse(line, ctx())["@timestamp"] == "2026-11-21T01:00:00.000000Z"


@pytest.mark.parametrize(
    "line",
    [
        "not an access line",
        '1.2.3.4 - - [21/Nov/2026:08:00:00 +0700] "GET / HTTP/1.1" abc 1',
        '1.2.3.4 - - [21/Foo/2026:08:00:00 +0700] "GET / HTTP/1.1" 200 1',
        '1.2.3.4 - - [21/Nov/2026:08:00:00 +0700] "GET / HTTP/1.1 200 1',
    ],
)
def test_bad_access_lines(line: str) -> None:
    with pytest.raises(ParseError):
        get_parser("apache_access").parse(line, ctx())


def test_apache_error_log() -> None:
    new, old, notice = parse_all("apache_error", "apache_error.log")
    assert new["@timestamp"] == "2026-11-21T01:00:00.123456Z"
    assert new["event.dataset"] == "apache.error"
    assert (new["source.ip"], new["source.port"]) == ("203.0.113.9", 5678)
    assert new["error.code"] == "AH00126" and new["log.level"] == "error"
    assert new["process.pid"] == 1234 and new["process.thread.id"] == 5678
    assert new["message"].startswith("Invalid URI")
    assert old["source.ip"] == "203.0.113.9" and old["event.type"] == ["error"]
    assert notice["event.type"] == ["info"] and notice["log.logger"] == "mpm_event"


def test_nginx_error_log() -> None:
    err, notice = parse_all("nginx_error", "nginx_error.log")
    assert err["event.dataset"] == "nginx.error"
    assert err["@timestamp"] == "2026-11-21T01:00:00.000000Z"
    assert err["source.ip"] == "203.0.113.9"
    assert err["http.request.method"] == "GET" and err["url.original"] == "/wp-login.php"
    assert err["url.domain"] == "portal.example.vn"
    assert notice["log.level"] == "notice"


@pytest.mark.parametrize(
    "line",
    [
        '"203.0.113.9 - - [21/Nov/2026:08:00:00 +0700] ""GET /a?id=1 HTTP/1.1"" 200 5 '
        '""-"" ""sqlmap/1.7"""',
        '"203.0.113.9 - - [21/Nov/2026:08:00:00 +0700] \\"GET /a?id=1 HTTP/1.1\\" 200 5 '
        '\\"-\\" \\"sqlmap/1.7\\""',
        '"203.0.113.9 - - [21/Nov/2026:08:00:00 +0700] "GET /a?id=1 HTTP/1.1" 200 5 '
        '"-" "sqlmap/1.7""',
    ],
)
def test_line_wrapped_in_one_pair_of_quotes_keeps_its_client(line: str) -> None:
    parser = get_parser("apache_access")
    assert parser.sniff(line)
    doc = parser.parse(line, ctx())
    assert doc["source"]["ip"] == "203.0.113.9"
    assert doc["url"]["query"] == "id=1"
    assert doc["user_agent"]["original"] == "sqlmap/1.7"


def test_client_that_is_not_an_address_or_host_is_refused() -> None:
    line = '"203.0.113.9 - - [21/Nov/2026:08:00:00 +0700] "GET / HTTP/1.1" 200 5'  # no end quote
    with pytest.raises(ParseError, match="not an address or a host name"):
        get_parser("apache_access").parse(line, ctx())
