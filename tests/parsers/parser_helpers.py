"""Shared helpers of the parser tests: fixture lines and a fixed parse context."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from collectors.parsers import ParseContext, get_parser
from soc.ecs import flatten

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "parsers"
HCM = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def ctx(**kw: Any) -> ParseContext:
    """A context for source "test" in Asia/Ho_Chi_Minh with "now" fixed at 2026-11-21 12:00Z."""
    base: dict[str, Any] = {"source": "test", "timezone": HCM, "reference_time": NOW}
    base.update(kw)
    return ParseContext(**base)


def lines(name: str) -> list[str]:
    """The lines of a fixture file (split on newlines only: audit lines contain 0x1d)."""
    text = (FIXTURES / name).read_text(encoding="utf-8")
    return [ln for ln in text.split("\n") if ln]


def parse_all(fmt: str, name: str, **kw: Any) -> list[dict[str, Any]]:
    """Every line of fixture ``name`` parsed by one fresh ``fmt`` parser, flattened."""
    parser = get_parser(fmt)
    c = ctx(**kw)
    return [flatten(parser.parse(line, c)) for line in lines(name)]


def by_action(docs: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    """The flattened docs whose event.action is ``action``."""
    return [d for d in docs if d.get("event.action") == action]
