"""ATT&CK coverage of loaded rules as an ATT&CK Navigator layer (layer format 4.5)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from soc.detect.loader import LoadedRule

#: The ATT&CK release whose ids the rules use (v18 introduced T1685/T1686, stealth and
#: defense-impairment, which the city pack and SigmaHQ use).
ATTACK_VERSION = "18"

_TECHNIQUE = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$", re.IGNORECASE)


def techniques_of(loaded: LoadedRule) -> list[str]:
    """The ATT&CK technique ids (``T1059.001``) named by a rule's ``attack.tNNNN`` tags."""
    found: list[str] = []
    for tag in loaded.tags:
        match = _TECHNIQUE.match(tag.strip())
        if match:
            technique = match.group(1).upper()
            if technique not in found:
                found.append(technique)
    return found


def navigator_layer(
    rules: Sequence[LoadedRule], *, name: str = "citysoc detection coverage"
) -> dict[str, Any]:
    """A Navigator layer: one entry per technique, score = number of rules covering it,
    comment = their titles."""
    by_technique: dict[str, list[str]] = defaultdict(list)
    for loaded in rules:
        if loaded.errors:
            continue
        for technique in techniques_of(loaded):
            by_technique[technique].append(loaded.title)
    top = max((len(v) for v in by_technique.values()), default=1)
    techniques = [
        {
            "techniqueID": technique,
            "score": len(titles),
            "comment": "; ".join(sorted(titles))[:2000],
            "enabled": True,
        }
        for technique, titles in sorted(by_technique.items())
    ]
    return {
        "name": name,
        "versions": {"attack": ATTACK_VERSION, "navigator": "4.9.5", "layer": "4.5"},
        "domain": "enterprise-attack",
        "description": f"{len(rules)} Sigma rules; score = rules per technique",
        "sorting": 3,
        "techniques": techniques,
        "gradient": {"colors": ["#ffe766", "#ff6666"], "minValue": 0, "maxValue": max(top, 1)},
        "legendItems": [],
        "showTacticRowBackground": False,
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
    }
