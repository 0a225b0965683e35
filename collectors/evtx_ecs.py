"""One EVTX record (the JSON the ``evtx`` parser renders) -> one nested ECS document.

Mapping (the Windows vocabulary of the shared event vocabulary):

- ``@timestamp``: System/TimeCreated/@SystemTime, in UTC with microseconds.
- ``winlog.*``: channel, provider_name, provider_guid, computer_name, event_id (int),
  record_id (int), process.pid / process.thread.id (int), user.identifier (System/Security
  @UserID), version, level, task, opcode, keywords (list of the hex mask), and
  ``winlog.event_data.<Name>`` for every EventData field by its exact name. Unnamed Data
  values become ``param1``, ``param2``... For UserData the children of its single record
  element are put under ``winlog.event_data`` too. Every event_data value is a string (as
  Winlogbeat stores them); empty (null) values are left out; nested elements are kept as
  their text, or as compact JSON when they have no text.
- ``event.code`` = str(EventID), ``event.provider``, ``event.kind`` "event",
  ``event.module`` "windows", ``event.dataset`` "windows.eventlog", ``event.category`` /
  ``event.type`` / ``event.outcome`` for the well-known Security and Sysmon ids, ``log.level``.
- ``host.name`` = Computer.
- ``process.*``: command_line (CommandLine), executable (Image, NewProcessName, ProcessName),
  name (last path element of the executable), pid (ProcessId, NewProcessId for 4688; hex or
  decimal), parent.executable / parent.command_line / parent.pid (ParentImage,
  ParentProcessName, ParentCommandLine, ParentProcessId; ProcessId for 4688).
- ``user.name`` / ``user.domain``: TargetUserName/TargetDomainName for logon-type events,
  else SubjectUserName/SubjectDomainName, else Sysmon ``User`` (DOMAIN\\name).
- ``source.ip`` / ``source.port`` from IpAddress/IpPort (and Sysmon SourceIp/SourcePort,
  ``destination.*`` from DestinationIp/DestinationPort), only when they are real addresses.
- ``event.original``: the record JSON as the parser rendered it, when ``keep_original``.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z?$")

# Security / Sysmon event ids -> (category, type, outcome or None)
_CATEGORIES: dict[tuple[str, int], tuple[list[str], list[str], str | None]] = {}


def _cat(channel_kind: str, ids: tuple[int, ...], category: str, kind: str, outcome=None):
    for i in ids:
        _CATEGORIES[(channel_kind, i)] = ([category], [kind], outcome)


_cat("security", (4624, 4648, 4768, 4769, 4776, 4778), "authentication", "start", "success")
_cat("security", (4625, 4771, 4777), "authentication", "start", "failure")
_cat("security", (4634, 4647, 4779), "authentication", "end", "success")
_cat("security", (4672,), "iam", "admin", "success")
_cat("security", (4688,), "process", "start", None)
_cat("security", (4689,), "process", "end", None)
_cat("security", (4720,), "iam", "creation", "success")
_cat("security", (4726,), "iam", "deletion", "success")
_cat("security", (4722, 4723, 4724, 4725, 4738, 4740, 4767, 4781), "iam", "change", "success")
_cat("security", (4727, 4731, 4754), "iam", "creation", "success")
_cat("security", (4728, 4732, 4756, 4729, 4733, 4757, 4735, 4737), "iam", "change", "success")
_cat("security", (4697, 7045), "configuration", "creation", None)
_cat("security", (4698,), "configuration", "creation", None)
_cat("security", (4699,), "configuration", "deletion", None)
_cat("security", (4702,), "configuration", "change", None)
_cat("security", (5140, 5145), "network", "access", None)
_cat("security", (1102, 104), "configuration", "deletion", None)
_cat("sysmon", (1,), "process", "start", None)
_cat("sysmon", (5,), "process", "end", None)
_cat("sysmon", (3,), "network", "connection", None)
_cat("sysmon", (22,), "network", "protocol", None)
_cat("sysmon", (11, 23, 26), "file", "creation", None)
_cat("sysmon", (12, 13, 14), "registry", "change", None)
_cat("sysmon", (7,), "process", "change", None)
_cat("sysmon", (8, 10), "process", "access", None)

_LOGON_IDS = {4624, 4625, 4634, 4647, 4768, 4769, 4771, 4776, 4778, 4779, 4648}
_LEVELS = {
    0: "information",
    1: "critical",
    2: "error",
    3: "warning",
    4: "information",
    5: "verbose",
}
_AUDIT_SUCCESS = 0x0020000000000000
_AUDIT_FAILURE = 0x0010000000000000


class EvtxRecordError(ValueError):
    """A record cannot be mapped (no System element, no time); the message is the reason."""


def _text(value: Any) -> str | None:
    """An XML-ish JSON value as the string Windows shows (None for empty)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        if "#text" in value:
            return _text(value["#text"])
        rest = {k: v for k, v in value.items() if k != "#attributes"} or value.get("#attributes")
        return json.dumps(rest, ensure_ascii=False, separators=(",", ":")) if rest else None
    if isinstance(value, list):
        parts = [t for t in (_text(v) for v in value) if t is not None]
        return "\n".join(parts) if parts else None
    return str(value)


def _attr(node: Any, name: str) -> Any:
    if isinstance(node, dict):
        attrs = node.get("#attributes")
        if isinstance(attrs, dict):
            return attrs.get(name)
    return None


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        return _int(value.get("#text"))
    text = str(value).strip()
    try:
        return int(text, 16) if text[:2].lower() == "0x" else int(text)
    except ValueError:
        return None


def _timestamp(value: Any) -> str:
    text = value if isinstance(value, str) else None
    match = _TIME.match(text.strip()) if text else None
    if not match:
        raise EvtxRecordError(f"record time is not a date: {value!r}")
    frac = (match.group(2) or "")[:6].ljust(6, "0")
    return f"{match.group(1)}.{frac}Z"


def _event_data(event: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    data = event.get("EventData")
    if type(data) is dict:
        for key, value in data.items():
            if type(value) is str:  # the common case, kept fast
                out[key] = value
                continue
            if key == "#attributes" or value is None:
                continue
            if key == "Data" and isinstance(value, dict | list):
                raw = value.get("#text") if isinstance(value, dict) else value
                values = raw if isinstance(raw, list) else [raw]
                for i, item in enumerate(values, 1):
                    text = _text(item)
                    if text is not None:
                        out[f"param{i}"] = text
                continue
            text = _text(value)
            if text is not None:
                out[key] = text
    user_data = event.get("UserData")
    if isinstance(user_data, dict):
        records = [v for k, v in user_data.items() if k != "#attributes"]
        if len(records) == 1 and isinstance(records[0], dict):
            for key, value in records[0].items():
                if key == "#attributes":
                    continue
                text = _text(value)
                if text is not None:
                    out[key] = text
    return out


def _ip(value: str | None) -> str | None:
    if not value or value in ("-", "::1%0"):
        return None
    text = value.strip()
    if text.startswith("::ffff:") and "." in text:
        text = text[7:]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _port(value: str | None) -> int | None:
    port = _int(value)
    return port if port is not None and 0 < port < 65536 else None


def _basename(path: str) -> str:
    return path.replace("/", "\\").rsplit("\\", 1)[-1]


def _split_user(value: str) -> tuple[str | None, str]:
    if "\\" in value:
        domain, name = value.split("\\", 1)
        return domain or None, name
    return None, value


def record_to_ecs(
    record: dict[str, Any],
    *,
    original: str | None = None,
    department: str | None = None,
) -> dict[str, Any]:
    """The nested ECS document for one EVTX record (the parsed ``data`` JSON of
    ``PyEvtxParser.records_json()``). ``original`` becomes ``event.original`` when given.
    Raises EvtxRecordError when the record has no System element or no usable time."""
    event = record.get("Event") if isinstance(record, dict) else None
    if not isinstance(event, dict) or not isinstance(event.get("System"), dict):
        raise EvtxRecordError("record has no Event/System element")
    system: dict[str, Any] = event["System"]
    timestamp = _timestamp(_attr(system.get("TimeCreated"), "SystemTime"))

    provider = system.get("Provider")
    provider_name = _attr(provider, "Name")
    provider_guid = _attr(provider, "Guid")
    event_id = _int(system.get("EventID"))
    channel = _text(system.get("Channel"))
    computer = _text(system.get("Computer"))
    record_id = _int(system.get("EventRecordID"))

    winlog: dict[str, Any] = {}
    if channel:
        winlog["channel"] = channel
    if provider_name:
        winlog["provider_name"] = provider_name
    if provider_guid:
        winlog["provider_guid"] = provider_guid
    if computer:
        winlog["computer_name"] = computer
    if event_id is not None:
        winlog["event_id"] = event_id
    if record_id is not None:
        winlog["record_id"] = record_id
    execution = system.get("Execution")
    pid = _int(_attr(execution, "ProcessID"))
    tid = _int(_attr(execution, "ThreadID"))
    if pid is not None or tid is not None:
        proc: dict[str, Any] = {}
        if pid is not None:
            proc["pid"] = pid
        if tid is not None:
            proc["thread"] = {"id": tid}
        winlog["process"] = proc
    user_sid = _attr(system.get("Security"), "UserID")
    if user_sid:
        winlog["user"] = {"identifier": user_sid}
    for key, name in (("Version", "version"), ("Task", "task"), ("Opcode", "opcode")):
        value = _text(system.get(key))
        if value is not None:
            winlog[name] = value
    keywords = _text(system.get("Keywords"))
    if keywords:
        winlog["keywords"] = [keywords]
    data = _event_data(event)
    if data:
        winlog["event_data"] = data

    ev: dict[str, Any] = {
        "kind": "event",
        "module": "windows",
        "dataset": "windows.eventlog",
    }
    if event_id is not None:
        ev["code"] = str(event_id)
    if provider_name:
        ev["provider"] = provider_name
    lowered = (channel or "").lower()
    channel_kind = "sysmon" if "sysmon" in lowered else "security"
    mapped = _CATEGORIES.get((channel_kind, event_id)) if event_id is not None else None
    if mapped is not None and (channel_kind == "sysmon" or lowered in ("security", "system")):
        ev["category"], ev["type"] = list(mapped[0]), list(mapped[1])
        if mapped[2]:
            ev["outcome"] = mapped[2]
    else:
        ev["category"], ev["type"] = ["host"], ["info"]
    mask = _int(keywords)
    if mask is not None and "outcome" not in ev:
        if mask & _AUDIT_FAILURE:
            ev["outcome"] = "failure"
        elif mask & _AUDIT_SUCCESS:
            ev["outcome"] = "success"
    if original is not None:
        ev["original"] = original

    doc: dict[str, Any] = {"@timestamp": timestamp, "event": ev, "winlog": winlog}
    level = _int(system.get("Level"))
    if level is not None and level in _LEVELS:
        doc["log"] = {"level": _LEVELS[level]}
    if computer:
        doc["host"] = {"name": computer}
    if data:
        _process(doc, data, event_id)
        _user(doc, data, event_id)
        _network(doc, data)
    if department:
        doc["labels"] = {"department": department}
    return doc


def _process(doc: dict[str, Any], data: dict[str, str], event_id: int | None) -> None:
    process: dict[str, Any] = {}
    parent: dict[str, Any] = {}
    executable = data.get("Image") or data.get("NewProcessName") or data.get("ProcessName")
    if executable and executable != "-":
        process["executable"] = executable
        process["name"] = _basename(executable)
    if data.get("CommandLine"):
        process["command_line"] = data["CommandLine"]
    if event_id == 4688 and "NewProcessId" in data:
        pid = _int(data.get("NewProcessId"))
        ppid = _int(data.get("ProcessId"))
    else:
        pid = _int(data.get("ProcessId"))
        ppid = _int(data.get("ParentProcessId"))
    if pid is not None:
        process["pid"] = pid
    parent_exe = data.get("ParentImage") or data.get("ParentProcessName")
    if parent_exe and parent_exe != "-":
        parent["executable"] = parent_exe
        parent["name"] = _basename(parent_exe)
    if data.get("ParentCommandLine"):
        parent["command_line"] = data["ParentCommandLine"]
    if ppid is not None:
        parent["pid"] = ppid
    if parent:
        process["parent"] = parent
    if process:
        doc["process"] = process


def _user(doc: dict[str, Any], data: dict[str, str], event_id: int | None) -> None:
    name = domain = None
    if event_id in _LOGON_IDS and data.get("TargetUserName") not in (None, "", "-"):
        name, domain = data.get("TargetUserName"), data.get("TargetDomainName")
    elif data.get("SubjectUserName") not in (None, "", "-"):
        name, domain = data.get("SubjectUserName"), data.get("SubjectDomainName")
    elif data.get("TargetUserName") not in (None, "", "-"):
        name, domain = data.get("TargetUserName"), data.get("TargetDomainName")
    elif data.get("User") not in (None, "", "-"):
        domain, name = _split_user(data["User"])
    if not name:
        return
    user: dict[str, Any] = {"name": name}
    if domain and domain != "-":
        user["domain"] = domain
    doc["user"] = user
    doc.setdefault("related", {})["user"] = [name]


def _network(doc: dict[str, Any], data: dict[str, str]) -> None:
    src_ip = _ip(data.get("IpAddress")) or _ip(data.get("SourceIp"))
    src_port = _port(data.get("IpPort")) or _port(data.get("SourcePort"))
    dst_ip = _ip(data.get("DestinationIp"))
    dst_port = _port(data.get("DestinationPort"))
    related: list[str] = []
    if src_ip:
        source: dict[str, Any] = {"ip": src_ip}
        if src_port:
            source["port"] = src_port
        doc["source"] = source
        related.append(src_ip)
    if dst_ip:
        dest: dict[str, Any] = {"ip": dst_ip}
        if dst_port:
            dest["port"] = dst_port
        doc["destination"] = dest
        if dst_ip not in related:
            related.append(dst_ip)
    if related:
        doc.setdefault("related", {})["ip"] = related
