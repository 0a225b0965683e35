"""MITRE ATT&CK tags of Sigma rules: tactics in kill-chain order and technique ids.

Sigma rules tag tactics as ``attack.<tactic>`` (``attack.credential-access`` or the older
``attack.credential_access``) and techniques as ``attack.t1110`` / ``attack.t1110.001``.
Tactic names shown to readers come from the message catalogue (``tactic.<name>``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

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

#: Tactic used for a technique when its rule names no tactic.
UNKNOWN_TACTIC = "unknown"

_TECHNIQUE = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$", re.IGNORECASE)


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
            technique = match.group(1).upper()
            if technique not in found:
                found.append(technique)
    return found


def tactic_order(tactic: str) -> int:
    """Sort key placing tactics in kill-chain order, unknown ones last."""
    return TACTICS.index(tactic) if tactic in TACTICS else len(TACTICS)
