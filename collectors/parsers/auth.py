"""auth.log lines (syslog-framed sshd, PAM, sudo, su, user/group tools, CRON) -> system.auth.

One parser reads the syslog header and then the program-specific message. Lines from programs
it does not know, or messages it does not recognise, are still system.auth events (with
``message`` and the syslog fields) rather than errors; only a line without a syslog header is
a ParseError. event.action values follow the shared vocabulary; in addition PAM/logind
session lines get ``session_opened`` / ``session_closed``.

"message repeated N times: [ msg ]" lines are read as ``msg`` with system.auth.repeated = N.
An attempted user name that is empty ("Failed password for invalid user  from ...") gives
user.name "" (the attacker really sent an empty name).

This module recognises sshd messages, dispatches the others by program and builds the event;
the recognisers for PAM and the local tools are in collectors.parsers.auth_tools.
"""

from __future__ import annotations

import re
from typing import Any

from collectors.parsers._common import add_related, check_line, clean_ip, new_event
from collectors.parsers.auth_tools import (
    _USER_TOOLS,
    _cron,
    _logind,
    _pam,
    _pam_kv,
    _Result,
    _su,
    _sudo,
    _user_tool,
)
from collectors.parsers.base import ParseContext
from collectors.parsers.syslog_header import HeaderReader, SyslogHeader, sniff_header, syslog_fields

_REPEATED = re.compile(r"message repeated (\d+) times: \[ ?(.*)\]$", re.S)

# sshd
_SSH_ACCEPTED = re.compile(
    r"Accepted (\S+) for (.*) from (\S+) port (\d+)(?: (ssh\d?))?(?:: (\S+) (\S+))?"
)
_SSH_FAILED = re.compile(r"Failed (\S+) for (invalid user )?(.*) from (\S+) port (\d+)(?: ssh\d?)?")
_SSH_INVALID = re.compile(r"[Ii]nvalid user (.*) from (\S+)(?: port (\d+))?")
_SSH_MAXAUTH = re.compile(
    r"(?:error: )?maximum authentication attempts exceeded for (invalid user )?(.*) from (\S+)"
    r" port (\d+)"
)
_SSH_RECV_DISC = re.compile(
    r"Received disconnect from (\S+)(?: port (\d+))?:\s*(\d+): (.*?)(?: \[preauth\])?$"
)
_SSH_DISCONNECTED = re.compile(
    r"Disconnected from (?:(?:invalid |authenticating )?user (.*?) )?(\S+) port (\d+)"
)
_SSH_CLOSED = re.compile(
    r"Connection (closed|reset) by (?:(?:invalid |authenticating )?user (.*?) )?(\S+)"
    r"(?: port (\d+)(?: \[preauth\])?$|(?: \[preauth\])?$)"
)
_SSH_TOO_MANY = re.compile(
    r"Disconnecting(?: (?:invalid |authenticating )?user (\S+) (\S+) port (\d+))?:"
    r" Too many authentication failures"
)
#: The listener refusing a connection: OpenSSH 9.8's per-source penalties ("penalty: failed
#: authentication", "penalty: connections without attempting authentication"...) or the
#: MaxStartups limit ("past Maxstartups", "past MaxStartups" before 9.8).
_SSH_DROPPED = re.compile(r"drop connection #\d+ from \[([^\]]+)\]:(\d+) on \[[^\]]+\]:\d+ (.+)$")
_SSH_USERAUTH_INVALID = re.compile(r"input_userauth_request: invalid user (.*?)(?: \[preauth\])?$")

# sshd's summary of PAM failures
_PAM_MORE = re.compile(r"PAM (\d+) more authentication failures?; (.*)")

#: Programs whose messages are all authentication, session or account events (lower case):
#: a syslog receiver parses their messages as auth.log lines. Programs that write other
#: messages as well (systemd, dbus-daemon: their PAM lines are in auth.log files all the same)
#: are left to the syslog parser there. OpenSSH 9.8 and later log logins from sshd-session.
AUTH_PROGRAMS = (
    frozenset(
        (
            "sshd",
            "sshd-session",
            "sudo",
            "su",
            "cron",
            "crond",
            "systemd-logind",
            "login",
            "polkitd",
            "pkexec",
            "unix_chkpwd",
        )
    )
    | _USER_TOOLS
)


def _ssh(msg: str, r: _Result) -> None:
    c0 = msg[:1]
    if c0 == "A":
        m = _SSH_ACCEPTED.match(msg)
        if m:
            r.action, r.outcome, r.type = "ssh_login", "success", ["start"]
            r.user, r.src_ip, r.src_port = m.group(2), m.group(3), m.group(4)
            r.extra["ssh"] = {"method": _method(m.group(1))}
            if m.group(6):
                r.extra["ssh"]["signature"] = f"{m.group(6)} {m.group(7)}"
            return
    elif c0 == "F":
        m = _SSH_FAILED.match(msg)
        if m:
            r.action, r.outcome, r.type = "ssh_login", "failure", ["start"]
            r.user, r.src_ip, r.src_port = m.group(3), m.group(4), m.group(5)
            r.extra["ssh"] = {"method": _method(m.group(1))}
            if m.group(2):
                r.extra["ssh"]["invalid_user"] = True
            return
    elif c0 in "Ii":
        m = _SSH_INVALID.match(msg)
        if m:
            r.action, r.outcome = "ssh_invalid_user", "failure"
            r.user, r.src_ip, r.src_port = m.group(1), m.group(2), m.group(3)
            return
        m = _SSH_USERAUTH_INVALID.match(msg)
        if m:
            r.outcome, r.user = "failure", m.group(1)
            return
    elif c0 in "em":
        m = _SSH_MAXAUTH.match(msg)
        if m:
            r.action, r.outcome = "ssh_max_auth_attempts", "failure"
            r.user, r.src_ip, r.src_port = m.group(2), m.group(3), m.group(4)
            return
    elif c0 == "R":
        m = _SSH_RECV_DISC.match(msg)
        if m:
            r.action, r.type = "ssh_disconnect", ["end"]
            r.src_ip, r.src_port = m.group(1), m.group(2)
            r.extra["ssh"] = {"disconnect_code": int(m.group(3)), "reason": m.group(4)}
            return
    elif c0 == "D":
        m = _SSH_DISCONNECTED.match(msg)
        if m:
            r.action, r.type = "ssh_disconnect", ["end"]
            r.user, r.src_ip, r.src_port = m.group(1), m.group(2), m.group(3)
            return
        m = _SSH_TOO_MANY.match(msg)
        if m:
            r.action, r.type, r.outcome = "ssh_disconnect", ["end"], "failure"
            r.user, r.src_ip, r.src_port = m.group(1), m.group(2), m.group(3)
            r.extra["ssh"] = {"reason": "too many authentication failures"}
            return
    elif c0 == "C":
        m = _SSH_CLOSED.match(msg)
        if m:
            r.action, r.type = "ssh_connection_closed", ["end"]
            r.user, r.src_ip, r.src_port = m.group(2), m.group(3), m.group(4)
            if msg.endswith("[preauth]"):
                r.extra["ssh"] = {"preauth": True}
            return
    elif c0 == "d":
        m = _SSH_DROPPED.match(msg)
        if m:
            r.action, r.outcome, r.category = "ssh_connection_dropped", "failure", ["network"]
            r.type = ["connection", "denied"]
            r.src_ip, r.src_port = m.group(1), m.group(2)
            r.extra["ssh"] = {"reason": m.group(3)}
            return
    elif c0 == "P":
        m = _PAM_MORE.match(msg)
        if m:
            r.action, r.outcome = "pam_auth_failure", "failure"
            r.extra["pam"] = {"failures": int(m.group(1)) + 1}
            _pam_kv(m.group(2), r)
            return
    if msg.startswith("pam_"):
        _pam(msg, r)


def _method(text: str) -> str:
    if text.startswith("keyboard-interactive"):
        return "keyboard-interactive"
    return text


def _recognise(program: str | None, msg: str) -> _Result:
    r = _Result()
    if program is None:
        return r
    if program in ("sshd", "sshd-session"):
        _ssh(msg, r)
    elif program == "sudo":
        _sudo(msg, r)
    elif program == "su":
        _su(msg, r)
    elif program in ("CRON", "cron", "crond"):
        _cron(msg, r)
    elif program in _USER_TOOLS:
        _user_tool(msg, r)
    elif program == "systemd-logind":
        _logind(msg, r)
    elif msg.startswith("pam_"):
        _pam(msg, r)
    return r


class AuthParser:
    """auth.log / secure lines -> system.auth. Stateful (year tracker): one per source."""

    name = "auth"

    def __init__(self) -> None:
        self.headers = HeaderReader()

    def sniff(self, line: str) -> bool:
        """True for a syslog-framed line from a known authentication program."""
        if not sniff_header(line):
            return False
        for prog in (
            "sshd[",
            "sshd-session[",
            "sudo:",
            "su[",
            "su:",
            "CRON[",
            "useradd[",
            "groupadd[",
            "systemd-logind[",
            "passwd[",
            "usermod[",
            "userdel[",
            "pam_unix(",
        ):
            if prog in line[:200]:
                return True
        return False

    def parse(self, line: str, ctx: ParseContext) -> dict[str, Any]:
        """The system.auth event of ``line``; ParseError only when it has no syslog header."""
        line = check_line(line)
        header = self.headers.read(line, ctx)
        return auth_event(line, header, ctx)


def auth_event(line: str, header: SyslogHeader, ctx: ParseContext) -> dict[str, Any]:
    """The system.auth event for a line whose syslog header is already read."""
    msg = header.message
    repeated = None
    if msg.startswith("message repeated "):
        m = _REPEATED.match(msg)
        if m:
            repeated, msg = int(m.group(1)), m.group(2).strip()
    r = _recognise(header.program, msg)
    doc = new_event(ctx, line, header.timestamp, "system", "system.auth")
    syslog_fields(doc, header)
    doc["message"] = msg
    event = doc["event"]
    event["category"] = r.category
    event["type"] = r.type
    if r.action:
        event["action"] = r.action
    if r.outcome:
        event["outcome"] = r.outcome
    users: list[str | None] = []
    if r.user is not None:
        user: dict[str, Any] = {"name": r.user}
        if r.user_id:
            user["id"] = r.user_id
        if r.target and r.target != r.user:
            user["target"] = {"name": r.target}
        doc["user"] = user
        users = [r.user, r.target]
    elif r.target:
        doc["user"] = {"target": {"name": r.target}}
        users = [r.target]
    ip = None
    if r.src_ip:
        ip = clean_ip(r.src_ip)
        source: dict[str, Any] = {"ip": ip} if ip else {"address": r.src_ip, "domain": r.src_ip}
        if r.src_port and r.src_port.isdigit():
            source["port"] = int(r.src_port)
        doc["source"] = source
    extra = r.extra
    auth: dict[str, Any] = {}
    if extra:
        group_name = extra.pop("group_name", None)
        group_id = extra.pop("group_id", None)
        if group_name or group_id:
            group: dict[str, Any] = {}
            if group_name:
                group["name"] = group_name
            if group_id:
                group["id"] = group_id
            doc["group"] = group
        session_id = extra.pop("session_id", None)
        if session_id:
            auth["session_id"] = session_id
        auth.update(extra)
    if repeated is not None:
        auth["repeated"] = repeated
    if auth:
        doc["system"] = {"auth": auth}
    add_related(doc, [ip], users)
    return doc
