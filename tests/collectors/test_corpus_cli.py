"""`soc ingest logs --json` on the corpus logs (real CLI, real local store): every line is
stored or dead-lettered, and what the store holds agrees with the raw lines."""

from __future__ import annotations

import json

import pytest
from collector_helpers import dead_letters, soc

from soc.store.local import LocalStore


@pytest.mark.conformance
def test_auth_log_every_line_stored_or_dead_lettered(corpus_dir, tmp_path):
    log = corpus_dir / "logs" / "auth.log"
    lines = log.read_bytes().splitlines()
    data = tmp_path / "data"
    proc = soc("ingest", "logs", "--json", str(log), data_dir=data)
    assert proc.returncode in (0, 1), proc.stderr.decode()
    result = json.loads(proc.stdout)
    assert result["read"] == len(lines) == 7121
    assert result["stored"] + result["duplicates"] + result["dead_lettered"] == len(lines)
    assert len(dead_letters(data)) == result["dead_lettered"]
    assert proc.returncode == (1 if result["dead_lettered"] else 0)
    assert result["sources"][str(log)]["format"] == "auth"
    store = LocalStore(data / "soc.db")
    try:
        assert store.count() == result["stored"]
        failed = store.count(
            filters={
                "event.action": "ssh_login",
                "event.outcome": "failure",
                "system.auth.ssh.method": "password",
            }
        )
        assert failed == sum(b"Failed password" in ln for ln in lines) == 713
        missing = store.count(
            "\"event.action\" = 'ssh_login' AND \"event.outcome\" = 'failure' "
            'AND ("source.ip" IS NULL OR "user.name" IS NULL)'
        )
        assert missing == 0
        accepted = store.count(filters={"event.action": "ssh_login", "event.outcome": "success"})
        assert accepted == sum(b"Accepted " in ln for ln in lines) == 226
    finally:
        store.close()
    again = json.loads(soc("ingest", "logs", "--json", str(log), data_dir=data).stdout)
    assert again["stored"] == 0 and again["duplicates"] == result["stored"]


@pytest.mark.conformance
def test_apache_access_log_every_line_stored(corpus_dir, tmp_path):
    log = corpus_dir / "logs" / "apache_access.log"
    data = tmp_path / "data"
    proc = soc("ingest", "logs", "--json", str(log), data_dir=data)
    result = json.loads(proc.stdout)
    assert result["read"] == 10_000
    assert result["stored"] + result["dead_lettered"] == 10_000
    assert result["sources"][str(log)]["format"] == "apache_access"
    store = LocalStore(data / "soc.db")
    try:
        assert store.count(filters={"event.dataset": "apache.access"}) == result["stored"]
        raw_404 = sum(b'" 404 ' in ln for ln in log.read_bytes().splitlines())
        assert store.count(filters={"http.response.status_code": 404}) == raw_404
    finally:
        store.close()
