"""The actions a playbook takes on an alert and its case: status, close, assign, escalate,
note, tag, case and recommend (step type ``action``).

Each change goes through the lifecycle and cases modules, so it is audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from soc.triage import cases, lifecycle
from soc.triage.conditions import evaluate
from soc.triage.lifecycle import LifecycleError
from soc.triage.playbook import Step, texts_of
from soc.triage.run_state import Run, StepOutcome, TriageError
from soc.triage.template import TemplateError, render_text

LEVEL_TO_SEVERITY = {
    "informational": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "critical": "critical",
}


def _ensure_status(
    run: Run, status: str, resolution: str | None = None, reason: str | None = None
) -> str:
    current = run.alert.get("status") or "new"
    order = lifecycle.STATUSES
    if current == status:
        return f"already {status}"
    if current != "closed" and order.index(current) > order.index(status):
        # a playbook re-run on an escalated alert does not take it back to in_progress
        return f"already {current}"
    lifecycle.set_status(
        run.store,
        run.alert["id"],
        status,
        analyst=run.analyst,
        resolution=resolution,
        reason=reason,
    )
    run.refresh_alert()
    return f"status {current} -> {status}" + (f" ({resolution})" if resolution else "")


def _ensure_case(run: Run, spec: Any) -> str:
    mode = spec if isinstance(spec, str) else (spec or {}).get("mode", "auto")
    settings = spec if isinstance(spec, Mapping) else {}
    rule = run.alert.get("rule") or {}
    if run.result.case_id:
        return f"case {run.result.case_id}"
    case: dict[str, Any] | None = None
    if mode == "attach":
        case_id = render_text(str(settings["id"]), run.context)
        case = cases.attach_alert(run.store, case_id, run.alert["id"], analyst=run.analyst)
        done = f"attached to case {case['id']}"
    else:
        if mode == "auto":
            case = cases.find_case_for(run.store, run.alert)
        if case is not None:
            case = cases.attach_alert(run.store, case["id"], run.alert["id"], analyst=run.analyst)
            done = f"attached to case {case['id']}"
        else:
            titles = {
                lang: render_text(variant, run.context)
                for lang, variant in (
                    texts_of(settings.get("title"))
                    or {"en": f"{rule.get('title') or 'Alert'}: ${{alert.entities.source.ip}}"}
                ).items()
            }
            title = titles["en"]
            severity = (
                settings.get("severity")
                or run.result.severity
                or LEVEL_TO_SEVERITY.get(str(rule.get("level")), "medium")
            )
            case = cases.open_case(
                run.store,
                title=title,
                analyst=run.analyst,
                severity=severity,
                alert_ids=[run.alert["id"]],
                departments=sorted(run.departments),
                assets=sorted(run.assets),
                titles=titles,
            )
            done = f"opened case {case['id']}"
    run.result.case_id = case["id"]
    run.context["case"] = {"id": case["id"], "title": case.get("title")}
    if run.result.verdict or run.result.severity:
        cases.set_case_fields(
            run.store,
            case["id"],
            analyst=run.analyst,
            verdict=run.result.verdict,
            severity=run.result.severity,
        )
    run.refresh_alert()
    run.flush_timeline()
    return done


def _action(run: Run, kind: str, value: Any) -> str:
    if kind == "status":
        resolution = run.result.verdict if value == "closed" else None
        if value == "closed" and not resolution:
            raise LifecycleError(
                "cannot close: no verdict decided yet (use close: {resolution: ...})"
            )
        return _ensure_status(run, value, resolution)
    if kind == "close":
        resolution = run.result.verdict
        if isinstance(value, Mapping) and value.get("resolution"):
            resolution = render_text(str(value["resolution"]), run.context)
        if not resolution or resolution == "-":
            raise LifecycleError("cannot close: no verdict decided yet")
        return _ensure_status(run, "closed", resolution)
    if kind == "assign":
        name = render_text(str(value), run.context)
        lifecycle.assign(run.store, run.alert["id"], name, analyst=run.analyst)
        run.refresh_alert()
        return f"assigned to {name}"
    if kind == "escalate":
        settings = value if isinstance(value, Mapping) else {}
        reason = (
            render_text(str(settings["reason"]), run.context) if settings.get("reason") else None
        )
        done = _ensure_status(run, "escalated", reason=reason)
        if settings.get("to"):
            name = render_text(str(settings["to"]), run.context)
            lifecycle.assign(run.store, run.alert["id"], name, analyst=run.analyst)
            run.refresh_alert()
            done += f", assigned to {name}"
        return done
    if kind == "note":
        texts = {
            lang: render_text(variant, run.context)
            for lang, variant in (texts_of(value) or {"en": str(value)}).items()
        }
        text = texts["en"]
        if run.result.case_id:
            run.flush_timeline()
            cases.add_note(run.store, run.result.case_id, text, analyst=run.analyst, texts=texts)
        else:
            lifecycle.add_note(run.store, run.alert["id"], text, analyst=run.analyst)
        return f"note: {text}"
    if kind == "tag":
        tag = render_text(str(value), run.context)
        lifecycle.add_tag(run.store, run.alert["id"], tag, analyst=run.analyst)
        run.refresh_alert()
        return f"tagged {tag}"
    if kind == "case":
        return _ensure_case(run, value)
    if kind == "recommend":
        if not run.result.case_id:
            _ensure_case(run, "auto")
        assert run.result.case_id is not None
        target_raw = value.get("target")
        target = render_text(str(target_raw), run.context) if target_raw else None
        texts = {
            lang: render_text(variant, run.context)
            for lang, variant in (texts_of(value["text"]) or {"en": str(value["text"])}).items()
        }
        text = texts["en"]
        rec_kind = str(value.get("kind", "other"))
        run.flush_timeline()
        cases.recommend(
            run.store,
            run.result.case_id,
            kind=rec_kind,
            target=target,
            text=text,
            analyst=run.analyst,
            texts=texts,
        )
        run.result.recommendations.append({"kind": rec_kind, "target": target, "text": text})
        return f"recommended ({rec_kind}): {text} (not executed)"
    raise TriageError(f"unknown action {kind!r}")  # validation prevents this


def step_action(run: Run, step: Step) -> StepOutcome:
    """Do an action step's actions whose condition holds; each one that fails is reported
    and the others still run."""
    done: list[str] = []
    failed: list[str] = []
    for item in step.spec["do"]:
        if "when" in item and not evaluate(item["when"], run.facts, run.context):
            continue
        kind = next(k for k in item if k != "when")
        try:
            message = _action(run, kind, item[kind])
        except (LifecycleError, TemplateError) as exc:
            failed.append(f"{kind}: {exc}")
            run.output.line(("x ", "red"), f"{kind}: {exc}", indent=2)
            continue
        done.append(message)
        run.output.line(("- ", "green"), message, indent=2)
        if kind not in ("case", "recommend", "note"):
            value = item[kind]
            shown = render_text(value, run.context) if isinstance(value, str) else None
            run.note_timeline("action", message, {"action": kind, "value": shown})
    status = "failed" if failed else "done"
    summary = "; ".join(done + failed) or "nothing to do"
    return StepOutcome(
        step.id, step.type, step.title, status, summary, {"done": done, "failed": failed}
    )
