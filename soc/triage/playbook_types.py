"""What a playbook is: the schema's vocabulary (step types, levels, verdicts, action
kinds), the validated Playbook and Step types, PlaybookError, and the helpers for texts that
may be written in several languages. Nothing here reads files or validates fields."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STEP_TYPES = ("search", "stats", "enrich", "question", "decide", "action")
LEVELS = ("informational", "low", "medium", "high", "critical")
SEVERITIES = ("low", "medium", "high", "critical")
VERDICTS = ("true_positive", "false_positive", "benign")
ENRICH_SOURCES = ("inventory", "ioc", "geoip")
ACTION_KINDS = ("status", "assign", "escalate", "note", "tag", "case", "recommend", "close")
SETTABLE_STATUSES = ("in_progress", "escalated", "closed")
CASE_MODES = ("open", "attach", "auto")
RECOMMEND_KINDS = ("block_ip", "disable_account", "patch", "other")


class PlaybookError(ValueError):
    """A playbook file is invalid; ``problems`` holds one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(self.problems[0] if self.problems else "invalid playbook")


@dataclass(frozen=True)
class AppliesTo:
    """Which alerts a playbook fits: rule ids, ATT&CK/other tags, levels (all optional)."""

    rules: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()

    @property
    def generic(self) -> bool:
        """True when nothing is given: the playbook fits any alert (as the fallback)."""
        return not (self.rules or self.tags or self.levels)


#: Languages a playbook text that reaches a report may be written in ({en: ..., vi: ...}).
TEXT_LANGS = ("en", "vi")


def texts_of(value: Any) -> dict[str, str] | None:
    """The language variants of a playbook text: ``{"en": value}`` for a plain string, the
    mapping itself for ``{en: ..., vi: ...}`` (English required); None when it is neither."""
    if isinstance(value, str):
        return {"en": value}
    if (
        isinstance(value, Mapping)
        and "en" in value
        and all(k in TEXT_LANGS and isinstance(v, str) for k, v in value.items())
    ):
        return {str(k): str(v) for k, v in value.items()}
    return None


def english(value: Any) -> str:
    """The English text of a playbook text (a string or {en: ..., vi: ...})."""
    variants = texts_of(value)
    return variants["en"] if variants else str(value)


def _is_text(value: Any) -> bool:
    variants = texts_of(value)
    return variants is not None and all(v.strip() for v in variants.values())


@dataclass
class Step:
    """One step of a playbook: its id, type, optional title and ``when`` condition, and the
    type-specific settings as written (validated)."""

    id: str
    type: str
    spec: dict[str, Any]
    title: str = ""
    when: dict[str, Any] | None = None
    line: int = 0
    titles: dict[str, str] = field(default_factory=dict)  # the title per language, if given


@dataclass
class Playbook:
    """A validated playbook."""

    name: str
    title: str
    description: str
    applies_to: AppliesTo
    steps: list[Step]
    path: Path
    logsource: dict[str, Any] = field(default_factory=dict)

    @property
    def location(self) -> str:
        """The playbook's file path as text, for messages."""
        return str(self.path)
