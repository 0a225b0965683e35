"""Linux audit records (auditd's audit.log) -> auditd.log.

    [node=host ]type=SYSCALL msg=audit(1700000000.123:4242): arch=c000003e syscall=59
        success=yes exit=0 ... ppid=1 pid=42 auid=1000 uid=0 ... comm="id" exe="/usr/bin/id"

Every key is kept as a string under ``auditd.log.<key>`` (record_type and sequence too);
user-space records' inner msg='k=v ...' keys are folded in the same way. Enriched logs (a
0x1d separator followed by UID="root" ...) keep those names under auditd.log.enriched.
ECS: @timestamp from the audit epoch, event.action = record type in lower case, process.pid,
process.parent.pid, process.executable (exe), process.name (comm), process.title
(PROCTITLE, hex decoded), process.command_line / working_directory of USER_CMD (sudo's
cmd= and cwd=), user.id (uid), user.audit.id (auid), user.effective.id (euid), group.id (gid),
event.outcome (success=yes/no, res=success/failed), source.ip (addr),
host.name (node). EXECVE records give process.args / process.args_count /
process.command_line (hex-encoded arguments decoded); since auditd writes the SYSCALL record of
an execve before its EXECVE record, the parser remembers recent SYSCALL records by serial
number and copies their process/user fields onto the EXECVE event (one parser per source).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

from collectors.parsers._common import add_related, check_line, clean_ip, epoch_to_utc, new_event
from collectors.parsers.base import ParseContext, ParseError

_HEAD = re.compile(r"(?:node=(\S+) )?type=(\S+) msg=audit\((\d+(?:\.\d+)?):(\d+)\):\s?(.*)", re.S)
# (?<![\w-]): keys start after a separator, so each run is tried once (linear).
_KV = re.compile(r"(?<![\w-])([\w-]+)=(\"[^\"]*\"|'[^']*'|\S*+)")
_HEX = re.compile(r"(?:[0-9A-F]{2})+$")

_CATEGORIES: dict[str, tuple[list[str], list[str]]] = {
    "EXECVE": (["process"], ["start"]),
    "USER_AUTH": (["authentication"], ["info"]),
    "USER_LOGIN": (["authentication"], ["start"]),
    "USER_LOGOUT": (["authentication"], ["end"]),
    "USER_ACCT": (["authentication"], ["info"]),
    "USER_START": (["session"], ["start"]),
    "USER_END": (["session"], ["end"]),
    "CRED_ACQ": (["authentication"], ["info"]),
    "CRED_DISP": (["authentication"], ["info"]),
    "CRED_REFR": (["authentication"], ["info"]),
    "ADD_USER": (["iam"], ["user", "creation"]),
    "DEL_USER": (["iam"], ["user", "deletion"]),
    "ADD_GROUP": (["iam"], ["group", "creation"]),
    "DEL_GROUP": (["iam"], ["group", "deletion"]),
    "USER_CHAUTHTOK": (["iam"], ["user", "change"]),
    "USER_MGMT": (["iam"], ["user", "change"]),
    "USER_CMD": (["process"], ["start"]),
    "SERVICE_START": (["process"], ["start"]),
    "SERVICE_STOP": (["process"], ["end"]),
    "CONFIG_CHANGE": (["configuration"], ["change"]),
    "AVC": (["intrusion_detection"], ["denied"]),
    "ANOM_ABEND": (["process"], ["end"]),
    "SOCKADDR": (["network"], ["info"]),
}
_EXECVE_SYSCALLS = frozenset(("59", "322", "11", "221", "281", "execve", "execveat"))


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _hex_text(value: str) -> str:
    """An audit value: quoted text as is, hex-encoded text decoded (NULs become spaces)."""
    if value.startswith('"'):
        return _unquote(value)
    if len(value) >= 2 and len(value) % 2 == 0 and _HEX.match(value):
        try:
            return bytes.fromhex(value).decode("utf-8", errors="replace").replace("\x00", " ")
        except ValueError:
            return value
    return value


class AuditdParser:
    """audit.log lines. Remembers recent SYSCALL records by serial: one parser per source."""

    name = "auditd"

    def __init__(self) -> None:
        self._syscalls: OrderedDict[str, dict[str, str]] = OrderedDict()

    def sniff(self, line: str) -> bool:
        """True for a line with auditd's type=... msg=audit(...) header."""
        head = line[:256]
        return "type=" in head and "msg=audit(" in head

    def parse(self, line: str, ctx: ParseContext) -> dict[str, Any]:
        """The auditd.log event of ``line``; ParseError when it is not an audit record."""
        line = check_line(line)
        m = _HEAD.match(line)
        if m is None:
            raise ParseError("not an audit record")
        node, rtype, stamp, serial, body = m.groups()
        enriched: dict[str, str] = {}
        if "\x1d" in body:
            body, _, extra = body.partition("\x1d")
            enriched = {k: _unquote(v) for k, v in _KV.findall(extra)}
        raw: dict[str, str] = {}
        for key, value in _KV.findall(body):
            if key == "msg" and value.startswith("'"):
                for k2, v2 in _KV.findall(_unquote(value)):
                    raw[k2] = _unquote(v2)
            else:
                raw[key] = value
        doc = new_event(ctx, line, epoch_to_utc(float(stamp)), "auditd", "auditd.log")
        if node:
            doc["host"] = {"name": node}
        event = doc["event"]
        event["action"] = rtype.lower()
        category, etype = _CATEGORIES.get(rtype, (["host"], ["info"]))
        if rtype == "SYSCALL" and raw.get("syscall") in _EXECVE_SYSCALLS:
            category, etype = ["process"], ["start"]
        event["category"] = category
        event["type"] = etype
        event["sequence"] = int(serial)
        outcome = raw.get("success") or _unquote(raw.get("res", ""))
        if outcome in ("yes", "success", "1"):
            event["outcome"] = "success"
        elif outcome in ("no", "failed", "failure", "0"):
            event["outcome"] = "failure"
        if rtype == "SYSCALL":
            self._remember(serial, raw)
        process: dict[str, Any] = {}
        user: dict[str, Any] = {}
        base = raw
        if rtype in ("EXECVE", "PROCTITLE", "CWD", "PATH") and serial in self._syscalls:
            base = {**self._syscalls[serial], **raw}
        self._process_user(base, process, user)
        if rtype == "EXECVE":
            args = []
            argc = int(raw["argc"]) if raw.get("argc", "").isdigit() else None
            i = 0
            while f"a{i}" in raw and (argc is None or i < argc):
                args.append(_hex_text(raw[f"a{i}"]))
                i += 1
            if args:
                process["args"] = args
                process["args_count"] = len(args)
                process["command_line"] = " ".join(args)
        if rtype == "USER_CMD" and raw.get("cmd"):  # sudo's command, hex when it has spaces
            process["command_line"] = _hex_text(raw["cmd"])
            if raw.get("cwd"):
                process["working_directory"] = _hex_text(raw["cwd"])
        if rtype == "PROCTITLE" and "proctitle" in raw:
            process["title"] = _hex_text(raw["proctitle"])
        if process:
            doc["process"] = process
        if user:
            doc["user"] = user
        gid = base.get("gid")
        if gid and gid.isdigit():
            doc["group"] = {"id": gid}
        addr = raw.get("addr")
        src_ip = clean_ip(addr) if addr and addr != "?" else None
        if src_ip:
            doc["source"] = {"ip": src_ip}
        host_name = raw.get("hostname")
        if host_name and host_name != "?" and not src_ip and clean_ip(host_name):
            src_ip = clean_ip(host_name)
            doc["source"] = {"ip": src_ip}
        log: dict[str, Any] = {k: _unquote(v) for k, v in raw.items()}
        log["record_type"] = rtype
        log["sequence"] = int(serial)
        if enriched:
            log["enriched"] = enriched
        doc["auditd"] = {"log": log}
        acct = _unquote(raw.get("acct", "")) if raw.get("acct") else None
        if acct:
            user.setdefault("name", acct)
            doc["user"] = user
        names = [user.get("name"), enriched.get("UID"), enriched.get("AUID")]
        add_related(doc, [src_ip], names)
        return doc

    def _remember(self, serial: str, raw: dict[str, str]) -> None:
        keep = {k: raw[k] for k in ("pid", "ppid", "exe", "comm", "uid", "auid", "euid", "gid")
                if k in raw}  # fmt: skip
        self._syscalls[serial] = keep
        if len(self._syscalls) > 512:
            self._syscalls.popitem(last=False)

    @staticmethod
    def _process_user(raw: dict[str, str], process: dict[str, Any], user: dict[str, Any]) -> None:
        pid = raw.get("pid", "")
        if pid.isdigit():
            process["pid"] = int(pid)
        ppid = raw.get("ppid", "")
        if ppid.isdigit():
            process["parent"] = {"pid": int(ppid)}
        exe = raw.get("exe")
        if exe and exe not in ('"?"', "?"):
            process["executable"] = _hex_text(exe)
        comm = raw.get("comm")
        if comm and comm not in ('"?"', "?"):
            process["name"] = _hex_text(comm)
        uid = raw.get("uid")
        if uid and uid.isdigit():
            user["id"] = uid
        auid = raw.get("auid")
        if auid and auid.isdigit() and auid != "4294967295":
            user["audit"] = {"id": auid}
        euid = raw.get("euid")
        if euid and euid.isdigit():
            user["effective"] = {"id": euid}
