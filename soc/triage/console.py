"""Terminal output and prompts of a triage run, safe for attacker-controlled values.

Everything is printed as ``rich.text.Text`` (never parsed as markup, no emoji codes), and every
value passes through safe_text.visible first, so log data cannot colour, move, retitle or
clear the terminal, nor write the clipboard.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from rich.console import Console
from rich.text import Text

from soc.safe_text import visible


class Output(Protocol):
    """Where a triage run reports what it does."""

    def heading(self, text: str) -> None: ...

    def line(self, *parts: tuple[str, str] | str, indent: int = 0) -> None: ...

    def ask(self, *parts: tuple[str, str] | str) -> None: ...


def _text(parts: Iterable[tuple[str, str] | str], indent: int) -> Text:
    text = Text(" " * indent)
    for part in parts:
        if isinstance(part, tuple):
            value, style = part
            text.append(visible(value), style=style or None)
        else:
            text.append(visible(part))
    return text


@dataclass
class ConsoleOutput:
    """Output on a rich Console (stdout, or stderr when stdout carries JSON)."""

    console: Console

    def heading(self, text: str) -> None:
        """A step or section title."""
        self.console.print(_text([(text, "bold")], 0), soft_wrap=True)

    def line(self, *parts: tuple[str, str] | str, indent: int = 0) -> None:
        """One line of parts; a part is a value or (value, style)."""
        self.console.print(_text(parts, indent), soft_wrap=True)

    def ask(self, *parts: tuple[str, str] | str) -> None:
        """A prompt: the parts, no newline, flushed, so the answer is typed after it."""
        self.console.print(_text(parts, 0), soft_wrap=True, end=" ")
        self.console.file.flush()


@dataclass
class SilentOutput:
    """Output that keeps the lines (for `soc demo` and tests), printing nothing."""

    lines: list[str] = field(default_factory=list)

    def heading(self, text: str) -> None:
        self.lines.append(visible(text))

    def line(self, *parts: tuple[str, str] | str, indent: int = 0) -> None:
        self.lines.append(_text(parts, indent).plain)

    def ask(self, *parts: tuple[str, str] | str) -> None:
        self.lines.append(_text(parts, 0).plain)


@dataclass(frozen=True)
class Question:
    """A question a playbook asks the analyst."""

    id: str
    prompt: str
    choices: tuple[str, ...] = ()
    default: str | None = None


class NoAnswer(Exception):
    """A question got no usable answer (the message says which and why)."""


class Answerer(Protocol):
    """Gives the answer to a question, or raises NoAnswer."""

    def answer(self, question: Question) -> str: ...


def normalise_answer(question: Question, raw: Any) -> str | None:
    """The answer as stored: for choices, the matching choice (case-insensitive) or the
    choice at a 1-based number; None when it fits none of them."""
    text = ("yes" if raw else "no") if isinstance(raw, bool) else str(raw).strip()
    if not question.choices:
        return text
    for choice in question.choices:
        if choice.casefold() == text.casefold():
            return choice
    if text.isdigit() and 1 <= int(text) <= len(question.choices):
        return question.choices[int(text) - 1]
    return None


@dataclass
class MappingAnswers:
    """Answers given in advance (``--answers FILE``); questions missing from it take their
    declared default, or fail."""

    answers: Mapping[str, Any]
    source: str = "the answers file"

    def answer(self, question: Question) -> str:
        if question.id in self.answers and self.answers[question.id] is not None:
            chosen = normalise_answer(question, self.answers[question.id])
            if chosen is None:
                raise NoAnswer(
                    f"{self.source}: answer {visible(self.answers[question.id])!r} to "
                    f"question {question.id!r} is not one of {', '.join(question.choices)}"
                )
            return chosen
        if question.default is not None:
            return question.default
        raise NoAnswer(f"question {question.id!r} has no answer in {self.source} and no default")


@dataclass
class PromptAnswers:
    """Ask on the terminal and read the answer from stdin (a TTY, or piped lines). At end of
    input the declared default is used, or the run fails clearly."""

    output: Output
    stream: TextIO = field(default_factory=lambda: sys.stdin)
    attempts: int = 5

    def answer(self, question: Question) -> str:
        hint = ""
        if question.choices:
            numbered = " ".join(f"{i}) {c}" for i, c in enumerate(question.choices, 1))
            hint = f" [{numbered}]"
        if question.default is not None:
            hint += f" (default: {question.default})"
        for _ in range(self.attempts):
            self.output.ask(("? ", "bold cyan"), question.prompt, (hint, "dim"))
            try:
                raw = self.stream.readline()
            except (OSError, ValueError):
                raw = ""
            if raw == "" or not raw.endswith("\n") or not _is_tty(self.stream):
                self.output.line("")  # end the prompt line (a terminal echoes the Enter)
            if raw == "":
                if question.default is not None:
                    self.output.line(f"(no input: using the default {question.default})", indent=2)
                    return question.default
                raise NoAnswer(
                    f"question {question.id!r}: no answer on standard input and no default "
                    "(use --answers FILE for unattended runs)"
                )
            text = raw.strip()
            if not text and question.default is not None:
                return question.default
            if not text:
                self.output.line("an answer is needed", indent=2)
                continue
            chosen = normalise_answer(question, text)
            if chosen is not None:
                return chosen
            self.output.line(f"please answer one of: {', '.join(question.choices)}", indent=2)
        raise NoAnswer(f"question {question.id!r}: no valid answer after {self.attempts} tries")


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False


def field_line(row: Mapping[str, Any], fields: Sequence[str]) -> list[tuple[str, str] | str]:
    """Parts of one event line: ``field=value`` pairs (values shown escaped)."""
    parts: list[tuple[str, str] | str] = []
    for name in fields or list(row):
        value = row.get(name)
        if value is None:
            continue
        if parts:
            parts.append("  ")
        parts.append((f"{name}=", "dim"))
        parts.append(_scalar(value))
    return parts


def _scalar(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_scalar(v) for v in value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_scalar(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
