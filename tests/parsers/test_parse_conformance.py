"""Conformance on the shared corpus (../shared/corpus/logs): skipped when it is absent."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from parser_helpers import ctx

from collectors.parsers import ParseError, detect_format, get_parser

pytestmark = pytest.mark.conformance


def _lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    return [ln for ln in text.split("\n") if ln]


def test_auth_log_every_line_and_the_ssh_counts(corpus_dir: Path) -> None:
    lines = _lines(corpus_dir / "logs" / "auth.log")
    assert len(lines) == 7121
    assert detect_format(lines[:200], "auth.log") == "auth"
    parser = get_parser("auth")
    c = ctx()
    docs, errors = [], Counter()
    for line in lines:
        try:
            docs.append(parser.parse(line, c))
        except ParseError as err:
            assert str(err), "a ParseError always carries a reason"
            errors[str(err)] += 1
    assert len(docs) + sum(errors.values()) == 7121
    assert not errors, errors  # every line of this file is an event

    def ssh(doc: dict, outcome: str, method: str) -> bool:
        return (
            doc["event"].get("action") == "ssh_login"
            and doc["event"].get("outcome") == outcome
            and doc.get("system", {}).get("auth", {}).get("ssh", {}).get("method") == method
        )

    failed = [d for d in docs if ssh(d, "failure", "password")]
    assert len(failed) == sum("Failed password" in ln for ln in lines) == 713
    for d in failed:
        assert d["source"]["ip"]
        assert isinstance(d["user"]["name"], str)  # 43 attempts used an empty user name
    accepted = [d for d in docs if d["event"].get("action") == "ssh_login"
                and d["event"]["outcome"] == "success"]  # fmt: skip
    assert len(accepted) == sum("Accepted" in ln for ln in lines) == 226
    assert all(d["source"]["ip"] and d["user"]["name"] for d in accepted)
    # every event is in the log's own period (Mar-Apr), in UTC
    assert all(d["@timestamp"][5:7] in ("03", "04") for d in docs)


def test_apache_access_log_agrees_with_a_simple_split(corpus_dir: Path) -> None:
    lines = _lines(corpus_dir / "logs" / "apache_access.log")
    assert detect_format(lines[:200], "apache_access.log") == "apache_access"
    parser = get_parser("apache_access")
    c = ctx()
    events = 0
    for line in lines:
        doc = parser.parse(line, c)
        events += 1
        # independent reading: split on the double quotes, then on spaces
        quoted = line.split('"')
        request = quoted[1].split(" ")
        status = int(quoted[2].split()[0])
        client = line.split(" ", 1)[0]
        assert doc["http"]["response"]["status_code"] == status, line
        assert doc["source"].get("ip", doc["source"].get("address")) == client, line
        if len(request) == 3:
            assert doc["http"]["request"]["method"] == request[0], line
            assert doc["url"]["original"] == request[1], line
            path = request[1].split("?", 1)[0]
            if "%" not in path:
                assert doc["url"]["path"] == path, line
        assert doc["event"]["outcome"] == ("success" if status < 400 else "failure")
    assert events == 10_000
