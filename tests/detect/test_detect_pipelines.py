"""Our pipelines: log sources become event conditions, Sigma names become ECS paths, and the
same rule compiles for both backends."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from soc.detect.compile import compile_all, compile_rule
from soc.detect.loader import load_rules, load_text
from soc.ecs import field_type


def one(text: str, target: str = "sqlite"):
    ruleset = load_text(text)
    assert not ruleset.errors and len(ruleset.rules) == 1
    return compile_rule(ruleset.rules[0], target)  # type: ignore[arg-type]


PROC = """
title: cmd from w3wp
logsource: {product: windows, category: process_creation}
detection:
  selection:
    ParentImage|endswith: '\\w3wp.exe'
    Image|endswith: '\\cmd.exe'
  condition: selection
"""


def test_process_creation_matches_sysmon_1_and_security_4688_with_their_names() -> None:
    query = one(PROC).query
    assert "`winlog.channel`='Microsoft-Windows-Sysmon/Operational'" in query
    assert "`winlog.event_id`=1" in query
    assert "`winlog.event_data.ParentImage`" in query and "`winlog.event_data.Image`" in query
    assert "`winlog.channel`='Security'" in query and "`winlog.event_id`=4688" in query
    assert "`winlog.event_data.ParentProcessName`" in query
    assert "`winlog.event_data.NewProcessName`" in query
    assert "`event.dataset`='windows.eventlog'" in query


def test_windows_system_fields_and_services() -> None:
    rule = """
title: log cleared
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 1102, Provider_Name: Microsoft-Windows-Eventlog, Computer: dc-01}
  condition: selection
"""
    query = one(rule).query
    assert "`winlog.event_id`=1102" in query
    assert "`winlog.provider_name`='Microsoft-Windows-Eventlog'" in query
    assert "`winlog.computer_name`='dc-01'" in query
    assert "`winlog.channel`='Security'" in query


def test_keywords_become_contains_on_the_raw_line_or_message_for_both_backends() -> None:
    rule = """
title: kw
logsource: {product: linux, service: sshd}
detection:
  keywords: ['Failed password', 'Invalid user']
  condition: keywords
"""
    sql = one(rule).query
    assert "`event.original` LIKE '%Failed password%'" in sql
    assert "message LIKE '%Invalid user%'" in sql
    assert "`process.name`='sshd'" in sql and "`event.dataset`='system.auth'" in sql
    lucene = one(rule, "lucene").query
    assert "message:(*failed\\ password* OR *invalid\\ user*)" in lucene
    if field_type("event.original") != "unindexed":  # searchable on Elasticsearch too
        assert "event.original:(*failed\\ password* OR *invalid\\ user*)" in lucene


def test_lucene_values_are_lowercased_and_regexes_unanchored() -> None:
    rule = """
title: re
logsource: {category: webserver}
detection:
  selection:
    c-useragent|contains: 'SQLMap'
    c-uri|re: 'UNION\\s+SELECT'
  condition: selection
"""
    lucene = one(rule, "lucene").query
    assert "user_agent.original:*sqlmap*" in lucene
    assert "url.original:/.*(union\\s+select).*/" in lucene
    assert "event.dataset:(apache.access OR nginx.access OR pcap.http)" in lucene.replace("\\", "")
    sql = one(rule).query
    assert "`url.original` REGEXP 'UNION\\s+SELECT'" in sql  # case-sensitive, as Sigma says


def test_ecs_names_pass_through_and_web_dns_firewall_zeek_map() -> None:
    cases = {
        "logsource: {category: webserver}\n"
        "detection: {s: {cs-method: POST, sc-status: 200}, condition: s}": [
            "`http.request.method`='POST'",
            "`http.response.status_code`=200",
        ],
        "logsource: {category: dns}\ndetection: {s: {query|endswith: .xyz}, condition: s}": [
            "`dns.question.name` LIKE '%.xyz'",
            "`event.dataset`='bind.query' OR `event.dataset`='pcap.dns'",
        ],
        "logsource: {category: firewall}\n"
        "detection: {s: {dst_port: 3389, src_ip: 10.0.0.1}, condition: s}": [
            "`destination.port`=3389",
            "`source.ip`='10.0.0.1'",
        ],
        "logsource: {product: zeek, service: ssl}\n"
        "detection: {s: {server_name: evil.test}, condition: s}": [
            "`tls.client.server_name`='evil.test'",
            "`event.dataset`='pcap.tls'",
        ],
        "logsource: {product: linux, service: auth}\n"
        "detection: {s: {event.action: sudo_command}, condition: s}": [
            "`event.action` LIKE 'sudo\\_command'",
        ],
    }
    for body, expected in cases.items():
        query = one(f"title: t\n{body}\n").query
        for fragment in expected:
            assert fragment in query, (body, query)


def test_defender_field_names_match_with_or_without_spaces() -> None:
    rule = """
title: defender
logsource: {product: windows, service: windefend}
detection:
  selection: {EventID: 1116, ThreatName|contains: Mimikatz}
  condition: selection
"""
    query = one(rule).query
    assert "`winlog.event_data.ThreatName`" in query and "`winlog.event_data.Threat Name`" in query


def test_a_log_source_citysoc_does_not_collect_is_reported_not_run() -> None:
    rule = """
title: cloud
logsource: {product: azure, service: signinlogs}
detection:
  selection: {ResultType: 50126}
  condition: selection
"""
    compiled = one(rule)
    assert compiled.status == "not_convertible"
    assert "not collected by citysoc: product=azure service=signinlogs" in (compiled.error or "")


def test_product_citysoc_means_every_event() -> None:
    rule = """
title: pivot
logsource: {product: citysoc}
detection:
  selection: {source.ip: 203.0.113.5}
  condition: selection
"""
    assert one(rule).query == "`source.ip`='203.0.113.5'"


def test_unconvertible_rule_is_reported_with_the_backend_reason() -> None:
    rule = """
title: fieldref
logsource: {product: windows, service: security}
detection:
  selection: {SubjectUserName|fieldref: TargetUserName}
  condition: selection
"""
    compiled = one(rule, "lucene")
    assert compiled.status == "not_convertible" and "field reference" in (compiled.error or "")
    assert one(rule, "sqlite").runnable


@pytest.mark.conformance
@pytest.mark.timeout(1200)  # pySigma converts ~3,700 rules for two backends
def test_a_sigmahq_checkout_loads_and_converts(corpus_dir: Path) -> None:
    sigma = corpus_dir / "sigma"
    started = time.perf_counter()
    ruleset = load_rules(
        [sigma / "rules", sigma / "rules-emerging-threats", sigma / "rules-threat-hunting"]
    )
    loaded = time.perf_counter() - started
    assert len(ruleset.rules) == 3754 and not ruleset.errors
    compiled = compile_all(ruleset.rules, "sqlite")
    bad = [c for c in compiled if not c.runnable]
    print(
        f"\nSigmaHQ: {len(ruleset.rules)} rules loaded in {loaded:.1f}s, {len(bad)} not convertible"
    )
    # the rest are log sources citysoc does not collect (cloud, macOS...), each with its reason
    not_collected = [c for c in bad if "not collected by citysoc" in (c.error or "")]
    assert len(bad) - len(not_collected) <= 10
    assert all(c.error for c in bad)


CISCO_AAA = """
title: dot1x disabled on a switch
logsource: {product: cisco, service: aaa}
detection:
  keywords: ['no dot1x system-auth-control', 'dot1x port-control force-authorized']
  condition: keywords
"""


def test_cisco_aaa_rules_match_ingested_ios_messages_on_the_local_store(tmp_path: Path) -> None:
    from collectors.ship import DeadLetterFile, Shipper
    from collectors.sources.logs import IngestOptions, LogIngestor
    from soc.store.local import LocalStore

    compiled = one(CISCO_AAA)
    assert compiled.runnable and "`event.dataset`='cisco.ios'" in compiled.query
    store = LocalStore(tmp_path / "soc.db")
    shipper = Shipper(store, dead_letters=DeadLetterFile(tmp_path / "dead"), max_wait=None)
    fixture = Path(__file__).resolve().parent.parent / "fixtures" / "parsers" / "cisco.log"
    LogIngestor(shipper, IngestOptions()).ingest_file(fixture)
    shipper.close()
    assert shipper.stats.stored == 4
    hits = store.search(compiled.query).hits
    assert [h.source["user"]["name"] for h in hits] == ["netadmin"]
