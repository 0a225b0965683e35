"""Sigma log sources onto citysoc's ECS events, and Sigma field names onto ECS paths.

A Sigma rule names a log source (product / category / service) and uses the field names of
that source (``Image``, ``c-uri``, ``query``...). Our collectors store ECS documents, so each
log source is mapped onto one or more *variants*: the event conditions that select its events
(always an ``event.dataset`` condition, plus channel and event ids for Windows) and the field
renames that apply to those events. A rule is converted once per variant of its log source
and the queries are OR-ed (see soc.detect.compile), so Windows ``process_creation`` matches
Sysmon event 1 *and* Security 4688 (with 4688's own field names).

Field names that already look like ECS paths (they contain a dot, or are ``@timestamp``)
pass through unchanged, so the city rule pack writes ECS names directly. Unbound keywords
(``keywords:`` lists) are matched against KEYWORD_FIELDS.

The tables (channels, event ids, datasets, field names per source) are in
soc.detect.logsource_tables. Plain data and functions, without pySigma: a run whose rules
all come from the caches reads its log sources here without importing pySigma
(soc.detect.pipelines turns a variant into a pySigma processing pipeline when a rule is
converted).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from soc.detect.logsource_tables import (
    ANY_PRODUCT,
    CISCO_SERVICES,
    DNS_DATASETS,
    DNS_FIELDS,
    FIREWALL_DATASETS,
    LINUX_AUTH_FIELDS,
    LINUX_PROCESS_FIELDS,
    LINUX_SERVICES,
    NETWORK_FIELDS,
    PLAIN_SERVICES,
    SECURITY,
    SECURITY_4688_FIELDS,
    SPACED_SERVICES,
    SYSMON,
    SYSMON_CATEGORIES,
    UNNAMED_DATA_PATHS,
    WEB_ACCESS,
    WEB_FIELDS,
    WINDOWS_DATASET,
    WINDOWS_EVENT_DATA,
    WINDOWS_OTHER_CATEGORIES,
    WINDOWS_SERVICES,
    WINDOWS_SYSTEM_FIELDS,
    ZEEK_FIELDS,
    ZEEK_SERVICES,
)
from soc.ecs import field_type


class LogSourceFields(Protocol):
    """What a Sigma log source names (pySigma's SigmaLogSource has these)."""

    @property
    def product(self) -> str | None: ...

    @property
    def category(self) -> str | None: ...

    @property
    def service(self) -> str | None: ...


@dataclass(frozen=True)
class LogSource:
    """A log source given by its names (as in a rule's ``logsource`` mapping)."""

    category: str | None = None
    product: str | None = None
    service: str | None = None


#: The fields every unbound keyword is matched against (contains, either field): the raw
#: line and the parsed message.
KEYWORD_FIELDS = ["event.original", "message"]


def keyword_fields(target: str) -> list[str]:
    """The fields keywords search for a backend target: for Lucene only those the
    Elasticsearch store indexes (soc.ecs.FIELD_TYPES marks event.original "unindexed", and a
    query naming an unindexed field is an error there)."""
    if target != "lucene":
        return list(KEYWORD_FIELDS)
    return [f for f in KEYWORD_FIELDS if field_type(f) != "unindexed"]


@dataclass(frozen=True)
class Variant:
    """One way a log source appears in our store: the conditions that select its events
    (ECS path -> value or tuple of alternatives) and the Sigma-name -> ECS-path renames."""

    name: str
    conditions: tuple[tuple[str, Any], ...]
    fields: tuple[tuple[str, str], ...] = ()
    windows: bool = False
    #: Windows logs whose EventData names contain spaces ("Threat Name") where Sigma writes
    #: them without (ThreatName): match either spelling.
    spaced_names: bool = False

    def condition_dict(self) -> dict[str, Any]:
        """The conditions as AddConditionTransformation takes them (alternatives as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.conditions}

    def field_map(self) -> dict[str, str]:
        """The Sigma-name -> ECS-path renames of this variant."""
        return dict(self.fields)

    def resolve(self, sigma_field: str) -> str:
        """The ECS path this variant stores a Sigma field under."""
        return resolve_field(sigma_field, self)


@dataclass(frozen=True)
class LogsourceMapping:
    """The variants of one Sigma log source, or why it has none we know of."""

    variants: tuple[Variant, ...]
    known: bool = True
    note: str = ""


def _cond(**pairs: Any) -> tuple[tuple[str, Any], ...]:
    return tuple((k.replace("__", "."), v) for k, v in pairs.items())


def _conditions(pairs: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(
        (k, tuple(v) if isinstance(v, list | tuple) and len(v) > 1 else _single(v))
        for k, v in pairs.items()
    )


def _single(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return value[0]
    return value


def _windows_variant(name: str, channels: Sequence[str], ids: Sequence[int] | None) -> Variant:
    pairs: dict[str, Any] = {"event.dataset": WINDOWS_DATASET}
    if channels:
        pairs["winlog.channel"] = list(channels)
    if ids:
        pairs["winlog.event_id"] = list(ids)
    return Variant(name=name, conditions=_conditions(pairs), windows=True)


def logsource_mapping(logsource: LogSourceFields) -> LogsourceMapping:
    """The variants for a Sigma log source; an unknown source gets no condition but its own
    (known=False), so the rule still converts and the caller can report the gap."""
    product = (logsource.product or "").lower()
    category = (logsource.category or "").lower()
    service = (logsource.service or "").lower()

    if product == "windows":
        return _windows_mapping(category, service)
    if product == "zeek" or (not product and service in ZEEK_SERVICES and not category):
        datasets = ZEEK_SERVICES.get(service)
        if datasets is None:
            return LogsourceMapping(
                (_generic("zeek", ZEEK_FIELDS),),
                known=False,
                note=f"log source not collected by citysoc: zeek {service}",
            )
        return LogsourceMapping(
            (Variant(f"zeek/{service}", _conditions({"event.dataset": datasets}), _f(ZEEK_FIELDS)),)
        )
    if not product and not category and service in PLAIN_SERVICES:
        return LogsourceMapping(
            (Variant(service, _conditions({"event.dataset": PLAIN_SERVICES[service]}), ()),)
        )
    if product == "cisco" and service in CISCO_SERVICES:
        return LogsourceMapping(
            (Variant(f"cisco/{service}", _conditions({"event.dataset": "cisco.ios"}), ()),)
        )
    if product in {"fortigate", "fortios"}:
        return LogsourceMapping(
            (Variant("fortigate", _conditions({"event.dataset": "fortinet.firewall"}), ()),)
        )
    if category in {"webserver", "proxy"}:
        # the sensor's HTTP records are web requests too (scanners seen only in captures)
        datasets: tuple[str, ...] = (*WEB_ACCESS, "pcap.http")
        return LogsourceMapping(
            (Variant(category, _conditions({"event.dataset": datasets}), _f(WEB_FIELDS)),)
        )
    if category == "dns":
        return LogsourceMapping(
            (Variant("dns", _conditions({"event.dataset": DNS_DATASETS}), _f(DNS_FIELDS)),)
        )
    if category == "firewall":
        return LogsourceMapping(
            (
                Variant(
                    "firewall",
                    _conditions({"event.dataset": FIREWALL_DATASETS}),
                    _f(NETWORK_FIELDS),
                ),
            )
        )
    if category == "network_connection":
        datasets = ("pcap.flow", *FIREWALL_DATASETS)
        return LogsourceMapping(
            (Variant("network", _conditions({"event.dataset": datasets}), _f(NETWORK_FIELDS)),)
        )
    if product == "linux":
        if category == "process_creation":
            return LogsourceMapping(
                (
                    Variant(
                        "linux/process_creation",
                        _conditions({"event.dataset": "auditd.log"}),
                        _f(LINUX_PROCESS_FIELDS),
                    ),
                )
            )
        if service in LINUX_SERVICES:
            datasets, programs = LINUX_SERVICES[service]
            pairs: dict[str, Any] = {"event.dataset": list(datasets)}
            if programs:
                pairs["process.name"] = list(programs)
            fields = LINUX_AUTH_FIELDS if service != "auditd" else {}
            return LogsourceMapping((Variant(f"linux/{service}", _conditions(pairs), _f(fields)),))
        if not category and not service:
            datasets = ("system.syslog", "system.auth", "auditd.log")
            return LogsourceMapping(
                (Variant("linux", _conditions({"event.dataset": datasets}), _f(LINUX_AUTH_FIELDS)),)
            )
        return LogsourceMapping(
            (_generic("linux", LINUX_PROCESS_FIELDS),),
            known=False,
            note=f"log source not collected by citysoc: linux {category or service}",
        )
    if (not product and not category and not service) or (product == ANY_PRODUCT and not category):
        return LogsourceMapping((Variant("any", ()),))
    return LogsourceMapping(
        (Variant("unmapped", ()),),
        known=False,
        note=f"log source not collected by citysoc: {_describe(logsource)}",
    )


def _windows_mapping(category: str, service: str) -> LogsourceMapping:
    if category == "process_creation":
        return LogsourceMapping(
            (
                _windows_variant("windows/sysmon/1", [SYSMON], [1]),
                Variant(
                    "windows/security/4688",
                    _conditions(
                        {
                            "event.dataset": WINDOWS_DATASET,
                            "winlog.channel": SECURITY,
                            "winlog.event_id": 4688,
                        }
                    ),
                    _f(SECURITY_4688_FIELDS),
                    windows=True,
                ),
            )
        )
    if category in SYSMON_CATEGORIES:
        ids = SYSMON_CATEGORIES[category]
        return LogsourceMapping((_windows_variant(f"windows/sysmon/{category}", [SYSMON], ids),))
    if category in WINDOWS_OTHER_CATEGORIES:
        channel, ids = WINDOWS_OTHER_CATEGORIES[category]
        return LogsourceMapping((_windows_variant(f"windows/{category}", [channel], ids),))
    if service in WINDOWS_SERVICES:
        variant = _windows_variant(f"windows/{service}", WINDOWS_SERVICES[service], None)
        if service in SPACED_SERVICES:
            variant = replace(variant, spaced_names=True)
        return LogsourceMapping((variant,))
    known = not category and not service
    note = "" if known else f"log source not collected by citysoc: windows {category or service}"
    return LogsourceMapping((_windows_variant("windows", [], None),), known=known, note=note)


def _generic(name: str, fields: Mapping[str, str]) -> Variant:
    return Variant(name, (), _f(fields))


def _f(fields: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(fields.items())


def _describe(logsource: LogSourceFields) -> str:
    parts = [
        f"{k}={v}"
        for k, v in (
            ("product", logsource.product),
            ("category", logsource.category),
            ("service", logsource.service),
        )
        if v
    ]
    return " ".join(parts) or "(none)"


def is_ecs_name(name: str) -> bool:
    """True for field names written as ECS paths (dotted, or @timestamp): they pass through."""
    return "." in name or name.startswith("@") or name == "message"


def resolve_field(sigma_field: str, variant: Variant) -> str:
    """The ECS path under which ``variant`` stores the Sigma field ``sigma_field``."""
    renamed = variant.field_map().get(sigma_field)
    if renamed is not None:
        sigma_field = renamed
        if not variant.windows:
            return sigma_field
    if is_ecs_name(sigma_field):
        return sigma_field
    if variant.windows:
        system = WINDOWS_SYSTEM_FIELDS.get(sigma_field)
        if system is not None:
            return system
        return WINDOWS_EVENT_DATA + sigma_field
    return sigma_field


def resolve_paths(sigma_field: str, variant: Variant) -> list[str]:
    """Every ECS path ``variant`` may store a Sigma field under (primary first)."""
    primary = resolve_field(sigma_field, variant)
    if variant.windows and primary == UNNAMED_DATA_PATHS[0]:
        return list(UNNAMED_DATA_PATHS)
    if variant.spaced_names and primary.startswith(WINDOWS_EVENT_DATA):
        spaced = WINDOWS_EVENT_DATA + spaced_name(primary[len(WINDOWS_EVENT_DATA) :])
        if spaced != primary:
            return [primary, spaced]
    return [primary]


_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z])(?=[A-Z])")


def spaced_name(name: str) -> str:
    """``ThreatName`` -> ``Threat Name``: how Defender and some other providers name their
    EventData fields."""
    return _CAMEL_BOUNDARY.sub(" ", name)


__all__ = [
    "KEYWORD_FIELDS",
    "LogSource",
    "LogSourceFields",
    "LogsourceMapping",
    "Variant",
    "is_ecs_name",
    "keyword_fields",
    "logsource_mapping",
    "resolve_field",
    "resolve_paths",
    "spaced_name",
]
