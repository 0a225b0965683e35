"""auth.log lines (syslog-framed sshd, PAM, sudo, su, user/group tools, CRON) -> system.auth.

One parser reads the syslog header and then the program-specific message. Lines from programs
it does not know, or messages it does not recognise, are still system.auth events (with
``message`` and the syslog fields) rather than errors; only a line without a syslog header is
a ParseError. event.action values follow the shared vocabulary; in addition PAM/logind
session lines get ``session_opened`` / ``session_closed``.

"message repeated N times: [ msg ]" lines are read as ``msg`` with system.auth.repeated = N.
An attempted user name that is empty ("Failed password for invalid user  from ...") gives
user.name "" (the attacker really sent an empty name).
"""

from __future__ import annotations

import re
from typing import Any

from collectors.parsers._common import add_related, check_line, clean_ip, new_event
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
_SSH_USERAUTH_INVALID = re.compile(r"input_userauth_request: invalid user (.*?)(?: \[preauth\])?$")

# PAM
_PAM = re.compile(r"(pam_[\w-]+)\(([^:)]+):(\w+)\): (.*)", re.S)
_PAM_SESSION = re.compile(
    r"session (opened|closed) for user ([^\s(]+)(?:\(uid=(\d+)\))?(?: by (\S*))?"
)
# (?<!\w): a key starts a word, so each word is tried once (linear; without it, findall
# retried every suffix of a long word: quadratic).
_PAM_KV = re.compile(r"(?<!\w)(\w+)=(\S*+)")
_PAM_MORE = re.compile(r"PAM (\d+) more authentication failures?; (.*)")
_PAM_PASSWD = re.compile(r"password changed for (\S+)")
_PAM_NOUSER = re.compile(r'user "?([^"\s]*)"? does not exist')

# sudo
_SUDO = re.compile(
    r"\s*(\S+) : (?:(.*?) ; )?TTY=(\S*) ; PWD=(.*?) ; USER=(\S+) ;(?: GROUP=(\S+) ;)?"
    r"(?: ENV=.*? ;)? COMMAND=(.*)$",
    re.S,
)

# su
_SU_OK = re.compile(r"Successful su for (\S+) by (\S+)")
_SU_FAIL = re.compile(r"FAILED su for (\S+) by (\S+)")
_SU_SHADOW = re.compile(r"([+-]) (\S+) (\S+):(\S+)$")
_SU_UTIL = re.compile(r"(FAILED SU )?\(to (\S+)\) (\S+) on (\S+)")

# user and group tools
_NEW_USER = re.compile(
    r"new user: name=([^,]+), UID=(\d+), GID=(\d+)(?:, home=([^,]*))?(?:, shell=([^,]*))?"
)
_NEW_GROUP = re.compile(r"(?:new group|group added to \S+): name=([^,]+)(?:, GID=(\d+))?")
_FAILED_ADD = re.compile(r"failed adding user '([^']*)'")
_ADD_TO_GROUP = re.compile(r"add '([^']*)' to (?:shadow )?group '([^']*)'")
_GPASSWD_ADD = re.compile(r"user (\S+) added by (\S+) to group (\S+)")
_DEL_USER = re.compile(r"delete user '([^']*)'")
_DEL_GROUP = re.compile(r"(?:removed (?:shadow )?group '([^']*)'|group '([^']*)' removed)")
_CHANGE_USER = re.compile(r"(?:change|lock|unlock) user '([^']*)'")

# cron
_CRON_CMD = re.compile(r"\((\S+)\) CMD \((.*)\)\s*$", re.S)

# systemd-logind
_LOGIND_NEW = re.compile(r"New session (\S+) of user (\S+?)\.?$")
_LOGIND_REMOVED = re.compile(r"Removed session (\S+?)\.?$")

_USER_TOOLS = frozenset(
    (
        "useradd",
        "groupadd",
        "usermod",
        "userdel",
        "groupdel",
        "groupmod",
        "gpasswd",
        "passwd",
        "chpasswd",
        "chage",
        "newusers",
        "adduser",
        "deluser",
        "addgroup",
        "delgroup",
    )
)
AUTH_PROGRAMS = (
    frozenset(
        (
            "sshd",
            "sudo",
            "su",
            "CRON",
            "cron",
            "crond",
            "systemd-logind",
            "login",
            "polkitd",
            "pkexec",
            "systemd",
            "unix_chkpwd",
            "dbus-daemon",
            "sshd-session",
        )
    )
    | _USER_TOOLS
)


class _Result:
    """What a message recognizer found; unset attributes are left out of the event."""

    __slots__ = (
        "action",
        "category",
        "extra",
        "outcome",
        "src_ip",
        "src_port",
        "target",
        "type",
        "user",
        "user_id",
    )

    def __init__(self) -> None:
        self.action: str | None = None
        self.category: list[str] = ["authentication"]
        self.type: list[str] = ["info"]
        self.outcome: str | None = None
        self.user: str | None = None
        self.user_id: str | None = None
        self.target: str | None = None
        self.src_ip: str | None = None
        self.src_port: str | None = None
        self.extra: dict[str, Any] = {}


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


def _pam_kv(text: str, r: _Result, service: str = "") -> None:
    """rhost= -> source.ip; user= -> user.name (for su: the target, the caller is ruser)."""
    kv = dict(_PAM_KV.findall(text))
    rhost = kv.get("rhost")
    if rhost:
        if clean_ip(rhost):
            r.src_ip = rhost
        else:
            r.extra.setdefault("pam", {})["rhost"] = rhost
    user = kv.get("user")
    caller = kv.get("ruser") or kv.get("logname")
    if service == "su" and caller:
        r.user, r.target = caller, user
    elif user or caller:
        r.user = user or caller


def _pam(msg: str, r: _Result) -> bool:
    """PAM module messages: auth failures, sessions, password changes. True if recognised."""
    m = _PAM.match(msg)
    if m is None:
        return False
    module, service, kind, text = m.groups()
    r.extra["pam"] = {"module": module, "service": service, "type": kind}
    if text.startswith("authentication failure"):
        r.action, r.outcome = "pam_auth_failure", "failure"
        if service == "sudo":
            r.action = "sudo_auth_failure"
        elif service == "su":
            r.action = "su_failure"
        _pam_kv(text, r, service)
        return True
    if text.startswith("session "):
        s = _PAM_SESSION.match(text)
        if s:
            opened = s.group(1) == "opened"
            r.category = ["session"]
            r.type = ["start"] if opened else ["end"]
            r.action = "session_opened" if opened else "session_closed"
            r.user = s.group(2)
            if s.group(3):
                r.user_id = s.group(3)
            by = (s.group(4) or "").split("(", 1)[0]
            if by:
                r.extra["pam"]["by"] = by
            return True
    if kind == "chauthtok":
        r.category, r.type = ["iam"], ["user", "change"]
        p = _PAM_PASSWD.search(text)
        if p:
            r.action, r.outcome, r.user = "password_changed", "success", p.group(1)
            return True
        n = _PAM_NOUSER.search(text)
        if n:
            r.action, r.outcome, r.user = "password_changed", "failure", n.group(1)
            return True
    if text.startswith("check pass; user unknown"):
        r.outcome = "failure"
        return True
    return False


def _sudo(msg: str, r: _Result) -> None:
    m = _SUDO.match(msg)
    if m:
        user, problem, tty, pwd, run_as, group, command = m.groups()
        r.category, r.type = ["process"], ["start"]
        r.user, r.target = user, run_as
        sudo: dict[str, Any] = {"tty": tty, "pwd": pwd, "user": run_as, "command": command}
        if group:
            sudo["group"] = group
        if problem:
            sudo["error"] = problem
            if "incorrect password" in problem:
                r.action, r.outcome = "sudo_auth_failure", "failure"
                r.category = ["authentication"]
                r.type = ["info"]
            else:
                r.action, r.outcome = "sudo_command", "failure"
        else:
            r.action, r.outcome = "sudo_command", "success"
        r.extra["sudo"] = sudo
        return
    _pam(msg.lstrip(), r)


def _su(msg: str, r: _Result) -> None:
    m = _SU_OK.match(msg)
    if m:
        r.action, r.outcome, r.category, r.type = "su_session", "success", ["session"], ["start"]
        r.target, r.user = m.group(1), m.group(2)
        return
    m = _SU_FAIL.match(msg)
    if m:
        r.action, r.outcome = "su_failure", "failure"
        r.target, r.user = m.group(1), m.group(2)
        return
    m = _SU_SHADOW.match(msg)
    if m:
        ok = m.group(1) == "+"
        r.action = "su_session" if ok else "su_failure"
        r.outcome = "success" if ok else "failure"
        if ok:
            r.category, r.type = ["session"], ["start"]
        r.user, r.target = m.group(3), m.group(4)
        r.extra["su"] = {"tty": m.group(2)}
        return
    m = _SU_UTIL.match(msg)
    if m:
        ok = m.group(1) is None
        r.action = "su_session" if ok else "su_failure"
        r.outcome = "success" if ok else "failure"
        if ok:
            r.category, r.type = ["session"], ["start"]
        r.target, r.user = m.group(2), m.group(3)
        r.extra["su"] = {"tty": m.group(4)}
        return
    _pam(msg, r)


def _user_tool(msg: str, r: _Result) -> None:
    r.category = ["iam"]
    m = _NEW_USER.match(msg)
    if m:
        r.action, r.outcome, r.type = "user_created", "success", ["user", "creation"]
        r.user, r.user_id = m.group(1), m.group(2)
        r.extra["group_id"] = m.group(3)
        if m.group(4) is not None:
            r.extra["useradd"] = {"home": m.group(4), "shell": m.group(5) or ""}
        return
    m = _NEW_GROUP.match(msg)
    if m:
        r.action, r.outcome, r.type = "group_created", "success", ["group", "creation"]
        r.extra["group_name"] = m.group(1)
        if m.group(2):
            r.extra["group_id"] = m.group(2)
        return
    m = _FAILED_ADD.match(msg)
    if m:
        r.action, r.outcome, r.type = "user_created", "failure", ["user", "creation"]
        r.user = m.group(1)
        return
    m = _ADD_TO_GROUP.match(msg) or _GPASSWD_ADD.match(msg)
    if m:
        r.action, r.outcome, r.type = "user_added_to_group", "success", ["group", "change"]
        r.user = m.group(1)
        r.extra["group_name"] = m.group(m.lastindex or 2)
        return
    m = _DEL_USER.match(msg)
    if m:
        r.action, r.outcome, r.type = "user_deleted", "success", ["user", "deletion"]
        r.user = m.group(1)
        return
    m = _DEL_GROUP.match(msg)
    if m:
        r.action, r.outcome, r.type = "group_deleted", "success", ["group", "deletion"]
        r.extra["group_name"] = m.group(1) or m.group(2)
        return
    m = _CHANGE_USER.match(msg)
    if m:
        r.action, r.outcome, r.type = "user_modified", "success", ["user", "change"]
        r.user = m.group(1)
        return
    if not _pam(msg, r):
        r.type = ["info"]


def _cron(msg: str, r: _Result) -> None:
    m = _CRON_CMD.match(msg)
    if m:
        r.action, r.category, r.type = "cron_command", ["process"], ["start"]
        r.user = m.group(1)
        r.extra["cron"] = {"command": m.group(2)}
        return
    _pam(msg, r)


def _logind(msg: str, r: _Result) -> None:
    m = _LOGIND_NEW.match(msg)
    if m:
        r.action, r.category, r.type = "session_opened", ["session"], ["start"]
        r.user = m.group(2)
        r.extra["session_id"] = m.group(1)
        return
    m = _LOGIND_REMOVED.match(msg)
    if m:
        r.action, r.category, r.type = "session_closed", ["session"], ["end"]
        r.extra["session_id"] = m.group(1)


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
