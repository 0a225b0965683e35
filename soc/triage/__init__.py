"""Triage: YAML playbooks run against alerts (pivots, enrichment, questions, decisions,
actions), the alert lifecycle, cases and the audit trail.

``triage_unattended(store, alert_id, answers, analyst)`` is the entry point for callers that
run a playbook without a person (``soc demo``: ``top_alert(store)`` picks the alert,
``demo_enricher()`` gives the demo inventory and IOC lists). Names are imported on first use,
so importing one submodule (soc.triage.audit) stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "TriageError": "soc.triage.runner",
    "TriageResult": "soc.triage.runner",
    "top_alert": "soc.triage.runner",
    "triage_unattended": "soc.triage.runner",
    "demo_enricher": "soc.triage.enrich",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'soc.triage' has no attribute {name!r}")
