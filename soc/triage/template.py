"""Tiny, safe templating of alert and event values into playbooks: ``${alert.entities.source.ip}``.

A template names a value by a dotted path; the path is looked up in a mapping of namespaces
(alert, event, facts, answers, analyst, verdict, severity, case). Nothing is evaluated: there
are no expressions, filters or calls, and a substituted value is never read again as a template,
as Sigma wildcards or as a regular expression. ``$$`` writes a literal ``$``.

Lookup rules: a segment may name a key that itself contains dots (``entities`` holds the key
``"source.ip"``; the longest key that matches wins), a numeric segment indexes a list
(``event_ids.0`` or ``event_ids[0]``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: The namespaces a template may start with.
NAMESPACES = ("alert", "event", "facts", "answers", "analyst", "verdict", "severity", "case")

_TEMPLATE = re.compile(r"\$\$|\$\{([^{}]*)\}")
_PATH = re.compile(r"^[A-Za-z_@][\w@-]*(?:(?:\.[\w@-]+)|(?:\[\d+\]))*$")
_MISSING = object()


class TemplateError(ValueError):
    """A template names a value that is absent, or is not a valid path."""


def normalise_path(path: str) -> str:
    """The path with ``[N]`` indexes written as ``.N`` segments."""
    return re.sub(r"\[(\d+)\]", r".\1", path.strip())


def check_path(path: str) -> str | None:
    """Why ``path`` is not a valid template path, or None when it is."""
    text = path.strip()
    if not _PATH.match(text):
        return f"'${{{path}}}' is not a dotted path (letters, digits, _ - @, dots, [N])"
    head = normalise_path(text).split(".", 1)[0]
    if head not in NAMESPACES:
        return f"'${{{path}}}' starts with {head!r}; expected one of {', '.join(NAMESPACES)}"
    return None


def template_paths(text: str) -> list[str]:
    """Every path named by a template in ``text``."""
    return [m.group(1) for m in _TEMPLATE.finditer(text) if m.group(0) != "$$"]


def lookup(context: Mapping[str, Any], path: str, default: Any = _MISSING) -> Any:
    """The value at a dotted path (see the module docstring); ``default`` when absent, or
    TemplateError when no default is given."""
    parts = normalise_path(path).split(".")
    value = _walk(context, parts)
    if value is _MISSING:
        if default is _MISSING:
            raise TemplateError(f"'${{{path}}}' has no value here")
        return default
    return value


def _walk(node: Any, parts: list[str]) -> Any:
    if not parts:
        return node
    if isinstance(node, Mapping):
        # Longest key first: "source.ip" before "source".
        for size in range(len(parts), 0, -1):
            key = ".".join(parts[:size])
            if key in node:
                found = _walk(node[key], parts[size:])
                if found is not _MISSING:
                    return found
        return _MISSING
    if isinstance(node, list | tuple) and parts[0].isdigit():
        index = int(parts[0])
        if index < len(node):
            return _walk(node[index], parts[1:])
    return _MISSING


def _present(value: Any) -> bool:
    return value is not None and value != [] and value != ""


def to_text(value: Any) -> str:
    """How a looked-up value reads inside a larger string (lists joined with ", ")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(to_text(v) for v in value)
    return str(value)


def render(value: Any, context: Mapping[str, Any], *, escape: Any = None) -> Any:
    """``value`` with templates replaced, recursively through lists and mappings.

    A string that is exactly one template becomes the looked-up value itself (a list stays a
    list, a number a number); templates inside a longer string are replaced by their text.
    ``escape`` (str -> str), when given, is applied to every substituted string and nothing
    else. Raises TemplateError when a named value is absent or empty.
    """
    if isinstance(value, str):
        return _render_string(value, context, escape)
    if isinstance(value, list):
        return [render(v, context, escape=escape) for v in value]
    if isinstance(value, Mapping):
        return {k: render(v, context, escape=escape) for k, v in value.items()}
    return value


def _render_string(text: str, context: Mapping[str, Any], escape: Any) -> Any:
    whole = _TEMPLATE.fullmatch(text)
    if whole and whole.group(0) != "$$":
        found = lookup(context, whole.group(1))
        if not _present(found):
            raise TemplateError(f"'{text}' has no value here")
        return _escape_value(found, escape)

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        found = lookup(context, match.group(1))
        if not _present(found):
            raise TemplateError(f"'${{{match.group(1)}}}' has no value here")
        rendered = to_text(found)
        return escape(rendered) if escape else rendered

    return _TEMPLATE.sub(replace, text)


def _escape_value(value: Any, escape: Any) -> Any:
    if escape is None:
        return value
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, list | tuple):
        return [_escape_value(v, escape) for v in value]
    return value


def render_text(text: str, context: Mapping[str, Any]) -> str:
    """A message template rendered to text; absent values read as "-" instead of failing."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        found = lookup(context, match.group(1), None)
        return to_text(found) if _present(found) else "-"

    return _TEMPLATE.sub(replace, text)


_SIGMA_SPECIAL = re.compile(r"([\\*?])")


def sigma_literal(text: str) -> str:
    """``text`` escaped for a Sigma string value: ``*``, ``?`` and ``\\`` match themselves."""
    return _SIGMA_SPECIAL.sub(r"\\\1", text)


def render_detection(detection: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """A Sigma detection with templates filled in as literal data: substituted values are
    escaped as Sigma literals, or with re.escape under a ``|re`` modifier, so a value from a
    log can never widen the pivot into a wildcard or a pattern."""
    return {key: _render_detection_item(key, value, context) for key, value in detection.items()}


def _render_detection_item(key: str, value: Any, context: Mapping[str, Any]) -> Any:
    if key == "condition":
        return value
    if isinstance(value, Mapping):
        return {k: _render_detection_item(str(k), v, context) for k, v in value.items()}
    if isinstance(value, list) and any(isinstance(v, Mapping) for v in value):
        return [
            {k: _render_detection_item(str(k), v, context) for k, v in item.items()}
            if isinstance(item, Mapping)
            else render(item, context, escape=sigma_literal)
            for item in value
        ]
    modifiers = key.split("|")[1:]
    escape = re.escape if "re" in modifiers else sigma_literal
    return render(value, context, escape=escape)
