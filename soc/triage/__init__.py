"""Triage: YAML playbooks run against alerts (pivots, enrichment, questions, decisions,
actions), the alert lifecycle, cases and the audit trail.

``triage_unattended(store, alert_id, answers, analyst)`` is the entry point for callers that
run a playbook without a person (``soc demo``: ``top_alert(store)`` picks the alert,
``demo_enricher()`` gives the demo inventory and IOC lists).
"""

from __future__ import annotations

from soc.triage.enrich import demo_enricher
from soc.triage.runner import TriageError, TriageResult, top_alert, triage_unattended

__all__ = ["TriageError", "TriageResult", "demo_enricher", "top_alert", "triage_unattended"]
