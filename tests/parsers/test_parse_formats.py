"""auditd, FortiGate, netfilter/UFW, BIND and JSON lines."""

from __future__ import annotations

import pytest
from parser_helpers import ctx, parse_all

from collectors.parsers import ParseError, get_parser


def test_auditd_execve_gets_the_process_of_its_syscall_record() -> None:
    syscall, execve, title, login, add_user = parse_all("auditd", "audit.log")
    assert syscall["@timestamp"] == "2026-11-21T01:00:00.123000Z"
    assert syscall["event.dataset"] == "auditd.log" and syscall["event.action"] == "syscall"
    assert syscall["process.executable"] == "/usr/bin/bash"
    assert syscall["user.id"] == "0" and syscall["user.audit.id"] == "1000"
    assert syscall["auditd.log.key"] == "exec" and syscall["auditd.log.sequence"] == 4242
    assert execve["process.args"] == ["bash", "-c", "id && whoami"]  # a2 was hex
    assert execve["process.command_line"] == "bash -c id && whoami"
    assert execve["process.executable"] == "/usr/bin/bash"
    assert execve["process.pid"] == 4242 and execve["process.parent.pid"] == 1000
    assert execve["event.category"] == ["process"] and execve["event.type"] == ["start"]
    assert title["process.title"] == "bash -c"
    assert login["host.name"] == "web01"
    assert login["event.outcome"] == "failure" and login["source.ip"] == "203.0.113.9"
    assert login["user.name"] == "root"
    assert "user.audit.id" not in login  # 4294967295 means unset
    assert add_user["event.category"] == ["iam"]
    assert add_user["auditd.log.enriched.AUID"] == "alice"


def test_auditd_user_cmd_decodes_the_sudo_command() -> None:
    line = (
        "type=USER_CMD msg=audit(1795222800.000:9): pid=7 uid=1000 auid=1000 ses=2"
        " msg='cwd=\"/home/alice\" cmd=636174202F6574632F736861646F77 terminal=pts/0 res=success'"
    )
    doc = get_parser("auditd").parse(line, ctx())
    assert doc["process"]["command_line"] == "cat /etc/shadow"
    assert doc["process"]["working_directory"] == "/home/alice"
    assert doc["event"]["outcome"] == "success" and doc["event"]["category"] == ["process"]


def test_auditd_garbage() -> None:
    with pytest.raises(ParseError, match="not an audit record"):
        get_parser("auditd").parse("type=SYSCALL msg=audit(notatime): x=1", ctx())


def test_fortigate() -> None:
    allow, deny, admin = parse_all("fortigate", "fortigate.log")
    assert allow["@timestamp"] == "2026-11-21T01:00:00.000000Z"
    assert allow["event.dataset"] == "fortinet.firewall"
    assert (allow["source.ip"], allow["source.port"]) == ("10.20.2.23", 59878)
    assert (allow["destination.ip"], allow["destination.port"]) == ("142.250.66.107", 443)
    assert allow["network.transport"] == "tcp"
    assert allow["event.action"] == "accept"
    assert allow["event.type"] == ["connection", "allowed"]
    assert allow["rule.id"] == "12" and allow["rule.name"] == "lan-out"
    assert allow["observer.name"] == "FGT-HCM" and allow["observer.vendor"] == "Fortinet"
    assert allow["source.bytes"] == 8501 and allow["destination.packets"] == 20
    assert allow["fortinet.firewall.vd"] == "root"
    # no tz=: read in the context zone; the message's escaped quotes are unescaped
    assert deny["@timestamp"] == "2026-11-21T01:00:01.000000Z"
    assert deny["event.type"] == ["connection", "denied"] and deny["event.outcome"] == "failure"
    assert deny["message"] == 'Denied by "implicit" policy'
    # eventtime (ns) wins over date/time
    assert admin["@timestamp"] == "2026-11-21T01:00:02.123457Z"
    assert admin["user.name"] == "admin" and admin["event.action"] == "login"


def test_netfilter_and_ufw() -> None:
    block, allow, drop6, other = parse_all("iptables", "ufw.log")
    assert block["event.dataset"] == "iptables.log"
    assert block["event.action"] == "block" and block["event.type"] == ["connection", "denied"]
    assert (block["source.ip"], block["source.port"]) == ("203.0.113.5", 51234)
    assert (block["destination.ip"], block["destination.port"]) == ("10.0.0.1", 22)
    assert block["network.transport"] == "tcp"
    assert block["observer.ingress.interface.name"] == "eth0"
    assert block["source.mac"] == "52-54-00-AB-CD-EF"
    assert "SYN" in block["iptables.flags"] and block["iptables.ttl"] == 50
    assert block["rule.name"] == "[UFW BLOCK]"
    assert allow["event.action"] == "allow" and allow["network.transport"] == "udp"
    assert drop6["event.action"] == "drop" and drop6["source.ip"] == "2001:db8::5"
    assert drop6["network.transport"] == "ipv6-icmp"
    assert drop6["observer.egress.interface.name"] == "eth0"
    assert other["event.dataset"] == "system.syslog"  # a kernel line that is not netfilter


def test_bind_queries() -> None:
    plain, tcp, view = parse_all("bind", "bind.log")
    assert plain["@timestamp"] == "2026-11-21T01:00:00.123000Z"
    assert plain["event.dataset"] == "bind.query"
    assert plain["dns.question.name"] == "portal.example.vn"
    assert plain["dns.question.type"] == "A" and plain["dns.question.class"] == "IN"
    assert (plain["source.ip"], plain["source.port"]) == ("10.20.2.23", 40051)
    assert plain["destination.ip"] == "10.20.0.53"
    assert plain["dns.header_flags"] == ["RD"] and plain["network.transport"] == "udp"
    assert tcp["source.ip"] == "2001:db8::23" and tcp["network.transport"] == "tcp"
    assert tcp["dns.question.type"] == "TXT"
    assert view["bind.view"] == "internal" and view["dns.header_flags"] == ["DO"]


def test_bind_in_syslog_and_non_query_lines() -> None:
    line = (
        "Nov 21 08:00:00 ns1 named[42]: client @0x7f 10.0.0.1#53 (a.b): "
        "query: a.b IN MX + (10.0.0.2)"
    )
    doc = get_parser("bind").parse(line, ctx())
    assert doc["host"]["name"] == "ns1" and doc["dns"]["question"]["type"] == "MX"
    with pytest.raises(ParseError, match="not a BIND query line"):
        get_parser("bind").parse("21-Nov-2026 08:00:00.000 general: info: zone loaded", ctx())


def test_json_lines() -> None:
    ecs, winlog, generic, export, timeless = parse_all("json", "events.jsonl")
    assert ecs["@timestamp"] == "2026-11-21T01:00:00.000000Z"
    assert ecs["event.dataset"] == "custom.app" and ecs["event.category"] == ["process"]
    assert ecs["host.name"] == "app01" and ecs["event.original"].startswith("{")
    assert winlog["event.module"] == "windows"
    assert winlog["event.dataset"] == "windows.eventlog"
    assert winlog["winlog.event_id"] == 4624 and winlog["event.code"] == "4624"
    assert winlog["host.name"] == "DC01.city.local"
    assert winlog["winlog.event_data.TargetUserName"] == "bob"
    assert winlog["user.name"] == "bob" and winlog["source.ip"] == "10.0.0.9"
    assert generic["event.dataset"] == "json.log" and generic["event.module"] == "json"
    assert generic["json.disk.free"] == 1024 and generic["message"] == "disk almost full"
    assert generic["@timestamp"] == "2026-11-21T01:00:00.000000Z"  # zone-less: HCM
    assert export["@timestamp"] == "2026-11-21T01:00:00.000000Z"  # epoch milliseconds
    assert export["message"] == "from an export" and "_id" not in export
    assert timeless["tags"] == ["timestamp_missing"]


def test_winlogbeat_process_fields_do_not_override_the_document() -> None:
    line = (
        '{"@timestamp":"2026-11-21T01:00:00Z","process":{"pid":7},"winlog":{"event_id":1,'
        '"event_data":{"Image":"C:\\\\Windows\\\\System32\\\\cmd.exe",'
        '"CommandLine":"cmd /c whoami",'
        '"ProcessId":"4242","ParentImage":"C:\\\\x\\\\w3wp.exe"}}}'
    )
    doc = get_parser("json").parse(line, ctx())
    assert doc["process"]["command_line"] == "cmd /c whoami"
    assert doc["process"]["name"] == "cmd.exe"
    assert doc["process"]["pid"] == 7  # the document's own value stays
    assert doc["process"]["parent"]["executable"] == "C:\\x\\w3wp.exe"
    assert doc["event"]["code"] == "1"


def test_json_department_and_bad_json() -> None:
    doc = get_parser("json").parse('{"@timestamp":"2026-11-21T00:00:00Z"}', ctx(department="X"))
    assert doc["labels"] == {"department": "X"}
    for bad, reason in (("{not json", "invalid JSON"), ("[1, 2]", "not an object"),
                        ('{"@timestamp": "yesterday"}', "bad timestamp"),
                        ('{"a": NaN}', "invalid JSON")):  # fmt: skip
        with pytest.raises(ParseError, match=reason):
            get_parser("json").parse(bad, ctx())
    with pytest.raises(ParseError, match="invalid JSON"):
        get_parser("json").parse("[" * 100_000 + "]" * 100_000, ctx())


def test_cisco_ios_config_commands_and_logins() -> None:
    command, failed, success, link = parse_all("cisco_ios", "cisco.log")
    # zone-less device times are read in Asia/Ho_Chi_Minh (UTC+7); the year is inferred
    assert command["@timestamp"] == "2026-11-20T06:40:03.673000Z"
    assert command["event.dataset"] == "cisco.ios" and command["event.module"] == "cisco"
    assert command["event.code"] == "PARSER-5-CFGLOG_LOGGEDCMD"
    assert command["event.action"] == "configuration_command"
    assert command["user.name"] == "netadmin"
    assert command["process.command_line"] == "no dot1x system-auth-control"
    assert command["observer.ip"] == "10.20.0.2" and command["cisco.ios.sequence"] == 6705
    # a syslog header in front, a year and a zone name on the device's time
    assert failed["@timestamp"] == "2026-11-20T06:41:00.120000Z"
    assert failed["event.outcome"] == "failure" and failed["source.ip"] == "203.0.113.77"
    assert failed["user.name"] == "admin" and failed["observer.hostname"] == "sw-core-01"
    assert success["event.outcome"] == "success" and success["user.name"] == "netadmin"
    assert link["log.syslog.severity.code"] == 3 and "user.name" not in link
    assert link["message"].startswith("Interface GigabitEthernet1/0/7")


def test_cisco_ios_refuses_other_lines() -> None:
    parser = get_parser("cisco")
    for line in ("Nov 20 13:40:03 host sshd[1]: hello", "%LINK-3-UPDOWN: no time before it"):
        with pytest.raises(ParseError):
            parser.parse(line, ctx())
