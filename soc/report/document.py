"""A report as a small document model that every output format renders the same way.

Builders (soc.report.build) turn measured numbers into a Document of translated, formatted
text; renderers (html, markdown, csv) only lay it out and escape it. All text in a Document
is plain text; renderers must treat every string as untrusted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Tones a Badge may carry (they become CSS classes, so only these are allowed).
TONES = frozenset({"informational", "low", "medium", "high", "critical", "neutral", "good", "bad"})


@dataclass(frozen=True)
class Badge:
    """A short value shown with a colour (a level, a status)."""

    text: str
    tone: str = "neutral"

    def __post_init__(self) -> None:
        if self.tone not in TONES:
            object.__setattr__(self, "tone", "neutral")

    def __str__(self) -> str:
        return self.text


Cell = str | Badge


@dataclass
class Table:
    """Rows of cells under headers; ``numeric`` columns align right, ``nowrap`` columns (dates,
    times) never break a line."""

    headers: list[str]
    rows: list[list[Cell]]
    numeric: frozenset[int] = frozenset()
    note: str | None = None
    nowrap: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Kpi:
    """One key figure: label, value and an optional note (sample size...)."""

    label: str
    value: str
    note: str | None = None


@dataclass
class Kpis:
    """A row of key figures."""

    items: list[Kpi]


@dataclass
class Paragraphs:
    """Sentences shown as a list (summary) or as running text."""

    sentences: list[str]
    bullets: bool = True


@dataclass
class Facts:
    """Label: value pairs (case overview)."""

    items: list[tuple[str, Cell]]


@dataclass
class Figure:
    """A chart as PNG bytes with its text alternative."""

    png: bytes
    alt: str
    wide: bool = True


Block = Table | Kpis | Paragraphs | Facts | Figure


@dataclass
class Section:
    """A titled part of a report."""

    key: str
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Document:
    """A whole report: heading lines, sections, footer; ``lang`` is its language code."""

    lang: str
    org: str
    title: str
    subtitle: list[str]
    meta: list[str]
    sections: list[Section]
    footer: str
    label: str = ""

    def section(self, key: str) -> Section | None:
        """The section with this key, if the report has it."""
        return next((s for s in self.sections if s.key == key), None)
