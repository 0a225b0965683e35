"""auth.log lines: the actions and fields of the shared vocabulary."""

from __future__ import annotations

import pytest
from parser_helpers import by_action, ctx, parse_all

from collectors.parsers import ParseError, get_parser
from soc.ecs import flatten


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    return parse_all("auth", "auth.log")


def test_every_fixture_line_is_a_system_auth_event(docs: list[dict]) -> None:
    assert len(docs) == 30
    for d in docs:
        assert d["event.dataset"] == "system.auth"
        assert d["event.module"] == "system"
        assert d["event.kind"] == "event"
        assert d["host.name"] == "web01"
        assert isinstance(d["event.category"], list) and isinstance(d["event.type"], list)
        assert d["@timestamp"].startswith("2026-11-21T01:00:")


def test_ssh_logins(docs: list[dict]) -> None:
    ok = by_action(docs, "ssh_login")
    success = [d for d in ok if d["event.outcome"] == "success"]
    assert [(d["user.name"], d["source.ip"], d["system.auth.ssh.method"]) for d in success] == [
        ("alice", "10.0.0.5", "password"),
        ("bob", "2001:db8::7", "publickey"),
        ("carol", "10.0.0.6", "keyboard-interactive"),
    ]
    assert success[0]["source.port"] == 52100
    assert success[0]["process.name"] == "sshd" and success[0]["process.pid"] == 1001
    assert success[0]["event.category"] == ["authentication"]
    failed = [d for d in ok if d["event.outcome"] == "failure"]
    assert [(d["user.name"], d["system.auth.ssh.method"]) for d in failed] == [
        ("root", "password"),
        ("admin", "password"),
        ("", "password"),  # the attacker sent an empty user name
        ("dave", "publickey"),
        ("root", "password"),  # inside "message repeated 5 times: [ ... ]"
    ]
    assert failed[1]["system.auth.ssh.invalid_user"] is True
    assert failed[-1]["system.auth.repeated"] == 5
    assert all(d["source.ip"] == "203.0.113.9" for d in failed if d["user.name"] != "dave")
    assert failed[0]["related.user"] == ["root"] and failed[0]["related.ip"] == ["203.0.113.9"]


def test_other_sshd_actions(docs: list[dict]) -> None:
    (invalid,) = by_action(docs, "ssh_invalid_user")
    assert (invalid["user.name"], invalid["source.ip"], invalid["source.port"]) == (
        "oracle",
        "203.0.113.9",
        60004,
    )
    (maxauth,) = by_action(docs, "ssh_max_auth_attempts")
    assert maxauth["user.name"] == "root" and maxauth["source.port"] == 60005
    disconnects = by_action(docs, "ssh_disconnect")
    assert [d["source.port"] for d in disconnects] == [60005, 60004]
    assert disconnects[1]["user.name"] == "oracle"
    closed = by_action(docs, "ssh_connection_closed")
    assert [(d.get("user.name"), d["source.ip"], d["source.port"]) for d in closed] == [
        ("root", "203.0.113.9", 60006),
        (None, "2001:db8::66", 41000),
    ]


def test_pam_sudo_su(docs: list[dict]) -> None:
    (pam,) = by_action(docs, "pam_auth_failure")
    assert pam["user.name"] == "root" and pam["source.ip"] == "203.0.113.9"
    (sudo,) = by_action(docs, "sudo_command")
    assert sudo["user.name"] == "alice" and sudo["user.target.name"] == "root"
    assert sudo["system.auth.sudo.command"] == "/usr/bin/cat /etc/shadow"
    assert sudo["process.name"] == "sudo" and sudo["event.outcome"] == "success"
    (sudo_fail,) = by_action(docs, "sudo_auth_failure")
    assert sudo_fail["user.name"] == "bob" and sudo_fail["event.outcome"] == "failure"
    (su_ok,) = by_action(docs, "su_session")
    assert (su_ok["user.name"], su_ok["user.target.name"]) == ("alice", "root")
    (su_bad,) = by_action(docs, "su_failure")
    assert su_bad["user.name"] == "bob" and su_bad["event.outcome"] == "failure"


def test_user_and_group_changes(docs: list[dict]) -> None:
    (group,) = by_action(docs, "group_created")
    assert group["group.name"] == "backdoor" and group["group.id"] == "1005"
    (user,) = by_action(docs, "user_created")
    assert (user["user.name"], user["user.id"]) == ("backdoor", "0")
    assert user["event.category"] == ["iam"] and user["event.type"] == ["user", "creation"]
    added = by_action(docs, "user_added_to_group")
    assert [(d["user.name"], d["group.name"]) for d in added] == [
        ("backdoor", "sudo"),
        ("mallory", "docker"),
    ]
    assert by_action(docs, "user_deleted")[0]["user.name"] == "backdoor"
    assert by_action(docs, "group_deleted")[0]["group.name"] == "backdoor"
    assert by_action(docs, "password_changed")[0]["user.name"] == "alice"


def test_cron_and_sessions(docs: list[dict]) -> None:
    (cron,) = by_action(docs, "cron_command")
    assert cron["user.name"] == "root" and cron["process.name"] == "CRON"
    assert cron["system.auth.cron.command"] == "/usr/local/bin/backup.sh >/dev/null 2>&1"
    opened = by_action(docs, "session_opened")
    assert [d["user.name"] for d in opened] == ["root", "alice"]
    assert all(d["event.category"] == ["session"] for d in opened)


def test_unknown_program_is_still_an_event(docs: list[dict]) -> None:
    polkit = docs[28]
    assert polkit["process.name"] == "polkitd"
    assert "event.action" not in polkit
    assert polkit["message"].startswith("Registered Authentication Agent")


def test_user_names_with_odd_characters() -> None:
    line = (
        'Nov 21 08:00:00 h sshd[1]: Failed password for invalid user a b"c from 1.2.3.4 port 5 ssh2'
    )
    doc = get_parser("auth").parse(line, ctx())
    assert doc["user"]["name"] == 'a b"c'
    assert doc["source"] == {"ip": "1.2.3.4", "port": 5}


def test_a_line_without_syslog_header_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="no syslog header"):
        get_parser("auth").parse("Failed password for root from 1.2.3.4 port 5 ssh2", ctx())


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "usermod[5]: change user 'bob' shell from '/bin/sh' to '/bin/bash'",
            {"event.action": "user_modified", "user.name": "bob"},
        ),
        (
            "su[5]: (to root) alice on pts/0",
            {"event.action": "su_session", "user.name": "alice", "user.target.name": "root"},
        ),
        (
            "su[5]: FAILED SU (to root) mallory on pts/1",
            {"event.action": "su_failure", "user.name": "mallory", "event.outcome": "failure"},
        ),
        (
            "su[5]: pam_unix(su:auth): authentication failure; logname=alice uid=1000 euid=0"
            " tty=/dev/pts/0 ruser=alice rhost=  user=root",
            {"event.action": "su_failure", "user.name": "alice", "user.target.name": "root"},
        ),
        (
            "sudo: pam_unix(sudo:auth): authentication failure; logname=bob uid=1001 euid=0"
            " tty=/dev/pts/1 ruser=bob rhost=  user=bob",
            {"event.action": "sudo_auth_failure", "user.name": "bob"},
        ),
        (
            "sudo:      bob : user NOT in sudoers ; TTY=pts/1 ; PWD=/home/bob ; USER=root ;"
            " COMMAND=/bin/sh",
            {"event.action": "sudo_command", "event.outcome": "failure", "user.name": "bob"},
        ),
        (
            "sshd[12]: Disconnecting invalid user admin 1.2.3.4 port 22: Too many authentication"
            " failures [preauth]",
            {"event.action": "ssh_disconnect", "user.name": "admin", "source.port": 22},
        ),
        (
            "groupadd[1]: group added to /etc/group: name=ops, GID=1010",
            {"event.action": "group_created", "group.name": "ops", "group.id": "1010"},
        ),
        (
            'chpasswd[9]: pam_unix(chpasswd:chauthtok): user "ghost" does not exist in /etc/passwd',
            {"event.action": "password_changed", "event.outcome": "failure", "user.name": "ghost"},
        ),
        (  # OpenSSH 9.8+: the listener refuses a source that failed to log in too often
            "sshd[811]: drop connection #0 from [198.51.100.7]:40022 on [10.0.0.1]:22"
            " penalty: failed authentication",
            {
                "event.action": "ssh_connection_dropped",
                "event.outcome": "failure",
                "source.ip": "198.51.100.7",
                "source.port": 40022,
                "system.auth.ssh.reason": "penalty: failed authentication",
            },
        ),
        (
            "sshd[811]: drop connection #10 from [2001:db8::7]:51000 on [2001:db8::1]:22"
            " past MaxStartups",
            {
                "event.action": "ssh_connection_dropped",
                "source.ip": "2001:db8::7",
                "system.auth.ssh.reason": "past MaxStartups",
            },
        ),
        (
            "sshd-session[5120]: Failed password for invalid user oracle from 203.0.113.4"
            " port 51700 ssh2",
            {"event.action": "ssh_login", "event.outcome": "failure", "user.name": "oracle"},
        ),
    ],
)
def test_more_auth_messages(message: str, expected: dict) -> None:
    doc = flatten(get_parser("auth").parse(f"Nov 21 08:00:00 h {message}", ctx()))
    assert {k: doc.get(k) for k in expected} == expected


def test_line_without_host_name() -> None:
    doc = get_parser("auth").parse(
        "Nov 21 08:00:00 sshd[12]: Accepted password for x from 1.2.3.4 port 1 ssh2", ctx()
    )
    assert doc["event"]["action"] == "ssh_login" and doc["user"]["name"] == "x"
    assert "host" not in doc
