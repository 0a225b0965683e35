"""JSON lines: ECS documents pass through; any other object is kept under ``json.*`` (json.log).

A line is ECS when its object has ``@timestamp``, ``ecs.version``, or a nested ``event`` or
``host`` object. Such a document keeps its fields (dotted keys like "event.code" are nested),
its @timestamp is normalised to the stored UTC form (a zone-less time is read in
ctx.timezone; epoch seconds or milliseconds are accepted), and missing event.kind,
host.name, labels.department and event.original are filled in. Winlogbeat / ECS JSON of
Windows events (a ``winlog`` object) gets event.module "windows", event.dataset
"windows.eventlog", an int winlog.event_id, event.code and host.name from the computer name.
An Elasticsearch hit ({"_index", "_id", "_source"}) is read as its _source; "_id" and other
top-level underscore keys are dropped (the shipper sets the id).

Any other object becomes event.dataset "json.log", event.module "json", with the whole object
under ``json`` (nested as it came) and @timestamp from its first "timestamp", "time", "ts",
"@t", "date" or "datetime" key; without one, the time of parsing is used and the event is
tagged "timestamp_missing".
"""

from __future__ import annotations

import json
import math
from typing import Any

from collectors.parsers._common import (
    check_line,
    clean_ip,
    epoch_to_utc,
    format_utc,
    iso_to_utc,
)
from collectors.parsers.base import ParseContext, ParseError
from soc import clock

_TIME_KEYS = ("timestamp", "time", "ts", "@t", "date", "datetime", "eventTime", "EventTime")


def _finite_float(text: str) -> float | str:
    """A JSON number as a float, or its literal text when it overflows a float (``1e999``):
    never an infinity, which is not JSON and which stores refuse."""
    value = float(text)
    return value if math.isfinite(value) else text


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _nest(obj: dict[str, Any]) -> dict[str, Any]:
    """Dotted keys ("event.code") folded into nested objects; other keys unchanged."""
    if not any("." in k for k in obj):
        return obj
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if "." in key and key != "@timestamp":
            parts = key.split(".")
            node = out
            for part in parts[:-1]:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = {}
                    node[part] = child
                node = child
            last = node.get(parts[-1])
            if isinstance(last, dict) and isinstance(value, dict):
                last.update(value)
            else:
                node[parts[-1]] = value
        else:
            existing = out.get(key)
            if isinstance(existing, dict) and isinstance(value, dict):
                existing.update(value)
            else:
                out[key] = value
    return out


def _time_value(value: Any, ctx: ParseContext) -> str:
    if isinstance(value, bool):
        raise ParseError("timestamp is not a time")
    if isinstance(value, int | float):
        seconds = value / 1000.0 if abs(value) > 1e11 else float(value)
        return epoch_to_utc(seconds)
    if isinstance(value, str):
        text = value.strip()
        if text.replace(".", "", 1).isdigit():
            return _time_value(float(text), ctx)
        return iso_to_utc(text, ctx.timezone)
    raise ParseError("timestamp is not a time")


def _is_ecs(obj: dict[str, Any]) -> bool:
    if "@timestamp" in obj:
        return True
    ecs = obj.get("ecs")
    if (isinstance(ecs, dict) and "version" in ecs) or "ecs.version" in obj:
        return True
    return isinstance(obj.get("event"), dict) or isinstance(obj.get("host"), dict)


def _fill(doc: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path unless the document already has a value there."""
    parts = path.split(".")
    node = doc
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            if child is not None:
                return
            child = {}
            node[part] = child
        node = child
    node.setdefault(parts[-1], value)


def _windows_ecs(doc: dict[str, Any], data: dict[str, Any]) -> None:
    """ECS process.*, user.* and source.* from winlog.event_data where the document has none.

    Same names as the EVTX mapping: CommandLine, Image/NewProcessName, ParentImage/
    ParentProcessName, ParentCommandLine, ProcessId; TargetUserName/TargetDomainName (else
    SubjectUserName/SubjectDomainName); IpAddress/IpPort when they are real addresses.
    """

    def text(name: str) -> str | None:
        value = data.get(name)
        return value if isinstance(value, str) and value not in ("", "-") else None

    if cmd := text("CommandLine"):
        _fill(doc, "process.command_line", cmd)
    if exe := text("Image") or text("NewProcessName"):
        _fill(doc, "process.executable", exe)
        _fill(doc, "process.name", exe.replace("\\", "/").rsplit("/", 1)[-1])
    pid = data.get("ProcessId")
    if isinstance(pid, int) or (isinstance(pid, str) and pid.isdigit()):
        _fill(doc, "process.pid", int(pid))
    if parent := text("ParentImage") or text("ParentProcessName"):
        _fill(doc, "process.parent.executable", parent)
    if parent_cmd := text("ParentCommandLine"):
        _fill(doc, "process.parent.command_line", parent_cmd)
    user = text("TargetUserName") or text("SubjectUserName")
    if user:
        _fill(doc, "user.name", user)
        domain = text("TargetDomainName") if text("TargetUserName") else text("SubjectDomainName")
        if domain:
            _fill(doc, "user.domain", domain)
    ip = clean_ip(text("IpAddress"))
    if ip:
        _fill(doc, "source.ip", ip)
        port = text("IpPort")
        if port and port.isdigit() and port != "0":
            _fill(doc, "source.port", int(port))


class JsonParser:
    """One JSON object per line. Stateless; get_parser still returns a fresh instance."""

    name = "json"

    def sniff(self, line: str) -> bool:
        """True for a line that starts with "{" and ends with "}" (after whitespace)."""
        s = line.strip()
        return s.startswith("{") and s.endswith("}")

    def parse(self, line: str, ctx: ParseContext) -> dict[str, Any]:
        """The ECS pass-through or json.log event of ``line``; ParseError when not an object."""
        line = check_line(line)
        try:
            obj = json.loads(line, parse_constant=_no_constant, parse_float=_finite_float)
        except (ValueError, RecursionError) as err:
            raise ParseError(f"invalid JSON ({str(err).split(':')[0]})") from None
        if not isinstance(obj, dict):
            raise ParseError("JSON line is not an object")
        if isinstance(obj.get("_source"), dict) and "_index" in obj:
            obj = obj["_source"]
        obj = {k: v for k, v in obj.items() if not k.startswith("_")}
        if _is_ecs(obj):
            return self._ecs(_nest(obj), line, ctx)
        return self._generic(obj, line, ctx)

    def _ecs(self, doc: dict[str, Any], line: str, ctx: ParseContext) -> dict[str, Any]:
        if "@timestamp" in doc:
            doc["@timestamp"] = _time_value(doc["@timestamp"], ctx)
        else:
            doc["@timestamp"] = self._fallback_time(doc, ctx)
        event = doc.get("event")
        if not isinstance(event, dict):
            event = {}
            doc["event"] = event
        event.setdefault("kind", "event")
        if ctx.keep_original and "original" not in event:
            event["original"] = line
        for key in ("category", "type"):
            if isinstance(event.get(key), str):
                event[key] = [event[key]]
        winlog = doc.get("winlog")
        if isinstance(winlog, dict):
            event["module"] = "windows"
            event["dataset"] = "windows.eventlog"
            event_id = winlog.get("event_id")
            if isinstance(event_id, str) and event_id.isdigit():
                winlog["event_id"] = int(event_id)
            if winlog.get("event_id") is not None and "code" not in event:
                event["code"] = str(winlog["event_id"])
            computer = winlog.get("computer_name")
            if computer:
                host = doc.get("host") if isinstance(doc.get("host"), dict) else {}
                host.setdefault("name", computer)
                doc["host"] = host
            data = winlog.get("event_data")
            if isinstance(data, dict):
                _windows_ecs(doc, data)
        elif "dataset" not in event:
            event.setdefault("module", "json")
            event["dataset"] = "json.log"
        host = doc.get("host")
        if ctx.host_name and not (isinstance(host, dict) and host.get("name")):
            if isinstance(host, dict):
                host["name"] = ctx.host_name
            else:
                doc["host"] = {"name": ctx.host_name}
        if ctx.department:
            labels = doc.get("labels")
            if not isinstance(labels, dict):
                labels = {}
                doc["labels"] = labels
            labels.setdefault("department", ctx.department)
        return doc

    def _fallback_time(self, obj: dict[str, Any], ctx: ParseContext) -> str:
        for key in _TIME_KEYS:
            if key in obj and obj[key] not in (None, ""):
                try:
                    return _time_value(obj[key], ctx)
                except ParseError:
                    continue
        tags = obj.setdefault("tags", [])
        if isinstance(tags, list):
            tags.append("timestamp_missing")
        return format_utc(clock.now().replace(tzinfo=None))

    def _generic(self, obj: dict[str, Any], line: str, ctx: ParseContext) -> dict[str, Any]:
        holder: dict[str, Any] = {}
        ts = self._fallback_time_generic(obj, holder, ctx)
        event: dict[str, Any] = {"kind": "event", "module": "json", "dataset": "json.log"}
        if ctx.keep_original:
            event["original"] = line
        doc: dict[str, Any] = {"@timestamp": ts, "event": event, "json": obj}
        if holder:
            doc["tags"] = ["timestamp_missing"]
        if ctx.host_name:
            doc["host"] = {"name": ctx.host_name}
        if ctx.department:
            doc["labels"] = {"department": ctx.department}
        msg = obj.get("message", obj.get("msg"))
        if isinstance(msg, str):
            doc["message"] = msg
        return doc

    def _fallback_time_generic(
        self, obj: dict[str, Any], holder: dict[str, Any], ctx: ParseContext
    ) -> str:
        for key in _TIME_KEYS:
            if key in obj and obj[key] not in (None, ""):
                try:
                    return _time_value(obj[key], ctx)
                except ParseError:
                    continue
        holder["missing"] = True
        return format_utc(clock.now().replace(tzinfo=None))
