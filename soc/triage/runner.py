"""Run a playbook on an alert: pivots, stats, enrichment, questions, decisions and actions.

Gathered values become facts (``save_as``); questions' answers are facts too (``answers.ID``).
Every change (status, assignee, verdict, case, notes, recommendations) goes through the
lifecycle and cases modules, so it is audited. What the run looked at is written into the
case's timeline when the playbook opens or attaches a case.

This module runs the steps in order and picks the playbook; the steps themselves are in
soc.triage.steps (search, stats, enrich, question, decide) and soc.triage.actions (action),
and the run's state and result types in soc.triage.run_state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from soc.store.base import QueryError, Store, StoreError
from soc.triage import actions, audit, lifecycle, steps
from soc.triage.conditions import evaluate
from soc.triage.console import Answerer, MappingAnswers, NoAnswer, Output, SilentOutput
from soc.triage.enrich import Enricher
from soc.triage.pivot import PivotError
from soc.triage.playbook import Playbook, PlaybookLibrary, load_library
from soc.triage.run_state import Run, StepOutcome, TriageError, TriageResult
from soc.triage.template import TemplateError


def _alert_header(run: Run) -> None:
    alert = run.alert
    rule = alert.get("rule") or {}
    out = run.output
    out.heading(f"Triage of alert {alert['id']} with playbook {run.playbook.name}")
    out.line(
        ("rule: ", "dim"),
        str(rule.get("title") or rule.get("id") or "-"),
        ("  level: ", "dim"),
        str(rule.get("level") or "-"),
        ("  status: ", "dim"),
        str(alert.get("status") or "new"),
        indent=2,
    )
    out.line(
        ("seen: ", "dim"),
        str(alert.get("first_seen") or "-"),
        " .. ",
        str(alert.get("last_seen") or "-"),
        ("  events: ", "dim"),
        str(alert.get("event_count", 0)),
        indent=2,
    )
    entities = alert.get("entities") or {}
    parts: list[tuple[str, str] | str] = []
    for key in ("source.ip", "user.name", "host.name"):
        values = entities.get(key) or []
        if values:
            if parts:
                parts.append("  ")
            parts.extend([(f"{key}: ", "dim"), ", ".join(str(v) for v in values)])
    if parts:
        out.line(*parts, indent=2)
    if alert.get("department"):
        out.line(("department: ", "dim"), str(alert["department"]), indent=2)


_STEPS = {
    "search": steps.step_search,
    "stats": steps.step_stats,
    "enrich": steps.step_enrich,
    "question": steps.step_question,
    "decide": steps.step_decide,
    "action": actions.step_action,
}


def _first_event(store: Store, alert: Mapping[str, Any]) -> dict[str, Any]:
    ids = alert.get("event_ids") or []
    if not ids:
        return {}
    try:
        return store.get_event(str(ids[0])) or {}
    except StoreError:
        return {}


def check_answers(playbook: Playbook, answers: Mapping[str, Any], source: str) -> None:
    """Refuse an answers file naming questions the playbook does not ask, or lacking an
    answer (and a default) to a question asked unconditionally; TriageError names it."""
    asked = {s.id: s for s in playbook.steps if s.type == "question"}
    unknown = [k for k in answers if k not in asked]
    if unknown:
        raise TriageError(
            f"{source}: unknown question {unknown[0]!r} (playbook {playbook.name} asks: "
            f"{', '.join(asked) or 'nothing'})"
        )
    for step_id, step in asked.items():
        if step.when is None and step_id not in answers and step.spec.get("default") is None:
            raise TriageError(
                f"{source}: no answer to question {step_id!r} of playbook {playbook.name} "
                "and it has no default"
            )


def run_playbook(
    store: Store,
    alert_id: str,
    playbook: Playbook,
    *,
    analyst: str,
    answerer: Answerer,
    enricher: Enricher | None = None,
    output: Output | None = None,
) -> TriageResult:
    """Run ``playbook`` on an alert and return what it found and changed. A step that cannot
    run (its pivot does not compile, a value it needs is absent, the store rejects a query)
    is reported and the run goes on; a question without an answer stops the run with
    TriageError (changes made so far stay, audited)."""
    alert = lifecycle.alert_view(store, lifecycle.get_alert(store, alert_id))
    result = TriageResult(
        alert_id=alert["id"],
        playbook=playbook.name,
        analyst=analyst,
        status=alert.get("status"),
        assignee=alert.get("assignee"),
        case_id=None,
    )
    context: dict[str, Any] = {
        "alert": alert,
        "event": _first_event(store, alert),
        "facts": result.facts,
        "answers": result.answers,
        "analyst": analyst,
        "verdict": None,
        "severity": None,
        "case": {},
    }
    run = Run(
        store,
        playbook,
        alert,
        analyst,
        answerer,
        enricher or Enricher(),
        output or SilentOutput(),
        result,
        context,
    )
    _alert_header(run)
    run.note_timeline(
        "status",
        f"triage with playbook {playbook.name} started",
        {"playbook": playbook.name, "alert_id": alert["id"]},
    )
    try:
        for number, step in enumerate(playbook.steps, 1):
            run.step = step
            title = step.title or step.id
            if step.when is not None and not evaluate(step.when, result.facts, context):
                result.steps.append(
                    StepOutcome(step.id, step.type, step.title, "skipped", "condition not met")
                )
                continue
            run.output.heading(f"[{number}/{len(playbook.steps)}] {title}")
            try:
                outcome = _STEPS[step.type](run, step)
            except TemplateError as exc:
                outcome = StepOutcome(step.id, step.type, step.title, "skipped", str(exc))
                run.output.line(f"skipped: {exc}", indent=2)
            except (PivotError, QueryError) as exc:
                outcome = StepOutcome(step.id, step.type, step.title, "failed", str(exc))
                run.output.line(("failed: ", "red"), str(exc), indent=2)
            except NoAnswer as exc:
                raise TriageError(str(exc)) from None
            result.steps.append(outcome)
    finally:
        run.flush_timeline()
        audit.record(
            store,
            analyst=analyst,
            action="alert.triage",
            object_kind="alerts",
            object_id=alert["id"],
            before=None,
            after={
                "verdict": result.verdict,
                "severity": result.severity,
                "case_id": result.case_id,
            },
            detail={
                "playbook": playbook.name,
                "answers": dict(result.answers),
                "steps": [{"id": s.id, "status": s.status} for s in result.steps],
            },
        )
    run.refresh_alert()
    result.case_id = run.alert.get("case_id") or result.case_id
    run.output.heading("Outcome")
    run.output.line(
        ("verdict: ", "dim"),
        str(result.verdict or "-"),
        ("  severity: ", "dim"),
        str(result.severity or "-"),
        ("  status: ", "dim"),
        str(result.status or "-"),
        ("  assignee: ", "dim"),
        str(result.assignee or "-"),
        ("  case: ", "dim"),
        str(result.case_id or "-"),
        indent=2,
    )
    for rec in result.recommendations:
        run.output.line(("recommendation (not executed): ", "yellow"), rec["text"], indent=2)
    return result


def default_library(extra: Sequence[Path] = ()) -> PlaybookLibrary:
    """The shipped playbooks plus any folders given (later ones override by name)."""
    from soc.resources import playbooks_dir

    return load_library([playbooks_dir(), *extra])


def pick_playbook(library: PlaybookLibrary, alert: Mapping[str, Any], name: str | None) -> Playbook:
    """The playbook named, or the best match for the alert; TriageError if none."""
    if name:
        chosen = library.get(name)
        if chosen is None:
            known = ", ".join(sorted(library.playbooks)) or "none loaded"
            raise TriageError(f"no playbook named {name!r} (known: {known})")
        return chosen
    chosen = library.choose(alert)
    if chosen is None:
        raise TriageError(
            f"no playbook applies to alert {alert.get('id')} (and no generic playbook is loaded)"
        )
    return chosen


_LEVEL_RANK = {"informational": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


def top_alert(store: Store, *, status: str | None = "new") -> dict[str, Any] | None:
    """The alert to look at first: highest level, then most events, then earliest seen
    (only alerts with ``status``, all when None); None when there is none."""
    filters = {"status": status} if status else None
    alerts = store.list_records("alerts", filters=filters)
    if not alerts:
        return None

    def rank(alert: Mapping[str, Any]) -> tuple[int, int, str, str]:
        rule = lifecycle.rule_of(alert)
        first = str(alert.get("first_seen") or "")
        return (
            -_LEVEL_RANK.get(str(rule.get("level")), 0),
            -lifecycle.event_count_of(alert),
            first,
            str(alert.get("id")),
        )

    return min(alerts, key=rank)


def triage_unattended(
    store: Store,
    alert_id: str,
    answers: Mapping[str, Any],
    analyst: str,
    *,
    playbook: str | None = None,
    playbook_dirs: Sequence[Path] = (),
    enricher: Enricher | None = None,
    output: Output | None = None,
) -> TriageResult:
    """Triage an alert without a person: the best-matching (or named) playbook, answers from
    ``answers`` (question id -> answer; missing ones take their defaults). For `soc demo`."""
    library = default_library(playbook_dirs)
    alert = lifecycle.get_alert(store, alert_id)
    chosen = pick_playbook(library, alert, playbook)
    check_answers(chosen, answers, "answers")
    return run_playbook(
        store,
        alert["id"],
        chosen,
        analyst=analyst,
        answerer=MappingAnswers(answers, "answers"),
        enricher=enricher,
        output=output,
    )
