"""Fuzzing every parser and format detection (Hypothesis): any text, real lines with
mutations, each format's prefixes followed by structural characters. A parser either returns
an event that is valid JSON (no NaN/Infinity) or raises ParseError; nothing else.

The suite runs a modest budget (FUZZ_EXAMPLES examples); `make fuzz` fuzzes the same
targets with atheris, 1,000,000 inputs each, from these seeds (tests/fuzz/)."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parser_helpers import FIXTURES, ctx
from test_parse_linear import PREFIXES, RUNS

from collectors.parsers import FORMATS, ParseError, detect_format, get_parser

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

SEEDS = [
    line
    for path in sorted(FIXTURES.iterdir())
    if path.is_file()
    for line in path.read_text(encoding="utf-8", errors="replace").split("\n")
    if line
]
STRUCTURAL = "".join(sorted(set("".join(RUNS)) | set(" =\"'\\[]{}():;,.<>#%@|/-_+*?\t0123456789")))


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A real line with a few characters replaced, inserted or deleted, or cut."""
    line = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(0, 6))):
        if not line:
            break
        at = draw(st.integers(0, len(line) - 1))
        kind = draw(st.integers(0, 3))
        piece = draw(st.text(STRUCTURAL + "aZ\x00\u00b3\u0663\ufeff", min_size=1, max_size=8))
        if kind == 0:
            line = line[:at] + piece + line[at + 1 :]
        elif kind == 1:
            line = line[:at] + piece + line[at:]
        elif kind == 2:
            line = line[:at] + line[at + 1 :]
        else:
            line = line[:at]
    return line


LINES = st.one_of(
    st.text(max_size=300),
    mutated(),
    st.builds(
        lambda prefix, body: prefix + body,
        st.sampled_from(list(PREFIXES.values())),
        st.text(STRUCTURAL + "aé1", max_size=300),
    ),
    st.builds(lambda digits: "x=1 eventtime=" + digits, st.text("0123456789", max_size=120)),
)


def check_line(fmt: str, line: str) -> None:
    """A fresh ``fmt`` parser sniffs and parses ``line``: only ParseError may escape, and an
    event is valid JSON with a string @timestamp (also the oracle of `make fuzz`)."""
    parser = get_parser(fmt)
    parser.sniff(line)
    try:
        doc = parser.parse(line, ctx())
    except ParseError:
        return
    json.dumps(doc, allow_nan=False, ensure_ascii=False)
    assert isinstance(doc.get("@timestamp"), str)


@pytest.mark.parametrize("fmt", FORMATS)
def test_parser_never_raises_anything_but_parse_error(fmt: str) -> None:
    @FUZZ
    @given(LINES)
    def run(line: str) -> None:
        check_line(fmt, line)

    run()


@FUZZ
@given(st.lists(LINES, min_size=1, max_size=5), st.sampled_from([None, "auth.log", "x.json"]))
def test_format_detection_never_raises(lines: list[str], name: str | None) -> None:
    found = detect_format(lines, name)
    assert found is None or found in FORMATS
