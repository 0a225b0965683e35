"""Message recognisers for the local authentication stack: PAM module messages and the
programs that log through it (sudo, su, the user and group tools, CRON, systemd-logind).

Each recogniser reads one program's message text into a _Result; collectors.parsers.auth
dispatches to them by program name (its sshd recogniser uses the PAM ones too) and builds the
system.auth event from the _Result.
"""

from __future__ import annotations

import re
from typing import Any

from collectors.parsers._common import clean_ip

# PAM
_PAM = re.compile(r"(pam_[\w-]+)\(([^:)]+):(\w+)\): (.*)", re.S)
_PAM_SESSION = re.compile(
    r"session (opened|closed) for user ([^\s(]+)(?:\(uid=(\d+)\))?(?: by (\S*))?"
)
# (?<!\w): a key starts a word, so each word is tried once (linear; without it, findall
# retried every suffix of a long word: quadratic).
_PAM_KV = re.compile(r"(?<!\w)(\w+)=(\S*+)")
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


class _Result:
    """What a message recognizer found; unset attributes are left out of the event.

    Private to the auth parser: filled by the recognisers here and in collectors.parsers.auth,
    which builds the event from it."""

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
