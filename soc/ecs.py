"""ECS helpers: dotted field paths, deterministic event ids, timestamps and field types.

Documents are nested as ECS nests them (``{"source": {"ip": "10.0.0.1"}}``); code that needs
one value by its dotted path uses get_field/set_field, and stores that keep one column per
path use flatten().
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

#: ECS version whose field names we follow.
ECS_VERSION = "8.11.0"

_MISSING = object()


def get_field(doc: Mapping[str, Any], path: str, default: Any = None) -> Any:
    """The value at a dotted path of a nested document, or ``default``.

    A literal key containing dots (``{"a.b": 1}``) is found too, so flattened and nested
    documents both work.
    """
    if path in doc:
        return doc[path]
    node: Any = doc
    parts = path.split(".")
    for i, part in enumerate(parts):
        if not isinstance(node, Mapping):
            return default
        if part in node:
            node = node[part]
            continue
        rest = ".".join(parts[i:])
        return node.get(rest, default)
    return node


def set_field(doc: dict[str, Any], path: str, value: Any) -> None:
    """Set the value at a dotted path, creating intermediate objects as needed."""
    parts = path.split(".")
    node = doc
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def flatten(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """All leaf values by dotted path; lists and scalars are leaves, objects are descended."""
    flat: dict[str, Any] = {}
    if len(_NAMES) >= MAX_REMEMBERED_NAMES:
        _NAMES.clear()
    _fill(flat, doc, prefix)
    return flat


def _fill(flat: dict[str, Any], doc: Mapping[str, Any], prefix: str) -> None:
    # The hot path of every store write: exact type tests first (much cheaper than
    # isinstance(value, Mapping)), plain dicts and scalars being nearly all we see. The
    # dotted names are remembered per prefix (_NAMES): events of one kind share them, and
    # a name made once keeps its hash for every dict and set it goes into afterwards.
    names = _NAMES.get(prefix)
    if names is None:
        names = {}
        if len(_NAMES) < MAX_REMEMBERED_NAMES:
            _NAMES[prefix] = names
    for key, value in doc.items():
        try:
            name = names[key]
        except KeyError:
            name = prefix + key
            if len(names) < MAX_REMEMBERED_NAMES:
                names[key] = name
        kind = type(value)
        if kind is dict:
            _fill(flat, value, name + ".")
        elif kind in _LEAF_TYPES or not isinstance(value, Mapping):
            flat[name] = value
        else:
            _fill(flat, value, name + ".")


#: The dotted names made so far: prefix -> key -> prefix + key. Bounded, for logs whose
#: keys are data (ids, addresses): at most MAX_REMEMBERED_NAMES prefixes, and as many names
#: under each, are kept; a document that finds the prefixes full starts the memo again.
_NAMES: dict[str, dict[str, str]] = {}
MAX_REMEMBERED_NAMES = 4096

_LEAF_TYPES = frozenset({str, int, float, bool, list, type(None)})


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """The nested document for a mapping of dotted paths to values."""
    doc: dict[str, Any] = {}
    for path, value in flat.items():
        set_field(doc, path, value)
    return doc


def event_id(source: str, position: str | int) -> str:
    """A deterministic id for the record at ``position`` of ``source``.

    The same source identity and position always give the same id, so shipping a record twice
    never makes two documents.
    """
    digest = hashlib.blake2b(f"{source}\x1f{position}".encode(), digest_size=16)
    return digest.hexdigest()


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a ``Z``: the one form stored in ``@timestamp``.

    Naive datetimes are taken to be UTC already. Strings of this form sort in time order.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> datetime:
    """An aware UTC datetime from an ISO 8601 string (``Z`` or offset; naive means UTC)."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


#: ECS fields whose type is not a plain keyword. Stores use this for typed columns and the
#: Elasticsearch index template; any field not listed is a (case-insensitive) keyword.
FIELD_TYPES: dict[str, str] = {
    "@timestamp": "date",
    "event.created": "date",
    "event.ingested": "date",
    "event.start": "date",
    "event.end": "date",
    "event.duration": "long",
    "event.severity": "long",
    "event.sequence": "long",
    "event.risk_score": "float",
    "source.ip": "ip",
    "destination.ip": "ip",
    "client.ip": "ip",
    "server.ip": "ip",
    "host.ip": "ip",
    "observer.ip": "ip",
    "related.ip": "ip",
    "source.nat.ip": "ip",
    "destination.nat.ip": "ip",
    "source.port": "long",
    "destination.port": "long",
    "client.port": "long",
    "server.port": "long",
    "source.nat.port": "long",
    "destination.nat.port": "long",
    "source.bytes": "long",
    "destination.bytes": "long",
    "source.packets": "long",
    "destination.packets": "long",
    "network.bytes": "long",
    "network.packets": "long",
    "http.request.bytes": "long",
    "http.response.bytes": "long",
    "http.request.body.bytes": "long",
    "http.response.body.bytes": "long",
    "http.response.status_code": "long",
    "process.pid": "long",
    "process.parent.pid": "long",
    "process.thread.id": "long",
    "winlog.record_id": "long",
    "winlog.process.pid": "long",
    "winlog.process.thread.id": "long",
    "log.file.offset": "long",
    "log.syslog.priority": "long",
    "log.syslog.facility.code": "long",
    "log.syslog.severity.code": "long",
    "dns.answers.ttl": "long",
    "file.size": "long",
    "message": "text",
    "event.original": "unindexed",
}


def field_type(path: str) -> str:
    """The store type of an ECS field path: date, ip, long, float, text, unindexed or keyword."""
    return FIELD_TYPES.get(path, "keyword")
