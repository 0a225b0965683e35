"""The steps of a playbook that look and decide: search and stats (pivots around the alert),
enrich, question and decide. Each one shows what it found, keeps it as a fact (``save_as``)
and notes it for the case's timeline. The action step is in soc.triage.actions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from soc.timespec import parse_duration
from soc.triage import cases, lifecycle
from soc.triage.conditions import evaluate
from soc.triage.console import Question, field_line
from soc.triage.pivot import (
    DEFAULT_AFTER,
    DEFAULT_BEFORE,
    alert_window,
    compile_pivot,
    run_search,
    run_stats,
)
from soc.triage.playbook import Step, english, texts_of
from soc.triage.run_state import Run, StepOutcome
from soc.triage.template import render, render_detection, render_text


def _window(run: Run, step: Step) -> Any:
    spec = step.spec.get("window") or {}
    before = parse_duration(spec["before"]) if "before" in spec else DEFAULT_BEFORE
    after = parse_duration(spec["after"]) if "after" in spec else DEFAULT_AFTER
    return alert_window(run.alert, before, after)


def _query(run: Run, step: Step) -> str:
    detection = render_detection(step.spec["detection"], run.context)
    logsource = step.spec.get("logsource") or run.playbook.logsource or {}
    return compile_pivot(detection, logsource, run.store.kind)


def step_search(run: Run, step: Step) -> StepOutcome:
    """Run a search step: the pivot's events around the alert, the first ones shown."""
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


def step_stats(run: Run, step: Step) -> StepOutcome:
    """Run a stats step: the pivot's events counted by the ``by`` fields, the top values shown."""
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


def step_enrich(run: Run, step: Step) -> StepOutcome:
    """Run an enrich step: the values looked up in the inventory, IOC lists and GeoIP."""
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


def step_question(run: Run, step: Step) -> StepOutcome:
    """Run a question step: ask it and keep the answer (a fact and a timeline entry)."""
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


def step_decide(run: Run, step: Step) -> StepOutcome:
    """Run a decide step: the first rule whose condition holds sets the verdict and severity
    (the default when none does)."""
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
