"""Leading-wildcard searches without term-dictionary walks (``elasticsearch.wildcard_copies``).

Sigma rules search some fields with leading wildcards (``process.command_line:*\\\\temp\\\\*``):
on a normalised ``keyword`` that walks the field's whole term dictionary. The ``wildcard``
field type indexes n-grams instead, but it has no normalizer, so its matches are
case-sensitive. With wildcard copies on, the store writes a lower-cased copy of each such
field under ``soc_wc.<field>`` (mapped ``wildcard``, removed from documents read back) and
points query text at the copy. The Sigma compiler's Lucene values are already lower-case
(they target the lowercase normalizer), so Sigma's case-insensitive semantics are kept.
Exact-value filters, aggregations and sorting keep using the keyword field.

Only indices created with the setting on carry the copies: turn it on for a new store (or
from a new day on, after `soc store prune` has removed older indices); see
docs/elasticsearch.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from soc import ecs

#: Where the lower-cased copies live.
COPY_ROOT = "soc_wc"

#: The fields the city pack and the SigmaHQ Windows rules search with leading wildcards.
WILDCARD_FIELDS: tuple[str, ...] = (
    "auditd.log.name",
    "dns.question.name",
    "http.request.referrer",
    "process.command_line",
    "process.executable",
    "process.parent.executable",
    "system.auth.cron.command",
    "system.auth.sudo.command",
    "tls.client.server_name",
    "url.original",
    "url.path",
    "url.query",
    "user_agent.original",
    "winlog.event_data.CommandLine",
    "winlog.event_data.Image",
    "winlog.event_data.ImageLoaded",
    "winlog.event_data.ImagePath",
    "winlog.event_data.NewProcessName",
    "winlog.event_data.ParentCommandLine",
    "winlog.event_data.ParentImage",
    "winlog.event_data.ParentProcessName",
    "winlog.event_data.ScriptBlockText",
    "winlog.event_data.ServiceFileName",
    "winlog.event_data.TargetFilename",
    "winlog.event_data.TargetImage",
    "winlog.event_data.TargetObject",
)

_FIELD_REF = re.compile(r"(?<![\w.@\\])(" + "|".join(re.escape(f) for f in WILDCARD_FIELDS) + r"):")


def copy_properties(ignore_above: int) -> dict[str, dict[str, Any]]:
    """Flat mapping entries (dotted path -> mapping) of the copies."""
    return {
        f"{COPY_ROOT}.{path}": {"type": "wildcard", "ignore_above": ignore_above}
        for path in WILDCARD_FIELDS
    }


def _lower(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, list):
        return [v.lower() if isinstance(v, str) else v for v in value]
    return None


def copies(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The ``soc_wc`` object for a document: lower-cased copies of its wildcard fields
    (empty when it has none)."""
    out: dict[str, Any] = {}
    for path in WILDCARD_FIELDS:
        value = _lower(ecs.get_field(doc, path))
        if value not in (None, [], ""):
            ecs.set_field(out, path, value)
    return out


def rewrite(query: str) -> str:
    """Query text with every wildcard field name pointed at its lower-cased copy."""
    return _FIELD_REF.sub(lambda m: f"{COPY_ROOT}.{m[1]}:", query)
