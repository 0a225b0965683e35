"""The state a triage run carries from step to step (Run), what each step did (StepOutcome),
the run's result (TriageResult) and its error (TriageError).

Kept apart from the runner so that the step and action modules can share these types
without importing the runner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from soc.store.base import Store
from soc.triage import cases, lifecycle
from soc.triage.console import Answerer, Output
from soc.triage.enrich import Enricher
from soc.triage.playbook import Playbook, Step


class TriageError(Exception):
    """A triage run cannot start or continue (one line for a person)."""


@dataclass
class StepOutcome:
    """What one step did: done, skipped (its condition was false or a value was absent) or
    failed (with the reason)."""

    id: str
    type: str
    title: str
    status: str
    summary: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class TriageResult:
    """The outcome of a triage run."""

    alert_id: str
    playbook: str
    analyst: str
    verdict: str | None = None
    severity: str | None = None
    status: str | None = None
    assignee: str | None = None
    case_id: str | None = None
    answers: dict[str, str] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    steps: list[StepOutcome] = field(default_factory=list)
    recommendations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed_steps(self) -> list[StepOutcome]:
        """The steps that failed."""
        return [s for s in self.steps if s.status == "failed"]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the result."""
        return asdict(self)


@dataclass
class Run:
    """The state of one playbook run: the alert, the facts gathered, the timeline entries
    waiting for a case and the step running."""

    store: Store
    playbook: Playbook
    alert: dict[str, Any]
    analyst: str
    answerer: Answerer
    enricher: Enricher
    output: Output
    result: TriageResult
    context: dict[str, Any]
    pending: list[dict[str, Any]] = field(default_factory=list)
    departments: set[str] = field(default_factory=set)
    assets: set[str] = field(default_factory=set)
    step: Step | None = None  # the step running

    # --- helpers ----------------------------------------------------------------------
    @property
    def facts(self) -> dict[str, Any]:
        """The facts gathered so far (the result's)."""
        return self.result.facts

    def refresh_alert(self) -> None:
        """Read the alert again after a change, into the context and the result."""
        self.alert = lifecycle.alert_view(
            self.store, lifecycle.get_alert(self.store, self.alert["id"])
        )
        self.context["alert"] = self.alert
        self.result.status = self.alert.get("status")
        self.result.assignee = self.alert.get("assignee")

    def note_timeline(
        self, kind: str, summary: str, detail: Mapping[str, Any] | None = None
    ) -> None:
        """Keep a timeline entry for the case (written by flush_timeline)."""
        # a step's title in each language it is written in, for reports in that language
        step = self.step
        if (
            detail is not None
            and step is not None
            and step.titles
            and detail.get("step", detail.get("question")) == step.id
        ):
            detail = {**detail, "titles": dict(step.titles)}
        self.pending.append(cases.timeline_entry(kind, summary, by=self.analyst, detail=detail))

    def flush_timeline(self) -> None:
        """Write the pending timeline entries into the run's case, if it has one."""
        if self.result.case_id and self.pending:
            cases.add_timeline(self.store, self.result.case_id, self.pending, analyst=self.analyst)
            self.pending = []
