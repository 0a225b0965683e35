"""Triage: YAML playbooks run against alerts (pivots, enrichment, questions, decisions,
actions), the alert lifecycle, cases and the audit trail.

``triage_unattended(store, alert_id, answers, analyst)`` is the entry point for callers that
run a playbook without a person (``soc demo``).
"""

from __future__ import annotations

from soc.triage.runner import TriageError, TriageResult, triage_unattended

__all__ = ["TriageError", "TriageResult", "triage_unattended"]
