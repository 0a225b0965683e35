"""Index templates and mappings of the Elasticsearch store, built from soc.ecs.FIELD_TYPES.

Event indices (``<prefix>-events-YYYY.MM.DD`` behind the alias ``<prefix>-events``):
- every string field is a ``keyword`` with a lowercase normalizer, so term, wildcard and
  query_string matches are case-insensitive as Sigma requires (and aggregations group values
  case-insensitively);
- ``message`` (and any other "text" field) is such a keyword too, with a ``.text`` sub-field
  analysed for full-text search;
- ``@timestamp`` is ``date_nanos`` so microsecond timestamps keep their order and range
  bounds are exact; other dates are ``date``;
- ``*.ip`` fields are ``ip``; numbers follow FIELD_TYPES;
- ``event.original`` (FIELD_TYPES "unindexed") is a searchable keyword without doc values:
  the detection pipeline matches Sigma keywords against it on both stores, and the local
  store keeps it in an ordinary column, so an unsearchable field would make keyword rules
  silently miss on Elasticsearch (real Elasticsearch even refuses such queries).

Record indices (``<prefix>-alerts``, ``-cases``, ``-audit``, ``-state``): top-level strings are
exact (not normalised) keywords, numbers are doubles, objects are kept but not indexed, so
records of any shape are accepted and top-level fields can be filtered and sorted on.
"""

from __future__ import annotations

from typing import Any

from soc.ecs import FIELD_TYPES

#: Bumped whenever the template body changes, so existing clusters get the new one.
TEMPLATE_VERSION = 3
NORMALIZER = "soc_lowercase"
#: Longest string (in characters) indexed as a keyword; Lucene's term limit is 32766 bytes.
IGNORE_ABOVE = 8191
#: Where query_string terms without a field look: the message (as keyword and as text).
DEFAULT_FIELDS = ("message", "message.text")
#: Field holding a copy of the record id, so lists can be ordered by id on any server.
RECORD_ID_FIELD = "soc_record_id"

_KEYWORD: dict[str, Any] = {
    "type": "keyword",
    "normalizer": NORMALIZER,
    "ignore_above": IGNORE_ABOVE,
}


def _field_mapping(path: str, kind: str) -> dict[str, Any]:
    if path == "@timestamp":
        return {"type": "date_nanos"}
    if kind == "date":
        return {"type": "date"}
    if kind in {"ip", "long"}:
        return {"type": kind}
    if kind == "float":
        return {"type": "double"}
    if kind == "text":
        return {**_KEYWORD, "fields": {"text": {"type": "text"}}}
    if kind == "unindexed":
        # searchable (Sigma keywords match the raw line, as on the local store) but without
        # doc values: nobody sorts or aggregates on it, and it is the largest field
        return {**_KEYWORD, "doc_values": False}
    return dict(_KEYWORD)


def _nest(flat: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Mapping ``properties`` for dotted paths (``a.b`` -> a: {properties: {b: ...}})."""
    root: dict[str, Any] = {}
    for path, mapping in sorted(flat.items()):
        node = root
        parts = path.split(".") if path != "@timestamp" else [path]
        for part in parts[:-1]:
            node = node.setdefault(part, {"properties": {}})["properties"]
        node[parts[-1]] = mapping
    return root


def event_mappings() -> dict[str, Any]:
    """The mappings of event indices."""
    properties = {path: _field_mapping(path, kind) for path, kind in FIELD_TYPES.items()}
    properties.setdefault("event.id", {"type": "keyword"})
    return {
        "date_detection": False,
        "dynamic_templates": [
            {
                "ip_fields": {
                    "path_match": "*.ip",
                    "match_mapping_type": "string",
                    "mapping": {"type": "ip"},
                }
            },
            {"strings": {"match_mapping_type": "string", "mapping": dict(_KEYWORD)}},
        ],
        "properties": _nest(properties),
    }


def event_settings() -> dict[str, Any]:
    """The settings of event indices: the lowercase normalizer and room for many fields."""
    return {
        "index": {
            "mapping": {"total_fields": {"limit": 10000}},
            # unfielded terms (Sigma keywords) search the log line, not every field
            "query": {"default_field": list(DEFAULT_FIELDS)},
        },
        "analysis": {
            "normalizer": {NORMALIZER: {"type": "custom", "filter": ["lowercase"]}},
        },
    }


def composable_template(prefix: str) -> dict[str, Any]:
    """The body of ``PUT _index_template/<prefix>-events`` (Elasticsearch >= 7.8, OpenSearch)."""
    return {
        "index_patterns": [f"{prefix}-events-*"],
        "priority": 200,
        "version": TEMPLATE_VERSION,
        "_meta": {"managed_by": "citysoc"},
        "template": {
            "settings": event_settings(),
            "mappings": event_mappings(),
            "aliases": {f"{prefix}-events": {}},
        },
    }


def legacy_template(prefix: str) -> dict[str, Any]:
    """The same as a legacy ``PUT _template/<prefix>-events`` body, for servers without
    composable templates."""
    return {
        "index_patterns": [f"{prefix}-events-*"],
        "order": 200,
        "version": TEMPLATE_VERSION,
        "settings": event_settings(),
        "mappings": event_mappings(),
        "aliases": {f"{prefix}-events": {}},
    }


def record_mappings() -> dict[str, Any]:
    """The mappings of record indices."""
    return {
        "date_detection": False,
        "numeric_detection": False,
        "dynamic_templates": [
            {
                "objects": {
                    "match_mapping_type": "object",
                    "mapping": {"type": "object", "enabled": False},
                }
            },
            {"integers": {"match_mapping_type": "long", "mapping": {"type": "double"}}},
            {
                "strings": {
                    "match_mapping_type": "string",
                    "mapping": {"type": "keyword", "ignore_above": IGNORE_ABOVE},
                }
            },
        ],
        "properties": {RECORD_ID_FIELD: {"type": "keyword"}},
    }
