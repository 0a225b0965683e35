"""Enrichment for triage: the city asset inventory, IOC lists and an optional offline GeoIP
database. Everything is read from local files; nothing is looked up over the network.

- Inventory (CSV with a header row, or YAML: a list of assets or ``{assets: [...]}``): each
  asset has ``host`` (or ``name``), ``ip`` (an address, a CIDR network, or a list of them),
  ``department``, ``owner``, ``criticality`` (low|medium|high|critical) and ``public_facing``.
- IOC lists: plain text (one indicator per line, ``#`` comments) or CSV with a header naming
  ``indicator`` (or ``value``) and optionally ``type`` and ``description``. The list's name is
  its file name without extension. IPs match exactly or inside a listed CIDR, domains match
  themselves and their subdomains, hashes match case-insensitively.
- GeoIP: a MaxMind ``.mmdb`` file the user provides, read with the ``maxminddb`` package.
"""

from __future__ import annotations

import csv
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CRITICALITY_ORDER = ("low", "medium", "high", "critical")
_HASH = re.compile(r"^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$")
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z]{2,63}\.?$", re.I
)
_TRUE = {"1", "true", "yes", "y", "on", "x"}


class EnrichError(ValueError):
    """An enrichment file cannot be read; the message names the file (and line)."""


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None


def classify(value: str) -> str:
    """What an indicator looks like: ip, cidr, hash, domain, or other."""
    text = value.strip()
    if _ip(text) is not None:
        return "ip"
    if "/" in text and _network(text) is not None:
        return "cidr"
    if _HASH.match(text):
        return "hash"
    if _DOMAIN.match(text):
        return "domain"
    return "other"


# --- inventory --------------------------------------------------------------------------


@dataclass
class Asset:
    """One entry of the city asset inventory."""

    host: str
    ips: list[str] = field(default_factory=list)
    department: str | None = None
    owner: str | None = None
    criticality: str | None = None
    public_facing: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "ips": self.ips,
            "department": self.department,
            "owner": self.owner,
            "criticality": self.criticality,
            "public_facing": self.public_facing,
            **self.extra,
        }


@dataclass
class Inventory:
    """Assets by host name (case-insensitive) and by address or network."""

    assets: list[Asset] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def lookup(self, value: str) -> Asset | None:
        """The asset a host name or IP belongs to (exact address before the narrowest
        network), or None."""
        text = str(value).strip()
        address = _ip(text)
        if address is None:
            lowered = text.lower()
            for asset in self.assets:
                if asset.host.lower() == lowered or asset.host.lower().split(".")[0] == lowered:
                    return asset
            return None
        best: tuple[int, Asset] | None = None
        for asset in self.assets:
            for entry in asset.ips:
                network = _network(entry)
                if network is None or address.version != network.version:
                    continue
                if address in network and (best is None or network.prefixlen > best[0]):
                    best = (network.prefixlen, asset)
        return best[1] if best else None


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in _TRUE


def _asset(raw: Mapping[str, Any], where: str) -> Asset:
    data = {str(k).strip().lower(): v for k, v in raw.items()}
    host = data.pop("host", None) or data.pop("name", None) or data.pop("hostname", None)
    ips_raw = data.pop("ip", None) or data.pop("ips", None) or data.pop("network", None)
    if not host and not ips_raw:
        raise EnrichError(f"{where}: an asset needs a host or an ip")
    if isinstance(ips_raw, str):
        ips = [p.strip() for p in re.split(r"[;,\s]+", ips_raw) if p.strip()]
    elif isinstance(ips_raw, list):
        ips = [str(p).strip() for p in ips_raw]
    else:
        ips = []
    for ip in ips:
        if _network(ip) is None:
            raise EnrichError(f"{where}: {ip!r} is not an IP address or network")
    criticality = data.pop("criticality", None)
    if criticality is not None:
        criticality = str(criticality).strip().lower() or None
        if criticality is not None and criticality not in CRITICALITY_ORDER:
            raise EnrichError(
                f"{where}: criticality {criticality!r} is not one of {', '.join(CRITICALITY_ORDER)}"
            )
    department = data.pop("department", None)
    owner = data.pop("owner", None)
    return Asset(
        host=str(host or ips[0]),
        ips=ips,
        department=str(department) if department else None,
        owner=str(owner) if owner else None,
        criticality=criticality,
        public_facing=_bool(data.pop("public_facing", False)),
        extra={k: v for k, v in data.items() if v not in (None, "")},
    )


def load_inventory(paths: Iterable[Path]) -> Inventory:
    """The assets of every inventory file (CSV or YAML); raises EnrichError naming the file
    and line of the first bad entry."""
    inventory = Inventory()
    for path in paths:
        inventory.sources.append(str(path))
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise EnrichError(f"{path}: cannot read the inventory: {exc}") from None
        if path.suffix.lower() in (".yaml", ".yml"):
            inventory.assets.extend(_inventory_yaml(text, path))
        else:
            inventory.assets.extend(_inventory_csv(text, path))
    return inventory


def _inventory_yaml(text: str, path: Path) -> list[Asset]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise EnrichError(f"{path}{line}: malformed YAML in the inventory") from None
    if isinstance(data, Mapping):
        data = data.get("assets")
    if not isinstance(data, list):
        raise EnrichError(f"{path}: expected a list of assets (or assets: [...])")
    assets = []
    for i, item in enumerate(data):
        if not isinstance(item, Mapping):
            raise EnrichError(f"{path}: assets[{i}]: expected a mapping")
        assets.append(_asset(item, f"{path}: assets[{i}]"))
    return assets


def _inventory_csv(text: str, path: Path) -> list[Asset]:
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames:
        raise EnrichError(f"{path}: the inventory has no header row")
    names = {n.strip().lower() for n in reader.fieldnames if n}
    if not names & {"host", "name", "hostname", "ip", "ips", "network"}:
        raise EnrichError(f"{path}:1: the header needs a host or ip column")
    assets = []
    for row in reader:
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        cleaned = {k: (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k}
        assets.append(_asset(cleaned, f"{path}:{reader.line_num}"))
    return assets


# --- IOC lists --------------------------------------------------------------------------


@dataclass(frozen=True)
class Indicator:
    """One indicator of compromise from a named list."""

    value: str
    kind: str
    list_name: str
    description: str = ""


@dataclass
class IocLists:
    """Indicators from one or more lists, indexed for matching."""

    exact: dict[str, list[Indicator]] = field(default_factory=dict)
    networks: list[tuple[Any, Indicator]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def add(self, indicator: Indicator) -> None:
        if indicator.kind == "cidr":
            self.networks.append((_network(indicator.value), indicator))
        else:
            key = indicator.value.strip().lower().rstrip(".")
            self.exact.setdefault(key, []).append(indicator)

    def __len__(self) -> int:
        return sum(len(v) for v in self.exact.values()) + len(self.networks)

    def match(self, value: str) -> list[Indicator]:
        """Every indicator that ``value`` matches (IP in a listed network, domain or a
        parent domain listed, or the same value)."""
        text = str(value).strip().lower().rstrip(".")
        found = list(self.exact.get(text, []))
        address = _ip(text)
        if address is not None:
            for network, indicator in self.networks:
                if (
                    network is not None
                    and address.version == network.version
                    and (address in network)
                ):
                    found.append(indicator)
        elif "." in text:
            labels = text.split(".")
            for i in range(1, len(labels) - 1):
                for indicator in self.exact.get(".".join(labels[i:]), []):
                    if indicator.kind == "domain":
                        found.append(indicator)
        return found


def load_iocs(paths: Iterable[Path]) -> IocLists:
    """Every indicator of the given lists (text or CSV); raises EnrichError on a file that
    cannot be read."""
    lists = IocLists()
    for path in paths:
        lists.sources.append(str(path))
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise EnrichError(f"{path}: cannot read the IOC list: {exc}") from None
        name = path.stem
        if path.suffix.lower() == ".csv":
            _iocs_csv(text, path, name, lists)
        else:
            for line in text.splitlines():
                value, _, comment = line.partition("#")
                value = value.strip()
                if value:
                    lists.add(Indicator(value, classify(value), name, comment.strip()))
    return lists


def _iocs_csv(text: str, path: Path, name: str, lists: IocLists) -> None:
    reader = csv.DictReader(text.splitlines())
    fields = [f.strip().lower() for f in reader.fieldnames or [] if f]
    column = next((c for c in ("indicator", "value", "ioc") if c in fields), None)
    if column is None:
        raise EnrichError(f"{path}:1: the header needs an 'indicator' (or 'value') column")
    for row in reader:
        cleaned = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
        value = cleaned.get(column, "")
        if not value or value.startswith("#"):
            continue
        kind = cleaned.get("type") or classify(value)
        if kind in ("ip-src", "ip-dst", "ipv4", "ipv6", "ip"):
            kind = "cidr" if "/" in value else "ip"
        lists.add(Indicator(value, kind, name, cleaned.get("description", "")))


# --- GeoIP ------------------------------------------------------------------------------


class GeoIP:
    """Country/city/ASN of public IP addresses from a MaxMind database file."""

    def __init__(self, path: Path) -> None:
        try:
            import maxminddb
        except ImportError:
            raise EnrichError(
                f"{path}: GeoIP needs the maxminddb package (pip install maxminddb)"
            ) from None
        try:
            self._reader = maxminddb.open_database(str(path))
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise EnrichError(f"{path}: cannot open the GeoIP database: {reason}") from None
        self.path = path

    def lookup(self, value: str) -> dict[str, Any] | None:
        """Country iso code and name, city and ASN where the database has them."""
        address = _ip(value)
        if address is None or not address.is_global:
            return None
        try:
            record = self._reader.get(str(address))
        except ValueError:  # an IPv6 address in an IPv4-only database
            return None
        if not isinstance(record, Mapping):
            return None
        country = record.get("country") or record.get("registered_country") or {}
        names = country.get("names", {}) if isinstance(country, Mapping) else {}
        city = record.get("city", {}) if isinstance(record.get("city"), Mapping) else {}
        geo = {
            "country_iso_code": country.get("iso_code") if isinstance(country, Mapping) else None,
            "country_name": names.get("en"),
            "city_name": (city.get("names") or {}).get("en"),
            "asn": record.get("autonomous_system_number"),
            "as_org": record.get("autonomous_system_organization"),
        }
        return {k: v for k, v in geo.items() if v is not None} or None

    def close(self) -> None:
        self._reader.close()


# --- the enricher -----------------------------------------------------------------------


@dataclass
class Enricher:
    """The enrichment sources of one triage run (any may be absent)."""

    inventory: Inventory | None = None
    iocs: IocLists | None = None
    geoip: GeoIP | None = None

    @classmethod
    def from_files(
        cls,
        inventory: Sequence[Path] = (),
        iocs: Sequence[Path] = (),
        geoip: Path | None = None,
    ) -> Enricher:
        """Load the given files; raises EnrichError naming a file that cannot be used."""
        return cls(
            inventory=load_inventory(inventory) if inventory else None,
            iocs=load_iocs(iocs) if iocs else None,
            geoip=GeoIP(geoip) if geoip else None,
        )

    def enrich(self, values: Sequence[Any], sources: Sequence[str]) -> dict[str, Any]:
        """Per value: its asset, IOC matches and location; plus a summary that decisions
        can test (ioc_match, departments, criticality, public_facing, internal...)."""
        details: list[dict[str, Any]] = []
        for raw in values:
            value = str(raw)
            item: dict[str, Any] = {"value": value, "kind": classify(value)}
            address = _ip(value)
            if address is not None:
                item["internal"] = address.is_private or address.is_loopback
            if "inventory" in sources and self.inventory is not None:
                asset = self.inventory.lookup(value)
                item["asset"] = asset.as_dict() if asset else None
            if "ioc" in sources and self.iocs is not None:
                item["ioc"] = [
                    {"list": i.list_name, "indicator": i.value, "description": i.description}
                    for i in self.iocs.match(value)
                ]
            if "geoip" in sources and self.geoip is not None:
                item["geo"] = self.geoip.lookup(value)
            details.append(item)
        return summarise(details, sources, self)


def summarise(
    details: list[dict[str, Any]], sources: Sequence[str], enricher: Enricher
) -> dict[str, Any]:
    """The facts a playbook tests after an enrich step."""
    assets = [d["asset"] for d in details if d.get("asset")]
    iocs = [m for d in details for m in d.get("ioc") or []]
    crit = [a["criticality"] for a in assets if a.get("criticality") in CRITICALITY_ORDER]
    geos = [d["geo"] for d in details if d.get("geo")]
    return {
        "values": details,
        "ioc_match": bool(iocs),
        "ioc_lists": sorted({m["list"] for m in iocs}),
        "known_asset": bool(assets),
        "assets": sorted({a["host"] for a in assets}),
        "departments": sorted({a["department"] for a in assets if a.get("department")}),
        "owners": sorted({a["owner"] for a in assets if a.get("owner")}),
        "criticality": max(crit, key=CRITICALITY_ORDER.index) if crit else None,
        "public_facing": any(a.get("public_facing") for a in assets),
        "internal": bool(details) and all(d.get("internal") for d in details),
        "countries": sorted({g["country_iso_code"] for g in geos if g.get("country_iso_code")}),
        "available": [
            s
            for s in sources
            if getattr(enricher, {"inventory": "inventory", "ioc": "iocs", "geoip": "geoip"}[s])
            is not None
        ],
    }


def demo_enricher() -> Enricher:
    """The inventory and IOC lists bundled with the demo sample (soc/demo_data/)."""
    from soc.resources import demo_data_dir

    demo = demo_data_dir()
    return Enricher.from_files(
        [demo / "inventory.yaml"], [demo / "ioc-ips.txt", demo / "ioc-domains.csv"]
    )
