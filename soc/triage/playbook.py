"""Triage playbooks: reading playbook files (one, or every file in some folders) into
validated Playbook values, with a file/line/field message for every problem.

Files are parsed with ``yaml.compose`` (for line numbers) and ``yaml.safe_load`` (for values):
nothing in a playbook is executed. Every problem is reported as
``playbooks/x.yaml:12: steps[2].type: unknown step type 'serch' (expected ...)``.

The types live in soc.triage.playbook_types, the field checks in soc.triage.playbook_checks
and the choice of a playbook for an alert in soc.triage.playbook_library; their public names
are importable from here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from soc.triage.playbook_checks import _applies_to, _Checker, _step
from soc.triage.playbook_library import PlaybookLibrary, match_score
from soc.triage.playbook_types import (
    ACTION_KINDS,
    CASE_MODES,
    ENRICH_SOURCES,
    LEVELS,
    RECOMMEND_KINDS,
    SETTABLE_STATUSES,
    SEVERITIES,
    STEP_TYPES,
    TEXT_LANGS,
    VERDICTS,
    AppliesTo,
    Playbook,
    PlaybookError,
    Step,
    _is_text,
    english,
    texts_of,
)

_TOP_KEYS = ("name", "title", "description", "applies_to", "logsource", "steps")


# --- YAML with line numbers -------------------------------------------------------------


def _lines_of(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[(*path, key)] = key_node.start_mark.line + 1
            _lines_of(value_node, (*path, key), out)
            out[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines_of(item, (*path, i), out)


# --- loading ----------------------------------------------------------------------------


def load_playbook(path: Path) -> Playbook:
    """Read and validate one playbook file; raises PlaybookError listing every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlaybookError([f"{path}: cannot read: {exc}"]) from None
    return parse_playbook(text, path)


def parse_playbook(text: str, path: Path) -> Playbook:
    """Validate playbook YAML text (``path`` names it in messages)."""
    source = str(path)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PlaybookError([f"{source}:{line}: malformed YAML: {problem}"]) from None
    if node is None or data is None:
        raise PlaybookError([f"{source}:1: the file is empty"])
    lines: dict[tuple[Any, ...], int] = {}
    _lines_of(node, (), lines)
    check = _Checker(source, lines)
    if not isinstance(data, Mapping):
        check.add((), f"expected a mapping, found {type(data).__name__}")
        raise PlaybookError(check.problems)
    playbook = _build(data, path, check)
    if check.problems:
        raise PlaybookError(check.problems)
    assert playbook is not None
    return playbook


def _build(data: Mapping[str, Any], path: Path, check: _Checker) -> Playbook | None:
    for key in data:
        if str(key) not in _TOP_KEYS:
            check.add((key,), f"unknown field (expected {', '.join(_TOP_KEYS)})")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        check.add(("name",), "required: a short name such as ssh-bruteforce")
        name = path.stem
    title = data.get("title", name)
    if not _is_text(title):
        check.add(("title",), "expected text (or {en: ..., vi: ...})")
        title = str(name)
    title = english(title)
    description = data.get("description", "")
    if not isinstance(description, str):
        check.add(("description",), "expected text")
        description = ""
    applies = _applies_to(data.get("applies_to"), check)
    logsource = data.get("logsource") or {}
    if not isinstance(logsource, Mapping):
        check.add(("logsource",), "expected a Sigma logsource mapping")
        logsource = {}
    steps_data = data.get("steps")
    steps: list[Step] = []
    if not isinstance(steps_data, list) or not steps_data:
        check.add(("steps",), "required: a non-empty list of steps")
    else:
        seen: set[str] = set()
        saved: set[str] = set()
        for i, raw in enumerate(steps_data):
            step = _step(raw, i, check, seen, saved)
            if step is not None:
                steps.append(step)
    return Playbook(
        name=str(name),
        title=str(title),
        description=description,
        applies_to=applies,
        steps=steps,
        path=path,
        logsource=dict(logsource),
    )


def load_library(folders: Iterable[Path]) -> PlaybookLibrary:
    """Load every ``*.yaml``/``*.yml`` playbook in the folders (later folders override
    playbooks of the same name); invalid files are listed in ``problems``, never fatal."""
    library = PlaybookLibrary()
    for folder in folders:
        if not folder.exists():
            library.problems.append(f"{folder}: no such file or directory")
            continue
        files = (
            sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml"))
            if folder.is_dir()
            else [folder]
        )
        for path in files:
            try:
                playbook = load_playbook(path)
            except PlaybookError as exc:
                library.problems.extend(exc.problems)
                continue
            library.playbooks[playbook.name] = playbook
    return library


__all__ = [
    "ACTION_KINDS",
    "CASE_MODES",
    "ENRICH_SOURCES",
    "LEVELS",
    "RECOMMEND_KINDS",
    "SETTABLE_STATUSES",
    "SEVERITIES",
    "STEP_TYPES",
    "TEXT_LANGS",
    "VERDICTS",
    "AppliesTo",
    "Playbook",
    "PlaybookError",
    "PlaybookLibrary",
    "Step",
    "english",
    "load_library",
    "load_playbook",
    "match_score",
    "parse_playbook",
    "texts_of",
]
