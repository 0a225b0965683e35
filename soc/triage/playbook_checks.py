"""Checking a parsed playbook field by field: every problem is collected with the file, line
and dotted field it concerns (``steps[2].type: unknown step type ...``), and the checked
steps and ``applies_to`` are built into Step and AppliesTo values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from soc.timespec import parse_duration
from soc.triage.conditions import validate_condition
from soc.triage.playbook_types import (
    ACTION_KINDS,
    CASE_MODES,
    ENRICH_SOURCES,
    LEVELS,
    RECOMMEND_KINDS,
    SETTABLE_STATUSES,
    SEVERITIES,
    STEP_TYPES,
    VERDICTS,
    AppliesTo,
    Step,
    _is_text,
    english,
    texts_of,
)
from soc.triage.template import NAMESPACES, check_path, template_paths

_COMMON_STEP_KEYS = ("id", "type", "title", "when")
_STEP_KEYS: dict[str, tuple[str, ...]] = {
    "search": ("detection", "logsource", "window", "fields", "limit", "save_as"),
    "stats": ("detection", "logsource", "window", "by", "top", "save_as"),
    "enrich": ("values", "sources", "save_as"),
    "question": ("prompt", "choices", "default", "save_as"),
    "decide": ("rules", "default"),
    "action": ("do",),
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "search": ("detection",),
    "stats": ("detection", "by"),
    "enrich": ("values",),
    "question": ("prompt",),
    "decide": ("rules",),
    "action": ("do",),
}


class _Checker:
    """Collects problems with the line of the field they concern."""

    def __init__(self, source: str, lines: dict[tuple[Any, ...], int]) -> None:
        self.source = source
        self.lines = lines
        self.problems: list[str] = []

    def line(self, path: tuple[Any, ...]) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def add(self, path: tuple[Any, ...], message: str) -> None:
        self.problems.append(f"{self.source}:{self.line(path)}: {_dotted(path)}: {message}")


def _dotted(path: tuple[Any, ...]) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text or "(top)"


def _str_list(value: Any, where: tuple[Any, ...], check: _Checker) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str | int) for v in value):
        return tuple(str(v) for v in value)
    check.add(where, "expected a list of text values")
    return ()


def _applies_to(value: Any, check: _Checker) -> AppliesTo:
    if value is None:
        return AppliesTo()
    if not isinstance(value, Mapping):
        check.add(("applies_to",), "expected a mapping with rules, tags and/or levels")
        return AppliesTo()
    for key in value:
        if str(key) not in ("rules", "tags", "levels"):
            check.add(("applies_to", key), "unknown field (expected rules, tags, levels)")
    levels = _str_list(value.get("levels"), ("applies_to", "levels"), check)
    for i, level in enumerate(levels):
        if level not in LEVELS:
            check.add(
                ("applies_to", "levels", i),
                f"unknown level {level!r} (expected {', '.join(LEVELS)})",
            )
    return AppliesTo(
        rules=_str_list(value.get("rules"), ("applies_to", "rules"), check),
        tags=tuple(t.lower() for t in _str_list(value.get("tags"), ("applies_to", "tags"), check)),
        levels=levels,
    )


def _step(raw: Any, index: int, check: _Checker, seen: set[str], saved: set[str]) -> Step | None:
    where: tuple[Any, ...] = ("steps", index)
    if not isinstance(raw, Mapping):
        check.add(where, f"expected a step mapping, found {type(raw).__name__}")
        return None
    step_type = raw.get("type")
    if not isinstance(step_type, str) or step_type not in STEP_TYPES:
        shown = f"unknown step type {step_type!r}" if step_type is not None else "missing"
        check.add((*where, "type"), f"{shown} (expected {', '.join(STEP_TYPES)})")
        return None
    step_id = raw.get("id", f"step{index + 1}")
    if not isinstance(step_id, str) or not step_id.replace("_", "").replace("-", "").isalnum():
        check.add((*where, "id"), "expected a name of letters, digits, _ and -")
        step_id = f"step{index + 1}"
    if step_id in seen:
        check.add((*where, "id"), f"duplicate step id {step_id!r}")
    seen.add(step_id)
    allowed = _COMMON_STEP_KEYS + _STEP_KEYS[step_type]
    for key in raw:
        if str(key) not in allowed:
            check.add(
                (*where, key),
                f"unknown field for a {step_type} step (expected {', '.join(allowed)})",
            )
    for key in _REQUIRED[step_type]:
        if key not in raw:
            check.add(where, f"{step_type} step needs '{key}'")
    when = raw.get("when")
    if when is not None:
        for sub, message in validate_condition(when):
            check.add((*where, *_split(sub)), message)
    spec = {k: v for k, v in raw.items() if k not in _COMMON_STEP_KEYS}
    _CHECKS[step_type](spec, where, check)
    save_as = spec.get("save_as")
    if save_as is not None:
        if not isinstance(save_as, str) or not save_as.replace("_", "").isalnum():
            check.add((*where, "save_as"), "expected a fact name of letters, digits and _")
        elif save_as in NAMESPACES:
            check.add((*where, "save_as"), f"{save_as!r} is reserved (a template namespace)")
        else:
            saved.add(save_as)
    _check_templates(spec, where, check)
    title = raw.get("title", "")
    if title and not _is_text(title):
        check.add((*where, "title"), "expected text (or {en: ..., vi: ...})")
        title = ""
    return Step(
        id=step_id,
        type=step_type,
        spec=spec,
        title=english(title) if title else "",
        titles=(texts_of(title) or {}) if title else {},
        when=dict(when) if isinstance(when, Mapping) else None,
        line=check.line(where),
    )


def _split(sub: str) -> tuple[Any, ...]:
    parts: list[Any] = []
    for piece in sub.replace("[", ".[").split("."):
        if piece.startswith("[") and piece.endswith("]"):
            parts.append(int(piece[1:-1]))
        elif piece:
            parts.append(piece)
    return tuple(parts)


def _check_templates(value: Any, where: tuple[Any, ...], check: _Checker) -> None:
    if isinstance(value, str):
        for path in template_paths(value):
            problem = check_path(path)
            if problem:
                check.add(where, problem)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            _check_templates(v, (*where, k), check)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_templates(v, (*where, i), check)


def _check_window(spec: Mapping[str, Any], where: tuple[Any, ...], check: _Checker) -> None:
    window = spec.get("window")
    if window is None:
        return
    if not isinstance(window, Mapping):
        check.add((*where, "window"), "expected {before: DURATION, after: DURATION}")
        return
    for key, value in window.items():
        if key not in ("before", "after"):
            check.add((*where, "window", key), "unknown field (expected before, after)")
            continue
        try:
            parse_duration(value)
        except ValueError as exc:
            check.add((*where, "window", key), str(exc))


def _check_detection(spec: Mapping[str, Any], where: tuple[Any, ...], check: _Checker) -> None:
    detection = spec.get("detection")
    if detection is None:
        return
    if not isinstance(detection, Mapping):
        check.add((*where, "detection"), "expected a Sigma detection mapping")
        return
    if "condition" not in detection:
        check.add((*where, "detection"), "a Sigma detection needs a 'condition'")
    if not any(k != "condition" for k in detection):
        check.add((*where, "detection"), "a Sigma detection needs at least one selection")
    logsource = spec.get("logsource")
    if logsource is not None and not isinstance(logsource, Mapping):
        check.add((*where, "logsource"), "expected a Sigma logsource mapping")
    _check_window(spec, where, check)
    if not check.problems:
        from soc.triage.pivot import check_detection

        problem = check_detection(dict(detection), dict(logsource or {}))
        if problem:
            check.add((*where, "detection"), problem)


def _check_positive_int(
    spec: Mapping[str, Any], key: str, where: tuple[Any, ...], check: _Checker
) -> None:
    value = spec.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        check.add((*where, key), "expected a whole number of at least 1")


def _check_search(spec: Mapping[str, Any], where: tuple[Any, ...], check: _Checker) -> None:
    _check_detection(spec, where, check)
    _str_list(spec.get("fields"), (*where, "fields"), check)
    _check_positive_int(spec, "limit", where, check)


def _check_stats(spec: Mapping[str, Any], where: tuple[Any, ...], check: _Checker) -> None:
    _check_detection(spec, where, check)
    if "by" in spec and not _str_list(spec.get("by"), (*where, "by"), check):
        check.add((*where, "by"), "expected one or more field names")
    _check_positive_int(spec, "top", where, check)


def _check_enrich(spec: Mapping[str, Any], where: tuple[Any, ...], check: _Checker) -> None:
    values = spec.get("values")
    if values is not None and not isinstance(values, str | list):
        check.add((*where, "values"), "expected a template such as ${alert.entities.source.ip}")
    sources = _str_list(spec.get("sources"), (*where, "sources"), check)
    for i, name in enumerate(sources):
        if name not in ENRICH_SOURCES:
            check.add(
                (*where, "sources", i),
                f"unknown enrichment {name!r} (expected {', '.join(ENRICH_SOURCES)})",
            )


def _check_question(spec: Mapping[str, Any], where: tuple[Any, ...], check: _Checker) -> None:
    if "prompt" in spec and not _is_text(spec["prompt"]):
        check.add((*where, "prompt"), "expected text (or {en: ..., vi: ...})")
    choices = _str_list(spec.get("choices"), (*where, "choices"), check)
    default = spec.get("default")
    if default is not None and choices and str(default) not in choices:
        check.add((*where, "default"), f"{default!r} is not one of the choices")


def _check_outcome(value: Any, where: tuple[Any, ...], check: _Checker) -> None:
    if not isinstance(value, Mapping):
        check.add(where, "expected a mapping with verdict and/or severity")
        return
    for key, item in value.items():
        if key == "verdict":
            if item not in VERDICTS:
                check.add(
                    (*where, key), f"unknown verdict {item!r} (expected {', '.join(VERDICTS)})"
                )
        elif key == "severity":
            if item not in SEVERITIES:
                check.add(
                    (*where, key), f"unknown severity {item!r} (expected {', '.join(SEVERITIES)})"
                )
        elif key not in ("when", "note"):
            check.add((*where, key), "unknown field (expected when, verdict, severity, note)")


def _check_decide(spec: Mapping[str, Any], where: tuple[Any, ...], check: _Checker) -> None:
    rules = spec.get("rules")
    if rules is not None:
        if not isinstance(rules, list) or not rules:
            check.add((*where, "rules"), "expected a non-empty list of {when, verdict, severity}")
        else:
            for i, rule in enumerate(rules):
                at = (*where, "rules", i)
                _check_outcome(rule, at, check)
                if isinstance(rule, Mapping):
                    if "when" not in rule:
                        check.add(at, "a decision rule needs 'when'")
                    else:
                        for sub, message in validate_condition(rule["when"]):
                            check.add((*at, *_split(sub)), message)
    if "default" in spec:
        _check_outcome(spec["default"], (*where, "default"), check)


def _check_action(spec: Mapping[str, Any], where: tuple[Any, ...], check: _Checker) -> None:
    items = spec.get("do")
    if items is None:
        return
    if not isinstance(items, list) or not items:
        check.add((*where, "do"), "expected a non-empty list of actions")
        return
    for i, item in enumerate(items):
        at = (*where, "do", i)
        if not isinstance(item, Mapping):
            check.add(at, "expected an action mapping such as {status: in_progress}")
            continue
        kinds = [k for k in item if k != "when"]
        unknown = [k for k in kinds if k not in ACTION_KINDS]
        if unknown:
            check.add(
                (*at, unknown[0]),
                f"unknown action {unknown[0]!r} (expected {', '.join(ACTION_KINDS)})",
            )
            continue
        if len(kinds) != 1:
            check.add(at, "expected exactly one action per item (plus an optional 'when')")
            continue
        if "when" in item:
            for sub, message in validate_condition(item["when"]):
                check.add((*at, *_split(sub)), message)
        kind = kinds[0]
        _check_action_item(kind, item[kind], (*at, kind), check)


def _check_action_item(kind: str, value: Any, at: tuple[Any, ...], check: _Checker) -> None:
    if kind == "status":
        if value not in SETTABLE_STATUSES:
            check.add(at, f"unknown status {value!r} (expected {', '.join(SETTABLE_STATUSES)})")
    elif kind in ("assign", "tag"):
        if not isinstance(value, str) or not value.strip():
            check.add(at, "expected text")
    elif kind == "note":
        if not _is_text(value):
            check.add(at, "expected text (or {en: ..., vi: ...})")
    elif kind == "escalate":
        if not (value is True or isinstance(value, Mapping)):
            check.add(at, "expected true or {to: NAME, reason: TEXT}")
        elif isinstance(value, Mapping):
            for key in value:
                if key not in ("to", "reason"):
                    check.add((*at, key), "unknown field (expected to, reason)")
    elif kind == "case":
        mode = (
            value
            if isinstance(value, str)
            else (value.get("mode", "auto") if isinstance(value, Mapping) else None)
        )
        if mode not in CASE_MODES:
            check.add(at, f"expected one of {', '.join(CASE_MODES)} or {{mode, title, id}}")
        if isinstance(value, Mapping):
            for key in value:
                if key not in ("mode", "title", "id", "severity"):
                    check.add((*at, key), "unknown field (expected mode, title, id, severity)")
            if "title" in value and not _is_text(value["title"]):
                check.add((*at, "title"), "expected text (or {en: ..., vi: ...})")
            if mode == "attach" and "id" not in value:
                check.add(at, "attaching to a case needs its 'id'")
    elif kind == "recommend":
        if not isinstance(value, Mapping):
            check.add(at, "expected {kind, target, text}")
            return
        for key in value:
            if key not in ("kind", "target", "text"):
                check.add((*at, key), "unknown field (expected kind, target, text)")
        if value.get("kind", "other") not in RECOMMEND_KINDS:
            check.add(
                (*at, "kind"),
                f"unknown recommendation {value.get('kind')!r} "
                f"(expected {', '.join(RECOMMEND_KINDS)})",
            )
        if "text" not in value:
            check.add(at, "a recommendation needs 'text'")
        elif not _is_text(value["text"]):
            check.add((*at, "text"), "expected text (or {en: ..., vi: ...})")
    elif kind == "close":
        if value is not True and not isinstance(value, Mapping):
            check.add(at, "expected true or {resolution: VERDICT}")
        elif isinstance(value, Mapping):
            for key in value:
                if key not in ("resolution", "note"):
                    check.add((*at, key), "unknown field (expected resolution, note)")
            resolution = value.get("resolution")
            if (
                isinstance(resolution, str)
                and "${" not in resolution
                and resolution not in VERDICTS
            ):
                check.add(
                    (*at, "resolution"),
                    f"unknown resolution {resolution!r} (expected {', '.join(VERDICTS)})",
                )


_CHECKS = {
    "search": _check_search,
    "stats": _check_stats,
    "enrich": _check_enrich,
    "question": _check_question,
    "decide": _check_decide,
    "action": _check_action,
}
