"""The test events of the rule pack, shared by the tests that run the whole pack."""

from __future__ import annotations

from typing import Any

from soc.detect.loader import load_rules
from soc.detect.testing import cases_of
from soc.resources import rules_dir


def pack_events() -> list[dict[str, Any]]:
    """Every test event of the rule pack (positive and negative), unscoped."""
    events: list[dict[str, Any]] = []
    for loaded in load_rules([rules_dir()]).rules:
        for case in cases_of(loaded):
            for event in case.events:
                event.get("labels", {}).pop("ruletest", None)
                if not event.get("labels"):
                    event.pop("labels", None)
                events.append(event)
    return events
