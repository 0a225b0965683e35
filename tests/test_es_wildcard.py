"""Wildcard copies (elasticsearch.wildcard_copies): leading-wildcard searches run on a
lower-cased `wildcard` copy and find exactly what the normalised keyword finds. Against a
real osmem-server."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

from soc import ecs
from soc.detect.compile import compile_all
from soc.detect.loader import load_rules
from soc.resources import rules_dir
from soc.store.elastic import ElasticStore
from soc.store.es_template import IndexLayout
from soc.store.es_wildcard import rewrite

T0 = datetime(2026, 11, 20, 10, tzinfo=UTC)
LINES = [
    r"C:\Windows\System32\CMD.EXE /c whoami",
    r"c:\windows\system32\cmd.exe /C net user",
    r"C:\Program Files\App\app.exe --Update",
    r"powershell.exe -EncodedCommand SQBFAFgA",
]


def process_event(i: int, line: str) -> dict[str, Any]:
    return {
        "_id": ecs.event_id("test-es-wildcard", i),
        "@timestamp": ecs.format_timestamp(T0 + timedelta(seconds=i)),
        "event": {"dataset": "windows.sysmon", "category": ["process"]},
        "process": {"command_line": line},
        "url": {"path": ["/WP-Login.php", "/index.html"][i % 2]},
        "message": line,
    }


QUERIES = [
    r"process.command_line:*cmd.exe\ \/c*",
    r"process.command_line:(*whoami OR *net\ user)",
    r"process.command_line:*system32*",
    r"process.command_line:c\:\\windows\\system32\\cmd.exe\ \/c\ whoami",
    r"NOT process.command_line:*cmd.exe*",
    r"url.path:*\/wp\-login.php",
    r"message:*encodedcommand*",
]


def test_rewrite_points_only_field_references_at_the_copies() -> None:
    assert rewrite("process.command_line:*a* AND url.path:b") == (
        "soc_wc.process.command_line:*a* AND soc_wc.url.path:b"
    )
    assert rewrite(r"message:*process.command_line\:x*") == r"message:*process.command_line\:x*"
    assert rewrite("parent.process.command_line:x") == "parent.process.command_line:x"


def test_wildcard_copies_find_what_the_keyword_fields_find(es_url: str) -> None:
    plain = ElasticStore(es_url, index_prefix="plain")
    copied = ElasticStore(es_url, index_prefix="copied", layout=IndexLayout(wildcard_copies=True))
    try:
        events = [process_event(i, line) for i, line in enumerate(LINES)]
        for s in (plain, copied):
            assert s.write_events(events).stored == len(events)
            s.refresh()
        counts = {q: (plain.count(q), copied.count(q)) for q in QUERIES}
        assert counts == {q: (a, a) for q, (a, _) in counts.items()}
        assert counts[QUERIES[0]] == (2, 2) and counts[QUERIES[5]] == (2, 2)
        with urllib.request.urlopen(f"{es_url}/copied-events/_mapping", timeout=10) as answer:
            (index,) = json.loads(answer.read()).values()
        copy = index["mappings"]["properties"]["soc_wc"]["properties"]["process"]
        assert copy["properties"]["command_line"]["type"] == "wildcard"
        (hit, *_) = copied.search().hits
        assert "soc_wc" not in hit.source
        assert hit.source["process"]["command_line"] == LINES[0]
    finally:
        plain.close()
        copied.close()


def test_compiled_city_rules_match_the_same_with_copies(es_url: str) -> None:
    ruleset = load_rules([rules_dir()])
    compiled = [
        c
        for c in compile_all(ruleset.rules, "lucene")
        if c.runnable and c.query and rewrite(c.query) != c.query
    ]
    assert compiled, "the city pack has rules on wildcard fields"
    plain = ElasticStore(es_url, index_prefix="plain")
    copied = ElasticStore(es_url, index_prefix="copied", layout=IndexLayout(wildcard_copies=True))
    web = [
        ("/WP-Login.php", "Mozilla/5.0"),
        ("/xmlrpc.php", "sqlmap/1.7#stable (https://sqlmap.org)"),
        ("/index.html", "Nikto/2.5.0"),
    ]
    try:
        events = [process_event(i, line) for i, line in enumerate(LINES)]
        for i, (path, agent) in enumerate(web):
            events.append(
                {
                    "_id": ecs.event_id("test-es-wildcard-web", i),
                    "@timestamp": ecs.format_timestamp(T0 + timedelta(minutes=i)),
                    "event": {"dataset": "nginx.access"},
                    "http": {"request": {"method": "POST"}, "response": {"status_code": 401}},
                    "url": {"path": path, "original": path},
                    "user_agent": {"original": agent},
                    "source": {"ip": "203.0.113.9"},
                    "message": f"POST {path}",
                }
            )
        for s in (plain, copied):
            s.write_events(events)
            s.refresh()
        matched = 0
        for rule in compiled:
            query = str(rule.query)
            expected = plain.count(query)
            assert copied.count(query) == expected, rule.title
            matched += expected
        assert matched > 0
    finally:
        plain.close()
        copied.close()
