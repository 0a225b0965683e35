"""Choosing the playbook that fits an alert: the library of loaded playbooks and the score
of how well a playbook's ``applies_to`` matches an alert's rule id, tags and level."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from soc.triage.playbook_types import AppliesTo, Playbook


@dataclass
class PlaybookLibrary:
    """Every playbook found in some folders, with the problems of those that did not load."""

    playbooks: dict[str, Playbook] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def get(self, name: str) -> Playbook | None:
        """The playbook of that name, or None when none has it."""
        return self.playbooks.get(name)

    def choose(self, alert: Mapping[str, Any]) -> Playbook | None:
        """The most specific playbook for an alert: a rule-id match beats tag matches; more
        of the rule's tags matched exactly beats fewer, then more matched by prefix
        (attack.t1110 fits attack.t1110.001), then the match on the rule's earlier (primary)
        tag, then a level match; a generic playbook (empty applies_to) is the fallback.
        Remaining ties go to the first name in alphabetical order."""
        best: tuple[tuple[int, ...], str] | None = None
        chosen: Playbook | None = None
        for name, playbook in sorted(self.playbooks.items()):
            score = match_score(playbook.applies_to, alert)
            if score is None:
                continue
            if best is None or (score, _neg(name)) > best:
                best = (score, _neg(name))
                chosen = playbook
        return chosen


def _neg(name: str) -> str:
    # sort key that prefers alphabetically first names among equals
    return "".join(chr(0x10FFFF - ord(c)) for c in name)


def match_score(applies: AppliesTo, alert: Mapping[str, Any]) -> tuple[int, ...] | None:
    """How well ``applies`` fits an alert (higher is better), or None when it does not."""
    from soc.triage.lifecycle import rule_of

    rule = rule_of(alert)
    rule_id = str(rule.get("id") or "")
    rule_tags = [str(t).lower() for t in rule.get("tags") or []]
    level = str(rule.get("level") or "").lower()
    if applies.generic:
        return (0, 0, 0, -(10**6), 0)
    by_rule = 1 if rule_id and rule_id in applies.rules else 0
    exact = [i for i, rt in enumerate(rule_tags) if rt in applies.tags]
    prefix = [
        i
        for i, rt in enumerate(rule_tags)
        if rt not in applies.tags and any(rt.startswith(t + ".") for t in applies.tags)
    ]
    by_level = 1 if level in applies.levels else 0
    if applies.levels and not by_level:
        # levels are a filter: a playbook for high alerts never takes a low one
        return None
    if (applies.rules or applies.tags) and not (by_rule or exact or prefix):
        return None
    # more of the rule's tags matched beats fewer; then the rule's earlier (primary) tag
    first = min(exact + prefix, default=10**5)
    return (by_rule, len(exact), len(prefix), -first, by_level)
