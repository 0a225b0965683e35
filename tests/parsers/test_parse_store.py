"""Parsed events are storable as they come: every fixture line into a real LocalStore file."""

from __future__ import annotations

from pathlib import Path

from parser_helpers import ctx, lines

from collectors.parsers import ParseError, get_parser
from soc.ecs import event_id
from soc.store.local import LocalStore

FIXTURES = {
    "auth": "auth.log",
    "syslog": "syslog.log",
    "apache_access": "access.log",
    "apache_error": "apache_error.log",
    "nginx_error": "nginx_error.log",
    "auditd": "audit.log",
    "fortigate": "fortigate.log",
    "iptables": "ufw.log",
    "bind": "bind.log",
    "json": "events.jsonl",
}


def test_every_fixture_event_stores_and_is_found_by_its_fields(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "events.db")
    try:
        expected = 0
        for fmt, name in FIXTURES.items():
            parser = get_parser(fmt)
            c = ctx(department="So Thong tin va Truyen thong")
            batch = []
            for offset, line in enumerate(lines(name)):
                try:
                    doc = parser.parse(line, c)
                except ParseError:
                    continue
                assert "_id" not in doc
                doc["_id"] = event_id(f"fixture:{name}", offset)
                batch.append(doc)
            result = store.write_events(batch)
            assert (result.stored, result.failed) == (len(batch), 0), result.failures
            expected += len(batch)
        store.refresh()
        assert store.count() == expected
        failed_ssh = store.count(
            "\"event.action\" = 'ssh_login' AND \"event.outcome\" = 'failure'"
            " AND \"system.auth.ssh.method\" = 'password'"
        )
        assert failed_ssh == 4
        assert store.count("\"source.ip\" = '203.0.113.9'") >= 10
        assert store.count("\"dns.question.name\" = 'x.evil.test'") == 1
        assert store.count("\"labels.department\" = 'So Thong tin va Truyen thong'") == expected
    finally:
        store.close()
