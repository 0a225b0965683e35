"""Run a playbook on an alert: pivots, stats, enrichment, questions, decisions and actions.

Gathered values become facts (``save_as``); questions' answers are facts too (``answers.ID``).
Every change (status, assignee, verdict, case, notes, recommendations) goes through the
lifecycle and cases modules, so it is audited. What the run looked at is written into the
case's timeline when the playbook opens or attaches a case.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from soc.store.base import QueryError, Store, StoreError
from soc.timespec import parse_duration
from soc.triage import audit, cases, lifecycle
from soc.triage.actions import step_action
from soc.triage.conditions import evaluate
from soc.triage.console import (
    Answerer,
    MappingAnswers,
    NoAnswer,
    Output,
    Question,
    SilentOutput,
    field_line,
)
from soc.triage.enrich import Enricher
from soc.triage.pivot import (
    DEFAULT_AFTER,
    DEFAULT_BEFORE,
    PivotError,
    alert_window,
    compile_pivot,
    run_search,
    run_stats,
)
from soc.triage.playbook import (
    Playbook,
    PlaybookLibrary,
    Step,
    english,
    load_library,
    texts_of,
)
from soc.triage.run_state import Run, StepOutcome, TriageError, TriageResult
from soc.triage.template import TemplateError, render, render_detection, render_text


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


def _window(run: Run, step: Step) -> Any:
    spec = step.spec.get("window") or {}
    before = parse_duration(spec["before"]) if "before" in spec else DEFAULT_BEFORE
    after = parse_duration(spec["after"]) if "after" in spec else DEFAULT_AFTER
    return alert_window(run.alert, before, after)


def _query(run: Run, step: Step) -> str:
    detection = render_detection(step.spec["detection"], run.context)
    logsource = step.spec.get("logsource") or run.playbook.logsource or {}
    return compile_pivot(detection, logsource, run.store.kind)


def _step_search(run: Run, step: Step) -> StepOutcome:
    query = _query(run, step)
    window = _window(run, step)
    fields = [str(f) for f in step.spec.get("fields") or []]
    limit = int(step.spec.get("limit", 20))
    found = run_search(run.store, query, window, fields, limit)
    shown = len(found.rows)
    run.output.line(
        f"{found.count} events from {window.as_dict()['start']} to "
        f"{window.as_dict()['end']}" + (f", first {shown}:" if shown else ""),
        indent=2,
    )
    for row in found.rows:
        run.output.line(*field_line(row, fields), indent=4)
    fact = found.fact()
    if step.spec.get("save_as"):
        run.facts[step.spec["save_as"]] = fact
    summary = f"{found.count} events"
    run.note_timeline(
        "pivot",
        f"{step.title or step.id}: {summary}",
        {
            "step": step.id,
            "query": query,
            "window": window.as_dict(),
            "count": found.count,
            "event_ids": found.ids,
        },
    )
    return StepOutcome(
        step.id, step.type, step.title, "done", summary, {"query": query, "count": found.count}
    )


def _step_stats(run: Run, step: Step) -> StepOutcome:
    query = _query(run, step)
    window = _window(run, step)
    by_raw = step.spec["by"]
    by = [by_raw] if isinstance(by_raw, str) else [str(b) for b in by_raw]
    top = int(step.spec.get("top", 10))
    found = run_stats(run.store, query, window, by, top)
    more = "+" if found.capped else ""
    run.output.line(
        f"{found.count} events, {found.distinct}{more} distinct {' + '.join(by)}", indent=2
    )
    for row in found.top:
        value = row["value"]
        shown = " | ".join(str(v) for v in value) if isinstance(value, list) else str(value)
        run.output.line((f"{row['count']:>6}  ", "cyan"), shown, indent=4)
    if step.spec.get("save_as"):
        run.facts[step.spec["save_as"]] = found.fact()
    summary = f"{found.count} events, {found.distinct}{more} distinct {'+'.join(by)}"
    run.note_timeline(
        "stats",
        f"{step.title or step.id}: {summary}",
        {
            "step": step.id,
            "query": query,
            "window": window.as_dict(),
            "by": by,
            "top": found.top,
            "distinct": found.distinct,
        },
    )
    return StepOutcome(
        step.id,
        step.type,
        step.title,
        "done",
        summary,
        {"query": query, "count": found.count, "distinct": found.distinct},
    )


def _step_enrich(run: Run, step: Step) -> StepOutcome:
    values = render(step.spec["values"], run.context)
    if not isinstance(values, list):
        values = [values]
    values = [v for v in values if v not in (None, "")]
    sources = [str(s) for s in step.spec.get("sources") or ("inventory", "ioc", "geoip")]
    fact = run.enricher.enrich(values, sources)
    if not fact["available"]:
        run.output.line(
            f"no {'/'.join(sources)} data configured (see --inventory, --ioc, --geoip)", indent=2
        )
    for item in fact["values"]:
        parts: list[tuple[str, str] | str] = [(str(item["value"]), "bold")]
        asset = item.get("asset")
        if asset:
            parts.append(f"  asset {asset['host']}")
            for key in ("department", "owner", "criticality"):
                if asset.get(key):
                    parts.append(f", {key} {asset[key]}")
            if asset.get("public_facing"):
                parts.append(", public-facing")
        elif "asset" in item:
            parts.append("  not in the inventory")
        if item.get("internal"):
            parts.append("  (internal address)")
        for match in item.get("ioc") or []:
            parts.append(("  IOC: ", "bold red"))
            parts.append(f"{match['list']} ({match['indicator']})")
        if item.get("geo"):
            geo = item["geo"]
            parts.append(
                f"  {geo.get('country_iso_code', '')} {geo.get('city_name', '')}"
                f" {geo.get('as_org', '')}".rstrip()
            )
        run.output.line(*parts, indent=2)
    run.departments.update(fact["departments"])
    run.assets.update(fact["assets"])
    if step.spec.get("save_as"):
        run.facts[step.spec["save_as"]] = fact
    summary = (
        f"{len(values)} values; IOC match: {'yes' if fact['ioc_match'] else 'no'}; "
        f"assets: {', '.join(fact['assets']) or 'none'}"
    )
    run.note_timeline(
        "enrich",
        f"{step.title or step.id}: {summary}",
        {
            "step": step.id,
            "values": values,
            "ioc_lists": fact["ioc_lists"],
            "departments": fact["departments"],
            "assets": fact["assets"],
            "countries": fact["countries"],
        },
    )
    return StepOutcome(step.id, step.type, step.title, "done", summary)


def question_of(step: Step, context: Mapping[str, Any]) -> Question:
    """The Question a question step asks (its prompt rendered with the alert's values)."""
    default = step.spec.get("default")
    return Question(
        id=step.id,
        prompt=render_text(english(step.spec["prompt"]), context),
        choices=tuple(str(c) for c in step.spec.get("choices") or ()),
        default=str(default) if default is not None else None,
    )


def _step_question(run: Run, step: Step) -> StepOutcome:
    question = question_of(step, run.context)
    answer = run.answerer.answer(question)
    run.result.answers[step.id] = answer
    if step.spec.get("save_as"):
        run.facts[step.spec["save_as"]] = answer
    run.output.line(("answer: ", "dim"), answer, indent=2)
    prompts = {
        lang: render_text(text, run.context)
        for lang, text in (texts_of(step.spec.get("prompt")) or {}).items()
    }
    run.note_timeline(
        "answer",
        f"{question.prompt} -> {answer}",
        {"question": step.id, "answer": answer, "prompts": prompts},
    )
    return StepOutcome(step.id, step.type, step.title, "done", answer)


def _step_decide(run: Run, step: Step) -> StepOutcome:
    chosen: Mapping[str, Any] | None = None
    which = "default"
    for i, rule in enumerate(step.spec["rules"]):
        if evaluate(rule["when"], run.facts, run.context):
            chosen, which = rule, f"rule {i + 1}"
            break
    if chosen is None:
        chosen = step.spec.get("default")
    if not chosen:
        run.output.line("no decision rule matched and there is no default", indent=2)
        return StepOutcome(step.id, step.type, step.title, "done", "no decision")
    verdict = chosen.get("verdict")
    severity = chosen.get("severity")
    if verdict:
        run.result.verdict = verdict
        run.context["verdict"] = verdict
    if severity:
        run.result.severity = severity
        run.context["severity"] = severity
    lifecycle.set_verdict(
        run.store,
        run.alert["id"],
        run.result.verdict,
        analyst=run.analyst,
        severity=run.result.severity,
    )
    run.refresh_alert()
    if run.result.case_id:
        cases.set_case_fields(
            run.store, run.result.case_id, analyst=run.analyst, severity=severity, verdict=verdict
        )
    run.output.line(
        ("verdict: ", "dim"),
        (str(verdict or "-"), "bold"),
        ("  severity: ", "dim"),
        (str(severity or "-"), "bold"),
        (f"  ({which})", "dim"),
        indent=2,
    )
    summary = f"verdict {verdict or '-'}, severity {severity or '-'} ({which})"
    run.note_timeline(
        "action",
        f"decision: {summary}",
        {"verdict": verdict, "severity": severity, "matched": which},
    )
    return StepOutcome(step.id, step.type, step.title, "done", summary)


_STEPS = {
    "search": _step_search,
    "stats": _step_stats,
    "enrich": _step_enrich,
    "question": _step_question,
    "decide": _step_decide,
    "action": step_action,
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
