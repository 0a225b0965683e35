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
- ``event.original`` (FIELD_TYPES "unindexed") is stored in ``_source`` but neither indexed
  nor given doc values, as ECS advises (one unique term per event would bloat the term
  dictionary); the Sigma compiler's Lucene target matches keywords against ``message``;
- dynamic fields: at most ``IndexLayout.total_fields_limit`` mapped fields per index; the
  Windows event data (``winlog.event_data.*``, one field per EVTX data name) are keywords
  like any string, and an index being per *ingest day* bounds the names one index collects;
  a document that would pass the limit is refused by the server and reported per event;

Record indices (``<prefix>-alerts``, ``-cases``, ``-audit``, ``-state``): top-level strings are
exact (not normalised) keywords, numbers are doubles, objects are kept but not indexed, so
records of any shape are accepted and top-level fields can be filtered and sorted on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from soc.config import Settings
from soc.ecs import FIELD_TYPES
from soc.store.es_wildcard import copy_properties
from soc.timespec import parse_duration

#: Bumped whenever the template body changes, so existing clusters get the new one.
TEMPLATE_VERSION = 4
NORMALIZER = "soc_lowercase"
#: Longest string (in characters) indexed as a keyword; Lucene's term limit is 32766 bytes.
IGNORE_ABOVE = 8191
#: Where query_string terms without a field look: the message (as keyword and as text).
DEFAULT_FIELDS = ("message", "message.text")
#: Field holding a copy of the record id, so lists can be ordered by id on any server.
RECORD_ID_FIELD = "soc_record_id"


@dataclass(frozen=True)
class IndexLayout:
    """How event indices are laid out (the ``elasticsearch.*`` layout settings)."""

    shards: int = 1
    replicas: int = 1
    refresh_interval: str = "5s"
    total_fields_limit: int = 2000
    lifecycle: str = "none"  # none, ilm (Elasticsearch) or ism (OpenSearch)
    retention_days: int = 90
    wildcard_copies: bool = False  # soc.store.es_wildcard
    #: rollover conditions (sorted pairs); empty: ingest-day indices (soc.store.es_rollover)
    rollover: tuple[tuple[str, Any], ...] = ()
    rollover_check_seconds: int = 300

    @classmethod
    def from_settings(cls, settings: Settings) -> IndexLayout:
        """The layout the settings describe; ValueError names a bad value."""
        lifecycle = str(settings.get("elasticsearch.lifecycle", "none") or "none").lower()
        if lifecycle not in {"none", "ilm", "ism"}:
            raise ValueError(f"elasticsearch.lifecycle: expected none, ilm or ism: {lifecycle!r}")
        from soc.store.es_rollover import parse_rollover

        rollover, check = parse_rollover(settings.get("elasticsearch.rollover"))
        text = str(settings.get("elasticsearch.retention", "90d") or "90d")
        try:
            retention = parse_duration(text)
        except ValueError as exc:
            raise ValueError(f"elasticsearch.retention: {exc}") from None
        return cls(
            shards=max(1, int(settings.get("elasticsearch.shards", 1))),
            replicas=max(0, int(settings.get("elasticsearch.replicas", 1))),
            refresh_interval=str(settings.get("elasticsearch.refresh_interval", "5s")),
            total_fields_limit=max(
                100, int(settings.get("elasticsearch.total_fields_limit", 2000))
            ),
            lifecycle=lifecycle,
            retention_days=max(1, retention.days),
            wildcard_copies=bool(settings.get("elasticsearch.wildcard_copies", False)),
            rollover=rollover,
            rollover_check_seconds=check,
        )

    def fingerprint(self) -> str:
        """A short digest of the layout, kept in the template's _meta to notice changes."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


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
        # kept in _source, shown to analysts, never searched, sorted or aggregated
        return {"type": "keyword", "index": False, "doc_values": False}
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


def event_mappings(wildcard_copies: bool = False) -> dict[str, Any]:
    """The mappings of event indices (with the ``soc_wc`` wildcard copies when asked)."""
    properties = {path: _field_mapping(path, kind) for path, kind in FIELD_TYPES.items()}
    if wildcard_copies:
        properties.update(copy_properties(IGNORE_ABOVE))
    properties.setdefault("event.id", {"type": "keyword"})
    # token of the bulk request that wrote the document (soc.store.es_write)
    properties["soc_bulk"] = {"type": "keyword", "index": False, "doc_values": False}
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


def event_settings(layout: IndexLayout | None = None) -> dict[str, Any]:
    """The settings of event indices: shards, replicas, refresh interval and field limit of
    the layout, and the lowercase normalizer."""
    layout = layout or IndexLayout()
    return {
        "index": {
            "number_of_shards": layout.shards,
            "number_of_replicas": layout.replicas,
            "refresh_interval": layout.refresh_interval,
            "mapping": {"total_fields": {"limit": layout.total_fields_limit}},
            # unfielded terms (Sigma keywords) search the log line, not every field
            "query": {"default_field": list(DEFAULT_FIELDS)},
        },
        "analysis": {
            "normalizer": {NORMALIZER: {"type": "custom", "filter": ["lowercase"]}},
        },
    }


def composable_template(prefix: str, layout: IndexLayout | None = None) -> dict[str, Any]:
    """The body of ``PUT _index_template/<prefix>-events`` (Elasticsearch >= 7.8, OpenSearch)."""
    layout = layout or IndexLayout()
    settings = event_settings(layout)
    if layout.lifecycle == "ilm":
        settings["index"]["lifecycle"] = {"name": f"{prefix}-events"}
        if layout.rollover:
            settings["index"]["lifecycle"]["rollover_alias"] = f"{prefix}-events-write"
    if layout.lifecycle == "ism" and layout.rollover:
        settings["plugins"] = {
            "index_state_management": {"rollover_alias": f"{prefix}-events-write"}
        }
    return {
        "index_patterns": [f"{prefix}-events-*"],
        "priority": 200,
        "version": TEMPLATE_VERSION,
        "_meta": {"managed_by": "citysoc", "layout": layout.fingerprint()},
        "template": {
            "settings": settings,
            "mappings": event_mappings(layout.wildcard_copies),
            "aliases": {f"{prefix}-events": {}},
        },
    }


def legacy_template(prefix: str, layout: IndexLayout | None = None) -> dict[str, Any]:
    """The same as a legacy ``PUT _template/<prefix>-events`` body, for servers without
    composable templates."""
    return {
        "index_patterns": [f"{prefix}-events-*"],
        "order": 200,
        "version": TEMPLATE_VERSION,
        "settings": event_settings(layout),
        "mappings": event_mappings((layout or IndexLayout()).wildcard_copies),
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
